# -*- test-case-name: tests.integration.test_booth_http,tests.booth.test_favicon -*-
"""
The booth over HTTP.

=============================  ===========================================
C{GET /booth}                  the touch-screen page (public: it asks for
                               the token itself); C{/booth/static/...} its
                               files, C{/booth/config.json} its settings,
                               C{/booth/theme.css} and C{/booth/theme/...}
                               its look
C{GET /gallery}                the strips page (public; its data,
                               C{/photos}, needs the token)
C{POST /sequence}              a whole sequence; answers the strip
C{POST /sequence/retake}       take the shot on screen again
C{GET /share/KEY/NAME}         a guest's share page (a browser), or the
                               strip; its shots with C{?shot=N}
C{GET /thumbnails/NAME}        a small JPEG of a photo, for the gallery
=============================  ===========================================

The pages are plain files in C{static/}: no build step, no CDN, nothing
fetched from anywhere but fourcut.
"""

import json
import os
import re
import stat
import time
from collections import OrderedDict

from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.web import resource, server

from fourcut.photos import PHOTO_NAME
from fourcut.web.photofile import BadName, PhotoFile, SafeFile
from fourcut.web.replies import (NO_CACHE_HEADERS, Reply, Resource,
                                 error, send_json)
from fourcut.booth.links import key_matches, safe_host, stored_key, valid_key
from fourcut.booth.sequence import SequenceError, parse_request
from fourcut.booth import sharepage
from fourcut.booth.strip import read_metadata, thumbnail

__all__ = ["BoothResource", "GalleryPage", "SequenceResource",
           "ShareResource", "ThumbnailResource", "STATIC"]

log = Logger()

#: The pages' files.
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

_PHOTO = re.compile(PHOTO_NAME.encode("ascii"))
_DIGITS = re.compile(rb"\A[0-9]{1,2}\Z")

#: Parameters C{POST /sequence} takes.
SEQUENCE_FIELDS = ("count", "countdown", "layout", "interval", "review")


def _finish_with(request, body):
    """
    Finish C{request} with what a resource's C{render} returned, for
    resources rendered after a Deferred.
    """
    if body is not server.NOT_DONE_YET:
        request.write(body)
        request.finish()


def _json_error(request, status, text, **details):
    # fourcut's one error format (fourcut.web.replies): the booth's API
    # paths are JSON ones.
    error(request, status, text, **details)
    return server.NOT_DONE_YET


class StaticFiles(SafeFile):
    """
    The pages' files, served the safe way (L{SafeFile}: one range for
    many, a 400 for a NUL byte, fourcut's 404, no directory listings),
    revalidated (cheaply, with Last-Modified) so that a booth picks up a
    new version at once.
    """

    def render_GET(self, request):
        request.setHeader(b"cache-control", b"no-cache")
        request.setHeader(b"x-content-type-options", b"nosniff")
        return SafeFile.render_GET(self, request)


class Favicon(SafeFile):
    """
    C{/favicon.ico}: fourcut's icon (a red tile with a four-cut strip;
    16, 32 and 48 pixels), which browsers ask for on every page. It
    never changes within a version, so it may be cached for a day.
    """

    def __init__(self):
        SafeFile.__init__(self, os.path.join(STATIC, "favicon.ico"),
                             defaultType="image/x-icon")
        # Not the system's guess (image/vnd.microsoft.icon): the type
        # every browser knows.
        self.type, self.encoding = "image/x-icon", None

    def render_GET(self, request):
        request.setHeader(b"cache-control", b"public, max-age=86400")
        request.setHeader(b"x-content-type-options", b"nosniff")
        return SafeFile.render_GET(self, request)


class Page(resource.Resource):
    """
    One HTML file of C{static/}, read at each request (a few kilobytes).
    """

    isLeaf = True

    def __init__(self, name):
        resource.Resource.__init__(self)
        self.path = os.path.join(STATIC, name)

    def render_GET(self, request):
        with open(self.path, "rb") as f:
            body = f.read()
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        for name, value in NO_CACHE_HEADERS:
            request.setHeader(name, value)
        return body


class PageSettings(resource.Resource):
    isLeaf = True

    def __init__(self, booth):
        resource.Resource.__init__(self)
        self.booth = booth

    def render_GET(self, request):
        request.setHeader(b"content-type", b"application/json")
        for name, value in NO_CACHE_HEADERS:
            request.setHeader(name, value)
        return json.dumps(self.booth.page_settings()).encode("utf-8")


