# -*- test-case-name: tests.integration.test_service -*-
"""
Live view over HTTP, as seed 000 serves it: C{GET /preview} (a multipart
stream every client shares), C{GET /snapshot} (one frame) and C{GET /} (the
page showing it).

Both take C{width} (and C{quality}) for a downscaled picture
(L{fourcut.stream.scaled}); without them they are the camera's own JPEGs,
untouched.
"""

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import server

from fourcut.errors import SEED_PREVIEW
from fourcut.stream.broadcast import EncodedFrames, FrameCounts, LatestFrameProducer
from fourcut.stream.internals import count_sent, response_chunked
from fourcut.stream.pacing import TransportPacing
from fourcut.stream.scaled import PerSource, ScaledStreams, SizeError, parse_size
from fourcut.stream.sockets import FrameWriter, prepare_for_frames
from fourcut.web.limits import connection_of
from fourcut.web.replies import (NO_CACHE_HEADERS, Reply, Resource, error, fail,
                      no_cache, wants_json)

__all__ = ["BOUNDARY", "PART_START", "STREAM_END", "Page", "Preview",
           "PreviewStream", "Snapshot",
           "address_text", "chunked_part", "multipart_part",
           "requested_size", "trusted"]

log = Logger()

BOUNDARY = b"frame"


#: The start of every part, sent in advance (L{multipart_part}): the
#: boundary and what is known of a part before its frame is.
PART_START = b"--" + BOUNDARY + b"\r\nContent-Type: image/jpeg\r\n"

#: The end of the stream, after a L{PART_START}: that part's headers end,
#: it is empty, and the closing boundary follows.
STREAM_END = b"\r\n\r\n--" + BOUNDARY + b"--\r\n"


def multipart_part(frame):
    """
    One frame for the C{/preview} stream: the rest of its part's headers
    (what could not be known in advance: its length and timestamp), the
    JPEG, and the start of the next part (L{PART_START}), at once.

    Why in advance: many readers of a multipart stream (the Android MJPEG
    view of seed 000's booth app, among others) cut it at boundaries and
    show a part only once the next boundary has come. Sent with the next
    frame, as it used to be, it came a whole frame interval late (on a
    slow link, a whole paced interval); sent at once, every frame is
    shown as soon as its last byte is in. The bytes on the wire are the
    same as before, headers in the same order (C{Content-Type},
    C{Content-Length}, C{X-Timestamp}): readers that use Content-Length,
    ffmpeg and browsers read them as they always did. The stream starts
    with a L{PART_START} and ends with L{STREAM_END}.
    """
    return b"".join([
        b"Content-Length: %d\r\n" % len(frame.data),
        b"X-Timestamp: %.6f\r\n" % frame.timestamp,
        b"\r\n", frame.data, b"\r\n", PART_START])


def chunked_part(frame):
    """
    L{multipart_part} framed as one chunk of HTTP/1.1's chunked encoding,
    as twisted.web would frame it: made once per frame for every client.
    Written as one piece, the transport sends it as it is; twisted.web's
    own framing (the size line, the part, the CRLF: three pieces) made
    Twisted join them into a new copy of the frame for every client
    before sending it, a quarter of the server's time at 100 clients.
    """
    part = multipart_part(frame)
    return b"".join([b"%x\r\n" % (len(part),), part, b"\r\n"])


def address_text(address):
    """
    A peer's address as C{host:port} (or as Twisted writes an address
    that has no port).
    """
    host, port = getattr(address, "host", None), getattr(address, "port",
                                                          None)
    if host is None or port is None:
        return str(address)
    return "%s:%s" % (host, port)


def requested_size(request):
    """
    The C{width} and C{quality} query fields of C{request} (the last of
    each, as for C{timeout}), checked: see
    L{fourcut.stream.scaled.parse_size}.

    @raise SizeError: (400) if they are wrong.
    """
    def last(name):
        values = request.args.get(name)
        return values[-1] if values else None
    return parse_size(last(b"width"), last(b"quality"))


