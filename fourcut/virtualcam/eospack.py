# -*- test-case-name: tests.virtualcam.test_eos_device, tests.virtualcam.test_eos_pack -*-
"""
Canon EOS vendor extension: codes and the byte layouts libgphoto2's ptp2
driver parses (GetEvent records, GetDeviceInfoEx, SetDevicePropValueEx,
ImageFormat blobs, live view blocks).

Pure functions with no state; the layouts are the ones described in
C{/work/shared/notes/canon-eos-usb.md} and checked against what
libgphoto2 2.5.30 and 2.5.34 read (C{ptp_unpack_CANON_changes} /
C{ptp_unpack_EOS_events}, C{ptp_unpack_EOS_DI}, C{ptp_unpack_EOS_ImageFormat},
C{ptp_canon_eos_setdevicepropvalue}, the EOS branch of
C{camera_capture_preview}). All little-endian.
"""

import struct

__all__ = ["image_format_blob", "parse_image_format", "image_format_code",
           "encode_value", "decode_value", "parse_set_prop_value_ex", "record",
           "prop_value_changed", "avail_list_changed", "olc_info_changed",
           "focus_info", "object_added_ex", "request_object_transfer",
           "camera_status_changed", "events", "parse_events", "device_info_ex",
           "viewfinder_data", "parse_viewfinder_data"]

VENDOR_CANON = 0x0000000B

# Operation codes --------------------------------------------------------
OC_EOS_GetStorageIDs = 0x9101
OC_EOS_GetStorageInfo = 0x9102
OC_EOS_GetDeviceInfoEx = 0x9108
OC_EOS_RemoteRelease = 0x910F
OC_EOS_SetDevicePropValueEx = 0x9110
OC_EOS_SetRemoteMode = 0x9114
OC_EOS_SetEventMode = 0x9115
OC_EOS_GetEvent = 0x9116
OC_EOS_TransferComplete = 0x9117
OC_EOS_PCHDDCapacity = 0x911A
OC_EOS_SetUILock = 0x911B
OC_EOS_ResetUILock = 0x911C
OC_EOS_KeepDeviceOn = 0x911D
OC_EOS_RequestDevicePropValue = 0x9127
OC_EOS_RemoteReleaseOn = 0x9128
OC_EOS_RemoteReleaseOff = 0x9129
OC_EOS_SetRequestOLCInfoGroup = 0x913D
OC_EOS_GetViewFinderData = 0x9153
OC_EOS_AfCancel = 0x9160

#: Operations whose presence sends libgphoto2 down the PowerShot or EOS
#: folder-listing paths; an EOS personality must not list them.
OC_FORBIDDEN = frozenset([0x9008, 0x900B, 0x901A, 0x9109])

# Response codes ---------------------------------------------------------
RC_EOS_OperationRefused = 0xA005
RC_EOS_LowBattery = 0xA101
RC_EOS_NotReady = 0xA102          # "ObjectNotReady": live view not there yet

# GetEvent record types --------------------------------------------------
EC_EOS_RequestGetEvent = 0xC101
EC_EOS_ObjectAddedEx = 0xC181
EC_EOS_ObjectRemoved = 0xC182
EC_EOS_RequestObjectTransfer = 0xC186
EC_EOS_PropValueChanged = 0xC189
EC_EOS_AvailListChanged = 0xC18A
EC_EOS_CameraStatusChanged = 0xC18B
EC_EOS_OLCInfoChanged = 0xC1A5

# Properties -------------------------------------------------------------
DPC_EOS_Aperture = 0xD101
DPC_EOS_ShutterSpeed = 0xD102
DPC_EOS_ISOSpeed = 0xD103
DPC_EOS_AutoExposureMode = 0xD105
DPC_EOS_FocusMode = 0xD108
DPC_EOS_WhiteBalance = 0xD109
DPC_EOS_BatteryPower = 0xD111
DPC_EOS_Owner = 0xD115
DPC_EOS_ModelID = 0xD116
DPC_EOS_AvailableShots = 0xD11B
DPC_EOS_CaptureDestination = 0xD11C
DPC_EOS_ImageFormat = 0xD120
DPC_EOS_OLCInfoVersion = 0xD199
DPC_EOS_SerialNumber = 0xD1AF
DPC_EOS_EVFOutputDevice = 0xD1B0
DPC_EOS_EVFMode = 0xD1B1
DPC_EOS_Artist = 0xD1D0
DPC_EOS_Copyright = 0xD1D1
DPC_EOS_LensName = 0xD1D8

# Property values --------------------------------------------------------
CAPTURE_DEST_CARD = 2
CAPTURE_DEST_RAM = 4              # libgphoto2's "Internal RAM" (sdram)
EVF_OUTPUT_TFT = 1
EVF_OUTPUT_PC = 2
FOCUS_MODE_MANUAL = 3
CAMERA_STATUS_IDLE = 0
CAMERA_STATUS_BUSY = 1