class ThemeStyle(resource.Resource):
    """
    C{/booth/theme.css}: the theme's colours and font
    (L{fourcut.booth.themes.theme_css}); C{css()} gives it, for the theme
    chosen now (the operator may change it while the booth runs).
    """

    isLeaf = True

    def __init__(self, css):
        resource.Resource.__init__(self)
        self.css = css

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/css; charset=utf-8")
        request.setHeader(b"cache-control", b"no-cache")
        return self.css().encode("utf-8")


class ThemeFiles(Resource):
    """
    C{/booth/theme/font}, C{logo} and C{background}: the operator's files,
    by those names only (C{files}: C{{name: (path, content type)}}).
    """

    def __init__(self, files):
        Resource.__init__(self)
        for name, (path, kind) in files.items():
            self.putChild(name.encode("ascii"), ThemeFile(path, kind))

    def getChild(self, name, request):
        return BadName() if b"\0" in name else SafeFile.childNotFound


class ThemeFile(SafeFile):
    """
    One of the operator's theme files, as its own content type, served the
    safe way (L{SafeFile}: one range for many).
    """

    def __init__(self, path, kind):
        SafeFile.__init__(self, path, defaultType=kind.decode("ascii"))
        self.kind = kind

    def render_GET(self, request):
        request.setHeader(b"cache-control", b"no-cache")
        request.setHeader(b"x-content-type-options", b"nosniff")
        body = SafeFile.render_GET(self, request)
        request.setHeader(b"content-type", self.kind)
        return body


class BoothResource(Resource):
    """
    C{/booth} (and C{/booth/}) is the page; its files are below it, the
    theme's CSS and files beside them, and C{children}, C{(segment,
    resource)} pairs others give the page.
    """

    def __init__(self, booth, children=()):
        Resource.__init__(self)
        self.page = Page("booth.html")
        self.putChild(b"", self.page)
        self.putChild(b"static", StaticFiles(STATIC))
        self.putChild(b"config.json", PageSettings(booth))
        # Others' paths below /booth: printing's /booth/printer and
        # /booth/print (fourcut.printing.resources).
        for name, child in children:
            self.putChild(name, child)
        self.putChild(b"theme.css", ThemeStyle(booth.theme_css))
        self.putChild(b"theme", ThemeFiles(booth.theme_files))

    def render_GET(self, request):
        return self.page.render_GET(request)


class GalleryPage(Page):
    def __init__(self):
        Page.__init__(self, "gallery.html")


class SequenceResource(Resource):
    """
    C{POST /sequence[?count=N][&countdown=N][&layout=CxR][&interval=S]}
    runs a whole sequence (the WebSocket screens see its countdown) and
    answers the strip as C{image/jpeg}, or its C{strip_ready} fields as
    JSON for a client that asks C{Accept: application/json}. Parameters
    go in the query or in a form body. Only C{POST}: a link or a
    prefetching browser must not take four photos.
    """

    isLeaf = True
    # /sequence/retake is below it.
    subpaths = True
    # fourcut.web.replies.Resource answers other methods with a 405, and
    # OPTIONS (a CORS preflight from a front-end on another origin).
    methods = (b"POST",)

    def __init__(self, booth):
        Resource.__init__(self)
        self.booth = booth

    def render_POST(self, request):
        if request.postpath == [b"retake"]:
            return self._retake(request)
        if request.postpath not in ([], [b""]):
            return _json_error(request, 404, "no such path: POST /sequence "
                               "or /sequence/retake")
        fields = {}
        for name, values in request.args.items():
            text = name.decode("utf-8", "replace")
            if text not in SEQUENCE_FIELDS:
                return _json_error(request, 400, "unknown parameter %r; "
                                   "known: %s" % (text,
                                                  ", ".join(SEQUENCE_FIELDS)))
            if len(values) > 1:
                return _json_error(request, 400, "%s given more than once"
                                   % (text,))
            fields[text] = values[0].decode("utf-8", "replace")
        try:
            sequence = parse_request(fields, self.booth.defaults)
        except SequenceError as e:
            return _json_error(request, e.code, str(e), **e.details)
        reply = Reply(request)
        wants_json = b"application/json" in (request.getHeader(b"accept")
                                             or b"")
        host = safe_host(request.getHeader(b"host"))
        d = self.booth.runner.run(sequence, origin=None)
        d.addCallback(lambda event: defer.ensureDeferred(
            self.booth.links.decorate(event, host)))
        d.addCallbacks(self._answer, self._failed,
                       callbackArgs=(reply, wants_json),
                       errbackArgs=(reply,))
        d.addErrback(reply.fail, "sequence")
        return server.NOT_DONE_YET

    def _retake(self, request):
        """
        C{POST /sequence/retake[?shot=N]}: take the shot on screen again
        (C{booth.retake}); 202, or 409 if no shot can be retaken now.
        """
        shot = _one_arg(request.args, b"shot")
        if shot is not None and not _DIGITS.match(shot):
            return _json_error(request, 400, "shot must be a number")
        try:
            self.booth.runner.retake(None if shot is None else int(shot))
        except SequenceError as e:
            return _json_error(request, e.code, str(e))
        send_json(Reply(request), 202, {"retake": True})
        return server.NOT_DONE_YET

    def _answer(self, event, reply, wants_json):
        if wants_json:
            send_json(reply, 200, event)
            return
        d = threads.deferToThreadPool(
            self.booth.reactor, self.booth.reactor.getThreadPool(),
            _read, event["filepath"])

        def send(data):
            headers = [
                (b"content-disposition", b'inline; filename="%s"'
                 % event["filename"].encode("ascii")),
                (b"x-fourcut-strip", event["filename"].encode("ascii")),
                (b"x-fourcut-shots", ", ".join(event["shots"]).encode(
                    "ascii")),
            ] + NO_CACHE_HEADERS
            if event.get("share_url"):
                headers.append((b"x-fourcut-share-url",
                                event["share_url"].encode("ascii")))
            reply.send(b"image/jpeg", data, headers)
        return d.addCallback(send)

    def _failed(self, failure, reply):
        failure.trap(SequenceError)
        error = failure.value
        details = {key: value for key, value in error.details.items()
                   if value is not None}
        send_json(reply, error.code, dict(details, error=str(error)))


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _regular(path):
    """
    Whether C{path} is a regular file (not a symlink, directory or
    device). Blocking.
    """
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _one_arg(args, name):
    values = args.get(name)
    return values[0] if values else None


