# -*- test-case-name: tests.web.test_errors,tests.integration.test_errors -*-
"""
One way to answer, for every resource of L{fourcut.web}: text and JSON
replies, the no-cache headers, L{Reply} (the answer a request waits for
while the camera works) and every error answer.

Errors come in one of two formats, decided by the first path segment
(L{error_format}), never by which resource or library noticed the error:

  - C{text/plain; charset=utf-8} and a one-line reason (gphoto2's own text
    for camera trouble) on seed 000's paths (C{/preview}, C{/snapshot},
    C{/capture}, C{/reset}, C{/cmd}), the page C{/} and any unknown path,
    as seed 000 documents;
  - C{application/json} C{{"error": REASON, "status": CODE}} on the
    REST/JSON paths (L{JSON_SEGMENTS}: seed 001's C{/status}, C{/health},
    C{/camera/...}, C{/ws}, and C{/photos}, C{/metrics}), and on C{/}
    unless the client prefers HTML (L{wants_json}).

L{Resource} answers every method itself (a 405 with the right C{Allow}
for the ones it does not take, C{OPTIONS} and CORS preflights), and
L{Request} catches what twisted.web would have answered with its HTML
pages (an unsupported method, an exception while rendering), so that no
answer is ever one of them. Error answers never show server paths
(L{hide_paths}) and are never empty.
"""

import json
import os
from http import HTTPStatus
import re
import sys
import tempfile

import mimeparse
from twisted.logger import Logger
from twisted.web import http, resource, server

from fourcut.errors import (SEED_INTERNAL_ERROR, CameraError, SettingError,
                            http_status, seed_error)
from fourcut.stream.internals import client_gone, response_started
from fourcut.web.cors import is_preflight

__all__ = [
    "JSON", "JSON_SEGMENTS", "NO_CACHE", "NO_CACHE_HEADERS", "NotFound",
    "Reply", "Request", "Resource", "TEXT", "error", "error_format", "fail",
    "hide_path", "hide_paths", "json_body", "method_not_allowed",
    "no_cache", "options", "os_error_text", "plain", "send_json",
    "wants_json",
]

log = Logger()

NO_CACHE = b"no-store, no-cache, must-revalidate, proxy-revalidate, max-age=0"

NO_CACHE_HEADERS = [
    (b"cache-control", NO_CACHE),
    (b"pragma", b"no-cache"),
    (b"expires", b"0"),
]

#: The two error formats.
TEXT = "text"
JSON = "json"

#: First path segments whose errors are JSON (L{fourcut.web.site} mounts
#: them): seed 001's, fourcut's own JSON ones, and the booth's API
#: (C{/sequence}, C{/share}, C{/thumbnails}; its pages C{/booth} and
#: C{/gallery} answer text).
JSON_SEGMENTS = frozenset([b"status", b"health", b"camera", b"photos",
                           b"metrics", b"ws", b"sequence", b"share",
                           b"thumbnails"])


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
    # An absolute path splits in two at least: "" and its top level ("",
    # for "/" itself).
    parts = os.path.abspath(directory).split(os.sep)
    if parts[1]:
        _SERVER_ROOTS.add(parts[1])
        _hidden_pattern = None


def _pattern():
    global _hidden_pattern
    if _hidden_pattern is None:
        for directory in (os.getcwd(), sys.prefix, sys.base_prefix,
                          sys.exec_prefix, tempfile.gettempdir(),
                          os.path.expanduser("~"), os.path.dirname(__file__)):
            parts = os.path.abspath(directory).split(os.sep)
            if parts[1]:
                _SERVER_ROOTS.add(parts[1])
        roots = "|".join(re.escape(root) for root in sorted(_SERVER_ROOTS))
        # A root is a whole name: /booth and /binary are not under /boot
        # and /bin.
        _hidden_pattern = re.compile(
            r"(?<![\w.:/-])/(?:%s)(?![^/\s'\"():;,<>])"
            r"(?:/[^\s'\"():;,<>]*)?" % (roots,))
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
        # A match starts with a root's whole name: never empty.
        name = match.group(0).rstrip("/").rsplit("/", 1)[-1]
        return ".../" + name
    return _pattern().sub(hide, text)


def os_error_text(error):
    """
    What an L{OSError} means, without the file name it carries.
    """
    return error.strerror or type(error).__name__


