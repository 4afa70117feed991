"""
Unit tests of the PTP/IP packet codec (L{fourcut.virtualcam.ptpip}) and the
PTP dataset helpers it uses (L{fourcut.virtualcam.ptp}), on well-formed and
malformed input.
"""

import struct

from twisted.trial.unittest import SynchronousTestCase

from fourcut.virtualcam import ptp, ptpip

ALL_TYPES = frozenset(range(1, 15))


def header(length, packet_type):
    return struct.pack("<II", length, packet_type)


def operation_request_payload(code, tid, params=(), data_phase=1):
    return struct.pack("<IHI", data_phase, code, tid) + b"".join(
        struct.pack("<I", p) for p in params)


class PacketReaderFramingTests(SynchronousTestCase):
    """
    L{ptpip.PacketReader} reassembles packets whatever way the transport
    cuts the stream.
    """

    def setUp(self):
        self.packets = [
            (ptpip.OPERATION_REQUEST,
             operation_request_payload(ptp.OC_GetDeviceInfo, 1)),
            (ptpip.PROBE_REQUEST, b""),
            (ptpip.START_DATA, struct.pack("<IQ", 2, 5)),
            (ptpip.END_DATA, struct.pack("<I", 2) + b"hello"),
            (ptpip.OPERATION_REQUEST,
             operation_request_payload(ptp.OC_GetObject, 3, [7, 8, 9])),
        ]
        self.stream = b"".join(ptpip.packet(t, p) for t, p in self.packets)

    def feed_in_chunks(self, sizes):
        reader = ptpip.PacketReader()
        out = []
        offset = 0
        for size in sizes:
            out.extend(reader.feed(self.stream[offset:offset + size]))
            offset += size
        self.assertEqual(offset, len(self.stream))
        self.assertEqual(reader.buffered, 0)
        return out

    def test_whole_stream_in_one_feed(self):
        """
        Several packets in one feed all come out, in order.
        """
        self.assertEqual(self.feed_in_chunks([len(self.stream)]),
                         self.packets)

    def test_one_byte_feeds(self):
        """
        Packets fed one byte at a time come out whole, each exactly once.
        """
        reader = ptpip.PacketReader()
        out = []
        for i in range(len(self.stream)):
            got = reader.feed(self.stream[i:i + 1])
            self.assertLessEqual(len(got), 1)
            out.extend(got)
        self.assertEqual(out, self.packets)
        self.assertEqual(reader.buffered, 0)

    def test_split_inside_header_and_payload(self):
        """
        Feeds that end inside a header, inside a payload, and spanning
        packet boundaries all work.
        """
        sizes = [3, 9, 1, 20, 7]
        sizes.append(len(self.stream) - sum(sizes))
        self.assertEqual(self.feed_in_chunks(sizes), self.packets)

    def test_partial_packet_is_buffered(self):
        """
        An incomplete packet yields nothing and stays buffered until the
        rest arrives.
        """
        reader = ptpip.PacketReader()
        data = ptpip.packet(ptpip.DATA, b"\x01\x00\x00\x00" + b"x" * 100)
        self.assertEqual(reader.feed(data[:50]), [])
        self.assertEqual(reader.buffered, 50)
        self.assertEqual(reader.feed(data[50:]),
                         [(ptpip.DATA, data[8:])])
        self.assertEqual(reader.buffered, 0)

    def test_empty_feed(self):
        reader = ptpip.PacketReader()
        self.assertEqual(reader.feed(b""), [])
        self.assertEqual(reader.buffered, 0)


