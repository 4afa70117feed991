# -*- test-case-name: tests.stream.test_scaled -*-
"""
Live view at the size each screen needs: C{/preview?width=480}, and
C{start_preview} with C{width} on the WebSocket.

Why: the camera's live view is about 960x640 at 30 frames a second, some
170 KB a frame. A phone, a thumbnail on an operator's tablet or a status
screen across the room shows it a quarter of that size, and on a venue's
Wi-Fi the bytes it does not need crowd out everything else. Scaling in the
browser saves nothing on the air.

How, for the server's sake:

  - B{one encoder per size}. Every distinct C{(width, quality)} asked for
    is a L{ScaledStream}; all its clients share it, so a frame is decoded
    and encoded once per size, never once per client. Its frames go out
    through a L{LatestFrameProducer} per client exactly as the camera's
    do: a L{ScaledStream} is a L{Broadcaster}.
  - B{off the reactor thread, newest first}. Encoding runs in the
    reactor's thread pool through a L{ThreadedTransform}: one frame at a
    time per size, and a frame that comes while one is being encoded
    waits in a single slot, replacing (skipping) any older one. A size
    whose encoding is slower than the camera gets fewer frames, never
    older ones, and never holds up the full-size stream or another size.
  - B{only while watched}. A L{ScaledStream} subscribes to the camera's
    broadcaster when its first client comes (which is demand there, so
    live view runs) and unsubscribes when its last one goes; it is then
    dropped, its encoding stops and its slot is free.
  - B{a bounded number of sizes} (C{preview.max_sizes}, default
    L{MAX_SIZES}): a request for one more size than that is refused with
    a L{SizeError} of code 503 naming the limit and the sizes being
    served, which a client may ask for instead. 0 turns downscaling off.
    The last L{RESERVED} of them are for clients that proved the token
    (C{trusted}): anonymous viewers of public live view cannot take every
    size (issue 25: four anonymous C{/preview?width=100..103} left the
    booth's own C{width=480} a 503), and a token holder always gets a
    size unless token holders themselves hold them all.
  - B{cheap encoding}. libjpeg-turbo's decoder itself scales, by 1/8
    to 15/16 (L{fourcut.stream.turbo.downscale}), so 960x640 to 480x320
    is a half-size decode and an encode, without a resample: under 3 ms
    a frame on one core, and 22 KB instead of 170 KB. Other widths add a
    bilinear resample of the already reduced picture.

What a client gets:

  - each frame's height follows the camera frame's aspect ratio: a
    960x640 frame asked for at width 480 is 480x320 (rounded to the
    nearest pixel);
  - each frame keeps the camera frame's number and timestamp, so that
    gaps in the numbers still count skipped frames and the timestamp
    still tells a frame's age;
  - the offline placeholder (L{fourcut.stream.placeholder}) is scaled like any
    other frame and keeps its placeholder mark, so that a screen's layout
    does not jump while the camera is away;
  - a C{width} at least the camera frame's width is the full-size stream:
    the camera's own JPEGs, untouched (no upscaling, no re-encoding at
    another quality). If the camera's frame size is already known (a
    frame has come), L{ScaledStreams.acquire} returns the camera's
    broadcaster itself, which takes no slot; otherwise the size takes a
    slot and passes each frame that is not wider than it through as is;
  - C{quality} (1 to 95, default L{DEFAULT_QUALITY}) is the JPEG quality
    of the downscaled frames only: the full-size stream is never
    re-encoded, so C{quality} without C{width} is refused (400) rather
    than silently ignored.

Frames the decoder cannot read are skipped for that size (logged by the
L{ThreadedTransform}); a bad C{width} or C{quality} is a L{SizeError} of
code 400 whose text names the field, what is allowed and what came.
"""

import weakref
from dataclasses import dataclass, field

from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.failure import Failure

from fourcut.stream.broadcast import Broadcaster, Frame
from fourcut.stream.jpeg import frame_size
from fourcut.stream.transform import ThreadedTransform, TransformError
from fourcut.stream.turbo import downscale

