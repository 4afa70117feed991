# -*- test-case-name: tests.integration.test_flood -*-
"""
Memory that fourcut frees goes back to the operating system.

glibc's malloc serves blocks of 128 KiB and more with C{mmap}, so that
freeing one returns it at once; but each time such a block is freed it
raises that threshold to the block's size (up to 32 MiB), and from then on
photos (about 1 MB), their base64 replies and frames come from the heap,
where a small block still in use above them keeps the whole heap from
shrinking. Measured in the tests: floods from clients that do not read,
beside a few captures, left the process 35 MB larger after they had all
gone (free inside malloc, but never returned); with the threshold fixed, 4
MB. L{keep_large_blocks_mapped} fixes it, and L{Trimmer} gives back what
is left free in the heap once such a client has gone.
"""

import ctypes

__all__ = ["Trimmer", "keep_large_blocks_mapped"]

#: glibc's mallopt parameter for the mmap threshold; setting it also stops
#: the threshold's adjustment.
M_MMAP_THRESHOLD = -3

#: Bytes from which blocks are mmapped: glibc's own starting value.
LARGE_BLOCK = 128 * 1024


def keep_large_blocks_mapped(threshold=LARGE_BLOCK):
    """
    Make malloc serve blocks of C{threshold} bytes and more with C{mmap}
    for good. Returns whether it could (not on a C library without
    glibc's C{mallopt}).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, threshold) == 1


def _malloc_trim():
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class Trimmer:
    """
    Hands the heap's free pages back to the system (glibc's
    C{malloc_trim}) a little after something that held a lot of memory has
    gone: a WebSocket client that did not read, say. Calls in the meantime
    share one trim.

    @param clock: an L{IReactorTime}.
    @param delay: seconds to wait, so that what the client held is freed
        and a burst of departures costs one trim.
    """

    def __init__(self, clock, delay=2.0, trim=None):
        self.clock = clock
        self.delay = delay
        self._trim = trim if trim is not None else _malloc_trim()
        self._call = None
        self._stopped = False
        self.trims = 0

    def soon(self):
        if self._trim is None or self._stopped or (
                self._call is not None and self._call.active()):
            return
        self._call = self.clock.callLater(self.delay, self._run)

    def _run(self):
        self._call = None
        self.trims += 1
        self._trim(0)

    def stop(self):
        self._stopped = True
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