class PacketReaderRejectionTests(SynchronousTestCase):
    """
    L{ptpip.PacketReader} refuses streams that are not PTP/IP from a host,
    as soon as the header says so, and never buffers more than its maximum.
    """

    def assertRejects(self, data, reader=None):
        reader = reader or ptpip.PacketReader()
        self.assertRaises(ptpip.ProtocolError, reader.feed, data)

    def test_length_zero(self):
        self.assertRejects(header(0, ptpip.OPERATION_REQUEST))

    def test_length_four(self):
        self.assertRejects(header(4, ptpip.OPERATION_REQUEST))

    def test_length_seven(self):
        self.assertRejects(header(7, ptpip.PROBE_REQUEST))

    def test_length_eight_is_fine(self):
        """
        The smallest legal packet is a bare header.
        """
        self.assertEqual(ptpip.PacketReader().feed(header(8, 13)),
                         [(ptpip.PROBE_REQUEST, b"")])

    def test_huge_length_rejected_from_header_alone(self):
        """
        A length of gigabytes is refused as soon as the 8-byte header is
        in, before any payload arrives.
        """
        reader = ptpip.PacketReader()
        self.assertEqual(reader.feed(header(0xFFFFFFF0, 6)[:7]), [])
        self.assertRejects(header(0xFFFFFFF0, 6)[7:], reader)

    def test_length_just_over_maximum(self):
        reader = ptpip.PacketReader(max_packet=1000)
        self.assertRejects(header(1001, ptpip.DATA), reader)

    def test_length_at_maximum_accepted(self):
        reader = ptpip.PacketReader(max_packet=1000)
        data = ptpip.packet(ptpip.DATA, b"\0" * 992)
        self.assertEqual(len(data), 1000)
        self.assertEqual(reader.feed(data), [(ptpip.DATA, b"\0" * 992)])

    def test_unknown_type(self):
        self.assertRejects(header(8, 99))

    def test_type_zero(self):
        self.assertRejects(header(8, 0))

    def test_device_only_types(self):
        """
        InitCommandAck, InitFail, OperationResponse and Event only ever
        travel from a device to a host.
        """
        for packet_type in (ptpip.INIT_COMMAND_ACK, ptpip.INIT_FAIL,
                            ptpip.OPERATION_RESPONSE, ptpip.EVENT):
            self.assertIn(packet_type, (2, 5, 7, 8))
            self.assertRejects(ptpip.packet(packet_type, b"\0" * 8))

    def test_bad_packet_after_good_one(self):
        """
        A bad header is refused even when a good packet precedes it in the
        same feed.
        """
        self.assertRejects(ptpip.packet(ptpip.PROBE_REQUEST)
                           + header(4, ptpip.PROBE_REQUEST))

    def test_never_buffers_more_than_max_packet(self):
        """
        Whatever the chunking, what stays buffered after a feed is at most
        one partial packet no longer than C{max_packet}.
        """
        max_packet = 64
        reader = ptpip.PacketReader(max_packet=max_packet)
        stream = b"".join(ptpip.packet(ptpip.DATA, bytes([n]) * n)
                          for n in range(0, max_packet - 8 + 1, 7))
        expected = [(ptpip.DATA, bytes([n]) * n)
                    for n in range(0, max_packet - 8 + 1, 7)]
        out = []
        offset = 0
        size = 1
        while offset < len(stream):
            out.extend(reader.feed(stream[offset:offset + size]))
            self.assertLess(reader.buffered, max_packet)
            offset += size
            size = size % 37 + 5
        self.assertEqual(out, expected)

    def test_oversized_packet_not_buffered(self):
        """
        Feeding the start of an oversized packet raises instead of
        accumulating its payload.
        """
        reader = ptpip.PacketReader(max_packet=64)
        self.assertRejects(header(65, ptpip.DATA) + b"\0" * 10, reader)


