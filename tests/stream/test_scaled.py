"""
Tests of L{fourcut.stream.scaled}: what a client may ask for, how a frame
is downscaled, and the streams of each size (shared, encoded once per
frame in the thread pool with the newest frame first, bounded in number,
dropped with their last client), on a reactor whose thread pool the tests
run by hand.
"""

import io

from PIL import Image, ImageDraw
from twisted.internet import defer, reactor
from twisted.internet.task import Clock
from twisted.python import threadable
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fourcut.stream.broadcast import (Broadcaster, EncodedFrames, Frame,
                               LatestFrameProducer)
from fourcut.stream.scaled import (DEFAULT_QUALITY, Downscale, PerSource,
                                   ScaledFrame, ScaledStream, ScaledStreams,
                                   SizeError, jpeg_size, parse_size)
from fourcut.stream.transform import TransformError

from tests.stream.test_broadcast import Recorder


def picture(size=(960, 640), colour=(200, 30, 30), quality=85):
    """
    A JPEG of C{size}: C{colour} with a white square in the top-left
    quarter, so that a scaled copy can be told from a cropped one.
    """
    image = Image.new("RGB", size, colour)
    width, height = size
    ImageDraw.Draw(image).rectangle((0, 0, width // 4, height // 4),
                                    fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


FRAME = picture()


def pixel(jpeg, x, y):
    image = Image.open(io.BytesIO(jpeg))
    image.load()
    return image.getpixel((x, y))


class ManualPool:
    """
    A thread pool whose jobs run only when the test says, on the test's
    thread.
    """

    def __init__(self):
        self.jobs = []

    def callInThreadWithCallback(self, on_result, function, *args, **kw):
        self.jobs.append((on_result, function, args, kw))

    def run(self, count=None):
        """
        Run the waiting jobs (and those they lead to), or C{count} of them.
        """
        ran = 0
        while self.jobs and (count is None or ran < count):
            on_result, function, args, kw = self.jobs.pop(0)
            try:
                result, ok = function(*args, **kw), True
            except BaseException:
                result, ok = Failure(), False
            on_result(ok, result)
            ran += 1
        return ran


class ManualReactor(Clock):
    """
    A clock with a L{ManualPool} and a C{callFromThread} that calls at
    once (every "thread" is the test's).
    """

    def __init__(self):
        Clock.__init__(self)
        self.pool = ManualPool()

    def getThreadPool(self):
        return self.pool

    def callFromThread(self, function, *args, **kw):
        function(*args, **kw)


class ParseSizeTests(SynchronousTestCase):

    def assertRefused(self, width, quality, text):
        error = self.assertRaises(SizeError, parse_size, width, quality)
        self.assertEqual(error.code, 400)
        self.assertEqual(str(error), text)

    def test_full_size(self):
        self.assertIsNone(parse_size(None, None))

    def test_query_text(self):
        self.assertEqual(parse_size("480"), (480, DEFAULT_QUALITY))
        self.assertEqual(parse_size(b"480", b"60"), (480, 60))
        self.assertEqual(parse_size("16", "1"), (16, 1))
        self.assertEqual(parse_size("4096", "95"), (4096, 95))

    def test_json_numbers(self):
        self.assertEqual(parse_size(480, 60), (480, 60))

    def test_bad_width(self):
        for value, shown in [
                ("abc", "'abc'"), ("", "''"), ("15", "'15'"),
                ("4097", "'4097'"), ("-1", "'-1'"), ("+480", "'+480'"),
                ("480.0", "'480.0'"), (" 480", "' 480'"), ("1e3", "'1e3'"),
                ("\u0664\u0668\u0660", "'\u0664\u0668\u0660'"),
                (b"\xff", "'\ufffd'"), (480.0, "480.0"), (True, "True"),
                ([480], "[480]"), (0, "0"), (100000, "100000"),
                ({"w": 1}, "{'w': 1}"),
                (list(range(100)), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, "
                 "1..."), (10 ** 100, "1" + "0" * 39 + "..."),
                ("9" * 50, "'" + "9" * 40 + "...'")]:
            self.assertRefused(
                value, None, "width must be a whole number of pixels "
                "between 16 and 4096 (got %s)" % (shown,))

    def test_bad_quality(self):
        for value, shown in [("0", "'0'"), ("96", "'96'"), ("x", "'x'"),
                             (80.5, "80.5"), (False, "False")]:
            self.assertRefused(
                "480", value, "quality must be a whole number between 1 "
                "and 95 (got %s)" % (shown,))

    def test_quality_alone(self):
        """
        The full-size stream is never re-encoded: a quality without a
        width is refused rather than ignored.
        """
        error = self.assertRaises(SizeError, parse_size, None, "50")
        self.assertEqual(error.code, 400)
        self.assertIn("give width too", str(error))


class DownscaleTests(SynchronousTestCase):

    def test_half(self):
        """
        960x640 at width 480 is 480x320, the same picture: the white
        square stays in the top-left quarter.
        """
        out = Downscale(480)(FRAME)
        self.assertEqual(jpeg_size(out), (480, 320))
        self.assertGreater(min(pixel(out, 40, 30)), 230)
        red = pixel(out, 400, 250)
        self.assertGreater(red[0], 170)
        self.assertLess(red[1], 70)

    def test_height_follows_aspect(self):
        self.assertEqual(jpeg_size(Downscale(300)(FRAME)), (300, 200))
        self.assertEqual(jpeg_size(Downscale(640)(FRAME)), (640, 427))
        portrait = picture((640, 960))
        self.assertEqual(jpeg_size(Downscale(320)(portrait)), (320, 480))
        self.assertEqual(Downscale(100).size_for((1000, 1)), (100, 1))

    def test_quality(self):
        small = Downscale(480, 10)(FRAME)
        large = Downscale(480, 95)(FRAME)
        self.assertLess(len(small), len(large))

    def test_not_wider(self):
        """
        A frame no wider than the width is passed through: the same bytes,
        not re-encoded.
        """
        self.assertIs(Downscale(960)(FRAME), FRAME)
        self.assertIs(Downscale(4096, 10)(FRAME), FRAME)

    def test_bad_input(self):
        for data in (b"", b"not a jpeg", FRAME[:500]):
            self.assertRaises(TransformError, Downscale(480), data)
        self.assertRaises(TransformError, jpeg_size, b"nope")

    def test_grayscale(self):
        image = Image.new("L", (960, 640), 128)
        out = io.BytesIO()
        image.save(out, "JPEG")
        self.assertEqual(jpeg_size(Downscale(480)(out.getvalue())),
                         (480, 320))


class ScaledStreamsTests(SynchronousTestCase):

    def setUp(self):
        self.reactor = ManualReactor()
        self.demand = []
        self.source = Broadcaster(on_demand_changed=self.demand.append)
        self.streams = ScaledStreams(self.reactor, self.source, max_sizes=2)

    def watch(self, width=480, quality=DEFAULT_QUALITY):
        stream = self.streams.acquire(width, quality)
        recorder = Recorder()
        stream.subscribe(recorder)
        return stream, recorder

    def test_encoded_once_for_every_client(self):
        """
        Two clients of one size share one stream; each frame is encoded
        once, in the thread pool, and both get the same L{Frame} with the
        camera frame's number, timestamp and mark.
        """
        first, a = self.watch()
        second, b = self.watch()
        self.assertIs(first, second)
        self.assertEqual(self.source.demand, 1)
        self.assertEqual(first.demand, 2)
        frame = self.source.publish(FRAME, 1234.5)
        self.assertEqual(a.frames, [])      # not on the reactor thread
        self.assertEqual(self.reactor.pool.run(), 1)
        self.assertEqual(len(a.frames), 1)
        self.assertIs(a.frames[0], b.frames[0])
        scaled = a.frames[0]
        self.assertEqual(jpeg_size(scaled.data), (480, 320))
        self.assertEqual((scaled.number, scaled.timestamp,
                          scaled.placeholder), (frame.number, 1234.5, False))
        self.assertIs(first.latest, scaled)
        self.assertIs(scaled.stream, first)
        self.assertEqual(first.encodes, 1)
        # The full-size stream is untouched.
        self.assertIs(self.source.latest.data, FRAME)

    def test_newest_wins(self):
        """
        Frames that come while one is being encoded wait in one slot, the
        newest replacing the older: a slow size skips frames, and the
        numbers show it.
        """
        stream, recorder = self.watch()
        for n in range(4):
            self.source.publish(picture(colour=(n * 60, 0, 0)), 10.0 + n)
        self.assertEqual(len(self.reactor.pool.jobs), 1)
        self.reactor.pool.run()
        self.assertEqual(recorder.numbers, [1, 4])
        self.assertEqual([f.timestamp for f in recorder.frames],
                         [10.0, 13.0])
        self.assertEqual((stream.encodes, stream.encoder.skipped), (2, 2))

    def test_placeholder_scaled(self):
        stream, recorder = self.watch()
        self.source.publish(FRAME, 1.0, placeholder=True)
        self.reactor.pool.run()
        self.assertTrue(recorder.frames[0].placeholder)
        self.assertEqual(jpeg_size(recorder.frames[0].data), (480, 320))

    def test_sizes_and_qualities(self):
        """
        Each distinct (width, quality) is a stream of its own.
        """
        one, a = self.watch(480, 80)
        two, b = self.watch(480, 50)
        self.assertIsNot(one, two)
        self.assertEqual(self.streams.sizes(), [(480, 50), (480, 80)])
        self.assertEqual(self.source.demand, 2)
        self.source.publish(FRAME, 1.0)
        self.reactor.pool.run()
        self.assertLess(len(b.frames[0].data), len(a.frames[0].data))

    def test_last_client_releases(self):
        """
        When the last client goes, the stream leaves the camera's
        broadcaster (demand 0 there), a frame being encoded is not sent,
        and its slot is free; the next client of that size gets a new
        stream.
        """
        stream, a = self.watch()
        b = Recorder()
        stream.subscribe(b)
        self.source.publish(FRAME, 1.0)
        stream.unsubscribe(a)
        self.assertEqual(self.source.demand, 1)
        stream.unsubscribe(b)
        self.assertEqual(self.source.demand, 0)
        self.assertEqual(self.demand, [1, 0])
        self.assertEqual(self.streams.streams, {})
        self.reactor.pool.run()
        self.assertEqual(a.frames + b.frames, [])
        self.source.publish(FRAME, 2.0)
        self.assertEqual(self.reactor.pool.jobs, [])
        again, c = self.watch()
        self.assertIsNot(again, stream)
        self.source.publish(FRAME, 3.0)
        self.reactor.pool.run()
        self.assertEqual(c.numbers, [3])

    def test_limit(self):
        """
        One size more than C{max_sizes} is a 503 that names the limit and
        the sizes served; one of those is still served, and once a size
        is released another may take its slot.
        """
        small, a = self.watch(240)
        self.watch(480)
        error = self.assertRaises(SizeError, self.streams.acquire, 320, 80)
        self.assertEqual(error.code, 503)
        self.assertEqual(
            str(error), "too many live view sizes at once: the limit is 2 "
            "(preview.max_sizes), serving width 240 quality 80, width 480 "
            "quality 80; ask for one of those or the full size (no width)")
        self.assertEqual(error.details, {
            "limit": 2, "sizes": [{"width": 240, "quality": 80},
                                  {"width": 480, "quality": 80}]})
        self.assertIs(self.streams.acquire(240, 80), small)
        small.unsubscribe(a)
        self.watch(320)
        self.assertEqual(self.streams.sizes(), [(320, 80), (480, 80)])

    def test_never_subscribed(self):
        """
        A stream acquired but never subscribed to (its client went before)
        does not keep its slot.
        """
        self.streams.acquire(240, 80)
        self.streams.acquire(480, 80)
        self.watch(320)
        self.assertEqual(self.streams.sizes(), [(320, 80)])

    def test_off(self):
        streams = ScaledStreams(self.reactor, self.source, max_sizes=0)
        error = self.assertRaises(SizeError, streams.acquire, 480, 80)
        self.assertEqual(error.code, 503)
        self.assertIn("preview.max_sizes is 0", str(error))

    def test_full_size(self):
        """
        A width at least the camera frame's, once it is known, is the
        camera's broadcaster itself: no slot, no encoding, even with
        downscaling off.
        """
        self.assertIsNone(self.streams.source_size())
        self.source.publish(FRAME, 1.0)
        self.assertEqual(self.streams.source_size(), (960, 640))
        for width in (960, 4096):
            self.assertIs(self.streams.acquire(width, 80), self.source)
        off = ScaledStreams(self.reactor, self.source, max_sizes=0)
        self.assertIs(off.acquire(1000, 80), self.source)
        self.assertEqual(self.streams.streams, {})
        self.assertIsInstance(self.streams.acquire(959, 80), ScaledStream)

    def test_full_size_unknown(self):
        """
        Before the first frame the camera's width is not known: a width
        at least as wide takes a slot, and passes the frames through.
        """
        stream, recorder = self.watch(1920)
        self.assertIsInstance(stream, ScaledStream)
        self.source.publish(FRAME, 1.0)
        self.reactor.pool.run()
        self.assertIs(recorder.frames[0].data, FRAME)

    def test_unreadable_frame(self):
        """
        A frame the decoder cannot read is skipped for that size; the next
        one goes out.
        """
        stream, recorder = self.watch()
        self.source.publish(b"garbage", 1.0)
        self.reactor.pool.run()
        self.assertIsNone(self.streams.source_size())
        self.source.publish(FRAME, 2.0)
        self.reactor.pool.run()
        self.assertEqual(recorder.numbers, [2])
        self.assertEqual(stream.encoder.failed, 1)

    def test_latest_frame_producer(self):
        """
        A client's L{LatestFrameProducer} subscribes to a stream as to the
        camera's broadcaster, and skips frames while paused.
        """
        stream = self.streams.acquire(480, 80)
        written = []
        producer = LatestFrameProducer(written.append)
        stream.subscribe(producer)
        self.source.publish(FRAME, 1.0)
        self.reactor.pool.run()
        producer.pauseProducing()
        for n in (2, 3):
            self.source.publish(FRAME, float(n))
            self.reactor.pool.run()
        producer.resumeProducing()
        self.assertEqual([frame.number for frame in written], [1, 3])
        self.assertEqual(producer.skipped, 1)

    def test_next_frame(self):
        stream = self.streams.acquire(480, 80)
        waiting = stream.next_frame(5, self.reactor)
        self.assertEqual(self.source.demand, 1)
        self.source.publish(FRAME, 1.0)
        self.reactor.pool.run()
        self.assertEqual(jpeg_size(self.successResultOf(waiting).data),
                         (480, 320))
        self.assertEqual(self.source.demand, 0)

    def test_scale_once(self):
        frame = self.source.publish(FRAME, 5.0)
        scaled = self.streams.scale_once(frame, 480, 50)
        self.assertNoResult(scaled)
        self.reactor.pool.run()
        result = self.successResultOf(scaled)
        self.assertEqual(jpeg_size(result.data), (480, 320))
        self.assertEqual((result.number, result.timestamp), (1, 5.0))
        self.assertEqual(self.streams.streams, {})
        self.assertIs(self.successResultOf(
            self.streams.scale_once(frame, 960, 50)), frame)
        off = ScaledStreams(self.reactor, self.source, max_sizes=0)
        self.assertRaises(SizeError, off.scale_once, frame, 480, 50)

    def test_scale_once_shared_and_bounded(self):
        """
        Snapshots of one frame at one size share one encoding; at most
        C{max_sizes} run at once, beyond that a 503; a failure reaches
        every snapshot waiting for it and is not kept.
        """
        frame = self.source.publish(FRAME, 5.0)
        one = self.streams.scale_once(frame, 480, 80)
        two = self.streams.scale_once(frame, 480, 80)
        self.streams.scale_once(frame, 240, 80)
        self.assertEqual(len(self.reactor.pool.jobs), 2)
        error = self.assertRaises(SizeError, self.streams.scale_once,
                                  frame, 320, 80)
        self.assertEqual(error.code, 503)
        self.assertIn("too many snapshots", str(error))
        self.reactor.pool.run()
        scaled = self.successResultOf(one)
        self.assertEqual(jpeg_size(scaled.data), (480, 320))
        self.assertIs(self.successResultOf(two), scaled)
        self.assertIs(self.successResultOf(
            self.streams.scale_once(frame, 480, 80)), scaled)
        self.assertEqual(self.reactor.pool.jobs, [])
        bad = self.source.publish(b"garbage", 6.0)
        failing = [self.streams.scale_once(bad, 480, 80) for _ in range(2)]
        self.reactor.pool.run()
        for d in failing:
            self.failureResultOf(d, TransformError)
        again = self.streams.scale_once(bad, 480, 80)
        self.assertEqual(len(self.reactor.pool.jobs), 1)
        self.reactor.pool.run()
        self.failureResultOf(again, TransformError)


class PerSourceTests(SynchronousTestCase):

    def test_one_cache_per_source(self):
        """
        Frames of two sizes share their numbers; each source has its own
        cache, so they are never mixed up, and a source's cache goes with
        it.
        """
        full = Broadcaster()
        parts = EncodedFrames(lambda frame: b"full " + frame.data)
        caches = PerSource(lambda: EncodedFrames(
            lambda frame: b"small " + frame.data), full, parts)
        small = Broadcaster()
        self.assertIs(caches.get(full), parts)
        self.assertIs(caches.get(small), caches.get(small))
        self.assertEqual(
            caches.get(full).get(Frame(b"a", 1, 1.0)), b"full a")
        self.assertEqual(
            caches.get(small).get(Frame(b"b", 1, 1.0)), b"small b")
        del small
        self.assertEqual(len(caches._caches), 1)

    def test_for_frame(self):
        """
        A frame's cache is its own stream's, whichever source the client
        writing it watches now (one that changed sizes may still write a
        frame of the old size).
        """
        full = Broadcaster()
        parts = EncodedFrames(lambda frame: b"full")
        caches = PerSource(lambda: EncodedFrames(lambda frame: b"small"),
                           full, parts)
        stream = ScaledStream(ManualReactor(), full, 480, 80)
        self.assertIs(caches.for_frame(Frame(b"a", 1, 1.0)), parts)
        small = ScaledFrame(b"a", 1, 1.0, stream=stream)
        self.assertIs(caches.for_frame(small), caches.get(stream))
        self.assertEqual(caches.for_frame(small).get(small), b"small")


class ThreadTests(TestCase):
    """
    On the real reactor and its thread pool.
    """

    timeout = 30

    async def test_off_the_reactor_thread(self):
        source = Broadcaster()
        streams = ScaledStreams(reactor, source)
        stream = streams.acquire(480, 80)
        threads = []
        encode = stream.encoder.transform

        def recording(jpeg):
            threads.append(threadable.isInIOThread())
            return encode(jpeg)
        recording.identity = False
        stream.encoder.transform = recording
        got = defer.Deferred()
        recorder = Recorder()
        recorder.offer = got.callback
        stream.subscribe(recorder)
        self.addCleanup(stream.unsubscribe, recorder)
        source.publish(FRAME, 1.0)
        frame = await got.addTimeout(10, reactor)
        self.assertEqual(threads, [False])
        self.assertEqual(jpeg_size(frame.data), (480, 320))
        await stream.encoder.when_idle()
