"""
The HTTP API of C{twistd fourcut} over a real listening site, with the
virtual camera and the real gphoto2 CLI behind it; treq is the client.
"""

import os

import treq
from twisted.internet import defer, reactor, task
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from fourcut.tap import Options, makeService

from .support import jpeg_size


def sleep(seconds):
    return task.deferLater(reactor, seconds, lambda: None)


def parse_multipart(body, boundary=b"frame"):
    """
    Split a multipart/x-mixed-replace body into C{(headers, jpeg)} parts
    and say whether the closing boundary came.
    """
    parts = []
    position = 0
    delimiter = b"--" + boundary
    while True:
        start = body.find(delimiter, position)
        if start < 0:
            return parts, False
        if body[start + len(delimiter):start + len(delimiter) + 2] == b"--":
            return parts, True
        header_end = body.index(b"\r\n\r\n", start)
        headers = {}
        for line in body[start + len(delimiter) + 2:header_end].split(b"\r\n"):
            name, value = line.split(b": ", 1)
            headers[name.lower()] = value
        length = int(headers[b"content-length"])
        data = body[header_end + 4:header_end + 4 + length]
        parts.append((headers, data))
        position = header_end + 4 + length


class ServiceTestCase(TestCase):
    """
    Starts fourcut with its virtual camera on free loopback ports.
    """

    async def setUp(self):
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)
        self.photos = os.path.abspath(self.mktemp())
        options = Options()
        options.parseOptions(["--virtual-camera", "--photos", self.photos,
                              "--listen", "tcp:0:interface=127.0.0.1"])
        self.service = makeService(options, reactor=reactor)
        self.service.startService()
        self.addCleanup(self.stopService)
        port = await self.service.web.listening
        self.base = "http://127.0.0.1:%d" % (port.getHost().port,)
        self.camera = self.service.virtual_camera
        self.session = self.service.session

    async def stopService(self):
        await self.service.stopService()
        self.assertEqual(self.session.children, {},
                         "gphoto2 children left running")

    def get(self, path):
        return treq.get(self.base + path, pool=self.pool)

    async def preview(self, timeout=1.5):
        response = await self.get("/preview?timeout=%s" % timeout)
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["multipart/x-mixed-replace; boundary=frame"])
        parts, closed = parse_multipart(await response.content())
        self.assertTrue(closed, "no closing boundary")
        for headers, data in parts:
            self.assertEqual(headers[b"content-type"], b"image/jpeg")
            self.assertIn(b"x-timestamp", headers)
        self.assertEqual(jpeg_size(parts[-1][1]), (960, 640))
        return parts


class PreviewTests(ServiceTestCase):
    async def test_two_clients(self):
        results = await defer.gatherResults(
            [defer.ensureDeferred(self.preview()) for _ in range(2)])
        for parts in results:
            self.assertGreater(len(parts), 10)
        self.assertEqual(len(self.session.children), 1)

    async def test_ten_clients(self):
        results = await defer.gatherResults(
            [defer.ensureDeferred(self.preview(2)) for _ in range(10)])
        for parts in results:
            self.assertGreater(len(parts), 10)

    async def test_bad_timeout(self):
        for value in ("abc", "-1", "nan"):
            response = await self.get("/preview?timeout=" + value)
            self.assertEqual(response.code, 400, value)
            self.assertIn(b"timeout", await response.content())

    async def test_live_view_stops_after_last_client(self):
        await self.preview(0.5)
        while self.session.children:
            await sleep(0.1)
        self.assertEqual(self.session.state, "idle")

    async def test_unplugged_camera(self):
        self.camera.unplug()
        response = await self.get("/preview")
        self.assertEqual(response.code, 503)
        self.assertIn(b"Connection reset by peer", await response.content())

    async def test_absent_camera(self):
        await self.camera.stop()
        response = await self.get("/preview")
        self.assertEqual(response.code, 504)
        self.assertIn(b"Connection refused", await response.content())

    async def test_snapshot(self):
        response = await self.get("/snapshot")
        self.assertEqual(response.code, 200)
        self.assertEqual(jpeg_size(await response.content()), (960, 640))


class CaptureTests(ServiceTestCase):
    async def test_capture_while_watching(self):
        """
        Three clients watch; a capture pauses live view, saves the photo
        and the watchers get frames again afterwards.
        """
        watchers = [defer.ensureDeferred(self.preview(5)) for _ in range(3)]
        await sleep(1.0)
        response = await self.get("/capture")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["image/jpeg"])
        photo = await response.content()
        captured_at = reactor.seconds()
        self.assertEqual(jpeg_size(photo), (2592, 1728))
        saved = os.listdir(self.photos)
        self.assertEqual(len(saved), 1)
        with open(os.path.join(self.photos, saved[0]), "rb") as f:
            self.assertEqual(f.read(), photo)
        for parts in await defer.gatherResults(watchers):
            after = [p for p in parts
                     if float(p[0][b"x-timestamp"]) > captured_at]
            self.assertGreater(len(after), 5)
        self.assertEqual(len(self.camera.device.objects), 1,
                         "photo kept on the card")

    async def test_concurrent_captures(self):
        responses = await defer.gatherResults([
            self.get("/capture") for _ in range(3)])
        bodies = []
        for response in responses:
            self.assertEqual(response.code, 200)
            bodies.append(await response.content())
        self.assertEqual(len(set(bodies)), 3)
        self.assertEqual(len(os.listdir(self.photos)), 3)

    async def test_capture_failure(self):
        self.camera.storage_full()
        response = await self.get("/capture")
        self.assertEqual(response.code, 503)
        self.assertIn(b"ran full", await response.content())
        self.assertFalse(os.path.exists(self.photos)
                         and os.listdir(self.photos))


class CommandTests(ServiceTestCase):
    async def test_allowed(self):
        response = await self.get("/cmd?arg=--get-config=iso")
        self.assertEqual(response.code, 200)
        self.assertIn(b"Label: ISO Speed", await response.content())

    async def test_refused(self):
        for query in ("arg=--hook-script=/bin/sh", "", "arg=-a&arg=-L",
                      "arg=--port=usb:"):
            response = await self.get("/cmd?" + query)
            self.assertEqual(response.code, 400, query)
            self.assertIn(b"allowed:", await response.content())

    async def test_failing(self):
        response = await self.get("/cmd?arg=--get-config=nosuch")
        self.assertEqual(response.code, 503)
        self.assertIn(b"nosuch", await response.content())

    async def test_reset(self):
        watcher = defer.ensureDeferred(self.preview(3))
        await sleep(0.5)
        response = await self.get("/reset")
        self.assertEqual(response.code, 200)
        self.assertEqual(await response.content(), b"Camera has been reset.")
        await watcher
