"""
What fourcut answers when provoked, over a real listening fourcut with its
virtual camera and the real gphoto2: WebSocket errors that would name
server paths, and a capture whose gphoto2 is killed. Byte ranges, tokens
in the log and HTTP error bodies are tested in memory
(L{tests.web.test_ranges}, L{tests.web.test_access},
L{tests.web.test_errors}).
"""

import os
import re
import signal

from twisted.internet import defer

from fourcut.errors import CameraError

from tests.support import ROOT
from tests.support.service import ServiceTestCase, gphoto2_children
from tests.support.time import sleep
from tests.support.wsclient import connect


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
        The photos directory is a file: the WebSocket error says why
        without naming the path. (Over HTTP:
        L{tests.web.test_errors.CameraErrorTests}.)
        """
        # (The directory was made at start-up.)
        os.rmdir(self.photos)
        with open(self.photos, "w") as f:
            f.write("not a directory\n")
        client = await connect(self, self.port)
        reply = await client.reply({"type": "capture_photo",
                                    "requestId": "c"}, timeout=30)
        self.assertEqual(reply["type"], "error")
        self.assertIn("could not be saved", reply["error"])
        self.assertNoServerPath(reply["error"])
        self.flushLoggedErrors(OSError)

    async def test_camera_text_with_paths(self):
        """
        Text from a child (a Python traceback from the settings helper,
        say) reaches a WebSocket client without the paths in it. (Over
        HTTP: L{tests.web.test_errors.CameraErrorTests}.)
        """
        here = os.path.abspath(__file__)
        text = ('Traceback (most recent call last):\n  File "%s", line 1\n'
                "OSError: [Errno 5] I/O error: '%s/x'\n"
                "no setting /main/imgsettings/nosuch\n"
                % (here, self.photos))
        self.session.capture = lambda *a: defer.fail(CameraError(503, text))
        client = await connect(self, self.port)
        reply = await client.reply({"type": "capture_photo",
                                    "requestId": "c"}, timeout=30)
        self.assertEqual(reply["code"], 503)
        self.assertNoServerPath(reply["error"])
        self.assertIn("test_answers.py", reply["error"])
        # A camera setting's name is not a path on the server.
        self.assertIn("/main/imgsettings/nosuch", reply["error"])

    async def kill_capture(self):
        """
        Wait for the capture's gphoto2 and SIGKILL it.
        """
        for _ in range(200):
            # Once the capture runs: a camera child killed before (while
            # it answered camera_info's question, say) is replaced, and
            # the capture would go on in the new one.
            children = gphoto2_children()
            if children and self.session.state == "capturing":
                break
            await sleep(0.05)
        self.assertEqual(len(children), 1)
        self.assertEqual(self.session.state, "capturing")
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
        # The camera_info a new client is sent asks the camera first (a
        # gphoto2 child of its own with this driver): not the one to kill.
        await client.wait_for(lambda: client.of_type("camera_info"),
                              timeout=30)
        request = defer.ensureDeferred(client.reply(
            {"type": "capture_photo", "requestId": "k"}, timeout=30))
        await self.kill_capture()
        reply = await request
        self.assertEqual(reply["type"], "error")
        self.assertIn("SIGKILL", reply["error"])
        self.assertFalse(os.path.exists(self.photos)
                         and os.listdir(self.photos))
