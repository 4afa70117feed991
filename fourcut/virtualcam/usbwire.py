# -*- test-case-name: tests.virtualcam.test_usb_transport -*-
"""
The virtual USB cable's wire format: frames on the Unix socket between
fourcut's port library (C{iolib/fourcut_usb.c}, loaded by libgphoto2) and
the camera (L{fourcut.virtualcam.usb}), and the PTP USB containers carried
in its bulk and interrupt frames.

Frames (both files document the same protocol)::

    u32 n (payload bytes, little-endian, at most MAX_PAYLOAD), u8 type, payload

    host -> camera                        camera -> host
    0x01 HELLO       (empty)              0x81 IDENT  u16 vid, u16 pid,
    0x02 CLAIM       u32 pid                          u8 class, subclass,
    0x03 BULK_OUT    bytes of one write               protocol, u8 flags
    0x04 CONTROL     u8 bmRequestType,    0x82 CLAIMED   0x83 BUSY
                     u8 bRequest, u16     0x84 CONTROL_REPLY u8 status, data
                     wValue, wIndex,      0x85 RESET_DONE
                     wLength, OUT data    0x86 HALT_CLEARED
    0x05 RESET       (empty)              0x90 BULK_IN  u8 flags (bit 0: last
    0x06 CLEAR_HALT  u8 endpoint                        of the transfer), data
                                          0x91 INTERRUPT one event container

PTP USB containers (C{camlibs/ptp2/usb.c}): C{u32 length} including the
12-byte header, C{u16 type} (1 command, 2 data, 3 response, 4 event),
C{u16 code}, C{u32 transaction id}, then u32 parameters or the data.

L{FrameReader} and L{ContainerReader} turn bytes from an untrusted peer into
frames and containers and refuse anything that would make the camera buffer
without bound.
"""

import struct

__all__ = [
    "ProtocolError", "FrameReader", "ContainerReader", "frame",
    "bulk_in_transfer", "interrupt", "ident", "container",
]

# Frame types, host to camera.
HELLO = 0x01
CLAIM = 0x02
BULK_OUT = 0x03
CONTROL = 0x04
RESET = 0x05
CLEAR_HALT = 0x06
HOST_FRAME_TYPES = frozenset([HELLO, CLAIM, BULK_OUT, CONTROL, RESET,
                              CLEAR_HALT])

# Frame types, camera to host.
IDENT = 0x81
CLAIMED = 0x82
BUSY = 0x83
CONTROL_REPLY = 0x84
RESET_DONE = 0x85
HALT_CLEARED = 0x86
BULK_IN = 0x90
INTERRUPT = 0x91

#: The largest frame payload either side sends or accepts (the C library
#: refuses bigger ones too).
MAX_PAYLOAD = 4 << 20
#: Device-to-host transfers are cut into frames of at most this many bytes.
BULK_IN_CHUNK = 1 << 20
#: The bulk IN endpoint's packet size: a transfer of a multiple of it is
#: followed by a zero-length packet.
MAX_PACKET_SIZE = 512

FRAME_HEADER = struct.Struct("<IB")
IDENT_PAYLOAD = struct.Struct("<HHBBBB")
SETUP = struct.Struct("<BBHHH")
CONTAINER_HEADER = struct.Struct("<IHHI")

# Container types.
COMMAND_BLOCK = 1
DATA_BLOCK = 2
RESPONSE_BLOCK = 3
EVENT_BLOCK = 4

#: bmRequestType bits.
REQUEST_IN = 0x80
REQUEST_TYPE_MASK = 0x60
REQUEST_CLASS = 0x20
REQUEST_VENDOR = 0x40
REQUEST_STANDARD = 0x00


class ProtocolError(Exception):
    """
    The peer sent bytes that are not a conversation we will hold.
    """


def frame(frame_type, payload=b""):
    return FRAME_HEADER.pack(len(payload), frame_type) + payload


def ident(vendor, product, usb_class=6, subclass=1, protocol=1,
          claimed=False):
    return frame(IDENT, IDENT_PAYLOAD.pack(vendor, product, usb_class,
                                           subclass, protocol,
                                           1 if claimed else 0))


def container(container_type, code, transaction_id, payload=b""):
    return CONTAINER_HEADER.pack(CONTAINER_HEADER.size + len(payload),
                                 container_type, code,
                                 transaction_id) + payload


def params_payload(params):
    return b"".join(struct.pack("<I", p & 0xFFFFFFFF) for p in params)


