# -*- test-case-name: tests.stream.test_libturbojpeg,tests.stream.test_turbo -*-
"""
libjpeg-turbo's TurboJPEG API (C{libturbojpeg.so.0}, Debian's
C{libturbojpeg0}): the eight calls live view's transforms make, through
C{ctypes}, bytes in and bytes out.

Why not PyTurboJPEG, the usual binding: it imports numpy, for arrays
live view never needs (a frame comes as bytes and goes as bytes), and
numpy with its OpenBLAS is 12 MB resident in the server and threads of
its own; on a Raspberry Pi booth (issue 23: 60 MB for the server and its
camera process) that was a fifth of the budget, spent the moment
C{preview_flip} was on. The calls below are TurboJPEG's stable 2.x API,
which libjpeg-turbo 3.x still exports unchanged; the library is loaded
on first use, so a booth without transforms never loads it.

Each call makes its own TurboJPEG handle and destroys it (a few
allocations, nothing measurable beside a transform's milliseconds), so
any thread may call any function at any time. None of them holds
Python's lock while libjpeg-turbo works (C{ctypes} releases it).
"""

import ctypes
import functools
import threading

__all__ = ["TurboJPEGError", "compress_rgb", "compress_yuv", "decompress_rgb",
           "decompress_yuv", "header", "scaled", "scaling_factors",
           "transform", "FLAG_STOP_ON_WARNING", "SAMP_420"]

#: The library's name: the TurboJPEG API's soname since libjpeg-turbo 1.2.
LIBRARY = "libturbojpeg.so.0"

#: Flags (TJFLAG_*): a warning (a truncated or corrupt frame) is an error.
FLAG_STOP_ON_WARNING = 8192

#: Chroma subsampling 4:2:0 (TJSAMP_420).
SAMP_420 = 2

# Pixel format (TJPF_RGB) and YUV row padding.
_PF_RGB = 0
_PAD = 4


class TurboJPEGError(Exception):
    """
    libjpeg-turbo refused: its own message says why.
    """


class _Region(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_int),
                ("w", ctypes.c_int), ("h", ctypes.c_int)]


class _ScalingFactor(ctypes.Structure):
    _fields_ = [("num", ctypes.c_int), ("denom", ctypes.c_int)]


class _Transform(ctypes.Structure):
    _fields_ = [("r", _Region), ("op", ctypes.c_int),
                ("options", ctypes.c_int), ("data", ctypes.c_void_p),
                ("customFilter", ctypes.c_void_p)]


_library = None
_library_lock = threading.Lock()


