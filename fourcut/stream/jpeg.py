# -*- test-case-name: tests.stream.test_jpeg -*-
"""
Split a byte stream of back-to-back JPEGs (what C{gphoto2 --capture-movie
--stdout} writes) into frames, incrementally.

The splitter follows the JPEG marker structure rather than searching for
C{FF D9}: header segments are skipped by their length (so a COM or APP
segment that happens to hold C{FF D9} cannot end a frame early), and only
entropy-coded data is scanned, once, resuming where the last read stopped.
Frames may straddle reads; bytes between frames are skipped.
"""

import struct

__all__ = ["JPEGSplitter", "frame_size"]

#: A frame larger than this is not live view; drop it and resynchronise.
DEFAULT_MAX_FRAME = 16 * 1024 * 1024

_SEEK, _MARKER, _SKIP, _ENTROPY = range(4)

# Markers that stand alone, without a length field.
_STANDALONE = frozenset([0x01] + list(range(0xD0, 0xD8)))


# Start-of-frame markers: SOF0-SOF15 but DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def frame_size(jpeg):
    """
    The C{(width, height)} a JPEG's start-of-frame segment gives, read
    without decoding anything (nor loading an image library: the
    reactor thread asks this of live view frames).

    @raise ValueError: if C{jpeg} has no readable start-of-frame header.
    """
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG: no start-of-image marker")
    position, end = 2, len(jpeg)
    while position + 4 <= end:
        if jpeg[position] != 0xFF:
            raise ValueError("not a JPEG: no marker at byte %d" % (position,))
        marker = jpeg[position + 1]
        if marker == 0xFF:                      # fill byte
            position += 1
            continue
        if marker in _STANDALONE:
            position += 2
            continue
        if marker in (0xD9, 0xDA):
            break
        length = struct.unpack_from(">H", jpeg, position + 2)[0]
        if marker in _SOF:
            if position + 9 > end or length < 7:
                break
            height, width = struct.unpack_from(">HH", jpeg, position + 5)
            if not width or not height:
                raise ValueError("a JPEG of no size (%dx%d)"
                                 % (width, height))
            return width, height
        position += 2 + length
    raise ValueError("no start-of-frame header in the JPEG's %d bytes"
                     % (end,))


class JPEGSplitter:
    """
    Feed it bytes; it returns complete JPEG frames.

    @ivar skipped: bytes discarded as garbage or oversized frames so far.
    """

    def __init__(self, max_frame=DEFAULT_MAX_FRAME):
        self._buffer = bytearray()
        self._state = _SEEK
        self._position = 0          # where scanning resumes in _buffer
        self._skip_to = 0
        self._max_frame = max_frame
        self.skipped = 0

    def feed(self, data):
        """
        @param data: the next bytes of the stream.
        @return: a list of the frames (L{bytes}) completed by C{data}.
        """
        self._buffer += data
        frames = []
        while self._step(frames):
            pass
        if len(self._buffer) > self._max_frame:
            self._discard(len(self._buffer))
        return frames

    def _discard(self, count):
        self.skipped += count
        del self._buffer[:count]
        self._state = _SEEK
        self._position = 0

    def _step(self, frames):
        """
        Advance the state machine once; return whether to go on.
        """
        buffer = self._buffer
        if self._state == _SEEK:
            start = buffer.find(b"\xff\xd8", self._position)
            if start < 0:
                # Keep a trailing FF: it may begin the next SOI.
                keep = 1 if buffer.endswith(b"\xff") else 0
                self._discard(len(buffer) - keep)
                return False
            if start:
                self._discard(start)
            self._state = _MARKER
            self._position = 2
            return True

        if self._state == _MARKER:
            position = self._position
            # Fill bytes (FF FF ...) may precede a marker.
            while position + 1 < len(buffer) and buffer[position] == 0xFF \
                    and buffer[position + 1] == 0xFF:
                position += 1
            if position + 2 > len(buffer):
                self._position = position
                return False
            if buffer[position] != 0xFF:
                return self._broken(position)
            marker = buffer[position + 1]
            if marker == 0xD8:
                # A new SOI: the previous frame was cut short.
                return self._broken(position)
            if marker == 0xD9:
                return self._emit(frames, position + 2)
            if marker in _STANDALONE:
                self._position = position + 2
                return True
            if position + 4 > len(buffer):
                self._position = position
                return False
            length = struct.unpack_from(">H", buffer, position + 2)[0]
            if length < 2:
                return self._broken(position)
            self._skip_to = position + 2 + length
            self._state = _ENTROPY if marker == 0xDA else _SKIP
            self._position = position
            return True

        if self._state == _SKIP:
            if self._skip_to > len(buffer):
                return False
            self._position = self._skip_to
            self._state = _MARKER
            return True

        # _ENTROPY: scan compressed data for the next real marker.
        position = max(self._position, self._skip_to)
        while True:
            found = buffer.find(b"\xff", position)
            if found < 0 or found + 1 >= len(buffer):
                self._position = len(buffer) if found < 0 else found
                return False
            following = buffer[found + 1]
            if following == 0x00 or 0xD0 <= following <= 0xD7 \
                    or following == 0xFF:
                position = found + (1 if following == 0xFF else 2)
                continue
            # A real marker: EOI ends the frame; another segment (e.g. the
            # next scan of a progressive JPEG) is parsed as a header.
            self._position = found
            self._skip_to = 0
            self._state = _MARKER
            return True

    def _emit(self, frames, end):
        if end > self._max_frame:
            # Completed within one read, before feed() could drop it.
            self._discard(end)
            self._skip_to = 0
            return True
        frames.append(bytes(self._buffer[:end]))
        del self._buffer[:end]
        self._state = _SEEK
        self._position = 0
        self._skip_to = 0
        return True

    def _broken(self, position):
        """
        The bytes since the last SOI are not a JPEG: drop them and look for
        the next SOI from C{position}.
        """
        self._discard(position)
        self._skip_to = 0
        return True