def no_cache(request):
    for name, value in NO_CACHE_HEADERS:
        request.setHeader(name, value)


def wants_json(request):
    """
    Whether C{request} to C{/} gets seed 001's JSON service status rather
    than the page: yes unless its C{Accept} prefers C{text/html} to
    C{application/json} (HTTP content negotiation, q-values and
    wildcards, by python-mimeparse). A browser (C{text/html,...,*/*;q=0.8})
    gets the page; no C{Accept}, C{*/*} (curl, Node's fetch) or a tie
    gets JSON. Media ranges that cannot be parsed are left out.
    """
    accept = (request.getHeader(b"accept") or b"").decode("latin-1")
    ranges = []
    for media_range in accept.split(","):
        try:
            mimeparse.parse_media_range(media_range)
        except (mimeparse.MimeTypeParseException, ValueError):
            continue
        ranges.append(media_range)
    return mimeparse.best_match(["text/html", "application/json"],
                                ",".join(ranges)) != "text/html"


def error_format(request):
    """
    L{JSON} or L{TEXT}: the format of C{request}'s error answers, by its
    first path segment (percent-decoded, as the resource tree sees it).
    """
    # (Every request that is answered has been through process(), which
    # splits its path: there is always a first segment, b"" for "/".)
    first = (request.prepath + request.postpath)[0]
    if first in JSON_SEGMENTS or (first == b"" and wants_json(request)):
        return JSON
    return TEXT


def _decoded(text):
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    return text


def plain(request, status, text, headers=()):
    """
    Finish C{request} with C{status} and C{text} as text/plain. Error
    answers (4xx, 5xx) show no server paths (L{hide_paths}) and are never
    empty.
    """
    if status >= 400:
        text = hide_paths(_decoded(text))
        if not text.strip():
            text = "fourcut: %d %s\n" % (status, _phrase(status))
    if not isinstance(text, bytes):
        text = text.encode("utf-8", "replace")
    _finish(request, status, b"text/plain; charset=utf-8", text, headers)


def json_body(value):
    return json.dumps(value, indent=1, sort_keys=True).encode("utf-8") + b"\n"


def _json_error(status, message, fields):
    message = hide_paths(_decoded(message)).strip()
    if not message:
        message = "%d %s" % (status, _phrase(status))
    # (An "error" field would be replaced by the message.)
    body = {key: hide_paths(value) if key == "reason"
            and isinstance(value, str) else value
            for key, value in fields.items()}
    body.update({"error": message, "status": status})
    return json_body(body)


def _reason(status):
    """
    The reason phrase of C{status}: twisted.web's, else the standard
    library's (twisted.web has none for 426, and says "Unknown Status").
    """
    phrase = http.RESPONSES.get(status)
    if phrase is None:
        try:
            phrase = HTTPStatus(status).phrase.encode("ascii")
        except ValueError:
            phrase = b"Unknown Status"
    return phrase


def _phrase(status):
    return _reason(status).decode("ascii", "replace")


def _finish(request, status, content_type, body, headers=()):
    request.setResponseCode(status, _reason(status))
    request.setHeader(b"content-type", content_type)
    request.setHeader(b"content-length", b"%d" % len(body))
    for name, value in headers:
        request.setHeader(name, value)
    request.write(body)
    request.finish()


def error(request, status, message, headers=(), **fields):
    """
    Finish C{request} with an error answer in its path's format
    (L{error_format}): C{message} as text/plain, or
    C{{"error": message, "status": status}} (and C{fields}) as JSON.

    @param headers: C{(name, value)} pairs to send with it (C{Allow},
        C{WWW-Authenticate}, ...).
    """
    headers = [(b"cache-control", b"no-store")] + list(headers)
    if error_format(request) == JSON:
        _finish(request, status, b"application/json",
                _json_error(status, message, fields), headers)
    else:
        text = _decoded(message)
        if not text.endswith("\n"):
            text += "\n"
        plain(request, status, text, headers)


