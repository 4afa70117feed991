"""
Live view at the size a screen asks for (L{fourcut.stream.scaled}) through
the whole service: C{/preview?width=}, C{/snapshot?width=} and WebSocket
C{start_preview} with C{width}, on the virtual camera (960x640 frames)
and the real gphoto2 behind it.
"""

import base64
import json

from twisted.internet import defer

from fourcut.virtualcam.scene import parse_frame_comment

from tests.support import jpeg_size
from tests.support.service import ServiceTestCase, parse_multipart
from tests.support.time import sleep
from tests.support.wsclient import connect


class Recorder:
    """
    Subscribed to the camera's broadcaster: the frames it publishes, as the
    camera (through gphoto2) sent them.
    """

    def __init__(self):
        self.data = set()

    def offer(self, frame):
        self.data.add(frame.data)


class ScaledTestCase(ServiceTestCase):

    async def stream(self, query, timeout=1.5):
        """
        C{GET /preview?QUERY&timeout=...}: its parts, checked to be JPEGs
        with timestamps and a closing boundary.
        """
        response = await self.get("/preview?%s&timeout=%s" % (query, timeout))
        self.assertEqual(response.code, 200, query)
        parts, closed = parse_multipart(await response.content())
        self.assertTrue(closed, "no closing boundary")
        self.assertTrue(parts, "no frames")
        for headers, data in parts:
            self.assertEqual(headers[b"content-type"], b"image/jpeg")
            float(headers[b"x-timestamp"])
        return parts

    async def refused(self, path, code):
        response = await self.get(path)
        self.assertEqual(response.code, code, path)
        return (await response.content()).decode("utf-8").rstrip("\n")

    async def wait_until(self, test, timeout=15.0):
        for _ in range(int(timeout / 0.05)):
            if test():
                return
            await sleep(0.05)
        self.fail("not within %s s" % (timeout,))


