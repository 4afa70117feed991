"""
What fourcut answers and logs when provoked, over a real listening fourcut
with its virtual camera and the real gphoto2: several byte ranges of a
photo, tokens in paths and headers, errors that would name server paths,
and a capture whose gphoto2 is killed.
"""

import os
import re
import signal

import treq
from twisted.internet import defer
from twisted.logger import formatEvent, globalLogPublisher

from fourcut.errors import CameraError

from tests.integration.test_access import TOKEN, AccessTestCase
from tests.support import ROOT
from tests.support.service import ServiceTestCase, gphoto2_children, sleep
from tests.support.wsclient import connect


class RangeTests(ServiceTestCase):
    async def put_photo(self, size=5000):
        os.makedirs(self.photos, exist_ok=True)
        data = b"\xff\xd8" + os.urandom(size - 4) + b"\xff\xd9"
        with open(os.path.join(self.photos, "guest.jpg"), "wb") as f:
            f.write(data)
        return data

    def get_range(self, value):
        return treq.get(self.base + "/photos/guest.jpg", pool=self.pool,
                        headers={"Range": [value]})

    async def test_many_overlapping_ranges(self):
        """
        5,000 overlapping ranges: one range back, never a multipart answer
        5,000 times the photo (it was a 206 of 4 GB).
        """
        data = await self.put_photo()
        response = await self.get_range("bytes=" + ",".join(["0-"] * 5000))
        self.assertEqual(response.code, 206)
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["image/jpeg"])
        self.assertEqual(response.length, len(data))
        self.assertEqual(response.headers.getRawHeaders("content-range"),
                         ["bytes 0-%d/%d" % (len(data) - 1, len(data))])
        self.assertEqual(await response.content(), data)

    async def test_ranges_coalesced(self):
        data = await self.put_photo()
        response = await self.get_range("bytes=100-199,10-19,4000-")
        self.assertEqual(response.code, 206)
        self.assertEqual(response.headers.getRawHeaders("content-range"),
                         ["bytes 10-%d/%d" % (len(data) - 1, len(data))])
        self.assertEqual(await response.content(), data[10:])
        # A single range is served as before.
        response = await self.get_range("bytes=10-19")
        self.assertEqual(response.code, 206)
        self.assertEqual(await response.content(), data[10:20])

    async def test_no_range_satisfiable(self):
        data = await self.put_photo()
        response = await self.get_range("bytes=90000-90010,99999-")
        self.assertEqual(response.code, 416)
        self.assertEqual(response.headers.getRawHeaders("content-range"),
                         ["bytes */%d" % (len(data),)])
        await response.content()