def fail(request, failure, what, seed=None):
    """
    Answer a failed camera operation with the status L{http_status} gives
    it: gphoto2's text for camera trouble (503/504) and for a request it
    refused (400), the reason for a setting refused (400) or a photo that
    could not be saved (507, 500), and a logged 500 for anything else.

    @param seed: for seed 000's C{/preview} and C{/capture}, the operation
        (L{fourcut.errors.SEED_PREVIEW}, L{fourcut.errors.SEED_CAPTURE}):
        the camera trouble the seed shows answers the seed's body
        (L{fourcut.errors.seed_error}), a bug the seed's HTML page.
    """
    # Without a seed, or for anything but camera trouble, the error
    # itself.
    value = seed_error(seed, failure.value)
    if value is not failure.value:
        log.info("{what} failed: {said}; answered with seed 000's "
                 "{status}", what=what, said=value.said.strip(),
                 status=value.status)
    status = http_status(value)
    extra = {}
    if failure.check(CameraError):
        text = value.text
    elif failure.check(SettingError):
        text = "fourcut: %s" % (value,)
        extra = {key: item for key, item in value.details.items()
                 if key in ("choices", "range", "reason")}
    elif failure.check(OSError):
        log.failure("{what} could not be saved", failure, what=what)
        text = ("fourcut: the photo could not be saved: %s"
                % (os_error_text(value),))
    else:
        log.failure("{what} failed", failure, what=what)
        if seed is not None:
            _finish(request, status, b"text/html; charset=utf-8",
                    SEED_INTERNAL_ERROR.encode("utf-8"),
                    [(b"cache-control", b"no-store")])
            return
        text = "fourcut: internal error; see the server log"
    error(request, status, text, **extra)


def send_json(reply, status, value):
    """
    Answer C{value} as JSON with C{status}; an error answer's C{error} and
    C{reason} show no server paths (L{hide_paths}).
    """
    if status >= 400 and isinstance(value, dict):
        value = {key: hide_paths(item) if key in ("error", "reason")
                 and isinstance(item, str) else item
                 for key, item in value.items()}
    if reply.open:
        reply.request.setResponseCode(status)
    reply.send(b"application/json", json_body(value), NO_CACHE_HEADERS)


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

    @property
    def open(self):
        """
        Whether the answer may still be sent (once).
        """
        return not (self.gone or self.done)

    def plain(self, status, text):
        if self.open:
            self.done = True
            plain(self.request, status, text)

    def error(self, status, message, headers=(), **fields):
        """
        See L{error}.
        """
        if self.open:
            self.done = True
            error(self.request, status, message, headers, **fields)

    def fail(self, failure, what, seed=None):
        if self.open:
            self.done = True
            fail(self.request, failure, what, seed)
        elif not failure.check(CameraError):
            log.failure("{what} failed (client gone)", failure, what=what)

    def send(self, content_type, body, headers=()):
        """
        Finish with C{body}, its length and type, and C{headers}.
        """
        if self.open:
            self.done = True
            _finish(self.request, self.request.code, content_type, body,
                    headers)


def _shown_path(request):
    # Masked as the access log masks it (the site's redact, when the
    # request came through fourcut's site): a token in a path is never
    # logged.
    site = getattr(getattr(request, "channel", None), "site", None)
    redact = getattr(site, "redact", None)
    path = redact(request.path) if redact is not None else request.path
    text = path[:200].decode("ascii", "backslashreplace")
    return "".join(c if c.isprintable() else "?" for c in text)


def method_not_allowed(request, methods):
    """
    The 405 for C{request} on a path that answers C{methods}; its C{Allow}
    lists them (and C{OPTIONS}, which every path answers).
    """
    allow = b", ".join(list(methods) + [b"OPTIONS"])
    error(request, http.NOT_ALLOWED,
          "fourcut: %s is not allowed on %s; use %s" % (
              request.method[:20].decode("ascii", "backslashreplace"),
              _shown_path(request),
              " or ".join(m.decode("ascii") for m in methods)),
          headers=[(b"allow", allow)])
    return server.NOT_DONE_YET


