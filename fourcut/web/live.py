"""
The HTTP API of seed 000 as a C{twisted.web} resource tree:
C{/preview}, C{/snapshot}, C{/capture}, C{/reset}, C{/cmd} and C{/}.
"""

import os
import re
import socket
import sys
import tempfile

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import http, resource, server

from ..broadcast import EncodedFrames, LatestFrameProducer
from ..commands import CommandRefused, parse_cmd_args
from ..gphoto2 import CameraError
from ..settings import SettingError

log = Logger()

BOUNDARY = b"frame"
NO_CACHE = b"no-store, no-cache, must-revalidate, proxy-revalidate, max-age=0"


#: Top-level directories whose paths error answers never show.
_SERVER_ROOTS = {"bin", "boot", "dev", "etc", "home", "lib", "lib64", "media",
                 "mnt", "opt", "proc", "root", "run", "sbin", "srv", "sys",
                 "tmp", "usr", "var"}
_hidden_pattern = None


def hide_path(directory):
    """
    Hide paths under C{directory} (and everything under its top-level
    directory) in error answers too, beside the system's own directories,
    the working directory, Python's and fourcut's.
    """
    global _hidden_pattern
    parts = os.path.abspath(directory).split(os.sep)
    if len(parts) > 1 and parts[1]:
        _SERVER_ROOTS.add(parts[1])
        _hidden_pattern = None


def _pattern():
    global _hidden_pattern
    if _hidden_pattern is None:
        for directory in (os.getcwd(), sys.prefix, sys.base_prefix,
                          sys.exec_prefix, tempfile.gettempdir(),
                          os.path.expanduser("~"), os.path.dirname(__file__)):
            parts = os.path.abspath(directory).split(os.sep)
            if len(parts) > 1 and parts[1]:
                _SERVER_ROOTS.add(parts[1])
        roots = "|".join(re.escape(root) for root in sorted(_SERVER_ROOTS))
        _hidden_pattern = re.compile(
            r"(?<![\w.:/-])/(?:%s)(?:/[^\s'\"():;,<>]*)?" % (roots,))
    return _hidden_pattern


def hide_paths(text):
    """
    C{text} (an error answer) with every path on the server cut to its
    last component (C{.../name}): where fourcut, its photos and its Python
    live is nobody's business on the venue network. Names such as
    C{/main/imgsettings/iso} (camera settings) are not file paths and are
    kept.
    """
    def hide(match):
        name = match.group(0).rstrip("/").rsplit("/", 1)[-1]
        return ".../" + name if name else "..."
    return _pattern().sub(hide, text)


def os_error_text(error):
    """
    What an L{OSError} means, without the file name it carries.
    """
    return error.strerror or type(error).__name__


def plain(request, status, text):
    """
    Finish C{request} with C{status} and C{text} as text/plain. Error
    answers (4xx, 5xx) show no server paths (L{hide_paths}) and are never
    empty.
    """
    if status >= 400:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        text = hide_paths(text)
        if not text.strip():
            text = "fourcut: %d %s\n" % (status, http.RESPONSES.get(
                status, b"error").decode("ascii", "replace"))
    if not isinstance(text, bytes):
        text = text.encode("utf-8", "replace")
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    request.setHeader(b"content-length", b"%d" % len(text))
    request.write(text)
    request.finish()


def fail(request, failure, what):
    """
    Answer a failed camera operation: the seed's status and gphoto2's text
    for camera trouble, a logged 500 for anything else.
    """
    if failure.check(CameraError):
        plain(request, failure.value.status, failure.value.text)
    elif failure.check(SettingError):
        plain(request, 400, "fourcut: %s\n" % (failure.value,))
    elif failure.check(OSError):
        log.failure("{what} could not be saved", failure, what=what)
        plain(request, 507 if "No space" in str(failure.value) else 500,
              "fourcut: the photo could not be saved: %s\n"
              % (os_error_text(failure.value),))
    else:
        log.failure("{what} failed", failure, what=what)
        plain(request, 500, "fourcut: internal error; see the server log\n")


