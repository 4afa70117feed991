"""
L{fourcut.booth.sequence}: the server's timing of a booth sequence under
a L{Clock}, with a camera and a strip maker the tests drive.
"""

from twisted.internet import defer, task
from twisted.trial.unittest import SynchronousTestCase

from fourcut.booth.sequence import (SequenceDefaults, SequenceError,
                                    SequenceRequest, SequenceRunner,
                                    parse_request)
from fourcut.config import parse_layout
from fourcut.errors import CameraError, SettingError


class FakeCamera:
    """
    C{capture()} returns a Deferred the test fires (or, with C{auto}, one
    that fires after C{delay} seconds on the clock).
    """

    def __init__(self, clock, delay=None):
        self.clock = clock
        self.delay = delay
        self.pending = []
        self.asked_at = []
        self.failures = {}

    def capture(self):
        number = len(self.asked_at) + 1
        self.asked_at.append(self.clock.seconds())
        if number in self.failures:
            return defer.fail(self.failures[number])
        result = ("shot-%d.jpg" % number, "/photos/shot-%d.jpg" % number,
                  b"\xff\xd8jpeg %d" % number)
        if self.delay is None:
            d = defer.Deferred()
            self.pending.append((d, result))
            return d
        return task.deferLater(self.clock, self.delay, lambda: result)


class Recorder:
    def __init__(self, clock):
        self.clock = clock
        self.events = []

    def __call__(self, event, origin):
        self.events.append((self.clock.seconds(), event, origin))

    def of(self, kind):
        return [(when, event) for when, event, _ in self.events
                if event["type"] == kind]


def make_strip(shots, request, sequence_id):
    return defer.succeed({"filename": "strip-1.jpg",
                          "filepath": "/photos/strip-1.jpg", "size": 10,
                          "url": "/photos/strip-1.jpg",
                          "share": "/share/k/strip-1.jpg"})


def near(testcase, got, expected, delta):
    testcase.assertTrue(abs(got - expected) <= delta,
                        "%r is not within %r of %r" % (got, delta, expected))


def request(count=4, countdown=3, interval=1.0, layout="2x2"):
    return SequenceRequest(count, countdown, interval, parse_layout(layout))