__all__ = ["DEFAULT_QUALITY", "Downscale", "MAX_SIZES", "MAX_WIDTH", "RESERVED",
           "MIN_WIDTH", "QUALITY_RANGE", "PerSource", "ScaledFrame",
           "ScaledStream", "ScaledStreams", "SizeError", "jpeg_size",
           "parse_size"]

log = Logger()

#: The narrowest and widest C{width} accepted, in pixels.
MIN_WIDTH = 16
MAX_WIDTH = 4096

#: JPEG quality of downscaled frames when the client names none: a little
#: under the camera's own (about 85), which a small picture does not show.
DEFAULT_QUALITY = 80

#: The qualities accepted. Above 95 Pillow's JPEGs grow a lot for nothing.
QUALITY_RANGE = (1, 95)

#: Sizes kept for clients with the token: anonymous ones may start at
#: most C{max_sizes - RESERVED}.
RESERVED = 1

#: Distinct sizes served at once unless C{preview.max_sizes} says.
MAX_SIZES = 4

#: Snapshot scalings kept for snapshots of the same frame and size.
ONCE_KEPT = 8

class SizeError(ValueError):
    """
    A size cannot be served: C{str()} says why, for the client.

    @ivar code: the HTTP status: 400 (a bad C{width} or C{quality}) or
        503 (no slot for one more size, or downscaling is off).
    @ivar details: extra fields for a WebSocket C{error} reply.
    """

    def __init__(self, code, text, **details):
        ValueError.__init__(self, text)
        self.code = code
        self.details = details