class Reply:
    """
    The answer a request is waiting for while the camera works.

    Camera work takes seconds, and by the time it is done the client may
    have hung up; writing to a request whose connection is gone raises.
    C{notifyFinish} fails when that happens, so L{gone} says whether
    anyone is still listening, and the methods do nothing once nobody is.

    @ivar gone: the client disconnected before the answer was ready.
    """

    def __init__(self, request):
        self.request = request
        self.gone = False
        self.done = False
        request.notifyFinish().addErrback(self._lost)

    def _lost(self, failure):
        self.gone = True

    def plain(self, status, text):
        if not (self.gone or self.done):
            self.done = True
            plain(self.request, status, text)

    def fail(self, failure, what):
        if not (self.gone or self.done):
            self.done = True
            fail(self.request, failure, what)
        elif not failure.check(CameraError):
            log.failure("{what} failed (client gone)", failure, what=what)

    def send(self, content_type, body, headers=()):
        """
        Finish with C{body}, its length and type, and C{headers}.
        """
        if self.gone or self.done:
            return
        self.done = True
        request = self.request
        request.setHeader(b"content-type", content_type)
        request.setHeader(b"content-length", b"%d" % len(body))
        for name, value in headers:
            request.setHeader(name, value)
        request.write(body)
        request.finish()


NO_CACHE_HEADERS = [
    (b"cache-control", NO_CACHE),
    (b"pragma", b"no-cache"),
    (b"expires", b"0"),
]


def no_cache(request):
    for name, value in NO_CACHE_HEADERS:
        request.setHeader(name, value)


def multipart_part(frame):
    """
    One frame as a part of the C{/preview} stream.
    """
    return b"".join([
        b"--", BOUNDARY, b"\r\n",
        b"Content-Type: image/jpeg\r\n",
        b"Content-Length: %d\r\n" % len(frame.data),
        b"X-Timestamp: %.6f\r\n" % frame.timestamp,
        b"\r\n", frame.data, b"\r\n"])


#: Unsent bytes the kernel may hold for a live view client (about one and
#: a half frames). Without a bound it queued about 2.8 MB (17 frames), so
#: a slow client was shown frames 10 s old before the server skipped any
#: for it; with it, 3 to 5 s (the rest is in the client's own receive
#: buffer). It costs more wake-ups: 0.30 -> 0.42 core at 100 clients in
#: the benchmark, p99 latency 20 -> 23 ms (docs/benchmarks.rst).
NOTSENT_LOWAT = 256 * 1024


def bound_unsent(transport):
    """
    Set C{TCP_NOTSENT_LOWAT} on C{transport}'s socket, where the platform
    has it (Linux); a no-op elsewhere and for non-TCP transports.
    """
    option = getattr(socket, "TCP_NOTSENT_LOWAT", None)
    if option is None:
        return
    try:
        handle = transport.getHandle()
        handle.setsockopt(socket.IPPROTO_TCP, option, NOTSENT_LOWAT)
    except Exception:
        pass


class PreviewStream:
    """
    One C{/preview} client: a multipart stream fed by a
    L{LatestFrameProducer}, so a slow client skips frames instead of
    making the server buffer them.
    """

    def __init__(self, request, broadcaster, session, clock, timeout,
                 parts=None):
        self.request = request
        self.parts = (parts if parts is not None
                      else EncodedFrames(multipart_part))
        self.broadcaster = broadcaster
        self.session = session
        self.clock = clock
        self.timeout = timeout
        self.producer = LatestFrameProducer(self._write_part,
                                            on_stop=self._stop)
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
            fail(self.request, failure, "live view")

    def _write_part(self, frame):
        self.request.write(self.parts.get(frame))

    def _end(self):
        """
        The client's timeout: close the stream with the final boundary.
        """
        self._timer = None
        if self._done:
            return
        self._stop()
        self.request.unregisterProducer()
        self.request.write(b"--" + BOUNDARY + b"--\r\n")
        self.request.finish()

    def _stop(self):
        if self._done:
            return
        self._done = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self.broadcaster.unsubscribe(self.producer)


class Preview(resource.Resource):
    isLeaf = True

    def __init__(self, broadcaster, session, clock):
        resource.Resource.__init__(self)
        self.broadcaster = broadcaster
        self.session = session
        self.clock = clock
        # Each part is joined once for every client (joining a 170 KB part
        # per client per frame was a tenth of the server's time at 100).
        self.parts = EncodedFrames(multipart_part)

    def render_GET(self, request):
        values = request.args.get(b"timeout")
        timeout = None
        if values:
            try:
                timeout = float(values[-1])
            except ValueError:
                timeout = -1
            if not (0 <= timeout < float("inf")):
                plain(request, 400, "timeout must be a number of seconds, "
                      "0 or more (got %r)\n" % (values[-1].decode(
                          "utf-8", "replace"),))
                return server.NOT_DONE_YET
        bound_unsent(request.transport)
        PreviewStream(request, self.broadcaster, self.session, self.clock,
                      timeout, self.parts).start()
        return server.NOT_DONE_YET


