# -*- test-case-name: tests.virtualcam.test_eos_device, tests.virtualcam.test_hostile, tests.virtualcam.test_ptpip -*-
"""
PTP/IP packet codec: framing, encoding and bounded incremental decoding.

Every packet is C{u32 length} (including the 8-byte header), C{u32 type},
then a payload. L{PacketReader} turns a byte stream from an untrusted host
into packets and refuses anything that could make the camera buffer without
bound: a length under 8, a length over the configured maximum, or a type a
host never sends.
"""

import struct

from fourcut.virtualcam import ptp

INIT_COMMAND_REQUEST = 1
INIT_COMMAND_ACK = 2
INIT_EVENT_REQUEST = 3
INIT_EVENT_ACK = 4
INIT_FAIL = 5
OPERATION_REQUEST = 6
OPERATION_RESPONSE = 7
EVENT = 8
START_DATA = 9
DATA = 10
CANCEL = 11
END_DATA = 12
PROBE_REQUEST = 13
PROBE_RESPONSE = 14

#: Packet types a host may send to a device.
HOST_PACKET_TYPES = frozenset([
    INIT_COMMAND_REQUEST, INIT_EVENT_REQUEST, OPERATION_REQUEST, START_DATA,
    DATA, CANCEL, END_DATA, PROBE_REQUEST, PROBE_RESPONSE,
])

#: InitFail reasons (PTP/IP specification).
FAIL_REJECTED_INITIATOR = 1
FAIL_BUSY = 2
FAIL_UNSPECIFIED = 3

#: A host only ever sends small packets to a camera (requests, property
#: values); one MiB is far above any legitimate one.
DEFAULT_MAX_PACKET = 1 << 20

HEADER = struct.Struct("<II")


class ProtocolError(Exception):
    """
    The peer sent bytes that are not a PTP/IP conversation we will hold.
    """


def packet(packet_type, payload=b""):
    return HEADER.pack(HEADER.size + len(payload), packet_type) + payload


def init_command_ack(connection_number, guid, name):
    return packet(INIT_COMMAND_ACK,
                  struct.pack("<I", connection_number) + guid
                  + (name + "\x00").encode("utf-16-le")
                  + struct.pack("<HH", 0, 1))


def init_event_ack():
    return packet(INIT_EVENT_ACK)


def init_fail(reason):
    return packet(INIT_FAIL, struct.pack("<I", reason))


def operation_response(code, transaction_id, params=()):
    return packet(OPERATION_RESPONSE,
                  struct.pack("<HI", code, transaction_id)
                  + b"".join(struct.pack("<I", p) for p in params))


def event(code, transaction_id, params=()):
    return packet(EVENT,
                  struct.pack("<HI", code, transaction_id)
                  + b"".join(struct.pack("<I", p) for p in params))


def data_packets(transaction_id, data, chunk_size=256 * 1024):
    """
    The device-to-host data phase: StartData, Data chunks, one EndData.
    Returns a list of byte strings ready for C{writeSequence}.
    """
    tid = struct.pack("<I", transaction_id)
    out = [packet(START_DATA, tid + struct.pack("<Q", len(data)))]
    view = memoryview(data)
    offset = 0
    while len(data) - offset > chunk_size:
        chunk = view[offset:offset + chunk_size]
        out.append(HEADER.pack(HEADER.size + 4 + len(chunk), DATA) + tid)
        out.append(bytes(chunk))
        offset += chunk_size
    rest = view[offset:]
    out.append(HEADER.pack(HEADER.size + 4 + len(rest), END_DATA) + tid)
    out.append(bytes(rest))
    return out


def parse_init_command_request(payload):
    """
    @return: C{(guid, friendly_name)}
    @raise ProtocolError: if the payload is malformed.
    """
    if len(payload) < 16 + 2 + 4:
        raise ProtocolError("InitCommandRequest too short")
    guid = bytes(payload[:16])
    name_bytes = bytes(payload[16:-4])
    end = 0
    while end + 1 < len(name_bytes) and name_bytes[end:end + 2] != b"\0\0":
        end += 2
    return guid, name_bytes[:end].decode("utf-16-le", errors="replace")


def parse_init_event_request(payload):
    if len(payload) != 4:
        raise ProtocolError("InitEventRequest must carry one u32")
    return struct.unpack("<I", payload)[0]


class OperationRequest:
    """
    A decoded OperationRequest: C{data_phase} (1 none or device-to-host,
    2 host-to-device), C{code}, C{transaction_id}, C{params}.
    """

    def __init__(self, data_phase, code, transaction_id, params):
        self.data_phase = data_phase
        self.code = code
        self.transaction_id = transaction_id
        self.params = params

    def __repr__(self):
        return "<OperationRequest 0x%04x tid=%d params=%r>" % (
            self.code, self.transaction_id, self.params)


def parse_operation_request(payload):
    if len(payload) < 10 or (len(payload) - 10) % 4 or len(payload) > 30:
        raise ProtocolError("OperationRequest has a bad length (%d)"
                            % (len(payload),))
    data_phase, code, transaction_id = struct.unpack_from("<IHI", payload)
    count = (len(payload) - 10) // 4
    params = struct.unpack_from("<%dI" % count, payload, 10)
    return OperationRequest(data_phase, code, transaction_id, params)


def parse_start_data(payload):
    """
    @return: C{(transaction_id, total_length)}
    """
    if len(payload) != 12:
        raise ProtocolError("StartData must be 12 bytes")
    return struct.unpack("<IQ", payload)


def parse_data(payload):
    """
    @return: C{(transaction_id, chunk)} for Data and EndData packets.
    """
    if len(payload) < 4:
        raise ProtocolError("Data packet without transaction id")
    return struct.unpack_from("<I", payload)[0], bytes(payload[4:])


class PacketReader:
    """
    Incremental, bounded PTP/IP packet decoder.

    Feed it whatever the transport delivers; it returns the complete
    packets and keeps at most one partial packet (never more than
    C{max_packet} bytes) buffered.
    """

    def __init__(self, max_packet=DEFAULT_MAX_PACKET,
                 allowed_types=HOST_PACKET_TYPES):
        self._buffer = bytearray()
        self._max_packet = max_packet
        self._allowed = allowed_types

    def feed(self, data):
        """
        @return: a list of C{(type, payload)} tuples.
        @raise ProtocolError: on a length under 8 or over the maximum, or
            an unknown packet type. The reader is unusable afterwards.
        """
        self._buffer += data
        packets = []
        offset = 0
        buffer = self._buffer
        while len(buffer) - offset >= HEADER.size:
            length, packet_type = HEADER.unpack_from(buffer, offset)
            if length < HEADER.size:
                raise ProtocolError("packet length %d is under 8" % (length,))
            if length > self._max_packet:
                raise ProtocolError("packet length %d is over the limit of %d"
                                    % (length, self._max_packet))
            if packet_type not in self._allowed:
                raise ProtocolError("unexpected packet type %d"
                                    % (packet_type,))
            if len(buffer) - offset < length:
                break
            packets.append(
                (packet_type, bytes(buffer[offset + HEADER.size:
                                           offset + length])))
            offset += length
        del buffer[:offset]
        return packets

    @property
    def buffered(self):
        return len(self._buffer)


__all__ = ["ProtocolError", "PacketReader", "OperationRequest", "ptp"]
