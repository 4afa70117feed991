# -*- test-case-name: tests.stream.test_scaled, tests.stream.test_transform -*-
"""
Turn, mirror and resize camera JPEGs the way the booth is set up.

A booth camera is often mounted sideways or upside down, guests watching
the preview expect a mirror, and the front-end wants frames of a fixed
size.  The configuration says so per mode (C{camera.preview_rotation},
C{preview_flip}, C{preview_resolution} for live view; C{capture_rotation},
C{capture_flip}, C{resolution} for photos).  L{FrameTransform} applies such
settings to one JPEG with Pillow, at full quality: photos are made with it.
Live view's frames are turned by L{fourcut.stream.turbo.LiveTransform}
instead (libjpeg-turbo, lossless where it can be, never enlarged), with
the same geometry.  L{ThreadedTransform} applies either to a live-view
stream, off the reactor thread.

What the settings mean, in the order they are applied:

  1. B{rotation} turns the picture clockwise by 0, 90, 180 or 270 degrees,
     as a person would turn a print to hang it the right way up: with 90,
     the top-left corner ends up top right and a 960x640 frame becomes
     640x960.
  2. B{flip} then mirrors the picture left to right.  Coming after the
     rotation, it is always a mirror of the picture as displayed, whatever
     the rotation (mirroring first and then turning by 90 would make it an
     upside-down mirror instead).
  3. B{resolution} is the exact C{(width, height)} of the output, so it is
     given in the final orientation: a landscape camera on its side in a
     portrait booth is C{rotation: 90, resolution: [720, 1280]}.  The
     picture is scaled, keeping its aspect ratio, just enough to cover the
     whole output, and the overflow is cut off equally on both sides (a
     centre crop).  It is never stretched and never letterboxed: guests
     must not look fatter or thinner than they are, and a photo strip
     template has no room for bars.

Rotating and mirroring only move pixels (L{Image.Image.transpose}), so
they lose nothing; only a resize resamples, once.  Each transformed frame
is decoded and re-encoded once, at L{FrameTransform.quality}.  When nothing
is configured L{FrameTransform} returns its input untouched, so a booth that
needs no transform pays nothing for it.

When the output is much smaller than the camera's frame, the JPEG decoder
itself is asked to scale by 1/2, 1/4 or 1/8 (L{Image.Image.draft}), which is
several times faster than decoding everything and throwing most of it away.
Pillow only picks a scale that still leaves at least the requested number
of pixels, so the final resample still starts from enough detail.

Metadata: the input's EXIF orientation tag is ignored (live-view frames do
not have one, and the rotation setting is the booth's own account of how
the camera is mounted), and the output carries no EXIF, so no viewer turns
the picture a second time.  An ICC colour profile, if any, is kept.
"""

import io
from dataclasses import dataclass
from typing import Optional, Tuple

from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.failure import Failure

__all__ = ["check_geometry", "ROTATIONS", "FrameTransform", "ThreadedTransform",
           "TransformError"]

#: The rotations accepted, in degrees clockwise.
ROTATIONS = (0, 90, 180, 270)

#: The largest width or height a JPEG can have.
_MAX_DIMENSION = 65535

#: The name of the one Pillow transpose that turns a picture clockwise by
#: the key's degrees and then, if the key's flag is set, mirrors it left
#: to right. Pillow's C{ROTATE_*} constants turn counter-clockwise. Names,
#: not Pillow's values: Pillow is imported when a photo is first
#: transformed, not by a server that never does.
_TRANSPOSES = {
    (0, False): None,
    (90, False): "ROTATE_270",
    (180, False): "ROTATE_180",
    (270, False): "ROTATE_90",
    (0, True): "FLIP_LEFT_RIGHT",
    (90, True): "TRANSPOSE",
    (180, True): "FLIP_TOP_BOTTOM",
    (270, True): "TRANSVERSE",
}

#: How a resize resamples (a name in Pillow's C{Image.Resampling}).
_RESAMPLE = "LANCZOS"


class TransformError(ValueError):
    """
    The bytes given to L{FrameTransform} are not a JPEG that can be decoded
    (not a JPEG at all, truncated, corrupt, or absurdly large).
    """


