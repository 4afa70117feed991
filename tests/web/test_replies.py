"""
What the seed's requests that act on the camera (L{fourcut.web.actions}:
C{/capture}, C{/reset}, C{/cmd}) and live view (L{fourcut.web.live}:
C{/preview}, C{/snapshot}) answer, over the whole site in memory.
"""

import os
import subprocess

from twisted.trial.unittest import SynchronousTestCase

from tests.support import jpeg_size
from tests.support.fakes import ISO_CONFIG, small_jpeg
from tests.support.memory import MemorySite
from tests.support.service import parse_multipart


class ReplyTestCase(SynchronousTestCase):
    config = None

    def setUp(self):
        self.site = MemorySite(self, self.config)
        self.session = self.site.session


class CaptureTests(ReplyTestCase):
    def test_capture(self):
        response = self.site.get("/capture")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["image/jpeg"])
        photo = self.site.content(response)
        self.assertEqual(jpeg_size(photo), (300, 200))
        [saved] = os.listdir(self.site.photos)
        self.assertEqual(response.headers.getRawHeaders(
            "content-disposition"), ['inline; filename="%s"' % (saved,)])
        with open(os.path.join(self.site.photos, saved), "rb") as f:
            self.assertEqual(f.read(), photo)
        self.assertEqual(self.session.called("capture"), [((), None)])

    def test_concurrent_captures(self):
        requests = [self.site.request("GET", "/capture") for _ in range(3)]
        for d in requests:
            self.assertEqual(self.successResultOf(d).code, 200)
        self.assertEqual(len(os.listdir(self.site.photos)), 3)


class ResetTests(ReplyTestCase):
    def test_reset(self):
        response = self.site.get("/reset")
        self.assertEqual(response.code, 200)
        self.assertEqual(self.site.content(response),
                         b"Camera has been reset.")
        self.assertEqual(self.session.called("reset"), [()])


class CommandTests(ReplyTestCase):
    def test_allowed(self):
        response = self.site.get("/cmd?arg=--get-config=iso")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["text/plain; charset=utf-8"])
        self.assertEqual(self.site.content(response), ISO_CONFIG)
        self.assertEqual(self.session.called("command"),
                         [(["--get-config=iso"],)])

    def test_refused(self):
        """
        Options off the allow-list never reach the session.
        """
        for query in ("arg=--hook-script=/bin/sh", "", "arg=-a&arg=-L",
                      "arg=--port=usb:"):
            response = self.site.get("/cmd?" + query)
            self.assertEqual(response.code, 400, query)
            self.assertIn(b"allowed:", self.site.content(response))
        self.assertEqual(self.session.calls, [])


