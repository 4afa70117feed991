"""
One error format (L{fourcut.web.replies}, L{fourcut.errors}), over the whole
site in memory: every error a client can provoke is text/plain with a
one-line reason on seed 000's paths and JSON C{{"error": ..., "status":
...}} on the REST/JSON paths, never one of twisted.web's HTML pages;
C{Allow} names what the path takes; a client's mistake that gphoto2
refuses is a 400, camera trouble stays a 503/504; no answer names a path
on the server.
"""

import json
import os
import re

from twisted.internet import defer
from twisted.internet.error import ConnectionDone
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyChannel, DummyRequest

from fourcut.web import replies
from fourcut.errors import (SEED_INTERNAL_ERROR, SEED_NO_CAMERA, CameraError,
                            SettingError, client_mistake,
                            http_status)

from tests.support.access import TOKEN, bearer
from tests.support.answers import JSON, TEXT, check_error
from tests.support import ROOT
from tests.support.fakes import BAD_PARAMETERS, NO_CAMERA_TEXT
from tests.support.memory import MemorySite


#: (method, path, request headers, status, content type, Allow or None,
#: a fragment of the reason)
ERRORS = [
    ("GET", "/nosuch", {}, 404, TEXT, None, "no such path: /nosuch"),
    ("GET", "/preview/x", {}, 404, TEXT, None, "no such path"),
    ("GET", "/camera", {}, 404, JSON, None, "no such path: /camera"),
    ("GET", "/camera/nosuch", {}, 404, JSON, None, "no such path"),
    ("GET", "/photos/nosuch.jpg", {}, 404, JSON, None, "no such photo"),
    ("POST", "/capture", {}, 405, TEXT, "GET, OPTIONS", "use GET"),
    ("DELETE", "/capture", {}, 405, TEXT, "GET, OPTIONS", "DELETE"),
    ("PUT", "/preview", {}, 405, TEXT, "GET, HEAD, OPTIONS", "PUT"),
    ("PATCH", "/snapshot", {}, 405, TEXT, "GET, HEAD, OPTIONS", "PATCH"),
    ("PUT", "/reset", {}, 405, TEXT, "GET, OPTIONS", "PUT"),
    ("POST", "/cmd?arg=--version", {}, 405, TEXT, "GET, OPTIONS", "POST"),
    ("POST", "/", {"Accept": ["text/html"]}, 405, TEXT, "GET, HEAD, OPTIONS",
     "POST"),
    ("POST", "/", {}, 405, JSON, "GET, HEAD, OPTIONS", "POST"),
    ("POST", "/", {"Accept": ["application/json"]}, 405, JSON,
     "GET, HEAD, OPTIONS", "POST"),
    ("POST", "/status", {}, 405, JSON, "GET, HEAD, OPTIONS", "POST"),
    ("DELETE", "/health", {}, 405, JSON, "GET, HEAD, OPTIONS", "DELETE"),
    ("PUT", "/camera/info", {}, 405, JSON, "GET, HEAD, OPTIONS", "PUT"),
    ("GET", "/camera/restart", {}, 405, JSON, "POST, OPTIONS", "use POST"),
    ("PATCH", "/photos", {}, 405, JSON, "GET, HEAD, OPTIONS", "PATCH"),
    ("DELETE", "/photos/a.jpg", {}, 405, JSON, "GET, HEAD, OPTIONS",
     "DELETE"),
    ("PUT", "/metrics", {}, 405, JSON, "GET, HEAD, OPTIONS", "PUT"),
    ("POST", "/ws", {}, 405, JSON, "GET, OPTIONS", "POST"),
    ("GET", "/ws", {}, 426, JSON, None, "WebSocket"),
    ("FROB", "/status", {}, 405, JSON, "GET, HEAD, OPTIONS", "FROB"),
    ("GET", "/preview?timeout=abc", {}, 400, TEXT, None, "timeout"),
    ("GET", "/preview?timeout=-1", {}, 400, TEXT, None, "timeout"),
    ("GET", "/preview?timeout=nan", {}, 400, TEXT, None, "timeout"),
    ("GET", "/cmd?arg=--hook-script=x", {}, 400, TEXT, None,
     "--hook-script"),
    ("GET", "/cmd?arg=--hook-script=/bin/sh", {}, 400, TEXT, None,
     "allowed:"),
    ("GET", "/cmd?arg=-a&arg=-L", {}, 400, TEXT, None, "allowed:"),
    ("GET", "/cmd?arg=--port=usb:", {}, 400, TEXT, None, "allowed:"),
    ("GET", "/cmd", {}, 400, TEXT, None, "arg"),
    ("GET", "/photos?limit=0", {}, 400, JSON, None, "limit"),
    # The booth's paths: its pages answer text, its API JSON.
    ("GET", "/booth/nosuch.js", {}, 404, TEXT, None, "no such path"),
    ("GET", "/sequence", {}, 405, JSON, "POST, OPTIONS", "use POST"),
    ("DELETE", "/sequence", {}, 405, JSON, "POST, OPTIONS", "DELETE"),
    ("GET", "/thumbnails/nosuch.jpg", {}, 404, JSON, None, "no such photo"),
]

