# -*- test-case-name: tests.integration.test_worker -*-
"""
The camera worker's framing: one message is a JSON header and an optional
binary payload, length-prefixed, so that JPEG bytes travel as they are.

Each message on the pipe::

    offset  size  what
    0       4     magic b"FCW1"
    4       4     H: length of the header, big-endian (1 .. max_header)
    8       4     P: length of the payload, big-endian (0 .. max_payload)
    12      H     the header: a JSON object in UTF-8, with a "type" string
    12+H    P     the payload: raw bytes (a JPEG frame or photo), or nothing

Anything else (a wrong magic, a length over its limit, a header that is not
a JSON object with a C{type}) is garbage: the stream cannot be trusted past
it, so L{Decoder.feed} raises L{WireError} and the reader ends the other
side instead of trying to resynchronise.

Pure Python and standard library only: the worker imports it before
python-gphoto2, the server beside Twisted.
"""

import json
import struct

__all__ = [
    "MAGIC", "PREFIX", "MAX_HEADER", "MAX_PAYLOAD", "WireError", "encode",
    "encode_prefix", "Decoder",
]

MAGIC = b"FCW1"
PREFIX = struct.Struct(">4sII")

#: Largest header: a C{list} answer of a real body with every choice of
#: every widget is a few hundred KB.
MAX_HEADER = 4 * 1024 * 1024

#: Largest payload: a photo (a RAW file of a high-resolution body is
#: 30-60 MB).
MAX_PAYLOAD = 64 * 1024 * 1024


class WireError(ValueError):
    """
    The bytes are not messages of this protocol.
    """


def encode_prefix(header, payload_size=0):
    """
    The bytes that go before a payload of C{payload_size} bytes: the prefix
    and the encoded C{header} (a dict with a C{type}).
    """
    # ASCII: a lone surrogate in a setting's value travels as an escape
    # instead of failing to encode.
    data = json.dumps(header, separators=(",", ":")).encode("ascii")
    return PREFIX.pack(MAGIC, len(data), payload_size) + data


def encode(header, payload=b""):
    """
    One whole message as bytes.
    """
    return encode_prefix(header, len(payload)) + bytes(payload)


class Decoder:
    """
    Feed it bytes as they come; it returns the complete messages.

    @param max_header: the largest header accepted.
    @param max_payload: the largest payload accepted.
    @param payload_limit: optional callable C{(header) -> int or None}, a
        tighter limit for some types of message (live view frames), asked
        as soon as the header is in, before any of the payload is kept.
    """

    def __init__(self, max_header=MAX_HEADER, max_payload=MAX_PAYLOAD,
                 payload_limit=None):
        self.max_header = max_header
        self.max_payload = max_payload
        self.payload_limit = payload_limit
        self._buffer = bytearray()
        self._header = None         # the parsed header, payload pending
        self._lengths = None        # (H, P) of the message in progress
        self.broken = None

    @property
    def buffered(self):
        """
        Bytes held back waiting for the rest of a message.
        """
        return len(self._buffer)

    def feed(self, data):
        """
        @return: a list of C{(header, payload)} pairs (C{payload} is
            L{bytes}, possibly empty) completed by C{data}.
        @raise WireError: the stream is garbage; every later call raises
            it again.
        """
        if self.broken is not None:
            raise WireError(self.broken)
        self._buffer += data
        messages = []
        try:
            while self._step(messages):
                pass
        except WireError as e:
            self.broken = str(e)
            del self._buffer[:]
            raise
        return messages

    def _step(self, messages):
        buffer = self._buffer
        if self._lengths is None:
            if len(buffer) < PREFIX.size:
                if not MAGIC.startswith(bytes(buffer[:4])):
                    raise WireError("not a message: %r" % (bytes(buffer),))
                return False
            magic, header_size, payload_size = PREFIX.unpack_from(buffer)
            if magic != MAGIC:
                raise WireError("not a message: %r" % (bytes(buffer[:16]),))
            if not 0 < header_size <= self.max_header:
                raise WireError("a header of %d bytes (at most %d)"
                                % (header_size, self.max_header))
            if payload_size > self.max_payload:
                raise WireError("a payload of %d bytes (at most %d)"
                                % (payload_size, self.max_payload))
            self._lengths = (header_size, payload_size)
        header_size, payload_size = self._lengths
        if self._header is None:
            end = PREFIX.size + header_size
            if len(buffer) < end:
                return False
            try:
                header = json.loads(bytes(buffer[PREFIX.size:end])
                                    .decode("utf-8"))
            except ValueError as e:
                raise WireError("a header that is not JSON: %s" % (e,))
            if not isinstance(header, dict) or not isinstance(
                    header.get("type"), str):
                raise WireError("a header that is not an object with a "
                                "type: %r" % (header,))
            if self.payload_limit is not None:
                limit = self.payload_limit(header)
                if limit is not None and payload_size > limit:
                    raise WireError("a %s payload of %d bytes (at most %d)"
                                    % (header["type"], payload_size, limit))
            self._header = header
            del buffer[:end]
        if len(buffer) < payload_size:
            return False
        payload = bytes(buffer[:payload_size])
        del buffer[:payload_size]
        messages.append((self._header, payload))
        self._header = None
        self._lengths = None
        return True
