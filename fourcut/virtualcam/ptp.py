# -*- test-case-name: tests.virtualcam.test_eos_device, tests.virtualcam.test_ptpip, tests.virtualcam.test_usb_transport -*-
"""
PTP (ISO 15740) codes and dataset encoding for the virtual camera.

Only what a DSLR-like device needs to answer libgphoto2's ptp2 driver:
operation, response, event and property codes, and the little-endian
datasets (DeviceInfo, StorageInfo, ObjectInfo, DevicePropDesc) it parses.
"""

import struct

__all__ = ["u8", "u16", "u32", "u64", "string", "parse_string", "u16_array",
           "u32_array", "encode_value", "decode_value", "device_info",
           "storage_info", "object_info", "prop_desc"]

# Operation codes
OC_GetDeviceInfo = 0x1001
OC_OpenSession = 0x1002
OC_CloseSession = 0x1003
OC_GetStorageIDs = 0x1004
OC_GetStorageInfo = 0x1005
OC_GetNumObjects = 0x1006
OC_GetObjectHandles = 0x1007
OC_GetObjectInfo = 0x1008
OC_GetObject = 0x1009
OC_DeleteObject = 0x100B
OC_InitiateCapture = 0x100E
OC_GetDevicePropDesc = 0x1014
OC_GetDevicePropValue = 0x1015
OC_SetDevicePropValue = 0x1016
OC_GetPartialObject = 0x101B

# Response codes
RC_OK = 0x2001
RC_GeneralError = 0x2002
RC_SessionNotOpen = 0x2003
RC_InvalidTransactionID = 0x2004
RC_OperationNotSupported = 0x2005
RC_ParameterNotSupported = 0x2006
RC_InvalidStorageID = 0x2008
RC_InvalidObjectHandle = 0x2009
RC_DevicePropNotSupported = 0x200A
RC_StoreFull = 0x200C
RC_AccessDenied = 0x200F
RC_DeviceBusy = 0x2019
RC_InvalidDevicePropFormat = 0x201B
RC_InvalidDevicePropValue = 0x201C
RC_InvalidParameter = 0x201D
RC_SessionAlreadyOpen = 0x201E

# Event codes
EC_ObjectAdded = 0x4002
EC_StoreFull = 0x400A
EC_CaptureComplete = 0x400D

# Device property codes
DPC_BatteryLevel = 0x5001
DPC_ImageSize = 0x5003
DPC_WhiteBalance = 0x5005
DPC_FNumber = 0x5007
DPC_ExposureTime = 0x500D
DPC_ExposureIndex = 0x500F

# Data type codes
DTC_UINT8 = 0x0002
DTC_UINT16 = 0x0004
DTC_UINT32 = 0x0006
DTC_STR = 0xFFFF

# Object formats
OFC_Association = 0x3001
OFC_EXIF_JPEG = 0x3801

# Vendor extension IDs. Sony's makes libgphoto2 fetch live view frames as
# the object 0xFFFFC002 (see shared notes); capture stays generic.
VENDOR_SONY = 0x00000011
SONY_LIVEVIEW_HANDLE = 0xFFFFC002

STORAGE_ID = 0x00010001

_INT_FORMATS = {DTC_UINT8: "<B", DTC_UINT16: "<H", DTC_UINT32: "<I"}


def u8(value):
    return struct.pack("<B", value)


def u16(value):
    return struct.pack("<H", value)


def u32(value):
    return struct.pack("<I", value)


def u64(value):
    return struct.pack("<Q", value)


def string(text):
    """
    Encode a PTP string: a count of UTF-16 units including the NUL, then
    UTF-16LE. The empty string is a single zero byte.
    """
    if not text:
        return b"\x00"
    encoded = (text + "\x00").encode("utf-16-le")
    units = len(encoded) // 2
    if units > 255:
        raise ValueError("PTP strings hold at most 254 characters")
    return u8(units) + encoded


