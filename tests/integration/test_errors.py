"""
One error format (L{fourcut.web.replies}, L{fourcut.errors}): every error
a client can provoke, over a real listening fourcut with the virtual
Canon EOS 700D on USB (the camera's own texts also on the generic camera
over PTP/IP), is text/plain with a one-line reason on seed 000's paths and JSON
C{{"error": ..., "status": ...}} on the REST/JSON paths, never one of
twisted.web's HTML pages; C{Allow} names what the path takes; a client's
mistake that gphoto2 refuses is a 400, camera trouble stays a 503/504.
"""

import json

import treq
from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from fourcut.errors import (CameraError, SettingError, client_mistake,
                            http_status)

from tests.support import PTPIP
from tests.support.service import ServiceTestCase

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"

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
    ("POST", "/", {}, 405, TEXT, "GET, HEAD, OPTIONS", "POST"),
    ("POST", "/", {"Accept": ["application/json"]}, 405, JSON,
     "GET, HEAD, OPTIONS", "POST"),
    ("POST", "/status", {}, 405, JSON, "GET, HEAD, OPTIONS", "POST"),
    ("DELETE", "/health", {}, 405, JSON, "GET, HEAD, OPTIONS", "DELETE"),
    ("PUT", "/camera/info", {}, 405, JSON, "GET, HEAD, OPTIONS", "PUT"),
    ("GET", "/camera/restart", {}, 405, JSON, "POST, OPTIONS", "use POST"),
    ("PATCH", "/photos", {}, 405, JSON, "GET, HEAD, OPTIONS", "PATCH"),
    ("DELETE", "/photos/a.jpg", {}, 405, JSON, "GET, HEAD, OPTIONS",
     "DELETE"),
    ("POST", "/ws", {}, 405, JSON, "GET, OPTIONS", "POST"),
    ("GET", "/ws", {}, 426, JSON, None, "WebSocket"),
    ("FROB", "/status", {}, 405, JSON, "GET, HEAD, OPTIONS", "FROB"),
    ("GET", "/preview?timeout=abc", {}, 400, TEXT, None, "timeout"),
    ("GET", "/cmd?arg=--hook-script=x", {}, 400, TEXT, None,
     "--hook-script"),
    ("GET", "/cmd", {}, 400, TEXT, None, "arg"),
    ("GET", "/photos?limit=0", {}, 400, JSON, None, "limit"),
    # The booth's paths: its pages answer text, its API JSON.
    ("GET", "/booth/nosuch.js", {}, 404, TEXT, None, "no such path"),
    ("GET", "/sequence", {}, 405, JSON, "POST, OPTIONS", "use POST"),
    ("DELETE", "/sequence", {}, 405, JSON, "POST, OPTIONS", "DELETE"),
    ("GET", "/thumbnails/nosuch.jpg", {}, 404, JSON, None, "no such photo"),
]


class ErrorAssertions:
    """
    Requests, and checks of their error answers, for a L{ServiceTestCase}.
    """

    def request(self, method, path, headers=None):
        return treq.request(method, self.base + path, headers=headers or {},
                            pool=self.pool)

    async def assertError(self, response, code, content_type, fragment,
                          what):
        """
        C{response} is an error answer of C{code} in C{content_type},
        whose reason holds C{fragment}; return the reason.
        """
        body = await response.content()
        self.assertEqual(response.code, code, what)
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         [content_type], what)
        self.assertNotIn(b"<html", body.lower(), what)
        self.assertNotIn(b"Huh?", body, what)
        if content_type == JSON:
            answer = json.loads(body)
            self.assertEqual(answer["status"], code, what)
            reason = answer["error"]
        else:
            reason = body.decode("utf-8")
            self.assertTrue(reason.endswith("\n"), what)
        self.assertIn(fragment, reason, what)
        return reason