class Snapshot(resource.Resource):
    """
    The newest live view frame as one JPEG, for screens that poll.
    """

    isLeaf = True

    def __init__(self, broadcaster, session, clock, timeout=10.0):
        resource.Resource.__init__(self)
        self.broadcaster = broadcaster
        self.session = session
        self.clock = clock
        self.timeout = timeout

    def render_GET(self, request):
        reply = Reply(request)
        frame = self.broadcaster.next_frame(self.timeout, self.clock)
        ready = self.session.live_view_ready()

        def failed(failure):
            frame.cancel()
            reply.fail(failure, "snapshot")

        def send(frame):
            if frame.placeholder:
                reply.plain(503, "the camera is offline: %s\n" % (
                    self.session.last_error or "reconnecting",))
                return
            reply.send(b"image/jpeg", frame.data, [
                (b"x-timestamp", b"%.6f" % frame.timestamp)] + NO_CACHE_HEADERS)

        def timed_out(failure):
            failure.trap(defer.TimeoutError, defer.CancelledError)
            if failure.check(defer.TimeoutError):
                reply.plain(504, "no live view frame within %gs\n"
                            % (self.timeout,))

        ready.addErrback(failed)
        frame.addCallbacks(send, timed_out)
        frame.addErrback(reply.fail, "snapshot")
        request.notifyFinish().addErrback(lambda _: frame.cancel())
        return server.NOT_DONE_YET


class CameraAction(resource.Resource):
    """
    A C{GET} that acts on the camera (capture, reset, command), through
    the camera session.

    twisted.web answers HEAD by running render_GET and dropping the body,
    so a HEAD (a link checker, a prefetching proxy) would take a photo or
    reset the camera: here it is a 405. (Raising UnsupportedMethod would
    not do: twisted.web then fakes the HEAD with a GET.)
    """

    isLeaf = True

    def __init__(self, session):
        resource.Resource.__init__(self)
        self.session = session

    def render_HEAD(self, request):
        request.setResponseCode(405)
        request.setHeader(b"allow", b"GET")
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b""


class Capture(CameraAction):
    def render_GET(self, request):
        reply = Reply(request)

        def send(result):
            name, path, data = result
            if reply.gone:
                log.info("{name} saved; its client had gone", name=name)
            reply.send(b"image/jpeg", data, [
                (b"content-disposition",
                 b'inline; filename="%s"' % name.encode())])

        self.session.capture().addCallbacks(send, reply.fail,
                                            errbackArgs=("capture",))
        return server.NOT_DONE_YET


class Reset(CameraAction):
    def render_GET(self, request):
        reply = Reply(request)
        self.session.reset().addCallbacks(
            lambda _: reply.send(b"text/html; charset=utf-8",
                                 b"Camera has been reset."),
            reply.fail, errbackArgs=("reset",))
        return server.NOT_DONE_YET


class Command(CameraAction):
    def render_GET(self, request):
        try:
            args = parse_cmd_args(request.args.get(b"arg"))
        except CommandRefused as e:
            plain(request, 400, str(e) + "\n")
            return server.NOT_DONE_YET
        reply = Reply(request)
        self.session.command(args).addCallbacks(
            lambda stdout: reply.plain(200, stdout),
            reply.fail, errbackArgs=("command",))
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
</body>
</html>
"""


class Page(resource.Resource):
    """
    The page for browsers; C{Accept: application/json} gets the service
    status instead, as seed 001's C{GET /} does.

    @ivar json_view: the resource that answers for JSON (C{/status}), or
        L{None}.
    """

    isLeaf = True
    json_view = None

    def render_GET(self, request):
        accept = request.getHeader(b"accept") or b""
        if self.json_view is not None and b"application/json" in accept \
                and b"text/html" not in accept:
            return self.json_view.render_GET(request)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return PAGE


class Root(resource.Resource):
    """
    C{/} is the page; the API lives beside it.
    """

    def __init__(self, broadcaster, session, clock, snapshot_timeout=10.0):
        resource.Resource.__init__(self)
        self.page = Page()
        self.putChild(b"preview", Preview(broadcaster, session, clock))
        self.putChild(b"snapshot", Snapshot(broadcaster, session, clock,
                                            snapshot_timeout))
        self.putChild(b"capture", Capture(session))
        self.putChild(b"reset", Reset(session))
        self.putChild(b"cmd", Command(session))

    def getChild(self, name, request):
        if name == b"":
            return self.page
        return resource.NoResource()


def make_site(broadcaster, session, clock, snapshot_timeout=10.0):
    site = server.Site(Root(broadcaster, session, clock, snapshot_timeout))
    site.displayTracebacks = False
    return site