class PreviewStream:
    """
    One C{/preview} client: a multipart stream fed by a
    L{LatestFrameProducer}, so a slow client skips frames instead of
    making the server buffer them.
    """

    def __init__(self, request, broadcaster, session, clock, timeout,
                 parts=None, counts=None, chunks=None, pacing=None):
        """
        @param parts: the shared L{EncodedFrames} of L{multipart_part}.
        @param chunks: the shared L{EncodedFrames} of L{chunked_part}.
        @param pacing: a L{TransportPacing} for the client's connection,
            or L{None} for none.
        """
        self.request = request
        self.parts = (parts if parts is not None
                      else EncodedFrames(multipart_part))
        self.chunks = (chunks if chunks is not None
                       else EncodedFrames(chunked_part))
        self.broadcaster = broadcaster
        self.session = session
        self.clock = clock
        self.timeout = timeout
        self.writer = None
        self.producer = LatestFrameProducer(self._write_part,
                                            on_stop=self._stop,
                                            counts=counts, pacing=pacing,
                                            clock=clock)
        self._timer = None
        self._done = False

    def start(self):
        # Hold frames until the headers are out.
        self.producer.pauseProducing()
        self.broadcaster.subscribe(self.producer)
        self.request.notifyFinish().addBoth(lambda _: self._stop())
        d = self.session.live_view_ready()
        d.addCallbacks(self._ready, self._failed)

    def _ready(self, _):
        if self._done:
            return
        request = self.request
        request.setHeader(b"content-type",
                          b"multipart/x-mixed-replace; boundary=" + BOUNDARY)
        no_cache(request)
        # The headers now (and whether the body is chunked: HTTP/1.1),
        # and the first part's start, ahead of its frame.
        request.write(PART_START)
        request.registerProducer(self.producer, True)
        if self.timeout is not None:
            self._timer = self.clock.callLater(self.timeout, self._end)
        latest = self.broadcaster.latest
        # Start with the newest frame, unless it is from before this live
        # view (a previous guest) or the offline placeholder.
        if (latest is not None and self.producer.pending is None
                and not latest.placeholder
                and latest.timestamp >= self.session.live_since):
            self.producer.offer(latest)
        self.producer.resumeProducing()

    def _failed(self, failure):
        client_gone = self._done
        self._stop()
        if not client_gone:
            fail(self.request, failure, "live view", SEED_PREVIEW)

    def figures(self):
        """
        This client for C{/status}: who it is and how its live view goes
        (L{LatestFrameProducer.figures}).
        """
        found = {"transport": "http",
                 "peer": address_text(self.request.getClientAddress()),
                 "width": getattr(self.broadcaster, "width", None)}
        found.update(self.producer.figures())
        return found

    def _write_part(self, frame):
        request = self.request
        if request.finished or request.channel is None:
            return 0
        if response_chunked(request):
            # Framed already: one write, straight to the connection.
            data = self.chunks.get(frame)
            count_sent(request, len(data))
            if self.writer is None:
                self.writer = FrameWriter(request.channel.transport)
            self.writer.write(data)
        else:
            data = self.parts.get(frame)
            request.write(data)
        return len(data)

    def _end(self):
        """
        The client's timeout: close the stream with the final boundary.
        """
        self._timer = None
        if self._done:
            return
        self._stop()
        self.request.unregisterProducer()
        self.request.write(STREAM_END)
        self.request.finish()

    def _stop(self):
        if self._done:
            return
        self._done = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self.broadcaster.unsubscribe(self.producer)


def trusted(request):
    """
    Whether C{request}'s connection proved the token (or none is needed):
    the last downscaled sizes are kept for it (L{ScaledStreams.acquire}).
    Without connection limits (a test's request) it is.
    """
    connection = connection_of(getattr(request.channel, "transport", None))
    return connection is None or connection.authenticated


class Preview(Resource):
    """
    C{GET /preview}: the multipart stream. C{HEAD} answers its headers
    without starting live view. With C{width}, a stream is subscribed to
    the L{ScaledStreams}' source of that size instead of the camera's
    broadcaster.
    """

    isLeaf = True

    def __init__(self, broadcaster, session, clock, scaled=None,
                 pacing=True):
        """
        @param scaled: the L{ScaledStreams} that serve C{?width=}, or
            L{None} for none.
        @param pacing: whether each client's frames are paced by what its
            connection has delivered (L{fourcut.stream.pacing}).
        """
        Resource.__init__(self)
        self.pacing = pacing
        #: Frames sent and skipped over every stream, for C{/metrics}.
        self.frame_counts = FrameCounts()
        #: The streams open now.
        self.streams = set()
        self.broadcaster = broadcaster
        self.session = session
        self.clock = clock
        # Each part is joined once for every client (joining a 170 KB part
        # per client per frame was a tenth of the server's time at 100).
        self.parts = EncodedFrames(multipart_part)
        self.chunks = EncodedFrames(chunked_part)
        #: The downscaled streams (none without).
        self.scaled = (scaled if scaled is not None
                       else ScaledStreams(clock, broadcaster, max_sizes=0))
        # One cache of parts per source: every size numbers its frames as
        # the camera's.
        self.parts_by_source = PerSource(
            lambda: EncodedFrames(multipart_part), broadcaster, self.parts)
        self.chunks_by_source = PerSource(
            lambda: EncodedFrames(chunked_part), broadcaster, self.chunks)

    def render_GET(self, request):
        values = request.args.get(b"timeout")
        timeout = None
        if values:
            try:
                timeout = float(values[-1])
            except ValueError:
                timeout = -1
            if not (0 <= timeout < float("inf")):
                error(request, 400, "timeout must be a number of seconds, "
                      "0 or more (got %r)" % (values[-1].decode(
                          "utf-8", "replace"),))
                return server.NOT_DONE_YET
        try:
            size = requested_size(request)
            source = (self.broadcaster if size is None
                      else self.scaled.acquire(*size,
                                               trusted=trusted(request)))
        except SizeError as e:
            error(request, e.code, str(e))
            return server.NOT_DONE_YET
        prepare_for_frames(request.transport)
        pacing = (TransportPacing(request.transport, self.clock)
                  if self.pacing else None)
        # Subscribes to source at once (start), which keeps its slot.
        stream = PreviewStream(request, source, self.session,
                               self.clock, timeout,
                               self.parts_by_source.get(source),
                               self.frame_counts,
                               self.chunks_by_source.get(source), pacing)
        self.streams.add(stream)
        request.notifyFinish().addBoth(
            lambda _: self.streams.discard(stream))
        stream.start()
        return server.NOT_DONE_YET

    def render_HEAD(self, request):
        request.setHeader(b"content-type",
                          b"multipart/x-mixed-replace; boundary=" + BOUNDARY)
        no_cache(request)
        return b""