class HTTPTests(ScaledTestCase):
    config = {"preview": {"max_sizes": 2}}

    async def test_width_beside_full_size(self):
        """
        C{?width=480} is 480x320 JPEGs (960x640 downscaled) with the
        camera frames' timestamps, while a full-size client beside it gets
        the camera's own bytes, exactly as published.
        """
        camera = Recorder()
        self.broadcaster.subscribe(camera)
        self.addCleanup(self.broadcaster.unsubscribe, camera)
        full, small = await defer.gatherResults([
            defer.ensureDeferred(self.stream("")),
            defer.ensureDeferred(self.stream("width=480"))])
        self.assertGreater(len(small), 10)
        for headers, data in small:
            self.assertEqual(jpeg_size(data), (480, 320))
        self.assertGreater(len(full), 10)
        for headers, data in full:
            self.assertIn(data, camera.data)
            # The virtual camera's own frame, comment segment and all.
            self.assertIsNotNone(parse_frame_comment(data))
            self.assertEqual(jpeg_size(data), (960, 640))
        # Downscaled frames are about an eighth of the bytes.
        self.assertLess(sum(len(d) for _, d in small) / len(small),
                        sum(len(d) for _, d in full) / len(full) / 4)
        stamps = {headers[b"x-timestamp"] for headers, _ in full}
        self.assertTrue(stamps & {headers[b"x-timestamp"]
                                  for headers, _ in small})

    async def test_one_encoder_per_size(self):
        """
        Two clients of one size share one stream: each camera frame is
        encoded once for both, and they get the same bytes. When they have
        gone the stream is dropped and live view stops.
        """
        before = self.broadcaster.camera_frames
        streams = self.service.scaled.streams
        both = defer.gatherResults([
            defer.ensureDeferred(self.stream("width=320&quality=60", 2))
            for _ in range(2)])
        await self.wait_until(lambda: streams.get((320, 60)) is not None
                              and streams[(320, 60)].demand == 2)
        stream = streams[(320, 60)]
        status = json.loads(await (await self.get("/status")).content())
        self.assertEqual(status["preview"]["subscribers"], 2)
        [size] = status["preview"]["sizes"]
        self.assertEqual((size["width"], size["quality"],
                          size["subscribers"]), (320, 60, 2))
        first, second = await both
        published = self.broadcaster.camera_frames - before
        self.assertGreater(stream.encodes, 20)
        self.assertLessEqual(stream.encodes, published)
        for parts in (first, second):
            self.assertEqual(jpeg_size(parts[-1][1]), (320, 213))
        by_stamp = {headers[b"x-timestamp"]: data for headers, data in first}
        common = [(by_stamp[headers[b"x-timestamp"]], data)
                  for headers, data in second
                  if headers[b"x-timestamp"] in by_stamp]
        self.assertGreater(len(common), 10)
        for one, other in common:
            self.assertTrue(one == other, "two clients, two encodings")
        await self.wait_until(lambda: not streams)
        self.assertEqual(stream.demand, 0)
        await self.wait_until(lambda: self.broadcaster.demand == 0)

    async def test_limit(self):
        """
        With C{max_sizes} 2 and two sizes served, a third is a 503 that
        says so (and the two may still be asked for); once one is free,
        the third is served.
        """
        streams = self.service.scaled.streams
        watching = defer.gatherResults([
            defer.ensureDeferred(self.stream("width=240", 3)),
            defer.ensureDeferred(self.stream("width=480", 3))])
        await self.wait_until(lambda: len(streams) == 2 and all(
            s.demand for s in streams.values()))
        text = await self.refused("/preview?width=400", 503)
        self.assertEqual(
            text, "too many live view sizes at once: the limit is 2 "
            "(preview.max_sizes), serving width 240 quality 80, width 480 "
            "quality 80; ask for one of those or the full size (no width)")
        parts = await self.stream("width=240", 0.5)
        self.assertEqual(jpeg_size(parts[-1][1]), (240, 160))
        await watching
        await self.wait_until(lambda: not streams)
        parts = await self.stream("width=400", 0.5)
        self.assertEqual(jpeg_size(parts[-1][1]), (400, 267))

    async def test_bad_input(self):
        """
        A bad width or quality is a 400 that says what is allowed and what
        came, and the server goes on serving.
        """
        for query, shown in [("abc", "'abc'"), ("", "''"), ("15", "'15'"),
                             ("4097", "'4097'"), ("-480", "'-480'"),
                             ("480.5", "'480.5'"), ("%ff", "'\ufffd'"),
                             ("9" * 500, "'" + "9" * 40 + "...'")]:
            text = await self.refused("/preview?width=" + query, 400)
            self.assertEqual(
                text, "width must be a whole number of pixels between 16 "
                "and 4096 (got %s)" % (shown,))
        text = await self.refused("/preview?width=480&quality=0", 400)
        self.assertEqual(text, "quality must be a whole number between 1 "
                         "and 95 (got '0')")
        text = await self.refused("/preview?quality=50", 400)
        self.assertIn("give width too", text)
        text = await self.refused("/snapshot?width=x", 400)
        self.assertIn("width must be a whole number", text)
        self.assertEqual(self.service.scaled.streams, {})
        parts = await self.stream("width=480", 0.5)
        self.assertEqual(jpeg_size(parts[-1][1]), (480, 320))

    async def test_snapshot(self):
        response = await self.get("/snapshot?width=320")
        self.assertEqual(response.code, 200)
        self.assertEqual(jpeg_size(await response.content()), (320, 213))
        self.assertEqual(self.service.scaled.streams, {})
        response = await self.get("/snapshot?width=2000")
        self.assertEqual(response.code, 200)
        data = await response.content()
        self.assertIsNotNone(parse_frame_comment(data))


class OffTests(ScaledTestCase):
    config = {"preview": {"max_sizes": 0}}

    async def test_off(self):
        """
        With C{max_sizes} 0 a width is refused with 503, unless it is at
        least the camera's width (known once a frame has come): that is
        the full-size stream, the camera's own bytes.
        """
        text = await self.refused("/preview?width=480", 503)
        self.assertEqual(text, "downscaled live view is off "
                         "(preview.max_sizes is 0); ask for the full size "
                         "(no width)")
        await self.stream("", 0.5)
        parts = await self.stream("width=4096&quality=10", 0.5)
        for headers, data in parts:
            self.assertIsNotNone(parse_frame_comment(data))
            self.assertEqual(jpeg_size(data), (960, 640))
        await self.refused("/snapshot?width=480", 503)