@dataclass(frozen=True, repr=False)
class FrameTransform:
    """
    Rotate, mirror and resize one JPEG; see the module docstring for what
    the settings mean.

    Instances are immutable and a call shares nothing with other calls, so
    one instance may be called from several threads at once.

    @ivar rotation: degrees clockwise, one of L{ROTATIONS}.
    @ivar flip: mirror left to right after rotating.
    @ivar resolution: L{None}, or C{(width, height)} of the output: scaled
        to cover, then centre-cropped.
    @ivar quality: JPEG quality (1 to 100) of the re-encoded output.
    """

    rotation: int = 0
    flip: bool = False
    resolution: Optional[Tuple[int, int]] = None
    quality: int = 90

    def __post_init__(self):
        object.__setattr__(self, "resolution", check_geometry(
            self.rotation, self.flip, self.resolution, self.quality))

    @property
    def identity(self):
        """
        C{True} if this changes nothing: L{__call__} then returns its
        argument itself, without decoding it.
        """
        return (self.rotation == 0 and not self.flip
                and self.resolution is None)

    def __call__(self, jpeg):
        """
        Transform one JPEG.

        @param jpeg: one whole JPEG (L{bytes}).
        @return: the transformed JPEG, or C{jpeg} itself (same object, not
            even checked to be a JPEG) if L{identity}.
        @raise TransformError: if C{jpeg} cannot be decoded as a JPEG.
        """
        if self.identity:
            return jpeg
        from PIL import Image, ImageOps
        image = self._decode(jpeg)
        info = image.info
        transpose = _TRANSPOSES[self.rotation, self.flip]
        if transpose is not None:
            image = image.transpose(Image.Transpose[transpose])
        if self.resolution is not None and image.size != self.resolution:
            image = ImageOps.fit(image, self.resolution,
                                 Image.Resampling[_RESAMPLE])
        out = io.BytesIO()
        options = {"quality": self.quality}
        if info.get("icc_profile"):
            options["icc_profile"] = info["icc_profile"]
        image.save(out, "JPEG", **options)
        return out.getvalue()

    def _decode(self, jpeg):
        """
        Decode C{jpeg}, at a reduced scale if the output is much smaller.

        @raise TransformError: if it is not a decodable JPEG.
        """
        from PIL import Image
        stream = io.BytesIO(jpeg)
        try:
            image = Image.open(stream, formats=("JPEG",))
            if self.resolution is not None:
                # draft() takes the size in the decoded (unrotated) frame's
                # orientation and never goes below it.
                width, height = self.resolution
                if self.rotation in (90, 270):
                    width, height = height, width
                image.draft(None, (width, height))
            image.load()
        except Exception as e:
            # Pillow raises many kinds (OSError, SyntaxError, struct.error,
            # DecompressionBombError...) for bad data; callers need one.
            raise TransformError("cannot decode JPEG (%d bytes): %s: %s"
                                 % (len(jpeg), type(e).__name__, e)) from e
        return image

    def describe(self):
        """
        A short text for logs, e.g. C{"rotate 90, mirror, resize
        1280x720"}, or C{"no change"}.
        """
        parts = []
        if self.rotation:
            parts.append("rotate %d" % (self.rotation,))
        if self.flip:
            parts.append("mirror")
        if self.resolution is not None:
            parts.append("resize %dx%d" % self.resolution)
        return ", ".join(parts) or "no change"

    def __repr__(self):
        if self.identity:
            return "<FrameTransform no change>"
        return "<FrameTransform %s, quality %d>" % (self.describe(),
                                                    self.quality)



def check_geometry(rotation, flip, resolution, quality):
    """
    Check a live view transform's fields (L{FrameTransform}'s, and
    L{fourcut.stream.turbo.LiveTransform}'s); return C{resolution} as a
    tuple (or L{None}).

    @raise ValueError: one is not what it must be; the message says which
        and what it may be.
    """
    if isinstance(rotation, bool) or rotation not in ROTATIONS:
        raise ValueError("rotation must be one of %s, not %r"
                         % (", ".join(map(str, ROTATIONS)), rotation))
    if not isinstance(flip, bool):
        raise ValueError("flip must be True or False, not %r" % (flip,))
    if resolution is not None:
        if (not isinstance(resolution, (tuple, list))
                or len(resolution) != 2
                or not all(_is_int(n) and 1 <= n <= _MAX_DIMENSION
                           for n in resolution)):
            raise ValueError(
                "resolution must be None or (width, height), two "
                "integers from 1 to %d, not %r"
                % (_MAX_DIMENSION, resolution))
        resolution = tuple(resolution)
    if not (_is_int(quality) and 1 <= quality <= 100):
        raise ValueError("quality must be an integer from 1 to 100, "
                         "not %r" % (quality,))
    return resolution

def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