def options(request, methods):
    """
    Answer C{OPTIONS} on a path that answers C{methods}: a CORS preflight
    from an origin in C{server.cors_origins} gets the methods and headers
    it may use, one from another origin a 403 saying what to configure,
    and a plain C{OPTIONS} the path's C{Allow}.
    """
    allow = list(methods) + [b"OPTIONS"]
    cors = cors_of(request)
    if is_preflight(request):
        origin = request.getHeader(b"origin")
        if cors is None or not cors.allows(origin):
            refusal = (cors.refusal(origin) if cors is not None else
                       "fourcut: cross-origin requests are not configured")
            error(request, http.FORBIDDEN, refusal)
            return server.NOT_DONE_YET
        headers = cors.preflight_headers(request, allow)
    else:
        headers = [(b"allow", b", ".join(allow))]
    request.setResponseCode(http.NO_CONTENT)
    for name, value in headers:
        request.setHeader(name, value)
    request.setHeader(b"content-length", b"0")
    request.finish()
    return server.NOT_DONE_YET


def cors_of(request):
    """
    The site's L{fourcut.web.cors.CORSPolicy}, or L{None}.
    """
    return getattr(getattr(request, "site", None), "cors", None)


class Resource(resource.Resource):
    """
    A resource that answers every method itself: those in L{methods} with
    its C{render_METHOD} (C{HEAD} with C{render_GET} if it has no
    C{render_HEAD}: twisted.web sends no body for a HEAD), C{OPTIONS} with
    L{options}, and any other (C{PUT}, C{DELETE}, C{PATCH}, ...) with a 405
    naming L{methods} in C{Allow}. (twisted.web itself answers C{Allow:
    HEAD, GET} where HEAD is refused, and a 501 HTML page for methods it
    does not know.)

    A leaf answers only its own path (and the same with a trailing
    C{/}): below it is a 404, unless it says it serves what is below it
    (L{subpaths}, C{/photos/NAME}).

    @cvar methods: the methods this path answers, in C{Allow} order.
    @cvar subpaths: whether a leaf answers the paths below it itself.
    """

    methods = (b"GET", b"HEAD")
    subpaths = False

    def render(self, request):
        if (self.isLeaf and not self.subpaths
                and request.postpath not in ([], [b""])):
            return NotFound().render(request)
        method = request.method
        if method == b"OPTIONS":
            return options(request, self.methods)
        if method not in self.methods:
            return method_not_allowed(request, self.methods)
        name = "render_" + method.decode("ascii")
        handler = getattr(self, name, None)
        if handler is None and method == b"HEAD":
            handler = getattr(self, "render_GET", None)
        if handler is None:
            return method_not_allowed(request, self.methods)
        return handler(request)

    def getChild(self, name, request):
        # twisted.web's is its HTML 404 page.
        return NotFound()


class NotFound(Resource):
    """
    The 404 for a path fourcut does not have, whatever the method.
    """

    isLeaf = True

    def render(self, request):
        error(request, http.NOT_FOUND, "fourcut: no such path: %s"
              % (_shown_path(request),))
        return server.NOT_DONE_YET


class _MethodsAnswered:
    """
    A resource that is not one of ours (a static file, say), rendered with
    a 405 in fourcut's format where it raises
    L{resource.UnsupportedMethod}, instead of twisted.web's HTML page.
    """

    def __init__(self, wrapped):
        self.wrapped = wrapped

    def render(self, request):
        try:
            return self.wrapped.render(request)
        except resource.UnsupportedMethod as e:
            # (Never for a HEAD where GET is allowed: twisted.web's
            # Resource and static.File answer HEAD as GET themselves.)
            # (No such resource answers OPTIONS itself: twisted.web's
            # Resource and static.File list what they render, never it.)
            return method_not_allowed(request, e.allowedMethods)

    def __repr__(self):
        return repr(self.wrapped)


class Request(server.Request):
    """
    The site's requests: every answer in fourcut's formats, never one of
    twisted.web's HTML pages, and the CORS headers for a listed origin.
    """

    def process(self):
        # (Always fourcut's Site, which has one, or None.)
        cors = self.channel.site.cors
        if cors is not None:
            cors.add_headers(self)
        server.Request.process(self)

    def render(self, resrc):
        server.Request.render(self, _MethodsAnswered(resrc))

    def processingFailed(self, reason):
        log.failure("{method} {path} failed", reason,
                    method=self.method[:20].decode("ascii", "replace"),
                    path=_shown_path(self))
        if self.finished or client_gone(self):
            return reason
        if response_started(self):
            # Too late for an answer: end what was sent.
            self.channel.loseConnection()
            return reason
        error(self, http.INTERNAL_SERVER_ERROR,
              "fourcut: internal error; see the server log")
        return reason