#: OLCInfoChanged masks.
OLC_FOCUS_INFO = 0x0100

#: GetViewFinderData block types libgphoto2 returns as image/jpeg.
EVF_BLOCK_JPEG = 1

#: RemoteReleaseOn / Off parameter 1.
RELEASE_HALF = 1
RELEASE_FULL = 2

# Property value kinds: how a value travels in records and in
# SetDevicePropValueEx. libgphoto2 decides the C type from the property
# code; values always take 4 bytes in a record.
U16 = "u16"
U32 = "u32"
STR = "str"
IMAGE_FORMAT = "imageformat"

# ImageFormat entries: (kind, size, compression) as the camera sends them.
IMAGE_JPEG = 1
IMAGE_RAW = 6
SIZE_LARGE, SIZE_MEDIUM, SIZE_SMALL = 0, 1, 2
SIZE_S1, SIZE_S2, SIZE_S3 = 0xE, 0xF, 0x10
COMPRESSION_NORMAL, COMPRESSION_FINE, COMPRESSION_LOSSLESS = 2, 3, 4

_RECORD = struct.Struct("<II")
TERMINATOR = _RECORD.pack(8, 0)


def _u32(value):
    return struct.pack("<I", value)


# Values -----------------------------------------------------------------

def image_format_blob(entries):
    """
    The ImageFormat value for one or two files per shot:
    C{u32 count}, then per file C{u32 0x10, u32 kind, u32 size,
    u32 compression}.

    @param entries: a sequence of 1 or 2 C{(kind, size, compression)}.
    """
    if len(entries) not in (1, 2):
        raise ValueError("an image format names one or two files")
    return _u32(len(entries)) + b"".join(
        struct.pack("<IIII", 0x10, kind, size, compression)
        for kind, size, compression in entries)


def parse_image_format(data):
    """
    The inverse of L{image_format_blob}.

    @return: a tuple of C{(kind, size, compression)} tuples.
    @raise ValueError: if C{data} is not a well-formed ImageFormat value.
    """
    if len(data) < 4:
        raise ValueError("ImageFormat too short")
    count = struct.unpack_from("<I", data)[0]
    if count not in (1, 2) or len(data) < 4 + 16 * count:
        raise ValueError("ImageFormat with %d entries" % (count,))
    entries = []
    for index in range(count):
        length, kind, size, compression = struct.unpack_from(
            "<IIII", data, 4 + 16 * index)
        if length != 0x10:
            raise ValueError("ImageFormat entry of length %d" % (length,))
        entries.append((kind, size, compression))
    return tuple(entries)


def image_format_code(entries):
    """
    The 16-bit number libgphoto2 condenses an ImageFormat into (its config
    table keys, e.g. 0x0300 "Large Fine JPEG"): per file one nibble of
    size (S1/S2/S3 one lower) and one of compression with 8 for RAW.
    For tests and logs only: the camera speaks in blobs.
    """
    code = 0
    for index, (kind, size, compression) in enumerate(entries):
        if size >= SIZE_S1:
            size -= 1
        nibble = compression | (8 if kind == IMAGE_RAW else 0)
        code |= ((size & 0xF) << 4 | (nibble & 0xF)) << (8 * (1 - index))
    return code


def encode_value(kind, value):
    """
    A property value as it sits in a PropValueChanged record (and, after
    the 8-byte header, in SetDevicePropValueEx).
    """
    if kind in (U16, U32):
        return _u32(value)
    if kind == STR:
        return value.encode("ascii") + b"\x00"
    if kind == IMAGE_FORMAT:
        return image_format_blob(value)
    raise ValueError("unknown kind %r" % (kind,))


def decode_value(kind, raw):
    """
    A value the host sent with SetDevicePropValueEx.

    @raise ValueError: if C{raw} does not hold a value of C{kind}.
    """
    if kind == U16:
        if len(raw) < 2:
            raise ValueError("u16 value too short")
        return struct.unpack_from("<H", raw)[0]
    if kind == U32:
        if len(raw) < 4:
            raise ValueError("u32 value too short")
        return struct.unpack_from("<I", raw)[0]
    if kind == STR:
        end = raw.find(b"\x00")
        if end < 0:
            raise ValueError("string without NUL")
        return raw[:end].decode("ascii")
    if kind == IMAGE_FORMAT:
        return parse_image_format(raw)
    raise ValueError("unknown kind %r" % (kind,))