class PreviewTests(ReplyTestCase):
    def test_stream(self):
        """
        Each frame is a part with its timestamp; the stream ends with the
        closing boundary at the client's timeout, and live view's demand
        goes with it.
        """
        response = self.site.get("/preview?timeout=1")
        self.assertEqual(response.code, 200)
        self.assertEqual(self.site.broadcaster.demand, 1)
        body = response.content()
        for n in range(3):
            self.site.broadcaster.publish(small_jpeg(), 1000.0 + n)
            self.site.advance(0.1)
        self.site.advance(1)
        parts, closed = parse_multipart(self.successResultOf(body))
        self.assertTrue(closed)
        self.assertEqual([headers[b"x-timestamp"] for headers, _ in parts],
                         [b"1000.000000", b"1001.000000", b"1002.000000"])
        self.assertEqual(self.site.broadcaster.demand, 0)
        self.assertEqual(self.session.demand, 0)

    def test_next_boundary_at_once(self):
        """
        Each frame is followed at once by the next part's boundary and
        known header, so a reader that cuts the stream at boundaries
        shows a frame as soon as it is in, not when the next one comes;
        the bytes are those of a part with Content-Length and
        X-Timestamp, as ever (issue 23).
        """
        for request in (b"GET /preview HTTP/1.0\r\n\r\n",
                        b"GET /preview HTTP/1.1\r\nHost: x\r\n\r\n"):
            client = self.site.raw(request)
            self.site.flush()
            jpegs = [small_jpeg(), small_jpeg((32, 16))]
            for n, jpeg in enumerate(jpegs):
                self.site.broadcaster.publish(jpeg, 1000.0 + n)
                self.site.flush()
                head, _, body = client.data.partition(b"\r\n\r\n")
                if b"chunked" in head:
                    body = dechunk(body)
                # What a boundary-cutting reader has: every part before
                # the last boundary, the one just published included.
                cut = body.split(b"\r\n--frame\r\n")
                self.assertEqual(cut[-1], b"Content-Type: image/jpeg\r\n")
                self.assertTrue(cut[-2].endswith(b"\r\n\r\n" + jpeg))
                parts, closed = parse_multipart(body)
                self.assertFalse(closed)
                self.assertEqual([data for _, data in parts][-n - 1:],
                                 jpegs[:n + 1])
                self.assertEqual(parts[-1][0], {
                    b"content-type": b"image/jpeg",
                    b"content-length": b"%d" % len(jpeg),
                    b"x-timestamp": b"%d.000000" % (1000 + n)})
            client.transport.loseConnection()
            self.site.flush()

    def test_ffmpeg_reads_every_frame(self):
        """
        ffmpeg's multipart demuxer decodes every frame of the stream as
        it is sent (each part's start ahead of its frame, an empty part
        before the closing boundary), and nothing else. It takes the
        closing boundary for bad data, as it did before parts were
        started ahead (ffmpeg 5.1): that is all it may say.
        """
        response = self.site.get("/preview?timeout=1")
        body = response.content()
        colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)] * 4
        for n, colour in enumerate(colours):
            self.site.broadcaster.publish(small_jpeg(colour=colour),
                                          1000.0 + n)
            self.site.advance(0.05)
        self.site.advance(1)
        stream = self.successResultOf(body)
        self.assertEqual(len(parse_multipart(stream)[0]), len(colours))
        result = subprocess.run(
            ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
             "-f", "mpjpeg", "-i", "pipe:0", "-f", "rawvideo",
             "-pix_fmt", "rgb24", "pipe:1"], input=stream,
            capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(result.stderr, (b"", b"pipe:0: Invalid data found "
                                      b"when processing input\n"))
        size = 96 * 64 * 3
        frames = [result.stdout[i:i + size]
                  for i in range(0, len(result.stdout), size)]
        self.assertEqual(len(frames), len(colours))
        for frame, colour in zip(frames, colours):
            middle = frame[size // 2 + 48 * 3:size // 2 + 48 * 3 + 3]
            self.assertTrue(all(abs(a - b) < 12
                                for a, b in zip(middle, colour)),
                            (tuple(middle), colour))

    def test_two_clients_share_frames(self):
        responses = [self.site.get("/preview?timeout=1") for _ in range(2)]
        self.assertEqual(self.site.broadcaster.demand, 2)
        bodies = [response.content() for response in responses]
        for n in range(3):
            self.site.broadcaster.publish(small_jpeg(), 1000.0 + n)
            self.site.advance(0.1)
        self.site.advance(1)
        first, second = [parse_multipart(self.successResultOf(body))[0]
                         for body in bodies]
        self.assertEqual(len(first), 3)
        self.assertEqual(first, second)

    def test_snapshot(self):
        d = self.site.request("GET", "/snapshot")
        self.assertNoResult(d)
        self.site.broadcaster.publish(small_jpeg(), 1234.5)
        self.site.flush()
        response = self.successResultOf(d)
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders("x-timestamp"),
                         ["1234.500000"])
        self.assertEqual(jpeg_size(self.site.content(response)), (96, 64))

    def test_snapshot_timeout(self):
        d = self.site.request("GET", "/snapshot")
        self.site.advance(self.site.config.preview.snapshot_timeout)
        response = self.successResultOf(d)
        self.assertEqual(response.code, 504)
        self.assertIn(b"no live view frame", self.site.content(response))

    def test_snapshot_of_placeholder(self):
        self.session.last_error = "Could not detect any camera"
        d = self.site.request("GET", "/snapshot")
        self.site.broadcaster.publish(small_jpeg(), 1.0, placeholder=True)
        self.site.flush()
        response = self.successResultOf(d)
        self.assertEqual(response.code, 503)
        self.assertIn(b"the camera is offline: Could not detect any camera",
                      self.site.content(response))


def dechunk(body):
    """
    The data of a chunked body's complete chunks.
    """
    data, position = b"", 0
    while True:
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            return data
        size = int(body[position:line_end], 16)
        if size == 0 or line_end + 4 + size > len(body):
            return data
        data += body[line_end + 2:line_end + 2 + size]
        position = line_end + 4 + size
