# -*- test-case-name: tests.stream.test_turbo -*-
"""
Live view turned, mirrored, cropped and scaled at the cost of a lossless
JPEG transform: libjpeg-turbo, through its TurboJPEG API
(L{fourcut.stream.libturbojpeg}).

Why not Pillow: decoding a 960x640 frame to pixels, mirroring them and
encoding them again costs about three times what the whole server spends
passing a frame through, thirty times a second; on a Raspberry Pi that
is most of a core. libjpeg-turbo can do most of what a booth asks of its
live view without ever leaving the compressed (DCT) domain:

  - B{mirror, rotate} (C{camera.preview_flip}, C{preview_rotation}):
    flips and 90-degree rotations move 8x8 blocks of coefficients and
    reorder them; nothing is decoded to pixels or quantised again, so the
    output has exactly the camera's quality (a I{lossless transform},
    C{tjTransform}, what C{jpegtran} does).
  - B{crop} (C{preview_resolution} of another aspect than the frame's):
    in the same pass, when the crop starts on a block boundary (an MCU:
    16 pixels for the 4:2:0 of most cameras). A centred crop is moved by
    less than half an MCU to the nearest boundary: a few pixels off
    centre, never a re-encode.
  - B{downscale} (a smaller C{preview_resolution}, C{/preview?width=}):
    the decoder itself scales by 1/8 to 15/16 while decoding (DCT scaling),
    picking the smallest factor that still covers the size wanted; only
    what is left (if any) is resampled, on the already small picture.

B{Live view is never enlarged.} A C{preview_resolution} wider or taller
than the camera's frame (seed 001's C{[1280, 720]} on a body whose live
view is 960x640) means "at most this": the size is reduced, its aspect
kept, until it fits in the frame (960x540 there), which is then a crop
alone. Enlarging would cost a decode, a resample and an encode of more
pixels than the camera sent, to show no more detail.

Frames keep the camera's comment (C{COM}) and colour profile (C{APP2})
segments, not its EXIF: the rotation setting is the booth's own account
of how the camera is mounted, and no viewer must turn the picture again.

Photos do not come here: L{fourcut.stream.transform.FrameTransform}
(Pillow, full quality, exact centre crop) still turns and sizes them.
"""

import struct
from dataclasses import dataclass
from typing import Optional, Tuple

from fourcut.stream import libturbojpeg as tj
from fourcut.stream.transform import TransformError, check_geometry

__all__ = ["LiveTransform", "downscale", "fitted_size", "lossless_crop"]

# libjpeg-turbo's transform operations (turbojpeg.h, TJXOP_*), by the
# rotation clockwise and whether the picture is then mirrored left to
# right: the same geometry as fourcut.stream.transform's table.
_NONE, _HFLIP, _VFLIP, _TRANSPOSE, _TRANSVERSE = 0, 1, 2, 3, 4
_ROT90, _ROT180, _ROT270 = 5, 6, 7
_OPS = {
    (0, False): _NONE, (90, False): _ROT90, (180, False): _ROT180,
    (270, False): _ROT270, (0, True): _HFLIP, (90, True): _TRANSPOSE,
    (180, True): _VFLIP, (270, True): _TRANSVERSE,
}
# Options (TJXOPT_*): refuse what cannot be done exactly (a flip of a
# frame whose size is not a whole number of MCUs), crop, and copy no
# marker (the comment and profile are put back; EXIF is dropped).
_PERFECT, _CROP, _COPYNONE = 1, 4, 64

# The MCU's (width, height) in pixels for each chroma subsampling
# (TJSAMP_444, 422, 420, GRAY, 440, 411).
_MCU = [(8, 8), (16, 8), (16, 16), (8, 8), (8, 16), (32, 8)]

def fitted_size(size, resolution):
    """
    The output size for a turned frame of C{size} and a configured
    C{resolution}: C{resolution} itself, or if it is wider or taller than
    the frame, the largest size of its aspect that fits in the frame.
    """
    width, height = size
    wanted_width, wanted_height = resolution
    factor = min(1.0, width / wanted_width, height / wanted_height)
    if factor >= 1.0:
        return resolution
    return (max(1, min(width, round(wanted_width * factor))),
            max(1, min(height, round(wanted_height * factor))))