class ParseTests(SynchronousTestCase):
    """
    The payload parsers accept exactly the lengths PTP/IP allows.
    """

    def test_operation_request_without_params(self):
        request = ptpip.parse_operation_request(
            operation_request_payload(0x1002, 0, data_phase=1))
        self.assertEqual((request.data_phase, request.code,
                          request.transaction_id, request.params),
                         (1, 0x1002, 0, ()))

    def test_operation_request_five_params(self):
        request = ptpip.parse_operation_request(
            operation_request_payload(0x101B, 42, [1, 2, 3, 4, 0xFFFFFFFF],
                                      data_phase=2))
        self.assertEqual((request.data_phase, request.code,
                          request.transaction_id, request.params),
                         (2, 0x101B, 42, (1, 2, 3, 4, 0xFFFFFFFF)))

    def test_operation_request_too_short(self):
        for length in (0, 4, 9):
            self.assertRaises(ptpip.ProtocolError,
                              ptpip.parse_operation_request, b"\0" * length)

    def test_operation_request_not_whole_params(self):
        for extra in (1, 2, 3, 5):
            self.assertRaises(ptpip.ProtocolError,
                              ptpip.parse_operation_request,
                              operation_request_payload(0x1001, 1)
                              + b"\0" * extra)

    def test_operation_request_six_params(self):
        self.assertRaises(ptpip.ProtocolError, ptpip.parse_operation_request,
                          operation_request_payload(0x1001, 1, range(6)))

    def test_init_command_request(self):
        guid = bytes(range(16))
        payload = guid + "Host".encode("utf-16-le") + b"\0\0" \
            + struct.pack("<HH", 0, 1)
        self.assertEqual(ptpip.parse_init_command_request(payload),
                         (guid, "Host"))

    def test_init_command_request_short(self):
        for length in (0, 16, 21):
            self.assertRaises(ptpip.ProtocolError,
                              ptpip.parse_init_command_request,
                              b"\0" * length)

    def test_init_event_request(self):
        self.assertEqual(
            ptpip.parse_init_event_request(struct.pack("<I", 7)), 7)

    def test_init_event_request_bad_length(self):
        for length in (0, 3, 5):
            self.assertRaises(ptpip.ProtocolError,
                              ptpip.parse_init_event_request, b"\0" * length)

    def test_start_data(self):
        self.assertEqual(
            ptpip.parse_start_data(struct.pack("<IQ", 9, 1 << 40)),
            (9, 1 << 40))

    def test_start_data_bad_length(self):
        for length in (0, 4, 8, 11, 13):
            self.assertRaises(ptpip.ProtocolError, ptpip.parse_start_data,
                              b"\0" * length)

    def test_data(self):
        self.assertEqual(ptpip.parse_data(struct.pack("<I", 5) + b"abc"),
                         (5, b"abc"))
        self.assertEqual(ptpip.parse_data(struct.pack("<I", 5)), (5, b""))

    def test_data_short(self):
        for length in (0, 1, 3):
            self.assertRaises(ptpip.ProtocolError, ptpip.parse_data,
                              b"\0" * length)