class RedactionTests(AccessTestCase):
    async def test_token_absent_from_every_log(self):
        """
        The token in a path segment (as sent, or percent-encoded), in a
        query parameter of another name, in the Referer (its query or its
        path) and in the User-Agent: nothing logged holds it, the access
        log included. (Only ?token= was masked before.)
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        encoded = "".join("%%%02X" % ord(c) for c in TOKEN[:6]) + TOKEN[6:]
        cases = [
            ("/photos/" + TOKEN, {}, None),
            ("/" + TOKEN + "/capture", {}, None),
            ("/photos/" + encoded + ".jpg", {}, None),
            ("/snapshot?key=" + TOKEN, {}, 200),
            ("/health", {"Referer": ["http://booth/preview?token=" + TOKEN
                                     + "&a=1"]}, 200),
            ("/health", {"Referer": ["http://booth/" + TOKEN + "/p"]}, 200),
            ("/health", {"User-Agent": ["kiosk/1 " + TOKEN]}, 200),
            ("/status", {"Referer": ["http://booth/x?%74oken=" + TOKEN]},
             200),
        ]
        for path, headers, code in cases:
            response = await self.request("GET", path, headers=headers,
                                          token=TOKEN)
            if code is not None:
                self.assertEqual(response.code, code, path)
            await response.content()
        # And a refusal, which fourcut logs itself with the path.
        response = await self.request("GET", "/capture/" + TOKEN)
        self.assertEqual(response.code, 401)
        await response.content()
        await sleep(0.1)
        texts = [formatEvent(event) or "" for event in events]
        everything = texts + [repr(event) for event in events]
        for secret in (TOKEN, TOKEN[6:], TOKEN[:-4]):
            leaks = [text for text in everything if secret in text]
            self.assertEqual(leaks, [], secret)
        # Not vacuous: each request is in the access log.
        access = [t for t in texts if '"GET /' in t]
        self.assertGreaterEqual(len(access), len(cases) + 1, access)
        self.assertTrue([t for t in access if '"GET /photos/*** ' in t])
        self.assertTrue([t for t in access if '"GET /***/capture ' in t])
        self.assertTrue([t for t in access
                         if "http://booth/preview?token=***&a=1" in t])
        self.assertTrue([t for t in access if "http://booth/***/p" in t])
        self.assertTrue([t for t in access if '"kiosk/***"' in t])
        self.assertTrue([t for t in texts if "refused GET /capture/***" in t])


#: A path under a directory this server's files are in.
SERVER_PATH = re.compile(rb"/(?:usr|lib|tmp|home|root|var|opt|etc|srv|%s)/"
                         % re.escape(os.getcwd().split(os.sep)[1].encode()))


class ErrorBodyTests(ServiceTestCase):
    def assertNoServerPath(self, body):
        if isinstance(body, str):
            body = body.encode("utf-8")
        for path in (self.photos, os.getcwd(), ROOT):
            self.assertNotIn(path.encode("utf-8"), body)
        self.assertIsNone(SERVER_PATH.search(body), body)

    async def test_photo_that_cannot_be_saved(self):
        """
        The photos directory is a file: the capture's 500 (and the
        WebSocket error) say why without naming the path.
        """
        # (The directory was made at start-up.)
        os.rmdir(self.photos)
        with open(self.photos, "w") as f:
            f.write("not a directory\n")
        response = await self.get("/capture")
        self.assertEqual(response.code, 500)
        body = await response.content()
        self.assertIn(b"could not be saved", body)
        self.assertNoServerPath(body)
        client = await connect(self, self.port)
        reply = await client.reply({"type": "capture_photo",
                                    "requestId": "c"}, timeout=30)
        self.assertEqual(reply["type"], "error")
        self.assertIn("could not be saved", reply["error"])
        self.assertNoServerPath(reply["error"])
        # And the listing's error.
        response = await self.get("/photos")
        self.assertEqual(response.code, 500)
        self.assertNoServerPath(await response.content())
        self.flushLoggedErrors(OSError)

    async def test_camera_text_with_paths(self):
        """
        Text from a child (a Python traceback from the settings helper,
        say) reaches the client without the paths in it.
        """
        here = os.path.abspath(__file__)
        text = ('Traceback (most recent call last):\n  File "%s", line 1\n'
                "OSError: [Errno 5] I/O error: '%s/x'\n"
                "no setting /main/imgsettings/nosuch\n"
                % (here, self.photos))
        self.session.capture = lambda *a: defer.fail(CameraError(503, text))
        response = await self.get("/capture")
        self.assertEqual(response.code, 503)
        body = await response.content()
        self.assertNoServerPath(body)
        self.assertIn(b"test_answers.py", body)
        # A camera setting's name is not a path on the server.
        self.assertIn(b"/main/imgsettings/nosuch", body)
        client = await connect(self, self.port)
        reply = await client.reply({"type": "capture_photo",
                                    "requestId": "c"}, timeout=30)
        self.assertEqual(reply["code"], 503)
        self.assertNoServerPath(reply["error"])

    async def kill_capture(self):
        """
        Wait for the capture's gphoto2 and SIGKILL it.
        """
        for _ in range(200):
            children = gphoto2_children()
            if children:
                break
            await sleep(0.05)
        self.assertEqual(len(children), 1)
        os.kill(children[0], signal.SIGKILL)

    async def test_killed_capture_is_not_an_empty_503(self):
        """
        A capture whose gphoto2 is killed: a 503 that says so (it was an
        empty body: gphoto2 had written nothing to stderr).
        """
        self.camera.slow_capture(10)
        response = defer.ensureDeferred(self.get("/capture"))
        await self.kill_capture()
        response = await response
        self.assertEqual(response.code, 503)
        body = await response.content()
        self.assertIn(b"SIGKILL", body)
        self.assertIn(b"capture", body)
        client = await connect(self, self.port)
        request = defer.ensureDeferred(client.reply(
            {"type": "capture_photo", "requestId": "k"}, timeout=30))
        await self.kill_capture()
        reply = await request
        self.assertEqual(reply["type"], "error")
        self.assertIn("SIGKILL", reply["error"])
        self.assertFalse(os.path.exists(self.photos)
                         and os.listdir(self.photos))