class ThreadedTransform:
    """
    Transform a stream of frames in the reactor's thread pool, once per
    frame however many clients watch, newest frame first.

    Transforming a live-view frame takes milliseconds of CPU, too long for
    the reactor thread at 30 frames a second, so it runs in the thread
    pool.  At most one frame is transformed at a time, and while it is,
    only the newest frame submitted waits in a single pending slot,
    replacing (skipping) any older one.  If transforming is slower than the
    camera, frames are skipped and the preview stays current instead of
    falling further and further behind in a queue, and the thread pool
    stays free for everything else.  Frames are published in the order
    they were submitted.

    If the transform changes nothing (L{FrameTransform.identity}), frames
    are published at once, from L{submit}, without a thread hop.

    A frame that fails to transform is logged and counted, and a publisher
    that raises is logged; neither stops the frames that follow.

    All methods must be called on the reactor thread; C{publish} is called
    there too.

    @ivar transform: the L{FrameTransform} (or any callable taking and
        returning JPEG bytes, with an C{identity} attribute).  It may be
        replaced between frames; frames still go out in order.
    @ivar transformed: frames published (for an identity transform, frames
        passed straight through).
    @ivar skipped: frames dropped unpublished: replaced while pending by a
        newer frame, or dropped or discarded by L{clear}.
    @ivar failed: frames whose transform raised.
    """

    log = Logger()

    def __init__(self, reactor, transform, publish, log=None):
        """
        @param reactor: the reactor, whose thread pool is used.
        @param transform: see L{transform}.
        @param publish: called as C{publish(jpeg, timestamp)} with each
            transformed frame and the timestamp it was submitted with,
            unchanged.
        @param log: a L{Logger} to use instead of the class's.
        """
        self._reactor = reactor
        self.transform = transform
        self._publish = publish
        if log is not None:
            self.log = log
        self.transformed = 0
        self.skipped = 0
        self.failed = 0
        self._busy = False
        self._pending = None
        # Bumped by clear(): a result from an older generation is dropped.
        self._generation = 0
        self._idle_waiters = []

    def submit(self, jpeg, timestamp):
        """
        Transform C{jpeg} and publish it, unless a newer frame is submitted
        before its turn comes.

        @param jpeg: one whole JPEG (L{bytes}).
        @param timestamp: passed to C{publish} unchanged (by convention,
            wall-clock seconds when the frame left the camera).
        """
        if self._busy:
            if self._pending is not None:
                self.skipped += 1
            self._pending = (jpeg, timestamp)
        elif self.transform.identity:
            self.transformed += 1
            self._deliver(jpeg, timestamp)
        else:
            self._start(jpeg, timestamp)

    def clear(self):
        """
        Drop the pending frame and discard the result of the frame being
        transformed, if any: nothing submitted so far will be published.
        Frames submitted afterwards are handled as usual (still one at a
        time: a new one waits for the discarded one to finish).  For when
        live view stops.
        """
        if self._pending is not None:
            self._pending = None
            self.skipped += 1
        self._generation += 1

    stop = clear

    def when_idle(self):
        """
        @return: a L{Deferred} that fires with L{None} once no frame is
            being transformed or waiting to be (at once if none is).
        """
        if not self._busy:
            return defer.succeed(None)
        waiter = defer.Deferred()
        self._idle_waiters.append(waiter)
        return waiter

    def _start(self, jpeg, timestamp):
        self._busy = True
        generation = self._generation
        transformed = threads.deferToThreadPool(
            self._reactor, self._reactor.getThreadPool(),
            self.transform, jpeg)
        transformed.addCallbacks(
            self._transformed, self._failed,
            callbackArgs=(timestamp, generation))
        transformed.addBoth(self._finished)

    def _transformed(self, jpeg, timestamp, generation):
        if generation != self._generation:
            self.skipped += 1
            return
        self.transformed += 1
        self._deliver(jpeg, timestamp)

    def _failed(self, failure):
        self.failed += 1
        if failure.check(TransformError):
            self.log.warn("skipped a frame that could not be transformed "
                          "({transform}): {error}",
                          transform=self.transform, error=failure.value)
        else:
            self.log.failure("transforming a frame ({transform}) failed",
                             failure, transform=self.transform)

    def _deliver(self, jpeg, timestamp):
        try:
            self._publish(jpeg, timestamp)
        except Exception:
            self.log.failure("publishing a transformed frame failed")

    def _finished(self, result):
        if isinstance(result, Failure):     # a bug above; do not wedge
            self.log.failure("frame transform pipeline error", result)
        self._busy = False
        if self._pending is not None:
            jpeg, timestamp = self._pending
            self._pending = None
            self.submit(jpeg, timestamp)
        if not self._busy:
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                waiter.callback(None)