def parse_set_prop_value_ex(data):
    """
    Split SetDevicePropValueEx data: C{u32 size, u32 property, value}.

    @return: C{(property, raw value bytes)}.
    @raise ValueError: if the size field does not fit the data.
    """
    if len(data) < 8:
        raise ValueError("SetDevicePropValueEx data too short")
    size, code = struct.unpack_from("<II", data)
    if size < 9 or size > len(data):
        raise ValueError("SetDevicePropValueEx size %d for %d bytes"
                         % (size, len(data)))
    return code, bytes(data[8:size])


# GetEvent records -------------------------------------------------------

def record(record_type, payload=b""):
    return _RECORD.pack(8 + len(payload), record_type) + payload


def prop_value_changed(code, kind, value):
    return record(EC_EOS_PropValueChanged, _u32(code) + encode_value(kind, value))


def avail_list_changed(code, kind, values):
    """
    The values a property may take. libgphoto2 ignores the list unless the
    property's value has been announced first.
    """
    return record(EC_EOS_AvailListChanged,
                  struct.pack("<III", code, 3, len(values))
                  + b"".join(encode_value(kind, v) for v in values))


def olc_info_changed(mask, payload):
    """
    OLCInfoChanged: C{u32 length (record size - 8), u16 mask, u16 0}, then
    the entries for the bits of C{mask} in bit order.
    """
    size = 16 + len(payload)
    return struct.pack("<IIIHH", size, EC_EOS_OLCInfoChanged, size - 8,
                       mask, 0) + payload


def focus_info(state):
    """
    The 6 bytes of OLC focus info (mask 0x0100). libgphoto2 prints them as
    hex: 2.5.30 fails the release on "0000200", 2.5.34 takes
    "000000000101" as in focus and "000000000200" as failed.

    @param state: C{"searching"}, C{"focused"} or C{"failed"}.
    """
    return {"searching": b"\x00\x00\x00\x00\x00\x01",
            "focused": b"\x00\x00\x00\x00\x01\x01",
            "failed": b"\x00\x00\x00\x00\x02\x00"}[state]


def _with_name(fields, name_offset, name):
    body = bytearray(name_offset - 8)
    for offset, value in fields:
        struct.pack_into("<I", body, offset - 8, value)
    return bytes(body) + name.encode("ascii") + b"\x00"


def object_added_ex(handle, storage_id, object_format, size, parent, name):
    """
    ObjectAddedEx: a new file on the card.
    """
    return record(EC_EOS_ObjectAddedEx, _with_name(
        [(0x08, handle), (0x0C, storage_id), (0x10, object_format),
         (0x1C, size), (0x20, parent)], 0x28, name))


def request_object_transfer(handle, object_format, size, name):
    """
    RequestObjectTransfer: a picture waiting in the camera's RAM for the
    host to fetch.
    """
    return record(EC_EOS_RequestObjectTransfer, _with_name(
        [(0x08, handle), (0x0C, object_format), (0x14, size)], 0x1C, name))


def camera_status_changed(status):
    return record(EC_EOS_CameraStatusChanged, _u32(status))


def events(records):
    """
    GetEvent data: the records and the C{{8, 0}} terminator, without which
    libgphoto2 drops the last record.
    """
    return b"".join(records) + TERMINATOR


def parse_events(data):
    """
    Split GetEvent data into C{(type, payload)} pairs up to the terminator;
    for tests.
    """
    out = []
    offset = 0
    while offset + 8 <= len(data):
        size, record_type = _RECORD.unpack_from(data, offset)
        if size == 8 and record_type == 0:
            return out
        if size < 8 or offset + size > len(data):
            raise ValueError("bad record at %d" % (offset,))
        out.append((record_type, data[offset + 8:offset + size]))
        offset += size
    raise ValueError("no terminator")


# Other datasets ---------------------------------------------------------

def device_info_ex(events_supported, properties, unknown=(0,)):
    """
    GetDeviceInfoEx: C{u32 length}, then three u32 arrays; libgphoto2
    reports an I/O error unless all three are there.
    """
    def array(values):
        return _u32(len(values)) + b"".join(_u32(v) for v in values)
    body = (array(events_supported) + array(properties)
            + array(list(unknown)))
    return _u32(4 + len(body)) + body


def viewfinder_data(jpeg):
    """
    GetViewFinderData: blocks of C{u32 length (with this 8-byte header),
    u32 type, payload}; libgphoto2 returns the first JPEG block.
    """
    return _RECORD.pack(8 + len(jpeg), EVF_BLOCK_JPEG) + jpeg


def parse_viewfinder_data(data):
    """
    The C{(type, payload)} blocks of GetViewFinderData; for tests.
    """
    out = []
    offset = 0
    while offset < len(data):
        length, block_type = _RECORD.unpack_from(data, offset)
        if length < 8 or offset + length > len(data):
            raise ValueError("bad block at %d" % (offset,))
        out.append((block_type, data[offset + 8:offset + length]))
        offset += length
    return out