def _photo_path(directory, segment):
    """
    The path of the photo named by the URL C{segment}, or L{None} if the
    name is not one a photo can have.
    """
    if not _PHOTO.match(segment):
        return None
    return os.path.join(directory, segment.decode("ascii"))


class ShareResource(resource.Resource):
    """
    C{GET /share/KEY/NAME}: the strip C{NAME}, if C{KEY} is the guest key
    kept in it; a 404 otherwise, the same for a wrong key, a missing strip
    and a photo that is no strip, so that the answer tells nothing. Range
    and If-Modified-Since work as on C{/photos/NAME}.

    A browser (C{Accept: text/html}, what a phone sends when it opens the
    QR code's link) gets the share page instead
    (L{fourcut.booth.sharepage}); everything on it is this path with a
    query: C{?download=1} (the strip as an attachment), C{?shot=N} (the
    strip's N-th shot, C{&size=small} for a copy of at most
    L{SMALL_SIDE} pixels, C{&download=1} as an attachment).

    @param page: C{{"event_name": ..., "logo": bool}} for the page.
    """

    isLeaf = True

    #: The longest side of a shot shown on the share page.
    SMALL_SIDE = 1000

    def __init__(self, directory, reactor, page=None):
        resource.Resource.__init__(self)
        self.directory = os.path.abspath(directory)
        self.reactor = reactor
        self.page = dict(page or {})

    def render_GET(self, request):
        if len(request.postpath) != 2 or not valid_key(request.postpath[0]):
            return self._not_found(request)
        key, segment = request.postpath
        path = _photo_path(self.directory, segment)
        if path is None:
            return self._not_found(request)
        d = threads.deferToThreadPool(self.reactor,
                                      self.reactor.getThreadPool(),
                                      self._key_of, path)

        def check(found):
            # The same work for a wrong key and a missing strip
            # (fourcut.booth.links).
            if not key_matches(found, key):
                self._not_found(request)
                return
            request.setHeader(b"cache-control", b"no-cache")
            request.setHeader(b"x-content-type-options", b"nosniff")
            request.setHeader(b"referrer-policy", b"no-referrer")
            self._serve(request, path, segment)

        d.addCallback(check)
        d.addErrback(Reply(request).fail, "guest download")
        return server.NOT_DONE_YET

    render_HEAD = render_GET

    def _serve(self, request, path, segment):
        """
        What the guest asked of a strip whose key was right: the strip,
        one of its shots, or the page.
        """
        args = request.args
        download = _one_arg(args, b"download") == b"1"
        shot = _one_arg(args, b"shot")
        small = _one_arg(args, b"size") == b"small"
        page = (shot is None and not download and b"text/html" in (
            request.getHeader(b"accept") or b""))
        if shot is None and not page:
            request.setHeader(b"vary", b"accept")
            request.setHeader(b"content-disposition", b'%s; filename="%s"'
                              % (b"attachment" if download else b"inline",
                                 segment))
            _finish_with(request, PhotoFile(path).render(request))
            return
        d = threads.deferToThreadPool(self.reactor,
                                      self.reactor.getThreadPool(),
                                      self._read_strip, path)
        if page:
            d.addCallback(self._page, request, segment)
        else:
            d.addCallback(self._shot, request, segment, shot, small,
                          download)
        d.addErrback(Reply(request).fail, "guest download")

    @staticmethod
    def _read_strip(path):
        metadata = read_metadata(path) or {}
        shots = metadata.get("shots")
        shots = [name for name in shots if isinstance(name, str)] \
            if isinstance(shots, list) else []
        return shots, os.stat(path).st_mtime

    def _page(self, strip, request, segment):
        shots, mtime = strip
        request.setHeader(b"vary", b"accept")
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        name = segment.decode("ascii")
        link = "/share/%s/%s" % (request.postpath[0].decode("ascii"), name)
        body = sharepage.render(
            link, name, len(shots), self.page.get("event_name"),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(mtime)),
            self.page.get("logo", False))
        _finish_with(request, body if request.method != b"HEAD" else b"")

    def _shot(self, strip, request, segment, shot, small, download):
        shots, _ = strip
        number = int(shot) if _DIGITS.match(shot) else 0
        path = (_photo_path(self.directory, shots[number - 1].encode(
            "ascii", "replace")) if 1 <= number <= len(shots) else None)
        if path is None or not _regular(path):
            self._not_found(request)
            return
        stem = segment.decode("ascii").rsplit(".", 1)[0]
        request.setHeader(b"content-disposition", b'%s; filename="%s-%d.jpg"'
                          % (b"attachment" if download else b"inline",
                             stem.encode("ascii"), number))
        if not small:
            _finish_with(request, PhotoFile(path).render(request))
            return
        reply = Reply(request)
        d = threads.deferToThreadPool(
            self.reactor, self.reactor.getThreadPool(),
            lambda: thumbnail(_read(path), self.SMALL_SIDE))
        d.addCallback(lambda data: reply.send(b"image/jpeg", data))
        d.addErrback(reply.fail, "a shot for the share page")

    @staticmethod
    def _key_of(path):
        return stored_key(path)

    def _not_found(self, request):
        return _json_error(request, 404, "no such strip: the link may be "
                           "mistyped, or the strip deleted")