#: A path under a directory this server's files are in.
SERVER_PATH = re.compile(rb"/(?:usr|lib|tmp|home|root|var|opt|etc|srv|%s)/"
                         % re.escape(os.getcwd().split(os.sep)[1].encode()))


class ErrorTestCase(SynchronousTestCase):
    config = None

    def setUp(self):
        self.site = MemorySite(self, self.config)
        self.session = self.site.session

    def request(self, method, path, headers=None):
        return self.site.response(method, path, headers)

    def assertError(self, response, code, content_type, fragment, what=""):
        """
        See L{check_error}; and no cache keeps an error answer, whose JSON
        is indented and its keys sorted, as every JSON answer of fourcut's.
        """
        body = self.site.content(response)
        self.assertEqual(response.headers.getRawHeaders("cache-control"),
                         ["no-store"], what)
        if content_type == JSON:
            self.assertEqual(body, json.dumps(
                json.loads(body), indent=1, sort_keys=True).encode("utf-8")
                + b"\n", what)
        return check_error(self, response, body, code, content_type,
                           fragment, what)

    def assertNoServerPath(self, body):
        if isinstance(body, str):
            body = body.encode("utf-8")
        for path in (self.site.photos, os.getcwd(), ROOT):
            self.assertNotIn(path.encode("utf-8"), body)
        self.assertIsNone(SERVER_PATH.search(body), body)


class ErrorFormatTests(ErrorTestCase):
    def test_every_error_path(self):
        for method, path, headers, code, kind, allow, fragment in ERRORS:
            what = (method, path)
            response = self.request(method, path, headers)
            reason = self.assertError(response, code, kind, fragment, what)
            if kind == TEXT:
                self.assertEqual(reason.count("\n"), 1, what)
            self.assertEqual(response.headers.getRawHeaders("allow"),
                             None if allow is None else [allow], what)
        # None of it reached the camera.
        self.assertEqual(self.session.calls, [])

    def test_head_refused_without_a_body(self):
        """
        A C{HEAD} never acts on the camera: a 405 without a body.
        """
        for path, allow in [("/capture", "GET, OPTIONS"),
                            ("/reset", "GET, OPTIONS"),
                            ("/cmd?arg=--summary", "GET, OPTIONS"),
                            ("/camera/restart", "POST, OPTIONS"),
                            ("/ws", "GET, OPTIONS")]:
            response = self.request("HEAD", path)
            self.assertEqual(response.code, 405, path)
            self.assertEqual(response.headers.getRawHeaders("allow"),
                             [allow], path)
            self.assertEqual(self.site.content(response), b"", path)
        self.assertEqual(self.session.calls, [])

    def test_head_where_get_is_allowed(self):
        for path, content_type in [("/", JSON),
                                   ("/status", JSON), ("/photos", JSON),
                                   ("/preview", "multipart/x-mixed-replace;"
                                    " boundary=frame")]:
            response = self.request("HEAD", path)
            self.assertEqual(response.code, 200, path)
            self.assertEqual(response.headers.getRawHeaders("content-type"),
                             [content_type], path)
            self.assertEqual(self.site.content(response), b"", path)
        # HEAD /preview answered its headers without starting live view.
        self.assertEqual(self.site.broadcaster.demand, 0)
        self.assertEqual(self.session.calls, [])

    def test_options(self):
        for path, allow in [("/capture", "GET, OPTIONS"),
                            ("/status", "GET, HEAD, OPTIONS"),
                            ("/camera/restart", "POST, OPTIONS")]:
            response = self.request("OPTIONS", path)
            self.assertEqual(response.code, 204, path)
            self.assertEqual(response.headers.getRawHeaders("allow"),
                             [allow], path)
            self.assertEqual(self.site.content(response), b"")
        response = self.request("OPTIONS", "/nosuch")
        self.assertError(response, 404, TEXT, "no such path",
                         "OPTIONS /nosuch")