class WebSocketTests(ScaledTestCase):
    config = {"preview": {"max_sizes": 2}}

    async def client(self):
        client = await connect(self, self.port)
        await client.wait_for(lambda: len(client.messages) >= 2)
        return client

    async def test_width(self):
        """
        C{start_preview} with C{width} gets frames that wide, in either
        format, beside a full-size client at the same time (each size's
        frames are cached apart: they share the camera's frame numbers).
        """
        full, small, binary = [await self.client() for _ in range(3)]
        reply = await small.reply({"type": "start_preview", "requestId": 1,
                                   "width": 480})
        self.assertEqual(reply, {"type": "preview_started", "format": "json",
                                 "width": 480, "quality": 80,
                                 "requestId": 1})
        reply = await binary.reply({"type": "start_preview", "requestId": 1,
                                    "width": 480, "format": "binary"})
        self.assertEqual(reply["width"], 480)
        reply = await full.reply({"type": "start_preview", "requestId": 1})
        self.assertEqual(reply, {"type": "preview_started", "format": "json",
                                 "requestId": 1})
        for client in (full, small, binary):
            await client.wait_for(lambda: len(
                client.of_type("preview_frame")) + len(client.frames) >= 20)
        for frame in small.of_type("preview_frame")[-15:]:
            self.assertEqual(jpeg_size(base64.b64decode(frame["data"])),
                             (480, 320))
        for frame in binary.frames[-15:]:
            self.assertEqual(jpeg_size(frame), (480, 320))
        for frame in full.of_type("preview_frame")[-15:]:
            self.assertEqual(jpeg_size(base64.b64decode(frame["data"])),
                             (960, 640))
        numbers = [f["frame_number"] for f in small.of_type("preview_frame")]
        self.assertEqual(numbers, sorted(set(numbers)))
        self.assertEqual(len(self.service.scaled.streams), 1)

    async def test_change_size_and_stop(self):
        """
        C{start_preview} again with another size (or none) moves the client
        to it; the size it left, watched by nobody else, is dropped, and
        so is its size on C{stop_preview}.
        """
        client = await self.client()
        streams = self.service.scaled.streams
        await client.reply({"type": "start_preview", "requestId": 1,
                            "width": 240, "format": "binary"})
        await client.wait_for(lambda: len(client.frames) >= 5)
        self.assertEqual(list(streams), [(240, 80)])
        await client.reply({"type": "start_preview", "requestId": 2,
                            "width": 640, "quality": 50, "format": "binary"})
        self.assertEqual(list(streams), [(640, 50)])
        start = len(client.frames)
        await client.wait_for(lambda: len(client.frames) >= start + 5)
        self.assertEqual(jpeg_size(client.frames[-1]), (640, 427))
        await client.reply({"type": "start_preview", "requestId": 3,
                            "format": "binary"})
        self.assertEqual(streams, {})
        start = len(client.frames)
        await client.wait_for(lambda: len(client.frames) >= start + 5)
        self.assertEqual(jpeg_size(client.frames[-1]), (960, 640))
        await client.reply({"type": "start_preview", "requestId": 4,
                            "width": 320, "format": "binary"})
        self.assertEqual(list(streams), [(320, 80)])
        reply = await client.reply({"type": "stop_preview", "requestId": 5})
        self.assertEqual(reply["type"], "preview_stopped")
        self.assertEqual(streams, {})
        self.assertEqual(self.broadcaster.demand, 0)

    async def test_errors(self):
        """
        A bad width is an C{error} with code 400; one size over the limit
        an C{error} with code 503, the limit and the sizes served; the
        client keeps what it watched and the connection stays open.
        """
        one, two = await self.client(), await self.client()
        reply = await one.reply({"type": "start_preview", "requestId": 1,
                                 "width": "abc"})
        self.assertEqual(reply, {
            "type": "error", "code": 400, "requestId": 1,
            "error": "width must be a whole number of pixels between 16 "
            "and 4096 (got 'abc')"})
        reply = await one.reply({"type": "start_preview", "requestId": 2,
                                 "width": 480.0})
        self.assertEqual(reply["code"], 400)
        reply = await one.reply({"type": "start_preview", "requestId": 3,
                                 "quality": 50})
        self.assertEqual(reply["code"], 400)
        await one.reply({"type": "start_preview", "requestId": 4,
                         "width": 240, "format": "binary"})
        await two.reply({"type": "start_preview", "requestId": 4,
                         "width": 480, "format": "binary"})
        reply = await two.reply({"type": "start_preview", "requestId": 5,
                                 "width": 320, "format": "binary"})
        self.assertEqual(reply["type"], "error")
        self.assertEqual(reply["code"], 503)
        self.assertEqual(reply["limit"], 2)
        self.assertEqual(reply["sizes"], [{"width": 240, "quality": 80},
                                          {"width": 480, "quality": 80}])
        self.assertIn("preview.max_sizes", reply["error"])
        start = len(two.frames)
        await two.wait_for(lambda: len(two.frames) >= start + 5)
        self.assertEqual(jpeg_size(two.frames[-1]), (480, 320))
        reply = await two.reply({"type": "start_preview", "requestId": 6,
                                 "width": 240, "format": "binary"})
        self.assertEqual(reply["width"], 240)
        self.assertEqual(list(self.service.scaled.streams), [(240, 80)])