def _declare(lib):
    handle, buffer = ctypes.c_void_p, ctypes.c_char_p
    out = ctypes.POINTER(ctypes.c_void_p)
    size, size_out = ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong)
    integer, integer_out = ctypes.c_int, ctypes.POINTER(ctypes.c_int)
    for name in ("tjInitTransform", "tjInitDecompress", "tjInitCompress"):
        getattr(lib, name).restype = handle
        getattr(lib, name).argtypes = []
    signatures = {
        "tjDestroy": (integer, [handle]),
        "tjFree": (None, [ctypes.c_void_p]),
        "tjGetErrorStr2": (ctypes.c_char_p, [handle]),
        "tjGetScalingFactors": (ctypes.POINTER(_ScalingFactor),
                                [integer_out]),
        "tjDecompressHeader3": (integer, [handle, buffer, size, integer_out,
                                          integer_out, integer_out,
                                          integer_out]),
        "tjTransform": (integer, [handle, buffer, size, integer, out,
                                  size_out, ctypes.POINTER(_Transform),
                                  integer]),
        "tjBufSizeYUV2": (size, [integer, integer, integer, integer]),
        "tjDecompressToYUV2": (integer, [handle, buffer, size,
                                         ctypes.c_void_p, integer, integer,
                                         integer, integer]),
        "tjCompressFromYUV": (integer, [handle, ctypes.c_void_p, integer,
                                        integer, integer, integer, out,
                                        size_out, integer, integer]),
        "tjDecompress2": (integer, [handle, buffer, size, ctypes.c_void_p,
                                    integer, integer, integer, integer,
                                    integer]),
        "tjCompress2": (integer, [handle, ctypes.c_void_p, integer, integer,
                                  integer, integer, out, size_out, integer,
                                  integer, integer]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


def _lib():
    global _library
    with _library_lock:
        if _library is None:
            try:
                _library = _declare(ctypes.CDLL(LIBRARY))
            except (OSError, AttributeError) as e:
                raise TurboJPEGError(
                    "cannot load libjpeg-turbo's %s (Debian's libturbojpeg0):"
                    " %s" % (LIBRARY, e)) from e
        return _library


class _Handle:
    """
    A TurboJPEG handle for one call: C{with _Handle(lib, lib.tjInitX) as h}.
    """

    def __init__(self, lib, init):
        self.lib = lib
        self.handle = init()
        if not self.handle:
            raise TurboJPEGError("libjpeg-turbo could not make a handle")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.lib.tjDestroy(self.handle)

    def check(self, status, what):
        if status != 0:
            message = self.lib.tjGetErrorStr2(self.handle) or b"?"
            raise TurboJPEGError("%s: %s" % (
                what, message.decode("ascii", "replace")))


def _taken(h, status, what, pointer, length):
    """
    The bytes of a buffer libjpeg-turbo allocated for its output, which
    is then freed: also when the call failed, since its memory
    destination keeps what it had allocated (a warning fails a call
    with a whole buffer made).
    """
    try:
        h.check(status, what)
        return ctypes.string_at(pointer, length.value)
    finally:
        if pointer.value:
            h.lib.tjFree(pointer)


def _writable(length):
    """
    A new zeroed buffer of C{length} bytes and its address for C.
    """
    buffer = bytearray(length)
    return buffer, _address(buffer)


def _address(buffer):
    """
    What C is given for C{buffer}: L{bytes} as they are, a L{bytearray}
    through its memory (neither is copied).
    """
    if isinstance(buffer, bytes):
        return buffer
    return (ctypes.c_char * len(buffer)).from_buffer(buffer)


def header(jpeg):
    """
    @return: C{(width, height, subsampling)} (TJSAMP_*; -1 if unknown).
    @raise TurboJPEGError: if C{jpeg} has no readable header.
    """
    lib = _lib()
    width, height = ctypes.c_int(), ctypes.c_int()
    subsampling, colorspace = ctypes.c_int(), ctypes.c_int()
    with _Handle(lib, lib.tjInitDecompress) as h:
        h.check(lib.tjDecompressHeader3(
            h.handle, jpeg, len(jpeg), ctypes.byref(width),
            ctypes.byref(height), ctypes.byref(subsampling),
            ctypes.byref(colorspace)), "cannot read the header")
    if width.value <= 0 or height.value <= 0:
        # libjpeg-turbo 2.1 answers a stream cut before its frame header
        # with success and no size.
        raise TurboJPEGError("cannot read the header: no frame header in "
                             "%d bytes" % (len(jpeg),))
    return width.value, height.value, subsampling.value


@functools.lru_cache(maxsize=None)
def scaling_factors():
    """
    The DCT scaling factors C{(num, denom)} the decoder offers (asked of
    the library once: every downscaled frame looks them up).
    """
    lib = _lib()
    count = ctypes.c_int()
    factors = lib.tjGetScalingFactors(ctypes.byref(count))
    if not factors:
        return ((1, 1),)
    return tuple((factors[i].num, factors[i].denom)
                 for i in range(count.value))


def scaled(size, factor):
    """
    C{size} decoded at the scaling C{factor} (TJSCALED).
    """
    num, denom = factor
    return tuple(-(-dimension * num // denom) for dimension in size)


def transform(jpeg, op, options, crop=None, flags=0):
    """
    One lossless transform (C{tjTransform}): C{op} (TJXOP_*) with
    C{options} (TJXOPT_*), and the crop C{(x, y, width, height)} if the
    options ask for one.
    """
    lib = _lib()
    spec = _Transform(_Region(*(crop or (0, 0, 0, 0))), op, options,
                      None, None)
    output, length = ctypes.c_void_p(), ctypes.c_ulong()
    with _Handle(lib, lib.tjInitTransform) as h:
        status = lib.tjTransform(h.handle, jpeg, len(jpeg), 1,
                                 ctypes.byref(output), ctypes.byref(length),
                                 ctypes.byref(spec), flags)
        return _taken(h, status, "cannot transform", output, length)


def decompress_yuv(jpeg, size, subsampling, flags=0):
    """
    Decode C{jpeg} to its YUV planes at C{size} (one of its scaled sizes),
    in its own C{subsampling} (from L{header}), without converting
    colours.

    @return: the planes, one L{bytearray}, for L{compress_yuv}.
    """
    lib = _lib()
    width, height = size
    planes, address = _writable(
        lib.tjBufSizeYUV2(width, _PAD, height, subsampling))
    with _Handle(lib, lib.tjInitDecompress) as h:
        h.check(lib.tjDecompressToYUV2(h.handle, jpeg, len(jpeg), address,
                                       width, _PAD, height, flags),
                "cannot decode")
    return planes


def compress_yuv(planes, size, subsampling, quality, flags=0):
    """
    Encode YUV planes from L{decompress_yuv} at C{quality}.
    """
    lib = _lib()
    width, height = size
    output, length = ctypes.c_void_p(), ctypes.c_ulong()
    with _Handle(lib, lib.tjInitCompress) as h:
        status = lib.tjCompressFromYUV(
            h.handle, _address(planes), width, _PAD, height, subsampling,
            ctypes.byref(output), ctypes.byref(length), quality, flags)
        return _taken(h, status, "cannot encode", output, length)


def decompress_rgb(jpeg, size, flags=0):
    """
    Decode C{jpeg} to RGB pixels at C{size} (one of its scaled sizes).

    @return: a L{bytearray} of C{width * height * 3} bytes.
    """
    lib = _lib()
    width, height = size
    pixels, address = _writable(width * height * 3)
    with _Handle(lib, lib.tjInitDecompress) as h:
        h.check(lib.tjDecompress2(h.handle, jpeg, len(jpeg), address, width,
                                  0, height, _PF_RGB, flags),
                "cannot decode")
    return pixels


def compress_rgb(pixels, size, subsampling, quality, flags=0):
    """
    Encode RGB C{pixels} (C{width * height * 3} bytes) at C{quality}.
    """
    lib = _lib()
    width, height = size
    output, length = ctypes.c_void_p(), ctypes.c_ulong()
    with _Handle(lib, lib.tjInitCompress) as h:
        status = lib.tjCompress2(h.handle, _address(pixels), width, 0, height,
                                 _PF_RGB, ctypes.byref(output),
                                 ctypes.byref(length), subsampling, quality,
                                 flags)
        return _taken(h, status, "cannot encode", output, length)