class CameraErrorTests(ErrorTestCase):
    """
    What the session's failures become, with gphoto2's own texts.
    """

    def test_camera_trouble_stays_503_and_504(self):
        self.session.unplug()
        response = self.request("GET", "/capture")
        self.assertError(response, 503, TEXT, "Could not detect any camera",
                         "capture, unplugged")
        response = self.request("GET", "/camera/info")
        reason = self.assertError(response, 504, JSON,
                                  "Could not detect any camera",
                                  "camera info, no camera")
        self.assertNotIn("\n\n", reason)
        response = self.request("GET", "/preview")
        self.assertError(response, 504, TEXT, SEED_NO_CAMERA,
                         "preview, no camera")
        self.assertEqual(self.site.broadcaster.demand, 0)

    def test_reason_phrase_twisted_webs(self):
        """
        A status line's reason is twisted.web's (the standard library's
        only where it has none): "Gateway Time-out".
        """
        self.session.unplug()
        client = self.site.raw(b"GET /camera/info HTTP/1.1\r\nHost: x\r\n"
                               b"\r\n")
        status, headers, body = client.response()
        self.assertEqual(status, b"HTTP/1.1 504 Gateway Time-out")

    def test_refused_value_is_400(self):
        """
        A setting the camera does not know, through C{/cmd}: a 400 with
        gphoto2's text (it was a 503, "unavailable").
        """
        response = self.request("GET", "/cmd?arg=--get-config=nosuch")
        self.assertError(response, 400, TEXT, "Bad parameters")
        self.session.fail_next("command", CameraError(503, BAD_PARAMETERS))
        response = self.request("GET", "/cmd?arg=--set-config-index=iso=999")
        self.assertError(response, 400, TEXT, "Bad parameters")

    def test_refused_setting_name(self):
        """
        A setting no client may change, refused by the session's policy.
        """
        self.session.fail_next("command", SettingError("not allowed: x"))
        response = self.request("GET", "/cmd?arg=--get-config=iso")
        self.assertError(response, 400, TEXT, "not allowed: x")

    def test_photo_that_cannot_be_saved(self):
        """
        The photos directory is a file: the capture's 500 says why without
        naming the path; so does the listing's error.
        """
        os.rmdir(self.site.photos)
        with open(self.site.photos, "w") as f:
            f.write("not a directory\n")
        response = self.request("GET", "/capture")
        reason = self.assertError(response, 500, TEXT, "could not be saved")
        self.assertNoServerPath(reason)
        response = self.request("GET", "/photos")
        self.assertEqual(response.code, 500)
        self.assertNoServerPath(self.site.content(response))
        self.flushLoggedErrors(OSError)

    def test_full_disk_is_507(self):
        self.session.fail_next("capture", OSError(28, "No space left on "
                                                  "device", self.site.photos))
        response = self.request("GET", "/capture")
        reason = self.assertError(response, 507, TEXT, "No space left")
        self.assertNoServerPath(reason)
        self.flushLoggedErrors(OSError)

    def test_camera_text_with_paths(self):
        """
        Text from a child (a Python traceback from the settings helper,
        say) reaches the client without the paths in it, in text and in
        JSON.
        """
        here = os.path.abspath(__file__)
        text = ('Traceback (most recent call last):\n  File "%s", line 1\n'
                "OSError: [Errno 5] I/O error: '%s/x'\n"
                "no setting /main/imgsettings/nosuch\n"
                % (here, self.site.photos))
        self.session.fail_next("capture", CameraError(503, text))
        response = self.request("GET", "/capture")
        self.assertEqual(response.code, 503)
        body = self.site.content(response)
        self.assertNoServerPath(body)
        self.assertIn(b"test_errors.py", body)
        # A camera setting's name is not a path on the server.
        self.assertIn(b"/main/imgsettings/nosuch", body)
        self.session.fail_next("refresh_info", CameraError(503, text))
        response = self.request("GET", "/camera/info")
        reason = self.assertError(response, 503, JSON, "test_errors.py")
        self.assertNoServerPath(reason)
        self.assertIn("/main/imgsettings/nosuch", reason)
        self.session.fail_next("restart", CameraError(503, text))
        response = self.request("POST", "/camera/restart")
        reason = self.assertError(response, 503, JSON, "I/O error")
        self.assertNoServerPath(reason)