def bulk_in_transfer(data, chunk_size=BULK_IN_CHUNK):
    """
    One device-to-host transfer as BULK_IN frames, the last one flagged,
    followed by a zero-length transfer when the length is a non-zero
    multiple of the packet size (the zero-length packet a USB device sends
    so that the host sees the transfer end). Returns a list of byte strings
    ready for C{writeSequence}.
    """
    out = []
    view = memoryview(data)
    offset = 0
    while True:
        piece = view[offset:offset + chunk_size]
        offset += len(piece)
        last = offset >= len(data)
        out.append(FRAME_HEADER.pack(len(piece) + 1, BULK_IN))
        out.append(b"\x01" if last else b"\x00")
        out.append(bytes(piece))
        if last:
            break
    if data and len(data) % MAX_PACKET_SIZE == 0:
        out.append(FRAME_HEADER.pack(1, BULK_IN) + b"\x01")
    return out


def interrupt(code, transaction_id, params=()):
    """
    An event container as one interrupt transfer (up to 3 parameters).
    """
    return frame(INTERRUPT, container(EVENT_BLOCK, code, transaction_id,
                                      params_payload(tuple(params)[:3])))


def control_reply(data=b"", stall=False):
    return frame(CONTROL_REPLY, (b"\x01" if stall else b"\x00") + data)


def parse_setup(payload):
    """
    @return: C{(request_type, request, value, index, length, out_data)}
    """
    if len(payload) < SETUP.size:
        raise ProtocolError("CONTROL frame without a setup packet")
    fields = SETUP.unpack_from(payload)
    data = bytes(payload[SETUP.size:])
    if fields[0] & REQUEST_IN:
        if data:
            raise ProtocolError("data with an IN control request")
    elif len(data) != fields[4]:
        raise ProtocolError("control OUT data does not match wLength")
    return fields + (data,)


class FrameReader:
    """
    Incremental, bounded frame decoder: keeps at most one partial frame.
    """

    def __init__(self, max_payload=MAX_PAYLOAD,
                 allowed_types=HOST_FRAME_TYPES):
        self._buffer = bytearray()
        self._max = max_payload
        self._allowed = allowed_types

    def feed(self, data):
        """
        @return: a list of C{(type, payload)}.
        @raise ProtocolError: on an oversized frame or an unknown type; the
            reader is unusable afterwards.
        """
        self._buffer += data
        frames = []
        offset = 0
        buffer = self._buffer
        while len(buffer) - offset >= FRAME_HEADER.size:
            length, frame_type = FRAME_HEADER.unpack_from(buffer, offset)
            if frame_type not in self._allowed:
                raise ProtocolError("unexpected frame type 0x%02x"
                                    % (frame_type,))
            if length > self._max:
                raise ProtocolError("frame of %d bytes is over the limit "
                                    "of %d" % (length, self._max))
            end = offset + FRAME_HEADER.size + length
            if len(buffer) < end:
                break
            frames.append((frame_type,
                           bytes(buffer[offset + FRAME_HEADER.size:end])))
            offset = end
        del buffer[:offset]
        return frames


class Container:
    """
    A decoded host-to-device container: C{type}, C{code},
    C{transaction_id}, and C{params} (command) or C{data} (data).
    """

    def __init__(self, container_type, code, transaction_id, payload):
        self.type = container_type
        self.code = code
        self.transaction_id = transaction_id
        self.payload = payload

    @property
    def params(self):
        count = len(self.payload) // 4
        return struct.unpack("<%dI" % count, self.payload[:4 * count])

    def __repr__(self):
        return "<Container type=%d 0x%04x tid=%d %d bytes>" % (
            self.type, self.code, self.transaction_id, len(self.payload))


class ContainerReader:
    """
    Reassembles PTP containers from the bulk OUT byte stream, however the
    host cut it into writes. Only command and data containers come from a
    host; a command has 0 to 5 parameters; a data container may hold at
    most C{max_data} bytes.
    """

    def __init__(self, max_data=MAX_PAYLOAD):
        self._buffer = bytearray()
        self._max_data = max_data

    def feed(self, data):
        """
        @return: a list of L{Container}.
        @raise ProtocolError: on a malformed or oversized container.
        """
        self._buffer += data
        containers = []
        offset = 0
        buffer = self._buffer
        while len(buffer) - offset >= CONTAINER_HEADER.size:
            length, kind, code, tid = CONTAINER_HEADER.unpack_from(
                buffer, offset)
            if kind == COMMAND_BLOCK:
                if not 12 <= length <= 32 or length % 4:
                    raise ProtocolError("command container of %d bytes"
                                        % (length,))
            elif kind == DATA_BLOCK:
                if length < 12 or length - 12 > self._max_data:
                    raise ProtocolError("data container of %d bytes"
                                        % (length,))
            else:
                raise ProtocolError("container type %d from the host"
                                    % (kind,))
            if len(buffer) - offset < length:
                break
            containers.append(Container(
                kind, code, tid,
                bytes(buffer[offset + CONTAINER_HEADER.size:
                             offset + length])))
            offset += length
        del buffer[:offset]
        return containers

    @property
    def buffered(self):
        return len(self._buffer)