class ThumbnailResource(resource.Resource):
    """
    C{GET /thumbnails/NAME}: photo C{NAME} at most L{SIDE} pixels a side,
    for the gallery. Made in a thread, two at a time (a gallery page asks
    for a few dozen at once, and live view needs the cores too), and the
    last L{CACHE} kept by name, size and time.
    """

    isLeaf = True
    SIDE = 400
    CACHE = 256

    def __init__(self, directory, reactor):
        resource.Resource.__init__(self)
        self.directory = os.path.abspath(directory)
        self.reactor = reactor
        self._made = OrderedDict()
        self._limit = defer.DeferredSemaphore(2)

    def render_GET(self, request):
        if len(request.postpath) != 1:
            return _json_error(request, 404, "no such photo")
        path = _photo_path(self.directory, request.postpath[0])
        if path is None:
            return _json_error(request, 404, "no such photo")
        reply = Reply(request)
        try:
            info = os.lstat(path)
        except OSError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            return _json_error(request, 404, "no such photo")
        stamp = (path, info.st_mtime_ns, info.st_size)

        def send(data):
            self._made[stamp] = data
            self._made.move_to_end(stamp)
            while len(self._made) > self.CACHE:
                self._made.popitem(last=False)
            reply.send(b"image/jpeg", data,
                       [(b"cache-control", b"private, max-age=60")])

        def failed(failure):
            if failure.check(OSError, SyntaxError, ValueError):
                send_json(reply, 422, {"error": "this photo cannot be "
                                       "shown as a thumbnail"})
                return
            return failure

        if stamp in self._made:
            send(self._made[stamp])
            return server.NOT_DONE_YET
        d = self._limit.run(
            threads.deferToThreadPool, self.reactor,
            self.reactor.getThreadPool(), self._make, path)
        d.addCallbacks(send, failed)
        d.addErrback(reply.fail, "thumbnail")
        return server.NOT_DONE_YET

    def _make(self, path):
        return thumbnail(_read(path), self.SIDE)