class ErrorFormatTests(ErrorAssertions, ServiceTestCase):
    async def test_every_error_path(self):
        for method, path, headers, code, kind, allow, fragment in ERRORS:
            what = (method, path)
            response = await self.request(method, path, headers)
            reason = await self.assertError(response, code, kind, fragment,
                                            what)
            if kind == TEXT:
                self.assertEqual(reason.count("\n"), 1, what)
            self.assertEqual(response.headers.getRawHeaders("allow"),
                             None if allow is None else [allow], what)
        # None of it reached the camera.
        self.assertEqual(self.session.captures, 0)
        self.assertEqual(self.camera.device.objects, {})

    async def test_head_refused_without_a_body(self):
        for path, allow in [("/capture", "GET, OPTIONS"),
                            ("/reset", "GET, OPTIONS"),
                            ("/camera/restart", "POST, OPTIONS"),
                            ("/ws", "GET, OPTIONS")]:
            response = await self.request("HEAD", path)
            self.assertEqual(response.code, 405, path)
            self.assertEqual(response.headers.getRawHeaders("allow"),
                             [allow], path)
            self.assertEqual(await response.content(), b"", path)
        self.assertFalse(self.camera.session_open)

    async def test_head_where_get_is_allowed(self):
        for path, content_type in [("/", "text/html; charset=utf-8"),
                                   ("/status", JSON), ("/photos", JSON),
                                   ("/preview", "multipart/x-mixed-replace;"
                                    " boundary=frame")]:
            response = await self.request("HEAD", path)
            self.assertEqual(response.code, 200, path)
            self.assertEqual(response.headers.getRawHeaders("content-type"),
                             [content_type], path)
            self.assertEqual(await response.content(), b"", path)
        # HEAD /preview answered its headers without starting live view.
        self.assertEqual(self.broadcaster.demand, 0)
        self.assertEqual(self.session.children, {})

    async def test_options(self):
        for path, allow in [("/capture", "GET, OPTIONS"),
                            ("/status", "GET, HEAD, OPTIONS"),
                            ("/camera/restart", "POST, OPTIONS")]:
            response = await self.request("OPTIONS", path)
            self.assertEqual(response.code, 204, path)
            self.assertEqual(response.headers.getRawHeaders("allow"),
                             [allow], path)
            self.assertEqual(await response.content(), b"")
        response = await self.request("OPTIONS", "/nosuch")
        await self.assertError(response, 404, TEXT, "no such path",
                               "OPTIONS /nosuch")

    #: gphoto2's words for a capture from the unplugged camera, and for
    #: the camera's info with no camera at all: a USB camera that is gone
    #: is not detected.
    UNPLUGGED = "Could not detect any camera"
    ABSENT = "Could not detect any camera"

    async def test_camera_trouble_stays_503_and_504(self):
        self.camera.unplug()
        response = await self.request("GET", "/capture")
        await self.assertError(response, 503, TEXT, self.UNPLUGGED,
                               "capture, unplugged")
        await self.camera.stop()
        self.session._info_at = None
        response = await self.request("GET", "/camera/info")
        # It was gphoto2's text as text/plain.
        reason = await self.assertError(response, 504, JSON, self.ABSENT,
                                        "camera info, no camera")
        self.assertNotIn("\n\n", reason)

    async def test_internal_errors(self):
        """
        An exception while rendering: a 500 in the path's format, the
        reason not shown, the traceback logged.
        """
        def broken(*args):
            raise ZeroDivisionError("secret detail")

        self.service.status.status = broken
        self.session.reset = broken
        response = await self.request("GET", "/status")
        reason = await self.assertError(response, 500, JSON,
                                        "internal error", "/status")
        self.assertNotIn("secret", reason)
        response = await self.request("GET", "/reset")
        reason = await self.assertError(response, 500, TEXT,
                                        "internal error", "/reset")
        self.assertNotIn("secret", reason)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 2)

    async def test_failed_deferred_on_a_json_path(self):
        self.session.restart = lambda: defer.fail(RuntimeError("boom"))
        response = await self.request("POST", "/camera/restart")
        reason = await self.assertError(response, 500, JSON,
                                        "internal error", "restart")
        self.assertNotIn("boom", reason)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class PTPIPErrorTests(ErrorAssertions, ServiceTestCase):
    """
    The camera's own texts from the generic camera over PTP/IP: a camera
    gone away resets the connection, none listening refuses it.
    """

    virtual = PTPIP
    UNPLUGGED = "Connection reset"
    ABSENT = "Connection refused"
    test_camera_trouble_stays_503_and_504 = (
        ErrorFormatTests.test_camera_trouble_stays_503_and_504)

    async def test_refused_value_is_400(self):
        """
        A value the camera does not offer, through C{/cmd}: a 400 with
        gphoto2's text (it was a 503, "unavailable").
        """
        response = await self.request("GET",
                                      "/cmd?arg=--set-config-index=iso=999")
        await self.assertError(response, 400, TEXT,
                               "Choice 999 not found within list of "
                               "choices", "refused value")


class EOSRefusalTests(ErrorAssertions, ServiceTestCase):
    """
    A refused request on the virtual Canon EOS 700D over USB, whose driver
    says only "Bad parameters".
    """

    async def test_refused_value_is_400(self):
        for arg in ("--set-config-index=iso=999", "--get-config=nosuch"):
            response = await self.request("GET", "/cmd?arg=" + arg)
            await self.assertError(response, 400, TEXT, "Bad parameters",
                                   arg)


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
        "*** Error (-2: 'Bad parameters') ***       \n",
    ]

    TROUBLE = [
        "*** Error: No camera found. ***\n",
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