class TimingTests(SynchronousTestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1000)
        self.camera = FakeCamera(self.clock, delay=0.5)
        self.runner = SequenceRunner(self.clock, self.camera.capture,
                                     make_strip, new_id=lambda: "seq1")
        self.recorder = Recorder(self.clock)
        self.runner.subscribe(self.recorder)

    def run_all(self, step=0.125, limit=100.0):
        for _ in range(int(limit / step)):
            self.clock.advance(step)

    def test_ticks_on_the_interval(self):
        """
        3, 2, 1 one interval apart, the capture one interval after 1, and
        the next shot's countdown from the end of the capture.
        """
        d = self.runner.run(request(interval=1.0), origin="me")
        self.clock.advance(0)
        self.run_all()
        result = self.successResultOf(d)
        self.assertEqual(result["type"], "strip_ready")
        ticks = self.recorder.of("countdown")
        self.assertEqual([e["value"] for _, e in ticks], [3, 2, 1] * 4)
        self.assertEqual([e["shot"] for _, e in ticks],
                         [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4])
        start = 1000.0
        for shot in range(4):
            # Each shot: 3 s of countdown, then 0.5 s of capture.
            base = start + shot * 3.5
            times = [when for when, e in ticks if e["shot"] == shot + 1]
            for got, expected in zip(times, [base, base + 1, base + 2]):
                near(self, got, expected, delta=0.051)
            near(self, self.camera.asked_at[shot], base + 3,
                                   delta=0.051)
        self.assertEqual(len(self.recorder.of("photo_captured")), 4)
        self.assertEqual([o for _, _, o in self.recorder.events],
                         ["me"] * len(self.recorder.events))

    def test_order_of_events(self):
        d = self.runner.run(request(count=1, layout="1x1", countdown=2,
                                    interval=0.3))
        self.run_all(0.01, 3)
        self.successResultOf(d)
        kinds = [e["type"] for _, e, _ in self.recorder.events]
        self.assertEqual(kinds, ["sequence_started", "countdown", "countdown",
                                 "capturing", "photo_captured",
                                 "strip_ready"])
        started = self.recorder.events[0][1]
        self.assertEqual(started, {"type": "sequence_started",
                                   "sequenceId": "seq1", "count": 1,
                                   "countdown": 2, "interval": 0.3,
                                   "review": 0.0, "layout": "1x1"})
        photo = self.recorder.of("photo_captured")[0][1]
        self.assertEqual(photo["filename"], "shot-1.jpg")
        self.assertEqual(photo["url"], "/photos/shot-1.jpg")
        self.assertEqual(photo["shot"], 1)
        strip = self.recorder.of("strip_ready")[0][1]
        self.assertEqual(strip["shots"], ["shot-1.jpg"])
        self.assertEqual(strip["share"], "/share/k/strip-1.jpg")

    def test_slow_listener_does_not_stretch(self):
        """
        The deadlines are absolute: time a listener takes (a slow screen's
        send, here the clock moving on while a tick is handled) does not
        push the next tick back.
        """
        def slow(event, origin):
            if event["type"] == "countdown":
                self.clock.advance(0.2)
        # The slow screen is told first: the recorder sees the time it
        # took.
        self.runner = SequenceRunner(self.clock, self.camera.capture,
                                     make_strip, new_id=lambda: "seq1")
        self.runner.subscribe(slow)
        self.runner.subscribe(self.recorder)
        self.runner.run(request(count=1, layout="1x1", countdown=3))
        self.run_all(0.01, 5)
        times = [when for when, _ in self.recorder.of("countdown")]
        near(self, times[1] - times[0], 1.0, delta=0.011)
        near(self, times[2] - times[0], 2.0, delta=0.011)
        near(self, self.camera.asked_at[0] - (times[0] - 0.2),
                               3.0, delta=0.011)

    def test_no_countdown(self):
        self.runner.run(request(count=2, layout="1x2", countdown=0))
        self.clock.advance(0)
        self.assertEqual(self.camera.asked_at, [1000.0])
        self.clock.advance(0.5)
        self.clock.advance(0)
        self.assertEqual(self.camera.asked_at, [1000.0, 1000.5])
        self.assertEqual(self.recorder.of("countdown"), [])

    def test_second_sequence_refused(self):
        first = self.runner.run(request())
        self.clock.advance(1.5)
        second = self.runner.run(request())
        error = self.failureResultOf(second, SequenceError).value
        self.assertEqual(error.code, 409)
        self.assertIn("already running (shot 1 of 4)", str(error))
        self.assertEqual(error.details["sequenceId"], "seq1")
        self.run_all()
        self.successResultOf(first)
        # Once it is done, another may start.
        third = self.runner.run(request())
        self.run_all()
        self.successResultOf(third)
        self.assertEqual(len(self.camera.asked_at), 8)

    def test_failure_half_way(self):
        """
        Shot 3 fails: the sequence ends, says which shot and why, and
        names the two shots kept; no strip is made.
        """
        made = []
        self.runner.make_strip = lambda *args: made.append(args)
        self.camera.failures[3] = CameraError(
            503, "*** Error ***\nPerhaps no focus?\n")
        d = self.runner.run(request(), origin="me")
        self.run_all()
        error = self.failureResultOf(d, SequenceError).value
        self.assertEqual(error.code, 503)
        self.assertEqual(str(error), "shot 3 of 4 failed: *** Error ***\n"
                         "Perhaps no focus? (shot-1.jpg, shot-2.jpg kept)")
        self.assertEqual(error.details["shot"], 3)
        self.assertEqual(error.details["shots"], ["shot-1.jpg", "shot-2.jpg"])
        failed = self.recorder.of("sequence_failed")
        self.assertEqual(len(failed), 1)
        self.assertEqual(failed[0][1]["shot"], 3)
        self.assertEqual(failed[0][1]["code"], 503)
        self.assertEqual(len(self.camera.asked_at), 3)
        self.assertEqual(made, [])
        self.assertIsNone(self.runner.current)

    def test_save_and_setting_failures(self):
        for error, code, text in [
                (OSError(28, "No space left on device"), 507,
                 "the photo could not be saved: No space left on device"),
                (SettingError("iso: 123 is not a choice", {}), 400,
                 "iso: 123 is not a choice"),
                (RuntimeError("a bug"), 500, "internal error")]:
            self.camera.failures = {1: error}
            self.camera.asked_at = []
            d = self.runner.run(request(count=1, layout="1x1", countdown=0))
            self.clock.advance(0)
            failure = self.failureResultOf(d, SequenceError).value
            self.assertEqual(failure.code, code)
            self.assertIn(text, str(failure))
        self.flushLoggedErrors(RuntimeError)

    def test_strip_failure_keeps_shots(self):
        self.runner.make_strip = lambda *args: defer.fail(
            ValueError("broken artwork"))
        d = self.runner.run(request(count=2, layout="2x1", countdown=0))
        self.run_all(0.1, 3)
        error = self.failureResultOf(d, SequenceError).value
        self.assertEqual(error.code, 500)
        self.assertIsNone(error.details["shot"])
        self.assertEqual(error.details["shots"], ["shot-1.jpg", "shot-2.jpg"])
        self.assertIn("the strip failed", str(error))
        self.flushLoggedErrors(ValueError)

    def test_stop_during_countdown(self):
        d = self.runner.run(request())
        self.run_all(0.1, 4.0)
        self.runner.stop()
        error = self.failureResultOf(d, SequenceError).value
        self.assertEqual(error.code, 503)
        self.assertIn("shot 2 of 4 failed: the server is stopping", str(error))
        self.assertEqual(error.details["shots"], ["shot-1.jpg"])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        refused = self.runner.run(request())
        self.assertEqual(self.failureResultOf(refused, SequenceError)
                         .value.code, 503)

    def test_stop_during_capture(self):
        """
        Stopped while the camera works: the shot is kept, and no next
        countdown starts.
        """
        d = self.runner.run(request())
        self.run_all(0.1, 3.2)
        self.assertEqual(len(self.camera.asked_at), 1)
        self.runner.stop()
        self.run_all(0.1, 1)
        error = self.failureResultOf(d, SequenceError).value
        self.assertEqual(error.details["shots"], ["shot-1.jpg"])
        self.assertEqual(len(self.camera.asked_at), 1)

    def test_listener_error_does_not_stop_the_sequence(self):
        def broken(event, origin):
            raise ZeroDivisionError()
        self.runner.subscribe(broken)
        d = self.runner.run(request(count=1, layout="1x1", countdown=1))
        self.run_all(0.1, 3)
        self.successResultOf(d)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 5)


