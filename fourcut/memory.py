# -*- test-case-name: tests.test_memory,tests.integration.test_flood -*-
"""
Memory that fourcut frees goes back to the operating system, and memory
it uses for every frame is reused, not asked for again.

glibc's malloc serves blocks of 128 KiB and more with C{mmap}, so that
freeing one returns it at once; but each time such a block is freed it
raises that threshold to the block's size (up to 32 MiB), and from then on
photos, their base64 replies and big bursts come from the heap, where a
small block still in use above them keeps the whole heap from shrinking.
Measured in the tests: floods from clients that do not read, beside a few
captures, left the process 35 MB larger after they had all gone (free
inside malloc, but never returned); with the threshold fixed, 4 MB.
L{keep_large_blocks_mapped} fixes it, and L{Trimmer} gives back what is
left free in the heaps once such a client has gone.

Where the threshold is fixed matters for live view (issue 23). Fixed at
glibc's 128 KiB, every live view frame (about 170 KB) and every buffer
libjpeg-turbo takes to transform one (the frame's coefficients, about
1.8 MB at 960x640, and its output) was a fresh C{mmap}: the kernel
handed over and zeroed new pages for each, hundreds of page faults a
frame, which was a third of the CPU a mirrored frame cost the server
(C{perf}: 35% of its time in the kernel, most of it page faults). Fixed
at L{LARGE_BLOCK} (4 MiB), frames and transforms reuse the heap's pages
and a photo (5 to 25 MB from a DSLR) is still mapped and returned at
once; L{TRIM_THRESHOLD} keeps a frame's worth of free pages at the top of
a heap instead of returning them after every frame to fault them in
again for the next.
"""

import ctypes

__all__ = ["Trimmer", "keep_large_blocks_mapped", "LARGE_BLOCK",
           "TRIM_THRESHOLD"]

#: glibc's mallopt parameters; setting either also stops glibc adjusting
#: them.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

#: Bytes from which blocks are mmapped.
LARGE_BLOCK = 4 * 1024 * 1024

#: Free bytes at the top of a heap that it keeps rather than return.
TRIM_THRESHOLD = 8 * 1024 * 1024


def _mallopt():
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


def keep_large_blocks_mapped(threshold=LARGE_BLOCK, trim=TRIM_THRESHOLD,
                             mallopt=None):
    """
    Make malloc serve blocks of C{threshold} bytes and more with C{mmap}
    for good, and keep up to C{trim} free bytes at the top of a heap.
    Returns whether it could (not on a C library without glibc's
    C{mallopt}).

    @param mallopt: glibc's C{mallopt} (a test's stand-in), or L{None}.
    """
    if mallopt is None:
        mallopt = _mallopt()
    if mallopt is None:
        return False
    return (mallopt(M_TRIM_THRESHOLD, trim) == 1
            and mallopt(M_MMAP_THRESHOLD, threshold) == 1)


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