class InternalErrorTests(ErrorTestCase):
    """
    An exception while rendering, or a failed L{Deferred} of another kind
    than fourcut's own errors: a 500 in the path's format, the reason not
    shown, the traceback logged; the next request is served.
    """

    def test_exception_in_render(self):
        def broken(*args):
            raise ZeroDivisionError("secret detail")

        self.patch(self.site.status, "status", broken)
        self.patch(self.session, "reset", broken)
        response = self.request("GET", "/status")
        reason = self.assertError(response, 500, JSON, "internal error",
                                  "/status")
        self.assertNotIn("secret", reason)
        response = self.request("GET", "/reset")
        reason = self.assertError(response, 500, TEXT, "internal error",
                                  "/reset")
        self.assertNotIn("secret", reason)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 2)
        response = self.request("GET", "/cmd?arg=--version")
        self.assertEqual(response.code, 200)
        self.site.content(response)

    def test_failed_deferred(self):
        self.patch(self.session, "restart",
                   lambda: defer.fail(RuntimeError("boom")))
        response = self.request("POST", "/camera/restart")
        reason = self.assertError(response, 500, JSON, "internal error",
                                  "restart")
        self.assertNotIn("boom", reason)
        # Seed 000's /capture and /preview answer a bug with the seed's
        # page.
        for method, path in [("capture", "/capture"),
                             ("live_view_ready", "/preview")]:
            self.session.fail_next(method, RuntimeError("boom"))
            response = self.request("GET", path)
            self.assertEqual(response.code, 500, path)
            self.assertEqual(response.headers.getRawHeaders("content-type"),
                             ["text/html; charset=utf-8"], path)
            self.assertEqual(response.headers.getRawHeaders(
                "cache-control"), ["no-store"], path)
            self.assertEqual(self.site.content(response).decode(),
                             SEED_INTERNAL_ERROR, path)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 3)


class MoreErrorTests(ErrorTestCase):
    """
    What else an error answer promises: the seed's answer logged with
    gphoto2's own words, a token in the path never shown, bytes that are
    not UTF-8, a leaf's path with a trailing slash, a resource that is not
    fourcut's.
    """

    config = {"access": {"token": TOKEN}}

    def setUp(self):
        ErrorTestCase.setUp(self)
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def said(self):
        return [formatEvent(e) for e in self.events
                if e.get("log_namespace") == "fourcut.web.replies"]

    def test_seed_answer_logged(self):
        """
        Seed 000's body for camera trouble on C{/capture}; the log keeps
        what gphoto2 said.
        """
        self.session.unplug()
        response = self.request("GET", "/capture", bearer(TOKEN))
        self.assertError(response, 503, TEXT, "Could not detect",
                         "capture, unplugged")
        self.assertEqual(self.said(), [
            "capture failed: " + NO_CAMERA_TEXT.strip()
            + "; answered with seed 000's 503"])

    def test_token_in_the_path_not_shown(self):
        """
        Masked as in the access log.
        """
        response = self.request("GET", "/nosuch/" + TOKEN, bearer(TOKEN))
        reason = self.assertError(response, 404, TEXT,
                                  "no such path: /nosuch/***\n", "404")
        self.assertNotIn(TOKEN, reason)

    def test_not_utf8(self):
        request = Request([b"capture"])
        replies.error(request, 503, b"gphoto2: \xff\xfe odd")
        self.assertEqual(b"".join(request.written),
                         "gphoto2: \ufffd\ufffd odd\n".encode("utf-8"))

    def test_trailing_slash(self):
        response = self.request("GET", "/health/")
        self.assertEqual(response.code, 200)
        self.site.content(response)

    def test_resource_not_ours(self):
        """
        A method that a resource of twisted.web's own kind (the booth's
        page) does not take: fourcut's 405, naming what it takes.
        """
        response = self.request("DELETE", "/booth/")
        reason = self.assertError(response, 405, TEXT, "", "DELETE /booth/")
        self.assertEqual(reason, "fourcut: DELETE is not allowed on /booth/; "
                         "use HEAD or GET\n")
        self.assertEqual(response.headers.getRawHeaders("allow"),
                         ["HEAD, GET, OPTIONS"])
        response = self.request("HEAD", "/booth/")
        self.assertEqual(response.code, 200)
        self.assertEqual(self.site.content(response), b"")

    def test_long_method_failed(self):
        """
        A method name is logged at most 20 characters long when its
        request fails.
        """
        def broken(self, request):
            raise ZeroDivisionError()
        self.patch(replies.Resource, "render", broken)
        client = self.site.raw(b"ABCDEFGHIJKLMNOPQRSTUVWXY /status HTTP/1.1"
                               b"\r\nHost: x\r\nAuthorization: Bearer "
                               + TOKEN.encode() + b"\r\n\r\n")
        self.assertIn(b" 500 ", client.data.split(b"\r\n")[0])
        self.assertIn("ABCDEFGHIJKLMNOPQRST /status failed", self.said())
        self.flushLoggedErrors(ZeroDivisionError)