class ReviewTests(SynchronousTestCase):
    """
    Each shot stays on screen for C{review} seconds before the next
    countdown; with C{retake}, a guest may take it again meanwhile.
    """

    def setUp(self):
        self.clock = task.Clock()
        self.camera = FakeCamera(self.clock, delay=0.5)
        self.runner = SequenceRunner(self.clock, self.camera.capture,
                                     make_strip, new_id=lambda: "seq1")
        self.recorder = Recorder(self.clock)
        self.runner.subscribe(self.recorder)

    def wait(self, seconds, step=0.05):
        for _ in range(int(seconds / step)):
            self.clock.advance(step)

    def test_review_delays_the_next_countdown(self):
        d = self.runner.run(SequenceRequest(2, 1, 1.0, parse_layout("1x2"),
                                            review=2.0))
        self.wait(10)
        self.successResultOf(d)
        photos = self.recorder.of("photo_captured")
        self.assertEqual([e["review"] for _, e in photos], [2.0, 2.0])
        self.assertEqual([e["retake"] for _, e in photos], [False, False])
        # Shot 1 saved at 1.5; shot 2's tick 2 s later.
        ticks = [when for when, e in self.recorder.of("countdown")]
        near(self, ticks[1] - photos[0][0], 2.0, 0.051)
        # Retakes are not allowed.
        self.assertRaises(SequenceError, self.runner.retake)

    def test_retake(self):
        """
        A retake while shot 1 is shown takes it again at once (a new
        countdown for shot 1); the strip has the new photo; a shot is
        retaken once at most, and only while it is shown.
        """
        strips = []

        def keep(shots, request, sequence_id):
            strips.append([name for name, _, _ in shots])
            return make_strip(shots, request, sequence_id)
        self.runner.make_strip = keep
        d = self.runner.run(SequenceRequest(2, 1, 1.0, parse_layout("1x2"),
                                            review=3.0, retake=True))
        self.assertRaises(SequenceError, self.runner.retake)
        self.wait(1.6)
        self.assertEqual(self.recorder.of("photo_captured")[0][1]["retake"],
                         True)
        self.assertRaises(SequenceError, self.runner.retake, 2)
        self.runner.retake(1)
        self.clock.advance(0)
        self.assertEqual(len(self.recorder.of("retake")), 1)
        self.wait(1.6)
        photos = self.recorder.of("photo_captured")
        self.assertEqual([e["shot"] for _, e in photos], [1, 1])
        # The second take of shot 1 may not be retaken.
        self.assertFalse(photos[1][1]["retake"])
        self.assertRaises(SequenceError, self.runner.retake)
        self.wait(20)
        event = self.successResultOf(d)
        self.assertEqual(event["shots"], ["shot-2.jpg", "shot-3.jpg"])
        self.assertEqual(strips, [["shot-2.jpg", "shot-3.jpg"]])
        # The last shot, retake allowed, is shown too before the strip.
        self.assertEqual(self.recorder.of("photo_captured")[-1][1]["retake"],
                         True)

    def test_stop_during_review(self):
        d = self.runner.run(SequenceRequest(2, 0, 1.0, parse_layout("1x2"),
                                            review=3.0, retake=True))
        self.wait(1)
        self.runner.stop()
        error = self.failureResultOf(d, SequenceError).value
        self.assertEqual(error.code, 503)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class ThumbnailTests(SynchronousTestCase):
    def test_thumbnail_in_photo_captured(self):
        clock = task.Clock()
        camera = FakeCamera(clock, delay=0)
        runner = SequenceRunner(clock, camera.capture, make_strip,
                                thumbnail=lambda jpeg: defer.succeed(b"small"))
        recorder = Recorder(clock)
        runner.subscribe(recorder)
        runner.run(request(count=1, layout="1x1", countdown=0))
        clock.advance(0)
        clock.advance(0)
        photo = recorder.of("photo_captured")[0][1]
        self.assertEqual(photo["thumbnail"], "c21hbGw=")


