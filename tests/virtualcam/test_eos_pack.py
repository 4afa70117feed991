"""
The Canon EOS byte layouts, checked against what libgphoto2 reads at each
offset (see the notes in L{fourcut.virtualcam.eospack}).
"""

import struct

from twisted.trial.unittest import TestCase

from fourcut.virtualcam import eospack as eos
from fourcut.virtualcam.eosbodies import (BODIES, PROFILES, exposure_seconds,
                                          stops, thirds)


def u32(data, offset):
    return struct.unpack_from("<I", data, offset)[0]


class ImageFormatTests(TestCase):
    def test_blob_layout(self):
        blob = eos.image_format_blob(((eos.IMAGE_JPEG, eos.SIZE_LARGE,
                                       eos.COMPRESSION_FINE),))
        self.assertEqual(struct.unpack("<5I", blob), (1, 0x10, 1, 0, 3))

    def test_round_trip(self):
        for entries in [((1, 0, 3),), ((1, 0xE, 2),), ((6, 0, 4), (1, 0, 3))]:
            self.assertEqual(
                eos.parse_image_format(eos.image_format_blob(entries)),
                entries)

    def test_libgphoto2_codes(self):
        """
        The condensed codes match the keys of libgphoto2's
        canon_eos_image_format table.
        """
        cases = {
            ((1, 0, 3),): 0x0300,       # Large Fine JPEG
            ((1, 1, 2),): 0x1200,       # Medium Normal JPEG
            ((1, 0xE, 3),): 0xD300,     # Small Fine JPEG (S1)
            ((1, 0xF, 3),): 0xE300,     # Smaller JPEG (S2)
            ((1, 0x10, 3),): 0xF300,    # Tiny JPEG (S3)
            ((6, 0, 4),): 0x0C00,       # RAW
            ((6, 0, 4), (1, 0, 3)): 0x0C03,   # RAW + Large Fine JPEG
        }
        for entries, code in cases.items():
            self.assertEqual(eos.image_format_code(entries), code, entries)

    def test_malformed(self):
        for data in [b"", b"\x03\0\0\0" + b"\0" * 48,
                     struct.pack("<5I", 1, 0x14, 1, 0, 3),
                     struct.pack("<3I", 1, 0x10, 1)]:
            self.assertRaises(ValueError, eos.parse_image_format, data)
        self.assertRaises(ValueError, eos.image_format_blob, ())


class RecordTests(TestCase):
    def test_prop_value_u16_takes_four_bytes(self):
        record = eos.prop_value_changed(eos.DPC_EOS_ISOSpeed, eos.U16, 0x48)
        self.assertEqual(len(record), 16)
        self.assertEqual(struct.unpack("<4I", record),
                         (16, 0xC189, 0xD103, 0x48))

    def test_prop_value_string_is_ascii_nul(self):
        record = eos.prop_value_changed(eos.DPC_EOS_LensName, eos.STR, "EF")
        self.assertEqual(record[8:], struct.pack("<I", 0xD1D8) + b"EF\0")
        self.assertEqual(u32(record, 0), len(record))

    def test_prop_value_image_format(self):
        record = eos.prop_value_changed(eos.DPC_EOS_ImageFormat,
                                        eos.IMAGE_FORMAT, ((1, 0, 3),))
        self.assertEqual(eos.parse_image_format(record[12:]), ((1, 0, 3),))

    def test_avail_list(self):
        record = eos.avail_list_changed(eos.DPC_EOS_ISOSpeed, eos.U16,
                                        [0, 0x48, 0x50])
        self.assertEqual(struct.unpack("<8I", record),
                         (32, 0xC18A, 0xD103, 3, 3, 0, 0x48, 0x50))

    def test_avail_list_of_image_formats(self):
        formats = [((1, 0, 3),), ((1, 1, 2),)]
        record = eos.avail_list_changed(eos.DPC_EOS_ImageFormat,
                                        eos.IMAGE_FORMAT, formats)
        self.assertEqual(u32(record, 16), 2)
        self.assertEqual(eos.parse_image_format(record[20:40]), formats[0])
        self.assertEqual(eos.parse_image_format(record[40:]), formats[1])

    def test_olc_focus_info(self):
        record = eos.olc_info_changed(eos.OLC_FOCUS_INFO,
                                      eos.focus_info("focused"))
        size = len(record)
        self.assertEqual(size, 22)
        self.assertEqual(struct.unpack_from("<IIIH", record),
                         (size, 0xC1A5, size - 8, 0x0100))
        self.assertEqual(record[16:], eos.focus_info("focused"))

    def test_focus_info_as_libgphoto2_prints_it(self):
        """
        2.5.30 fails a release whose focus info contains "0000200";
        2.5.34 wants "000000000101" for in focus.
        """
        text = {state: eos.focus_info(state).hex()
                for state in ("searching", "focused", "failed")}
        self.assertEqual(text["focused"], "000000000101")
        self.assertIn("0000200", text["failed"])
        self.assertEqual(text["failed"], "000000000200")
        self.assertNotIn("0000200", text["focused"])
        self.assertNotIn("0000200", text["searching"])

    def test_object_added_ex(self):
        record = eos.object_added_ex(0x42, 0x10001, 0x3801, 123456, 7,
                                     "IMG_0001.JPG")
        self.assertEqual(u32(record, 4), 0xC181)
        self.assertEqual(u32(record, 0x08), 0x42)
        self.assertEqual(u32(record, 0x0C), 0x10001)
        self.assertEqual(struct.unpack_from("<H", record, 0x10)[0], 0x3801)
        self.assertEqual(u32(record, 0x1C), 123456)
        self.assertEqual(u32(record, 0x20), 7)
        self.assertEqual(record[0x28:], b"IMG_0001.JPG\0")
        self.assertEqual(u32(record, 0), len(record))

    def test_request_object_transfer(self):
        record = eos.request_object_transfer(0x42, 0x3801, 654321,
                                             "IMG_0002.JPG")
        self.assertEqual(u32(record, 4), 0xC186)
        self.assertEqual(u32(record, 0x08), 0x42)
        self.assertEqual(struct.unpack_from("<H", record, 0x0C)[0], 0x3801)
        self.assertEqual(u32(record, 0x14), 654321)
        self.assertEqual(record[0x1C:], b"IMG_0002.JPG\0")

    def test_events_end_with_terminator(self):
        """
        libgphoto2 drops a record that ends exactly at the end of the data:
        the {8, 0} terminator must follow.
        """
        records = [eos.camera_status_changed(1),
                   eos.prop_value_changed(0xD11B, eos.U32, 5)]
        data = eos.events(records)
        self.assertEqual(data[-8:], struct.pack("<II", 8, 0))
        self.assertEqual(eos.parse_events(data),
                         [(0xC18B, struct.pack("<I", 1)),
                          (0xC189, struct.pack("<II", 0xD11B, 5))])
        self.assertEqual(eos.events([]), struct.pack("<II", 8, 0))
        self.assertRaises(ValueError, eos.parse_events, b"".join(records))