class ClassificationTests(SynchronousTestCase):
    """
    L{http_status} and L{client_mistake}: gphoto2's words for a refused
    request are the client's mistake, camera trouble wins over them.
    """

    MISTAKES = [
        "\n*** Error ***\nChoice 999 not found within list of choices.\n"
        "*** Error (-2: 'Bad parameters') ***\n",
        "\n*** Error ***\nParsing the value of widget 'ISO Speed' / 0xd103 "
        "failed with -1.\n\n*** Error ***\nFailed to set new configuration "
        "value 12345 for configuration entry iso.\n*** Error (-1: "
        "'Unspecified error') ***\n",
        "\n*** Error ***\nnosuch not found in configuration tree.\n"
        "*** Error (-1: 'Unspecified error') ***\n",
        # A Canon EOS: --get-config=nosuch, --set-config-index=iso=999.
        BAD_PARAMETERS,
    ]

    TROUBLE = [
        "*** Error: No camera found. ***\n",
        NO_CAMERA_TEXT,
        "*** Error ***\nAn error occurred in the io-library ('Could not "
        "claim the USB device'): Could not claim interface 0 (Device or "
        "resource busy).\n",
        "Failed to set new configuration value 800 for configuration entry "
        "iso.\n*** Error (-110: 'I/O in progress') ***\n",
        "fourcut: command failed: gphoto2 was ended by SIGSEGV without a "
        "message\n",
        "fourcut: command overran its 30s deadline\n",
    ]

    def test_mistakes(self):
        for text in self.MISTAKES:
            self.assertTrue(client_mistake(text), text)
            self.assertEqual(http_status(CameraError(503, text)), 400)

    def test_trouble(self):
        for text in self.TROUBLE:
            self.assertFalse(client_mistake(text), text)
            self.assertEqual(http_status(CameraError(503, text)), 503)
        self.assertEqual(http_status(CameraError(504, self.TROUBLE[0])), 504)

    def test_other_errors(self):
        self.assertEqual(http_status(SettingError("no such setting")), 400)
        self.assertEqual(http_status(OSError(28, "No space left on device")),
                         507)
        self.assertEqual(http_status(OSError(17, "File exists")), 500)
        self.assertEqual(http_status(RuntimeError("bug")), 500)


class Request(DummyRequest):
    """
    A C{DummyRequest} whose C{code} is the status set, as twisted.web's.
    """

    @property
    def code(self):
        return self.responseCode