class Snapshot(Resource):
    """
    The newest live view frame as one JPEG, for screens that poll; with
    C{width}, scaled once for this request (it takes none of the
    L{ScaledStreams}' slots, but none is scaled with C{max_sizes} 0).
    """

    isLeaf = True

    def __init__(self, broadcaster, session, clock, timeout=10.0,
                 scaled=None):
        Resource.__init__(self)
        self.broadcaster = broadcaster
        self.session = session
        self.clock = clock
        self.timeout = timeout
        self.scaled = (scaled if scaled is not None
                       else ScaledStreams(clock, broadcaster, max_sizes=0))

    def render_GET(self, request):
        reply = Reply(request)
        try:
            size = requested_size(request)
        except SizeError as e:
            reply.error(e.code, str(e))
            return server.NOT_DONE_YET
        frame = self.broadcaster.next_frame(self.timeout, self.clock)
        ready = self.session.live_view_ready()

        def failed(failure):
            frame.cancel()
            reply.fail(failure, "snapshot")

        def send(frame):
            if frame.placeholder:
                reply.error(503, "the camera is offline: %s" % (
                    self.session.last_error or "reconnecting",))
                return
            if size is not None:
                scaled = defer.maybeDeferred(self.scaled.scale_once, frame,
                                             *size)
                scaled.addCallbacks(answer, not_scaled)
                return
            answer(frame)

        def answer(frame):
            reply.send(b"image/jpeg", frame.data, [
                (b"x-timestamp", b"%.6f" % frame.timestamp)] + NO_CACHE_HEADERS)

        def not_scaled(failure):
            if failure.check(SizeError):
                reply.error(failure.value.code, str(failure.value))
            else:
                reply.fail(failure, "snapshot")

        def timed_out(failure):
            failure.trap(defer.TimeoutError, defer.CancelledError)
            if failure.check(defer.TimeoutError):
                reply.error(504, "no live view frame within %gs"
                            % (self.timeout,))

        ready.addErrback(failed)
        frame.addCallbacks(send, timed_out)
        frame.addErrback(reply.fail, "snapshot")
        request.notifyFinish().addErrback(lambda _: frame.cancel())
        return server.NOT_DONE_YET


PAGE = b"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>fourcut</title>
<style>body{font-family:sans-serif;background:#111;color:#eee;text-align:center}
img{max-width:95vw;border:1px solid #444}a{color:#9cf}</style></head>
<body>
<h1>fourcut</h1>
<p><img src="/preview" alt="live view" width="960" height="640"></p>
<p><a href="/capture" target="_blank">Capture a photo</a> &middot;
<a href="/snapshot" target="_blank">Snapshot</a></p>
<p><a href="/booth">The booth</a> &middot; <a href="/gallery">Gallery</a></p>
</body>
</html>
"""


class Page(Resource):
    """
    The page for browsers (a client that prefers C{text/html}); any other
    client gets the service status instead, as seed 001's C{GET /} does
    (L{fourcut.web.replies.wants_json}).

    @ivar json_view: the resource that answers for JSON (C{/status}), or
        L{None}.
    """

    isLeaf = True

    def __init__(self, json_view=None):
        Resource.__init__(self)
        self.json_view = json_view

    def render_GET(self, request):
        if self.json_view is not None and wants_json(request):
            return self.json_view.render_GET(request)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return PAGE