def _centred(length, part, step):
    """
    Where a C{part} of C{length} starts: centred, moved to the nearest
    multiple of C{step} that keeps it inside.
    """
    start = round((length - part) / 2 / step) * step
    return max(0, min(start, (length - part) // step * step))


def lossless_crop(size, wanted, mcu):
    """
    The crop C{(x, y, width, height)} of a turned frame of C{size} that
    gives C{wanted} exactly with a lossless transform, or L{None} if there
    is none: C{wanted} must fit, and its centred origin is moved to the
    nearest multiple of the C{mcu} (width, height).
    """
    width, height = size
    wanted_width, wanted_height = wanted
    if wanted_width > width or wanted_height > height:
        return None
    return (_centred(width, wanted_width, mcu[0]),
            _centred(height, wanted_height, mcu[1]),
            wanted_width, wanted_height)


def _cover(size, wanted):
    """
    The largest part of a frame of C{size} with C{wanted}'s aspect ratio.
    """
    width, height = size
    wanted_width, wanted_height = wanted
    if width * wanted_height >= height * wanted_width:
        return max(1, round(height * wanted_width / wanted_height)), height
    return width, max(1, round(width * wanted_height / wanted_width))


def _segments(jpeg):
    """
    The comment (C{COM}) and ICC profile (C{APP2 ICC_PROFILE}) segments
    of C{jpeg}'s header, as bytes, to put into a frame made from it.
    """
    kept = []
    position = 2
    end = len(jpeg)
    while position + 4 <= end and jpeg[position] == 0xFF:
        marker = jpeg[position + 1]
        if marker == 0xFF:
            position += 1
            continue
        if marker in (0xDA, 0xD9):      # the scan starts: no more headers
            break
        length = struct.unpack_from(">H", jpeg, position + 2)[0]
        segment = jpeg[position:position + 2 + length]
        if marker == 0xFE or (marker == 0xE2
                              and segment[4:16] == b"ICC_PROFILE\0"):
            kept.append(bytes(segment))
        position += 2 + length
    return b"".join(kept)


def _with_segments(jpeg, segments):
    if not segments or jpeg[:2] != b"\xff\xd8":
        return jpeg
    return jpeg[:2] + segments + jpeg[2:]


def _header(jpeg):
    # libjpeg-turbo makes what it can of a truncated frame, with only a
    # warning: such a frame is skipped, not shown half grey.
    if not jpeg.endswith(b"\xff\xd9"):
        raise TransformError("not a whole JPEG (%d bytes, no end marker)"
                             % (len(jpeg),))
    try:
        width, height, subsampling = tj.header(bytes(jpeg))
    except tj.TurboJPEGError as e:
        raise TransformError("cannot read the JPEG's header (%d bytes): %s"
                             % (len(jpeg), e))
    if subsampling < 0 or subsampling >= len(_MCU):
        subsampling = 0
    return width, height, subsampling


def _lossless(jpeg, op, crop):
    """
    One C{tjTransform} pass: C{op} (TJXOP_*) then C{crop} (or L{None}).
    """
    options = _PERFECT | _COPYNONE | (_CROP if crop is not None else 0)
    return tj.transform(bytes(jpeg), op, options, crop)


def _scale_factor(size, wanted):
    """
    The smallest DCT scaling factor C{(num, denom)} at which a frame of
    C{size} still covers C{wanted}.
    """
    best = (1, 1)
    for num, denom in tj.scaling_factors():
        if num > denom:
            continue
        scaled = tj.scaled(size, (num, denom))
        if (scaled[0] >= wanted[0] and scaled[1] >= wanted[1]
                and num / denom < best[0] / best[1]):
            best = (num, denom)
    return best


def _pixels(jpeg, header, transpose, wanted, quality):
    """
    The path through pixels, for what no lossless transform can do:
    decode at the smallest DCT scale that covers C{wanted} (once turned),
    turn, fit (scale to cover, centre-crop) and encode.

    @param header: C{jpeg}'s L{_header}, already read by the caller.
    """
    jpeg = bytes(jpeg)
    width, height, subsampling = header
    turned = (height, width) if transpose in (_ROT90, _ROT270, _TRANSPOSE,
                                              _TRANSVERSE) else (width, height)
    if wanted is None:
        wanted = turned
    cover = _cover(turned, wanted)
    factor = _scale_factor(
        turned,
        (max(wanted[0], round(wanted[0] * turned[0] / cover[0])),
         max(wanted[1], round(wanted[1] * turned[1] / cover[1]))))
    decoded = tj.scaled((width, height), factor)
    try:
        if transpose == _NONE and decoded == tuple(wanted):
            # The decoder's scale is the size wanted (960x640 at width
            # 480): its YUV planes go straight to the encoder, without
            # converting them to RGB and back (7% of a downscale).
            planes = tj.decompress_yuv(jpeg, decoded, subsampling,
                                       tj.FLAG_STOP_ON_WARNING)
            return tj.compress_yuv(planes, decoded, subsampling, quality)
        # A warning (a truncated or corrupt frame) is an error: such a
        # frame is skipped, not shown half grey.
        pixels = tj.decompress_rgb(jpeg, decoded, tj.FLAG_STOP_ON_WARNING)
    except tj.TurboJPEGError as e:
        raise TransformError("cannot decode JPEG (%d bytes): %s"
                             % (len(jpeg), e)) from e
    size = decoded
    if transpose != _NONE or decoded != tuple(wanted):
        from PIL import Image, ImageOps
        image = Image.frombuffer("RGB", decoded, pixels, "raw", "RGB", 0, 1)
        if transpose != _NONE:
            image = image.transpose(_PIL_TRANSPOSES[transpose])
        if image.size != tuple(wanted):
            image = ImageOps.fit(image, wanted, Image.Resampling.BILINEAR)
        pixels, size = image.tobytes(), image.size
    return tj.compress_rgb(pixels, size, tj.SAMP_420, quality)


# Pillow's Image.Transpose values for the TJXOP_* operations.
_PIL_TRANSPOSES = {_HFLIP: 0, _VFLIP: 1, _ROT270: 2, _ROT180: 3,
                   _ROT90: 4, _TRANSPOSE: 5, _TRANSVERSE: 6}


def downscale(jpeg, width, quality):
    """
    C{jpeg} at C{width} pixels wide, its height following its aspect
    ratio, encoded at C{quality}; C{jpeg} itself if it is not wider. For
    L{fourcut.stream.scaled.Downscale}.

    @raise TransformError: if it is not a JPEG that can be decoded.
    """
    header = _header(jpeg)
    frame_width, frame_height, _ = header
    if frame_width <= width:
        return jpeg
    size = (width, max(1, round(frame_height * width / frame_width)))
    return _with_segments(_pixels(jpeg, header, _NONE, size, quality),
                          _segments(jpeg))


@dataclass(frozen=True, repr=False)
class LiveTransform:
    """
    Rotate, mirror and size live view frames, losslessly where the
    geometry allows (see the module docstring); a drop-in for
    L{fourcut.stream.transform.FrameTransform} in
    L{fourcut.stream.transform.ThreadedTransform}.

    Safe to call from several threads at once.

    @ivar rotation: degrees clockwise, one of
        L{fourcut.stream.transform.ROTATIONS}.
    @ivar flip: mirror left to right after rotating.
    @ivar resolution: L{None}, or the C{(width, height)} wanted, at most
        (see L{fitted_size}).
    @ivar quality: JPEG quality of frames that must be re-encoded (scaled);
        a lossless transform keeps the camera's.
    """

    rotation: int = 0
    flip: bool = False
    resolution: Optional[Tuple[int, int]] = None
    quality: int = 85

    def __post_init__(self):
        object.__setattr__(self, "resolution", check_geometry(
            self.rotation, self.flip, self.resolution, self.quality))

    @property
    def identity(self):
        """
        C{True} if this changes nothing: frames pass untouched.
        """
        return (self.rotation == 0 and not self.flip
                and self.resolution is None)

    def plan(self, size, subsampling):
        """
        How a frame of C{size} (C{(width, height)}, as the camera sends
        it) with C{subsampling} (TJSAMP_*) is transformed.

        @return: C{(op, crop, output)}: the lossless operation (TJXOP_*),
            the lossless crop C{(x, y, width, height)} of the turned frame
            or L{None}, and the output size; C{crop} is L{None} and
            C{output} differs from the turned (and cropped) size when the
            frame must be scaled through pixels.
        """
        op = _OPS[self.rotation, self.flip]
        width, height = size
        mcu = _MCU[subsampling]
        if op in (_ROT90, _ROT270, _TRANSPOSE, _TRANSVERSE):
            width, height = height, width
            mcu = mcu[::-1]
        turned = (width, height)
        if self.resolution is None:
            return op, None, turned
        output = fitted_size(turned, self.resolution)
        if output == turned:
            return op, None, output
        if _cover(turned, output) == output:
            return op, lossless_crop(turned, output, mcu), output
        return op, None, output

    def __call__(self, jpeg):
        """
        Transform one live view frame.

        @return: the transformed JPEG, or C{jpeg} itself if L{identity}.
        @raise TransformError: if C{jpeg} cannot be decoded as a JPEG.
        """
        if self.identity:
            return jpeg
        header = _header(jpeg)
        width, height, subsampling = header
        op, crop, output = self.plan((width, height), subsampling)
        turned = ((height, width) if op in (_ROT90, _ROT270, _TRANSPOSE,
                                            _TRANSVERSE) else (width, height))
        if crop is not None or output == turned:
            if op == _NONE and crop is None:
                return jpeg
            try:
                return _with_segments(_lossless(jpeg, op, crop),
                                      _segments(jpeg))
            except tj.TurboJPEGError:
                # Not a whole number of MCUs for this flip, or a frame
                # libjpeg-turbo refuses to transform: through pixels.
                pass
        return _with_segments(_pixels(jpeg, header, op, output,
                                      self.quality),
                              _segments(jpeg))

    def describe(self):
        """
        A short text for logs, e.g. C{"rotate 90, mirror, at most
        1280x720 (libjpeg-turbo)"}, or C{"no change"}.
        """
        parts = []
        if self.rotation:
            parts.append("rotate %d" % (self.rotation,))
        if self.flip:
            parts.append("mirror")
        if self.resolution is not None:
            parts.append("at most %dx%d" % self.resolution)
        if not parts:
            return "no change"
        return ", ".join(parts) + " (libjpeg-turbo)"

    def __repr__(self):
        if self.identity:
            return "<LiveTransform no change>"
        return "<LiveTransform %s, quality %d>" % (self.describe(),
                                                   self.quality)