def parse_string(data, offset=0):
    """
    Decode a PTP string at C{offset}; return C{(text, next_offset)}.

    @raise ValueError: if the bytes run out before the string does.
    """
    if offset >= len(data):
        raise ValueError("string length missing")
    units = data[offset]
    end = offset + 1 + 2 * units
    if end > len(data):
        raise ValueError("string runs past the data")
    text = data[offset + 1:end].decode("utf-16-le", errors="replace")
    return text.rstrip("\x00"), end


def u16_array(values):
    return u32(len(values)) + b"".join(u16(v) for v in values)


def u32_array(values):
    return u32(len(values)) + b"".join(u32(v) for v in values)


def encode_value(datatype, value):
    if datatype == DTC_STR:
        return string(value)
    return struct.pack(_INT_FORMATS[datatype], value)


def decode_value(datatype, data):
    """
    Decode one property value sent by the host.

    @raise ValueError: if C{data} is not exactly one value of C{datatype}.
    """
    if datatype == DTC_STR:
        text, end = parse_string(data)
        if end != len(data):
            raise ValueError("trailing bytes after string")
        return text
    fmt = _INT_FORMATS[datatype]
    if len(data) != struct.calcsize(fmt):
        raise ValueError("wrong size for property value")
    return struct.unpack(fmt, data)[0]


def device_info(vendor_extension_id, operations, events, properties,
                manufacturer, model, version, serial):
    return b"".join([
        u16(110),                     # StandardVersion: PTP 1.1
        u32(vendor_extension_id),
        u16(100),                     # VendorExtensionVersion
        string(""),                   # VendorExtensionDesc
        u16(0),                       # FunctionalMode
        u16_array(operations),
        u16_array(events),
        u16_array(properties),
        u16_array([OFC_EXIF_JPEG]),   # CaptureFormats
        u16_array([OFC_EXIF_JPEG]),   # ImageFormats
        string(manufacturer),
        string(model),
        string(version),
        string(serial),
    ])


def storage_info(max_capacity, free_bytes, free_images, description, label):
    return b"".join([
        u16(0x0004),                  # StorageType: removable RAM (a card)
        u16(0x0002),                  # FilesystemType: generic hierarchical
        u16(0x0000),                  # AccessCapability: read-write
        u64(max_capacity),
        u64(free_bytes),
        u32(free_images),
        string(description),
        string(label),
    ])


def object_info(storage_id, object_format, size, filename, parent=0,
                width=0, height=0, capture_date=""):
    return b"".join([
        u32(storage_id),
        u16(object_format),
        u16(0),                       # ProtectionStatus
        u32(size),                    # ObjectCompressedSize
        u16(0), u32(0),               # ThumbFormat, ThumbCompressedSize
        u32(0), u32(0),               # ThumbPixWidth, ThumbPixHeight
        u32(width), u32(height),      # ImagePixWidth, ImagePixHeight
        u32(24),                      # ImageBitDepth
        u32(parent),                  # ParentObject
        u16(0),                       # AssociationType
        u32(0),                       # AssociationDesc
        u32(0),                       # SequenceNumber
        string(filename),
        string(capture_date),         # CaptureDate
        string(capture_date),         # ModificationDate
        string(""),                   # Keywords
    ])


def prop_desc(code, datatype, writable, default, current, choices=None,
              value_range=None):
    """
    Encode a DevicePropDesc with an enumeration form (C{choices}), a range
    form (C{value_range} = (min, max, step)) or no form.
    """
    parts = [u16(code), u16(datatype), u8(1 if writable else 0),
             encode_value(datatype, default), encode_value(datatype, current)]
    if choices is not None:
        parts.append(u8(2))
        parts.append(u16(len(choices)))
        parts.extend(encode_value(datatype, c) for c in choices)
    elif value_range is not None:
        parts.append(u8(1))
        parts.extend(encode_value(datatype, v) for v in value_range)
    else:
        parts.append(u8(0))
    return b"".join(parts)