class EncodeTests(SynchronousTestCase):
    """
    The device-to-host packets have the byte layouts of the specification.
    """

    def test_packet(self):
        self.assertEqual(ptpip.packet(13), b"\x08\0\0\0\x0d\0\0\0")
        self.assertEqual(ptpip.packet(10, b"ab"),
                         b"\x0a\0\0\0\x0a\0\0\0ab")

    def test_operation_response(self):
        self.assertEqual(
            ptpip.operation_response(0x2001, 0x01020304, [5, 0x10000]),
            struct.pack("<II", 22, 7)
            + b"\x01\x20" + b"\x04\x03\x02\x01"
            + b"\x05\0\0\0" + b"\0\0\x01\0")

    def test_operation_response_without_params(self):
        self.assertEqual(ptpip.operation_response(0x2019, 3),
                         struct.pack("<II", 14, 7) + b"\x19\x20\x03\0\0\0")

    def test_event(self):
        self.assertEqual(
            ptpip.event(0x4002, 0xFFFFFFFF, [0x1234]),
            struct.pack("<II", 18, 8) + b"\x02\x40" + b"\xff" * 4
            + b"\x34\x12\0\0")

    def test_init_fail(self):
        self.assertEqual(ptpip.init_fail(ptpip.FAIL_BUSY),
                         struct.pack("<III", 12, 5, 2))

    def test_init_command_ack(self):
        guid = b"G" * 16
        self.assertEqual(
            ptpip.init_command_ack(1, guid, "Cam"),
            struct.pack("<II", 8 + 4 + 16 + 8 + 4, 2) + b"\x01\0\0\0" + guid
            + b"C\0a\0m\0\0\0" + b"\0\0\x01\0")

    def decode_data_phase(self, parts):
        reader = ptpip.PacketReader(allowed_types=ALL_TYPES)
        packets = reader.feed(b"".join(parts))
        self.assertEqual(reader.buffered, 0)
        return packets

    def test_data_packets_layout(self):
        """
        StartData carries the transaction id and the u64 total; each Data
        chunk and the single final EndData carry the transaction id and a
        piece of the data, in order.
        """
        data = bytes(range(256)) * 10
        parts = ptpip.data_packets(0x0A0B0C0D, data, chunk_size=1000)
        self.assertEqual(parts[0], struct.pack("<IIIQ", 20, 9, 0x0A0B0C0D,
                                               len(data)))
        packets = self.decode_data_phase(parts)
        self.assertEqual([t for t, _ in packets],
                         [ptpip.START_DATA, ptpip.DATA, ptpip.DATA,
                          ptpip.END_DATA])
        self.assertEqual(ptpip.parse_start_data(packets[0][1]),
                         (0x0A0B0C0D, len(data)))
        chunks = [ptpip.parse_data(p) for _, p in packets[1:]]
        self.assertEqual({tid for tid, _ in chunks}, {0x0A0B0C0D})
        self.assertEqual([len(c) for _, c in chunks], [1000, 1000, 560])
        self.assertEqual(sum(len(c) for _, c in chunks), len(data))
        self.assertEqual(b"".join(c for _, c in chunks), data)

    def test_data_packets_exact_multiple(self):
        """
        Data that fills whole chunks ends with a full EndData, not an empty
        one.
        """
        data = b"z" * 2000
        packets = self.decode_data_phase(
            ptpip.data_packets(1, data, chunk_size=1000))
        self.assertEqual([t for t, _ in packets],
                         [ptpip.START_DATA, ptpip.DATA, ptpip.END_DATA])
        self.assertEqual(packets[2][1], b"\x01\0\0\0" + b"z" * 1000)

    def test_data_packets_empty(self):
        """
        An empty data phase is StartData with a zero total and an EndData
        with no data.
        """
        self.assertEqual(
            b"".join(ptpip.data_packets(7, b"")),
            struct.pack("<IIIQ", 20, 9, 7, 0) + struct.pack("<III", 12, 12, 7))

    def test_data_packets_default_chunks(self):
        data = bytes(600 * 1024)
        packets = self.decode_data_phase(ptpip.data_packets(2, data))
        self.assertEqual(packets[0][0], ptpip.START_DATA)
        self.assertEqual(packets[-1][0], ptpip.END_DATA)
        self.assertEqual([t for t, _ in packets].count(ptpip.END_DATA), 1)
        self.assertEqual(ptpip.parse_start_data(packets[0][1])[1], len(data))
        self.assertEqual(sum(len(p) - 4 for _, p in packets[1:]), len(data))


class StringTests(SynchronousTestCase):
    """
    PTP strings: a u8 count of UTF-16 units including the NUL, then
    UTF-16LE text.
    """

    def test_encode(self):
        self.assertEqual(ptp.string("Ab"), b"\x03A\0b\0\0\0")

    def test_empty(self):
        self.assertEqual(ptp.string(""), b"\x00")
        self.assertEqual(ptp.parse_string(b"\x00"), ("", 1))

    def test_round_trip(self):
        for text in ("", "a", "fourcut", "caf\u00e9 \u65e5\u672c",
                     "x" * 254):
            encoded = ptp.string(text)
            self.assertEqual(ptp.parse_string(encoded), (text, len(encoded)))

    def test_round_trip_at_offset(self):
        data = b"\xAA\xBB" + ptp.string("one") + ptp.string("") \
            + ptp.string("two")
        text, offset = ptp.parse_string(data, 2)
        self.assertEqual(text, "one")
        text, offset = ptp.parse_string(data, offset)
        self.assertEqual(text, "")
        text, offset = ptp.parse_string(data, offset)
        self.assertEqual((text, offset), ("two", len(data)))

    def test_too_long(self):
        self.assertRaises(ValueError, ptp.string, "x" * 255)

    def test_truncated(self):
        encoded = ptp.string("hello")
        for cut in range(1, len(encoded)):
            self.assertRaises(ValueError, ptp.parse_string, encoded[:cut])

    def test_missing(self):
        self.assertRaises(ValueError, ptp.parse_string, b"")
        self.assertRaises(ValueError, ptp.parse_string, b"\x00", 1)