def _shown(value):
    """
    C{value} as an error message shows what came: text quoted, at most
    40 characters of it, and anything else (a JSON list, object, number)
    as Python shows it, cut as short.
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and len(value) > 40:
        value = value[:40] + "..."
    shown = repr(value)
    if len(shown) > 45:
        shown = shown[:40] + "..."
    return shown


def _whole(value, name, low, high, unit):
    """
    C{value} (a JSON number, or the text of a query field) as an integer
    from C{low} to C{high}, or a L{SizeError}.
    """
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, (str, bytes)):
        text = value.decode("ascii", "replace") if isinstance(
            value, bytes) else value
        # Digits only: no sign, no spaces, no "1e3", no "480.0", and no
        # 10,000-digit number for int() to chew on.
        if 0 < len(text) <= 6 and text.isascii() and text.isdigit():
            number = int(text)
    if number is None or not low <= number <= high:
        raise SizeError(400, "%s must be a whole number %sbetween %d and %d "
                        "(got %s)" % (name, unit, low, high, _shown(value)))
    return number


def parse_size(width, quality=None):
    """
    Check what a client asked for: the C{width} and C{quality} fields of
    a query (text or bytes) or of a JSON message (numbers), L{None} where
    absent.

    @return: L{None} for the full-size stream (neither field), else
        C{(width, quality)} as integers, C{quality} defaulting to
        L{DEFAULT_QUALITY}.
    @raise SizeError: (400) for a width or quality out of range or not a
        whole number, or a quality without a width.
    """
    if width is None:
        if quality is not None:
            raise SizeError(400, "quality applies only to a downscaled "
                            "stream: give width too (the full-size stream "
                            "is the camera's own JPEGs, never re-encoded)")
        return None
    width = _whole(width, "width", MIN_WIDTH, MAX_WIDTH, "of pixels ")
    if quality is None:
        quality = DEFAULT_QUALITY
    else:
        quality = _whole(quality, "quality", *QUALITY_RANGE, unit="")
    return width, quality


def jpeg_size(jpeg):
    """
    The C{(width, height)} a JPEG's header gives, without decoding it.

    @raise TransformError: if it is no JPEG.
    """
    try:
        return frame_size(jpeg)
    except Exception as e:
        raise TransformError("cannot read the JPEG's header (%d bytes): "
                             "%s: %s" % (len(jpeg), type(e).__name__, e))


@dataclass(frozen=True)
class Downscale:
    """
    Scale one JPEG to C{width}, its height following its aspect ratio,
    and encode it at C{quality}; a JPEG not wider than C{width} is
    returned as it is. For L{ThreadedTransform}; safe to call from
    several threads at once.
    """

    width: int
    quality: int = DEFAULT_QUALITY

    #: Never: every frame's header must be read (L{ThreadedTransform}
    #: passes identity transforms' frames through on the reactor thread).
    identity = False

    def size_for(self, size):
        """
        The output size for a frame of C{size}, or L{None} if it is not
        wider than L{width} (and is passed through).
        """
        width, height = size
        if width <= self.width:
            return None
        return self.width, max(1, round(height * self.width / width))

    def __call__(self, jpeg):
        # Scaled while decoding, by libjpeg-turbo (fourcut.stream.turbo).
        return downscale(jpeg, self.width, self.quality)

    def describe(self):
        return "width %d, quality %d" % (self.width, self.quality)

    def __str__(self):
        return self.describe()


@dataclass(frozen=True, slots=True, repr=False)
class ScaledFrame(Frame):
    """
    A frame of a L{ScaledStream}: the camera frame's number, timestamp and
    mark, downscaled C{data}.

    @ivar stream: the L{ScaledStream} it is from, so that its wire form is
        cached with that size's (L{PerSource.for_frame}) whichever source
        the client that writes it watches now.
    """

    stream: object = field(default=None, compare=False)


class ScaledStream(Broadcaster):
    """
    The camera's live view at one size, for all the clients that asked
    for it: a L{Broadcaster} (subscribe a L{LatestFrameProducer}, read
    L{latest}, wait with L{next_frame}) whose frames are the source's,
    downscaled in the thread pool, each with the source frame's number,
    timestamp and placeholder mark.

    It subscribes itself to the source while it has demand. Made and
    dropped by L{ScaledStreams}: once its demand has gone back to 0 it
    is dropped, and a client that wants this size again acquires it
    again (a dropped stream still works if subscribed to, but no longer
    counts against the limit).

    @ivar width: the width asked for.
    @ivar quality: the JPEG quality of its frames.
    @ivar encoder: its L{ThreadedTransform}; C{encoder.transformed} is
        how many frames it has encoded (or passed through).
    """

    def __init__(self, reactor, source, width, quality, on_idle=None):
        """
        @param source: the camera's L{Broadcaster}.
        @param on_idle: called with this stream when its demand goes back
            to 0.
        """
        Broadcaster.__init__(self, on_demand_changed=self._demand)
        self.width = width
        self.quality = quality
        self._source = source
        self._on_idle = on_idle
        self._attached = False
        self.encoder = ThreadedTransform(reactor, Downscale(width, quality),
                                         self._encoded, log=log)

    @property
    def key(self):
        return self.width, self.quality

    @property
    def encodes(self):
        """
        Frames encoded (or passed through) for this size, however many
        clients they went to.
        """
        return self.encoder.transformed

    def offer(self, frame):
        """
        A frame from the source: encode it, newest first. The source
        L{Frame} rides along as the L{ThreadedTransform}'s timestamp, which
        it hands back unchanged.
        """
        self.encoder.submit(frame.data, frame)

    def _encoded(self, jpeg, original):
        self.relay(ScaledFrame(data=jpeg, number=original.number,
                               timestamp=original.timestamp,
                               placeholder=original.placeholder,
                               stream=self))

    def _demand(self, count):
        if count > 0 and not self._attached:
            self._attached = True
            self._source.subscribe(self)
        elif count == 0 and self._attached:
            self._attached = False
            self._source.unsubscribe(self)
            # A frame being encoded is discarded; the thread finishes it.
            self.encoder.clear()
            self.latest = None
            if self._on_idle is not None:
                self._on_idle(self)

    def __repr__(self):
        return "<ScaledStream %s: %d watching, %d encoded>" % (
            self.encoder.transform, self.demand, self.encodes)


class ScaledStreams:
    """
    The downscaled streams being served, at most C{max_sizes} distinct
    sizes at once; see the module docstring.

    @ivar source: the camera's L{Broadcaster}.
    @ivar max_sizes: distinct sizes served at once; 0: none.
    @ivar streams: the L{ScaledStream}s by C{(width, quality)}.
    """

    def __init__(self, reactor, source, max_sizes=MAX_SIZES):
        self.reactor = reactor
        self.source = source
        self.max_sizes = max_sizes
        self.streams = {}
        self._size = None       # (frame number, (width, height))
        # Snapshot scalings by (frame number, width, quality): [the
        # scaled Frame or None while encoding, Deferreds waiting for it].
        self._once = {}
        self._once_running = 0

    def source_size(self):
        """
        The C{(width, height)} of the source's latest frame, or L{None}
        if there is none (or it cannot be read).
        """
        latest = self.source.latest
        if latest is None:
            return None
        if self._size is None or self._size[0] != latest.number:
            try:
                size = jpeg_size(latest.data)
            except TransformError:
                return None
            self._size = (latest.number, size)
        return self._size[1]

    def sizes(self):
        """
        The C{(width, quality)} of each size being served, narrowest first.
        """
        return sorted(self.streams)

    def describe(self):
        """
        The sizes being served, for C{/status}: a list of C{{"width",
        "quality", "subscribers", "encoded"}}, narrowest first.
        """
        return [{"width": stream.width, "quality": stream.quality,
                 "subscribers": stream.demand, "encoded": stream.encodes}
                for _, stream in sorted(self.streams.items())]

    def full_size(self, width):
        """
        Whether C{width} gets the full-size stream: the source's frames
        are known to be no wider.
        """
        size = self.source_size()
        return size is not None and width >= size[0]

    def acquire(self, width, quality=DEFAULT_QUALITY, trusted=True):
        """
        The source to subscribe a client to for frames C{width} wide at
        C{quality} (checked by L{parse_size}): the L{ScaledStream} for that
        size, shared with every client of it and made if there is none, or
        the full-size source itself if its frames are no wider.

        Subscribe to it at once: a stream made for a caller that does not
        subscribe is dropped when another size is asked for.

        @param trusted: whether the client proved the token (or none is
            configured); an anonymous one may not start one of the last
            L{RESERVED} sizes, only watch a size already served.
        @raise SizeError: (503) if C{max_sizes} distinct sizes are being
            served already and this is not one of them, or (anonymous) all
            but the reserved ones.
        """
        if self.full_size(width):
            return self.source
        key = (width, quality)
        stream = self.streams.get(key)
        if stream is not None:
            return stream
        # Streams nobody subscribed to: their callers went away.
        for other in [s for s in self.streams.values() if not s.demand]:
            del self.streams[other.key]
        limit = (self.max_sizes if trusted
                 else max(0, self.max_sizes - RESERVED))
        if len(self.streams) >= limit:
            raise self._refusal(width, quality, trusted)
        stream = self.streams[key] = ScaledStream(
            self.reactor, self.source, width, quality, on_idle=self._idle)
        log.info("live view at width {width}, quality {quality}: started "
                 "({n} of {limit} sizes)", width=width, quality=quality,
                 n=len(self.streams), limit=self.max_sizes)
        return stream

    def _refusal(self, width, quality, trusted=True):
        if not self.max_sizes:
            text = ("downscaled live view is off (preview.max_sizes is 0); "
                    "ask for the full size (no width)")
        else:
            text = ("too many live view sizes at once: the limit is %d "
                    "(preview.max_sizes), serving %s; ask for one of those "
                    "or the full size (no width)" % (
                        self.max_sizes, ", ".join(
                            "width %d quality %d" % key
                            for key in self.sizes())))
            if not trusted and len(self.streams) < self.max_sizes:
                text += ("; the last %d are kept for clients with the "
                         "access token" % (RESERVED,))
        log.warn("refused live view at width {width}, quality {quality}: "
                 "{text}", width=width, quality=quality, text=text)
        return SizeError(503, text, limit=self.max_sizes, sizes=[
            {"width": w, "quality": q} for w, q in self.sizes()])

    def _idle(self, stream):
        if self.streams.get(stream.key) is stream:
            del self.streams[stream.key]
            log.info("live view at width {width}, quality {quality}: "
                     "stopped (nobody watches)", width=stream.width,
                     quality=stream.quality)

    def scale_once(self, frame, width, quality=DEFAULT_QUALITY):
        """
        One frame at C{width} and C{quality}, for a snapshot: encoded in
        the thread pool, outside the limit on sizes (a snapshot holds no
        stream), but not at all with C{max_sizes} 0. Snapshots waiting
        for the same frame at the same size share one encoding, and at
        most C{max_sizes} encodings run at once, so that snapshots cannot
        fill the thread pool that live view's encoders need.

        @return: a L{Deferred} firing with the scaled L{Frame} (C{frame}
            itself if it is no wider than C{width}).
        @raise SizeError: (503) if downscaling is off, or as many
            snapshots are being scaled as C{max_sizes}, and C{frame} is
            wider.
        """
        size = None
        try:
            size = jpeg_size(frame.data)
        except TransformError:
            pass
        if size is not None and size[0] <= width:
            return defer.succeed(frame)
        key = (frame.number, width, quality)
        entry = self._once.get(key)
        if entry is None:
            if not self.max_sizes:
                raise self._refusal(width, quality)
            if self._once_running >= self.max_sizes:
                raise SizeError(503, "too many snapshots being scaled at "
                                "once (at most %d: preview.max_sizes); try "
                                "again" % (self.max_sizes,))
            entry = self._once[key] = [None, []]
            while len(self._once) > ONCE_KEPT:
                del self._once[next(iter(self._once))]
            self._once_running += 1
            scaled = threads.deferToThreadPool(
                self.reactor, self.reactor.getThreadPool(),
                Downscale(width, quality), frame.data)
            scaled.addBoth(self._scaled_once, key, entry, frame)
        if entry[0] is not None:
            return defer.succeed(entry[0])
        waiter = defer.Deferred()
        entry[1].append(waiter)
        return waiter

    def _scaled_once(self, result, key, entry, frame):
        self._once_running -= 1
        waiters, entry[1] = entry[1], []
        if isinstance(result, Failure):
            if self._once.get(key) is entry:
                del self._once[key]
            for waiter in waiters:
                waiter.errback(result)
            return
        entry[0] = Frame(data=result, number=frame.number,
                         timestamp=frame.timestamp,
                         placeholder=frame.placeholder)
        for waiter in waiters:
            waiter.callback(entry[0])


class PerSource:
    """
    One cache (an L{fourcut.stream.broadcast.EncodedFrames}) per source: the
    frames of different sizes share their numbers, so one cache keyed by
    frame number would mix them up, and one cache for all would keep few
    frames of each. A source's cache goes with it.
    """

    def __init__(self, make, full_source=None, full_cache=None):
        """
        @param make: called with no arguments for a new source's cache.
        @param full_source: the camera's broadcaster, whose cache is
            C{full_cache}.
        """
        self._make = make
        self._caches = weakref.WeakKeyDictionary()
        self._full = full_source
        if full_source is not None:
            self.add(full_source, full_cache)

    def for_frame(self, frame):
        """
        The cache of the source C{frame} is from: its L{ScaledStream} for
        a L{ScaledFrame}, else the full-size source's.
        """
        stream = getattr(frame, "stream", None)
        return self.get(self._full if stream is None else stream)

    def add(self, source, cache):
        """
        Use C{cache} for C{source} (the full-size source's existing one).
        """
        self._caches[source] = cache

    def get(self, source):
        cache = self._caches.get(source)
        if cache is None:
            cache = self._caches[source] = self._make()
        return cache