class PathHidingTests(SynchronousTestCase):
    """
    No reply family shows a server path: L{replies.error} in text and in
    JSON (its message and its C{reason}), L{replies.plain},
    L{replies.send_json}, and L{replies.Reply}, each checked on its own
    with a C{DummyRequest} (the WebSocket's: L{tests.web.test_ws}).
    """

    #: A child's traceback naming paths under this checkout, Python and
    #: /tmp, and a camera setting (not a path).
    TEXT = ('Traceback (most recent call last):\n  File "%s", line 1\n'
            "OSError: [Errno 5] I/O error: '/tmp/photos/x.jpg'\n"
            "  File \"%s\"\nno setting /main/imgsettings/nosuch\n"
            % (os.path.abspath(__file__), os.__file__))
    HIDDEN = ('Traceback (most recent call last):\n  File ".../test_errors'
              '.py", line 1\nOSError: [Errno 5] I/O error: \'.../x.jpg\'\n'
              "  File \".../os.py\"\nno setting /main/imgsettings/nosuch")

    def request(self, path):
        request = Request(path.lstrip(b"/").split(b"/"))
        request.path = path
        return request

    def body(self, request):
        self.assertTrue(request.finished)
        return b"".join(request.written).decode("utf-8")

    def test_hide_paths(self):
        for text, shown in [
                (self.TEXT, self.HIDDEN + "\n"),
                ("/usr/lib/python3/x.py:3", ".../x.py:3"),
                ("at /home/guest/ and /var", "at .../guest and .../var"),
                ("(/srv/a.jpg)", "(.../a.jpg)"),
                ("/", "/"), ("/tmp/", ".../tmp"),
                ("/main/imgsettings/iso", "/main/imgsettings/iso"),
                ("a/usr/lib b.c/usr/x http://x/usr/y", "a/usr/lib b.c/usr/x "
                 "http://x/usr/y"),
                ("'/etc/passwd';/root/x,", "'.../passwd';.../x,"),
                ("/booth/ /binary /usr/x /var", "/booth/ /binary .../x "
                 ".../var"), ("/tmp/FAX//", ".../FAX")]:
            self.assertEqual(replies.hide_paths(text), shown, text)

    def test_hide_path(self):
        """
        A directory named in the configuration (the photos) is hidden from
        then on, with everything under its top-level directory.
        """
        self.addCleanup(replies._SERVER_ROOTS.discard, "fourcutphotos")
        self.assertEqual(replies.hide_paths("/fourcutphotos/a/b.jpg"),
                         "/fourcutphotos/a/b.jpg")
        replies.hide_path("/fourcutphotos/a")
        self.assertEqual(replies.hide_paths("/fourcutphotos/c.jpg x"),
                         ".../c.jpg x")
        replies.hide_path("relative")
        self.assertEqual(replies.hide_paths(os.path.abspath("x/y.jpg")),
                         ".../y.jpg")

    def test_home_and_top_level_directories(self):
        """
        A home directory, or a photos directory, right under C{/} is
        hidden too.
        """
        for name in ("fourcuthome", "fourcuttop"):
            self.addCleanup(replies._SERVER_ROOTS.discard, name)
        self.addCleanup(setattr, replies, "_hidden_pattern", None)
        home = os.environ.get("HOME")
        if home is None:
            self.addCleanup(os.environ.pop, "HOME", None)
        else:
            self.addCleanup(os.environ.__setitem__, "HOME", home)
        os.environ["HOME"] = "/"
        replies._hidden_pattern = None
        self.assertEqual(replies.hide_paths("a / b"), "a / b")
        os.environ["HOME"] = "/fourcuthome"
        replies._hidden_pattern = None
        self.assertEqual(replies.hide_paths("/fourcuthome/x.jpg"),
                         ".../x.jpg")
        replies.hide_path("/fourcuttop")
        self.assertEqual(replies.hide_paths("/fourcuttop/y.jpg"),
                         ".../y.jpg")

    def test_text_error(self):
        request = self.request(b"/capture")
        replies.error(request, 503, self.TEXT)
        self.assertEqual(request.responseCode, 503)
        self.assertEqual(self.body(request), self.HIDDEN + "\n")

    def test_json_error(self):
        """
        A JSON error hides paths in its message and in its C{reason} and
        C{error} fields; other fields go as they are.
        """
        request = self.request(b"/camera/restart")
        replies.error(request, 503, self.TEXT + "  ", reason=self.TEXT,
                      choices=["/usr/x"], range=None, current="/usr/z")
        self.assertEqual(request.responseCode, 503)
        self.assertEqual(request.responseHeaders.getRawHeaders(
            b"content-type"), [b"application/json"])
        self.assertEqual(json.loads(self.body(request)), {
            "error": self.HIDDEN, "status": 503,
            "reason": self.HIDDEN + "\n", "choices": ["/usr/x"],
            "range": None, "current": "/usr/z"})

    def test_json_error_never_empty(self):
        for message in ("", "  \n", b""):
            request = self.request(b"/status")
            replies.error(request, 503, message, error="/tmp/x")
            self.assertEqual(json.loads(self.body(request)), {
                "error": "503 Service Unavailable", "status": 503})
        request = self.request(b"/status")
        replies.error(request, 599, "")
        # No phrase anywhere for 599: twisted.web's stand-in.
        self.assertEqual(json.loads(self.body(request))["error"],
                         "599 Unknown Status")

    def test_plain(self):
        """
        Only error answers are cleaned: a 200's text is the client's own.
        """
        request = self.request(b"/cmd")
        replies.plain(request, 400, self.TEXT.encode("utf-8"))
        self.assertEqual(self.body(request), self.HIDDEN + "\n")
        request = self.request(b"/cmd")
        replies.plain(request, 200, "/usr/bin/gphoto2\n")
        self.assertEqual(self.body(request), "/usr/bin/gphoto2\n")
        request = self.request(b"/cmd")
        replies.plain(request, 500, "no such file: \udcff.jpg\n")
        self.assertEqual(self.body(request), "no such file: ?.jpg\n")
        request = self.request(b"/cmd")
        replies.plain(request, 500, " \n")
        self.assertEqual(self.body(request),
                         "fourcut: 500 Internal Server Error\n")

    def test_send_json(self):
        request = self.request(b"/camera/config")
        reply = replies.Reply(request)
        replies.send_json(reply, 400, {"error": self.TEXT,
                                       "reason": "/usr/x", "path": "/usr/y",
                                       "code": 3})
        self.assertEqual(request.responseCode, 400)
        self.assertEqual(request.responseHeaders.getRawHeaders(
            b"cache-control"), [replies.NO_CACHE])
        self.assertEqual(json.loads(self.body(request)), {
            "error": self.HIDDEN + "\n", "reason": ".../x",
            "path": "/usr/y", "code": 3})
        request = self.request(b"/camera/config")
        replies.send_json(replies.Reply(request), 200, {"error": "/usr/x"})
        self.assertEqual(json.loads(self.body(request)), {"error": "/usr/x"})
        # Keys sorted, one space of indent, a newline at the end.
        request = self.request(b"/camera/config")
        replies.send_json(replies.Reply(request), 200, {"b": 1, "a": [2]})
        self.assertEqual(self.body(request),
                         '{\n "a": [\n  2\n ],\n "b": 1\n}\n')

    def test_reply_family(self):
        """
        L{replies.Reply}'s error, fail and plain go through the same
        cleaning.
        """
        for path, answer in [
                (b"/camera/x", lambda r: r.error(503, self.TEXT)),
                (b"/capture", lambda r: r.error(503, self.TEXT)),
                (b"/capture", lambda r: r.plain(503, self.TEXT)),
                (b"/camera/x", lambda r: r.fail(Failure(
                    CameraError(503, self.TEXT)), "x")),
                (b"/capture", lambda r: r.fail(Failure(
                    CameraError(503, self.TEXT)), "x"))]:
            request = self.request(path)
            answer(replies.Reply(request))
            body = self.body(request)
            if path == b"/camera/x":
                body = json.loads(body)["error"] + "\n"
            self.assertEqual(body, self.HIDDEN + "\n", path)