class ValueTests(SynchronousTestCase):
    """
    Property values: exact sizes when decoding, and the DevicePropDesc
    layout.
    """

    def test_decode_integers(self):
        self.assertEqual(ptp.decode_value(ptp.DTC_UINT8, b"\x07"), 7)
        self.assertEqual(ptp.decode_value(ptp.DTC_UINT16, b"\x34\x12"),
                         0x1234)
        self.assertEqual(ptp.decode_value(ptp.DTC_UINT32, b"\x01\0\0\x80"),
                         0x80000001)

    def test_decode_wrong_sizes(self):
        cases = [(ptp.DTC_UINT8, b""), (ptp.DTC_UINT8, b"\0\0"),
                 (ptp.DTC_UINT16, b"\0"), (ptp.DTC_UINT16, b"\0\0\0"),
                 (ptp.DTC_UINT32, b"\0\0\0"), (ptp.DTC_UINT32, b"\0" * 8)]
        for datatype, data in cases:
            self.assertRaises(ValueError, ptp.decode_value, datatype, data)

    def test_decode_string(self):
        self.assertEqual(ptp.decode_value(ptp.DTC_STR, ptp.string("Hi")),
                         "Hi")

    def test_decode_string_trailing_or_truncated(self):
        encoded = ptp.string("Hi")
        self.assertRaises(ValueError, ptp.decode_value, ptp.DTC_STR,
                          encoded + b"\0")
        self.assertRaises(ValueError, ptp.decode_value, ptp.DTC_STR,
                          encoded[:-1])

    def test_encode_decode_round_trip(self):
        for datatype, value in [(ptp.DTC_UINT8, 200), (ptp.DTC_UINT16, 6400),
                                (ptp.DTC_UINT32, 1 << 31),
                                (ptp.DTC_STR, "Auto")]:
            self.assertEqual(
                ptp.decode_value(datatype, ptp.encode_value(datatype, value)),
                value)

    def test_prop_desc_enumeration(self):
        """
        Code, datatype, get/set flag, default, current, form flag 2, a u16
        count and the choices.
        """
        desc = ptp.prop_desc(ptp.DPC_ExposureIndex, ptp.DTC_UINT16, True,
                             100, 400, choices=[100, 200, 400, 800])
        self.assertEqual(
            desc,
            b"\x0f\x50" + b"\x04\x00" + b"\x01" + b"\x64\x00" + b"\x90\x01"
            + b"\x02" + b"\x04\x00"
            + b"\x64\x00" + b"\xc8\x00" + b"\x90\x01" + b"\x20\x03")

    def test_prop_desc_read_only_no_form(self):
        desc = ptp.prop_desc(ptp.DPC_BatteryLevel, ptp.DTC_UINT8, False,
                             100, 75)
        self.assertEqual(desc, b"\x01\x50\x02\x00\x00\x64\x4b\x00")

    def test_prop_desc_range(self):
        desc = ptp.prop_desc(ptp.DPC_BatteryLevel, ptp.DTC_UINT8, False,
                             0, 50, value_range=(0, 100, 1))
        self.assertEqual(desc,
                         b"\x01\x50\x02\x00\x00\x00\x32\x01\x00\x64\x01")
