# -*- test-case-name: tests.test_answers -*-
"""
One way to answer: text and JSON replies, error answers that show no
server paths, the no-cache headers, and L{Reply}, the answer a request
waits for while the camera works. Every resource of L{fourcut.web} answers
through here.
"""

import json
import os
import re
import sys
import tempfile

from twisted.logger import Logger
from twisted.web import http

from ..gphoto2 import CameraError
from ..settings import SettingError

__all__ = [
    "NO_CACHE", "NO_CACHE_HEADERS", "Reply", "fail", "hide_path",
    "hide_paths", "json_body", "no_cache", "os_error_text", "plain",
    "send_json",
]

log = Logger()

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


def json_body(value):
    return json.dumps(value, indent=1, sort_keys=True).encode("utf-8") + b"\n"


def send_json(reply, status, value):
    """
    Answer C{value} as JSON with C{status}; an error answer's C{error} and
    C{reason} show no server paths (L{hide_paths}).
    """
    if status >= 400 and isinstance(value, dict):
        value = {key: hide_paths(item) if key in ("error", "reason")
                 and isinstance(item, str) else item
                 for key, item in value.items()}
    if not (reply.gone or reply.done):
        reply.request.setResponseCode(status)
    reply.send(b"application/json", json_body(value), NO_CACHE_HEADERS)