class ParseTests(SynchronousTestCase):
    defaults = SequenceDefaults("2x2", 3, 1.0)

    def test_defaults(self):
        self.assertEqual(parse_request({}, self.defaults),
                         SequenceRequest(4, 3, 1.0, parse_layout("2x2")))

    def test_layout_gives_count(self):
        got = parse_request({"layout": "1x4", "countdown": 5,
                             "interval": 0.5}, self.defaults)
        self.assertEqual(got, SequenceRequest(4, 5, 0.5, parse_layout("1x4")))
        got = parse_request({"layout": "1x3"}, self.defaults)
        self.assertEqual(got.count, 3)

    def test_http_strings(self):
        got = parse_request({"count": "4", "countdown": "2",
                             "interval": "0.3", "layout": "2x2"},
                            self.defaults)
        self.assertEqual(got, SequenceRequest(4, 2, 0.3, parse_layout("2x2")))

    def test_review(self):
        """
        A request may set how long each shot is shown (0 to 10 s; an
        HTTP client's as text); without it, the booth's.
        """
        defaults = SequenceDefaults("2x2", 3, 1.0, review=1.5)
        self.assertEqual(parse_request({}, defaults).review, 1.5)
        self.assertEqual(parse_request({"review": 0}, defaults).review, 0)
        self.assertEqual(parse_request({"review": "2.5"}, defaults).review,
                         2.5)
        self.assertEqual(parse_request({"review": 10}, defaults).review, 10)

    def test_refused(self):
        for fields, text in [
                ({"review": -1}, "'review' must be a number of seconds "
                                 "from 0 to 10"),
                ({"review": 10.5}, "'review'"),
                ({"review": "nan"}, "'review'"),
                ({"review": True}, "'review'"),
                ({"count": 3}, "'count' 3 does not fill layout 2x2"),
                ({"count": 0}, "'count' must be an integer from 1 to 12"),
                ({"count": True}, "'count' must be an integer"),
                ({"count": "four"}, "'count' must be an integer"),
                ({"countdown": 11}, "'countdown' must be an integer from 0"),
                ({"countdown": -1}, "'countdown'"),
                ({"interval": 0}, "'interval' must be a number of seconds"),
                ({"interval": "nan"}, "'interval'"),
                ({"interval": 60}, "'interval'"),
                ({"layout": "3x"}, "'layout': a layout is COLUMNSxROWS"),
                ({"layout": 22}, "'layout'"),
                ({"layout": "7x1"}, "'layout'")]:
            with self.assertRaises(SequenceError) as caught:
                parse_request(fields, self.defaults)
            self.assertIn(text, str(caught.exception), fields)
            self.assertEqual(caught.exception.code, 400)