#: The headers of a plain OPTIONS answer (a 204: twisted.web leaves its
#: Content-Length out).
OPTIONS_HEADERS = [b"Allow", b"Content-Encoding", b"Date", b"Server"]


class WordsTests(ErrorTestCase):
    """
    The 404, 405, OPTIONS and 403 answers and C{fail}'s texts, word for
    word.
    """

    def test_not_found_and_not_allowed(self):
        response = self.request("GET", "/nosuch/" + "x" * 300)
        self.assertEqual(self.site.content(response).decode(),
                         "fourcut: no such path: " + ("/nosuch/" + "x" * 300)
                         [:200] + "\n")
        response = self.request("PATCH", "/preview")
        self.assertEqual(self.site.content(response),
                         b"fourcut: PATCH is not allowed on /preview; use "
                         b"GET or HEAD\n")
        response = self.request("PUT", "/camera/restart")
        self.assertEqual(json.loads(self.site.content(response))["error"],
                         "fourcut: PUT is not allowed on /camera/restart; "
                         "use POST")

    def test_shown_path_printable(self):
        request = DummyRequest([b""])
        request.path = b"/a\x01\xff" + b"x" * 300
        self.assertEqual(replies._shown_path(request),
                         "/a?\\xff" + "x" * 196)
        request.method = b"M" * 30
        request.prepath, request.postpath = [b"capture"], []
        replies.method_not_allowed(request, [b"GET"])
        self.assertIn(b"fourcut: " + b"M" * 20 + b" is not allowed on /a?",
                      b"".join(request.written))

    def test_options(self):
        response = self.request("OPTIONS", "/capture")
        self.assertEqual(response.code, 204)
        self.assertEqual(response.headers.getRawHeaders("allow"),
                         ["GET, OPTIONS"])
        self.assertEqual(sorted(name for name, _ in
                                response.headers.getAllRawHeaders()),
                         OPTIONS_HEADERS)
        response = self.request("OPTIONS", "/capture", {
            "Origin": ["https://elsewhere.example"],
            "Access-Control-Request-Method": ["GET"]})
        self.assertEqual(response.code, 403)
        self.assertEqual(self.site.content(response), b"origin "
                         b"https://elsewhere.example is not allowed: add it "
                         b"to server.cors_origins in the config file\n")
        request = DummyRequest([b"capture"])
        request.method = b"OPTIONS"
        request.requestHeaders.setRawHeaders(b"origin", [b"https://a.example"])
        request.requestHeaders.setRawHeaders(
            b"access-control-request-method", [b"GET"])
        replies.options(request, [b"GET"])
        self.assertEqual((request.responseCode, b"".join(request.written)), (
            403, b"fourcut: cross-origin requests are not configured\n"))

    def test_wants_json(self):
        # Seed 001's GET /: JSON unless text/html is preferred; a tie, no
        # Accept, */* (curl, Node's fetch) are JSON; a browser's Accept
        # is the page.
        for accept, wanted in [(b"application/json", True),
                               (b"text/html, application/json", True),
                               (b"text/html, application/json;q=0.5", False),
                               (b"text/html,application/xhtml+xml,"
                                b"application/xml;q=0.9,*/*;q=0.8", False),
                               (b"APPLICATION/JSON", True), (None, True),
                               (b"*/*", True), (b"text/plain", True),
                               (b"text/html;q=x, application/json", True)]:
            request = DummyRequest([b""])
            if accept is not None:
                request.requestHeaders.setRawHeaders(b"accept", [accept])
            self.assertEqual(replies.wants_json(request), wanted, accept)

    def test_fail_texts(self):
        request = Request([b"camera", b"x"])
        replies.fail(request, Failure(SettingError(
            "no such setting", {"reason": "unknown-name", "choices": ["a"],
                                "range": [1, 2], "current": "x"})), "x")
        self.assertEqual(json.loads(b"".join(request.written)), {
            "error": "fourcut: no such setting", "status": 400,
            "reason": "unknown-name", "choices": ["a"], "range": [1, 2]})
        request = Request([b"capture"])
        replies.fail(request, Failure(OSError(5, "Input/output error")),
                     "the photo")
        self.assertEqual(b"".join(request.written), b"fourcut: the photo "
                         b"could not be saved: Input/output error\n")
        request = Request([b"capture"])
        replies.fail(request, Failure(OSError("odd")), "the photo")
        self.assertEqual(b"".join(request.written), b"fourcut: the photo "
                         b"could not be saved: OSError\n")
        request = Request([b"capture"])
        replies.fail(request, Failure(KeyError("k")), "capture")
        self.assertEqual(b"".join(request.written), b"fourcut: internal "
                         b"error; see the server log\n")
        said = [formatEvent(e) for e in self.events
                if e.get("log_namespace") == "fourcut.web.replies"]
        self.assertEqual(said, ["the photo could not be saved",
                                "the photo could not be saved",
                                "capture failed"])
        self.flushLoggedErrors(OSError, KeyError)

    def setUp(self):
        ErrorTestCase.setUp(self)
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)