class DatasetTests(TestCase):
    def test_device_info_ex_has_three_arrays(self):
        data = eos.device_info_ex([0xC189, 0xC18A], [0xD101])
        self.assertEqual(u32(data, 0), len(data))
        self.assertEqual(struct.unpack_from("<3I", data, 4), (2, 0xC189,
                                                              0xC18A))
        self.assertEqual(struct.unpack_from("<2I", data, 16), (1, 0xD101))
        self.assertEqual(struct.unpack_from("<2I", data, 24), (1, 0))
        self.assertEqual(len(data), 32)

    def test_set_prop_value_ex_as_libgphoto2_sends_it(self):
        # u16 and u32 values: 12 bytes, the value at offset 8
        data = struct.pack("<IIHH", 12, 0xD103, 0x60, 0)
        code, raw = eos.parse_set_prop_value_ex(data)
        self.assertEqual(code, 0xD103)
        self.assertEqual(eos.decode_value(eos.U16, raw), 0x60)
        self.assertEqual(eos.decode_value(eos.U32, raw), 0x60)
        # strings: strlen + 1 + 8 bytes
        data = struct.pack("<II", 12, 0xD1D0) + b"Ann\0"
        code, raw = eos.parse_set_prop_value_ex(data)
        self.assertEqual(eos.decode_value(eos.STR, raw), "Ann")
        # image format: the blob after the header
        blob = eos.image_format_blob(((1, 1, 3),))
        data = struct.pack("<II", 8 + len(blob), 0xD120) + blob
        code, raw = eos.parse_set_prop_value_ex(data)
        self.assertEqual(eos.decode_value(eos.IMAGE_FORMAT, raw),
                         ((1, 1, 3),))

    def test_set_prop_value_ex_malformed(self):
        for data in [b"", struct.pack("<II", 8, 0xD103),
                     struct.pack("<III", 16, 0xD103, 1)]:
            self.assertRaises(ValueError, eos.parse_set_prop_value_ex, data)
        self.assertRaises(ValueError, eos.decode_value, eos.STR, b"no nul")
        self.assertRaises(ValueError, eos.decode_value, eos.U32, b"\1\0")

    def test_viewfinder_data(self):
        jpeg = b"\xff\xd8 frame \xff\xd9"
        data = eos.viewfinder_data(jpeg)
        self.assertEqual(struct.unpack_from("<II", data),
                         (8 + len(jpeg), eos.EVF_BLOCK_JPEG))
        self.assertEqual(eos.parse_viewfinder_data(data), [(1, jpeg)])


class BodyTests(TestCase):
    def test_models(self):
        self.assertEqual(BODIES["700D"].usb_ids, (0x04A9, 0x3272))
        self.assertEqual(BODIES["550D"].usb_ids, (0x04A9, 0x31EA))
        for body in BODIES.values():
            self.assertTrue(body.name.startswith("Canon EOS "))
            self.assertFalse(body.name.startswith("Canon EOS M"))

    def test_codes(self):
        self.assertEqual(thirds(0x25, 0x30), [0x25, 0x28, 0x2B, 0x2D, 0x30])
        self.assertEqual(stops(0x48, 0x60), [0x48, 0x50, 0x58, 0x60])
        self.assertEqual(exposure_seconds(0x38), 1.0)
        self.assertAlmostEqual(exposure_seconds(0x70), 1 / 128)
        self.assertEqual(BODIES["700D"].isos[-1], 0x88)    # H: 25600
        self.assertEqual(BODIES["550D"].isos[-1], 0x80)    # H: 12800

    def test_profiles(self):
        fast, real = PROFILES["fast"], PROFILES["realistic"]
        self.assertLess(fast.evf_warmup, real.evf_warmup)
        # libgphoto2 gives up on 0xA102 after 3 s, and PTP/IP reads time
        # out after 2.5 s
        self.assertLess(real.evf_warmup, 3.0)
        for value in (real.open_session, real.autofocus):
            self.assertLess(value, 2.5)
        self.assertGreater(fast.evf_warmup, 0)