class FinishedThenFailedTests(SynchronousTestCase):
    """
    A resource that answered and then raised: logged, and the connection
    kept (the answer is whole).
    """

    def test_kept(self):
        channel = DummyChannel()
        request = replies.Request(channel)
        request.method, request.path = b"GET", b"/status"
        request.write(b"ok")
        request.finish()
        failure = Failure(ZeroDivisionError())
        self.assertIs(request.processingFailed(failure), failure)
        self.assertFalse(channel.transport.disconnected)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)


class MethodsAnsweredTests(SynchronousTestCase):
    def test_repr(self):
        """
        A wrapped resource shows as the resource (twisted.web's logs name
        it).
        """
        wrapped = object()
        self.assertEqual(repr(replies._MethodsAnswered(wrapped)),
                         repr(wrapped))


class ReplyTests(SynchronousTestCase):
    """
    L{replies.Reply}: one answer at most, its headers passed on, and a
    failure after the client left logged (unless it is the camera's).
    """

    def setUp(self):
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def said(self):
        return [formatEvent(e) for e in self.events
                if e.get("log_namespace") == "fourcut.web.replies"]

    def test_once(self):
        for answer in (lambda r: r.error(503, "busy"),
                       lambda r: r.fail(Failure(CameraError(503, "busy")),
                                        "capture"),
                       lambda r: r.plain(200, "ok"),
                       lambda r: r.send(b"text/plain", b"ok")):
            request = Request([b"capture"])
            reply = replies.Reply(request)
            answer(reply)
            self.assertTrue(reply.done)
            self.assertFalse(reply.open)
            written = list(request.written)
            reply.error(500, "again")
            reply.plain(500, "again")
            reply.fail(Failure(CameraError(503, "again")), "x")
            reply.send(b"text/plain", b"again")
            self.assertEqual(request.written, written)

    def test_error_headers(self):
        request = Request([b"camera", b"x"])
        replies.Reply(request).error(405, "no", [(b"allow", b"GET")],
                                     reason="r")
        self.assertEqual(request.responseHeaders.getRawHeaders(b"allow"),
                         [b"GET"])
        self.assertEqual(json.loads(b"".join(request.written))["reason"],
                         "r")

    def test_fail_names_what(self):
        request = Request([b"capture"])
        replies.Reply(request).fail(Failure(KeyError("k")), "the capture")
        self.assertEqual(self.said(), ["the capture failed"])
        self.flushLoggedErrors(KeyError)

    def test_failure_after_the_client_left(self):
        request = Request([b"capture"])
        reply = replies.Reply(request)
        for finished in request._finishedDeferreds:
            finished.errback(Failure(ConnectionDone()))
        self.assertTrue(reply.gone)
        reply.fail(Failure(CameraError(503, "busy")), "capture")
        self.assertEqual(self.said(), [])
        reply.fail(Failure(KeyError("k")), "the capture")
        self.assertEqual(self.said(), ["the capture failed (client gone)"])
        (event,) = [e for e in self.events if "log_failure" in e]
        self.assertTrue(event["log_failure"].check(KeyError))
        self.assertEqual(request.written, [])
        self.flushLoggedErrors(KeyError)


class ProcessingFailedTests(ErrorTestCase):
    def test_logged_with_method_and_path(self):
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)

        def broken(*args):
            raise ZeroDivisionError("secret detail")

        self.patch(self.site.status, "status", broken)
        response = self.request("GET", "/status?token=x")
        self.assertEqual(response.code, 500)
        self.assertEqual(json.loads(self.site.content(response)), {
            "error": "fourcut: internal error; see the server log",
            "status": 500})
        (event,) = [e for e in events
                    if e.get("log_namespace") == "fourcut.web.replies"]
        self.assertEqual(formatEvent(event), "GET /status failed")
        self.assertTrue(event["log_failure"].check(ZeroDivisionError))
        self.flushLoggedErrors(ZeroDivisionError)
