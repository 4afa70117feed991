"""
The camera session and its drivers under L{task.Clock}, with fake live
views and a fake camera worker: what the session does with live view
around an operation for each driver, retries, the held driver's worker
lifecycle and C{release_after}. The same paths run end to end against the
virtual camera in L{tests.integration.test_service}, L{tests.integration.test_service_eos} and
L{tests.integration.test_supervision}.
"""

from twisted.internet import defer, task
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from fourcut.camera.capture import PhotoTaker
from fourcut.camera.demand import Demand
from fourcut.camera.gphoto2 import GPhoto2
from fourcut.camera.held import HeldDriver
from fourcut.camera.liveview import FIRST_RETRY_DELAY, LiveViewSupervisor
from fourcut.camera.modes import CameraModes, ModeSwitch
from fourcut.camera.processes import Children
from fourcut.camera.session import CameraSession
from fourcut.camera.shots import Shot
from fourcut.camera.state import CameraState
from fourcut.camera.workerclient import WorkerEnded
from fourcut.booth.sequence import (SequenceDefaults, SequenceRunner,
                                    parse_request)
from fourcut.errors import CameraError, SettingError
from fourcut.metrics import CaptureMetrics, Metrics
from fourcut.stream.broadcast import Broadcaster


class SynchronousPool:
    """
    A thread pool that runs its work at once (for deferToThreadPool).
    """

    def callInThreadWithCallback(self, on_result, f, *args, **kwargs):
        try:
            result = f(*args, **kwargs)
        except BaseException:
            on_result(False, Failure())
        else:
            on_result(True, result)


class FakeReactor(task.Clock):
    def getThreadPool(self):
        return SynchronousPool()

    def callFromThread(self, f, *args, **kwargs):
        f(*args, **kwargs)


class FakePhotos:
    def __init__(self):
        self.saved = []

    def save(self, data, name_hint=None):
        name = name_hint or "photo-%d.jpg" % (len(self.saved) + 1,)
        self.saved.append((name, data))
        return name, "/photos/" + name


class FakeLive:
    """
    Live view as a driver gives it to the session.
    """

    def __init__(self, on_frame, pid):
        self.on_frame = on_frame
        self.pid = pid
        self.frames = 0
        self.started = defer.Deferred()
        self.ended = defer.Deferred()
        self.stopped = False
        self.killed = None

    def frame(self):
        self.frames += 1
        self.on_frame(b"\xff\xd8frame", 0.0)
        if not self.started.called:
            self.started.callback(None)

    def die(self, text="it died\n"):
        self.ended.callback((Failure(CameraError(503, text)), text))

    def stop(self):
        self.stopped = True
        if not self.ended.called:
            self.ended.callback((Failure(Exception("stopped")), ""))
        return defer.succeed(None)

    def kill(self, why):
        self.killed = why
        self.die(why)
        return defer.succeed(None)


class FakeSettings:
    def __init__(self):
        self.applied = []

    def apply(self, pairs, on_start=None):
        self.applied.append(tuple(pairs))
        return defer.succeed({"ok": True, "results": [
            {"name": name, "ok": True, "value": value}
            for name, value in pairs]})

    def get(self, section, option, on_start=None):
        return defer.succeed({"value": "100"})

    def info(self, on_start=None):
        return defer.succeed({"model": "Fake EOS", "battery": "50%"})


class FakeDriver:
    """
    A driver whose live views and captures the test controls.
    """

    name = "fake"

    def __init__(self, holds_session):
        self.holds_session = holds_session
        self.settings = FakeSettings()
        self.lives = []
        self.captures = []
        self.modes = []
        self.releases = 0
        self.idles = 0

    def start_live_view(self, on_frame):
        live = FakeLive(on_frame, 100 + len(self.lives))
        self.lives.append(live)
        return live

    def capture(self, settings, deadline, mode=()):
        d = defer.Deferred()
        self.captures.append((settings, d))
        self.modes.append(mode)
        return d

    def delete(self, location):
        return defer.succeed(None)

    def release(self):
        self.releases += 1
        return defer.succeed(None)

    def idle(self):
        self.idles += 1

    def close(self):
        pass


class SessionTests(SynchronousTestCase):
    holds_session = True

    def setUp(self):
        self.clock = FakeReactor()
        self.driver = FakeDriver(self.holds_session)
        self.photos = FakePhotos()
        self.captures = FakeCaptureObserver()
        self.session = self.make_session()
        self.frames = []

    def make_session(self, modes=CameraModes()):
        """
        A session over the fake driver, as L{fourcut.tap.make_session}
        builds one.
        """
        demand = Demand()
        self.broadcaster = Broadcaster(on_demand_changed=demand.changed)
        children = Children(self.clock)
        lock = defer.DeferredLock()
        state = CameraState()
        switch = ModeSwitch(self.driver, children, modes, state)
        live_view = LiveViewSupervisor(
            self.clock, lock, self.driver, self.broadcaster, state, switch,
            stop_grace=2.0, stall_timeout=5.0, restart_delay=4.0,
            wall_clock=self.clock.seconds)
        session = CameraSession(
            self.clock, GPhoto2(), children, self.driver, self.broadcaster,
            demand, lock, state, switch, live_view,
            PhotoTaker(self.clock, self.driver, self.photos),
            capture_observer=self.captures)
        self.states = []
        session.subscribe(lambda state, error: self.states.append(state))
        return session

    def watch(self):
        """
        One subscriber: live view starts and gives its first frame.
        """
        self.subscriber = Subscriber(self.frames)
        self.broadcaster.subscribe(self.subscriber)
        live = self.driver.lives[-1]
        live.frame()
        self.assertEqual(self.session.state, "previewing")
        return live

    def shoot(self):
        d = self.session.capture()
        settings, taken = self.driver.captures[-1]
        return d, taken


class FakeCaptureObserver:
    """
    An L{fourcut.camera.interfaces.ICaptureObserver} that keeps what it is
    told.
    """

    def __init__(self):
        self.captured_after = []
        self.failed_after = []
        self.refused_after = []

    def captured(self, seconds):
        self.captured_after.append(seconds)

    def capture_failed(self, seconds):
        self.failed_after.append(seconds)

    def capture_refused(self, seconds):
        self.refused_after.append(seconds)


class Subscriber:
    def __init__(self, frames):
        self.frames = frames

    def offer(self, frame):
        self.frames.append(frame)


class HeldSessionTests(SessionTests):
    def test_capture_keeps_live_view(self):
        """
        In the held session a capture runs beside live view: it is not
        stopped, frames go on after the photo, the state comes back to
        previewing.
        """
        live = self.watch()
        d, taken = self.shoot()
        self.assertEqual(self.session.state, "capturing")
        self.assertFalse(live.stopped)
        taken.callback(Shot(b"\xff\xd8photo", "/capt0000.jpg"))
        name, path, data = self.successResultOf(d)
        self.assertEqual(data, b"\xff\xd8photo")
        self.assertEqual(self.photos.saved, [(name, data)])
        self.assertEqual(self.session.state, "previewing")
        self.assertFalse(live.stopped)
        self.assertEqual(len(self.driver.lives), 1)

    def test_every_capture_is_timed(self):
        """
        A capture asked of the session directly, as a booth sequence does,
        reaches the capture observer with its time from the request
        (queueing included) to the photo saved; a failed one too, and one
        refused for the client's own mistake apart from those.
        """
        d, taken = self.shoot()
        self.clock.advance(1.5)
        taken.callback(Shot(b"\xff\xd8photo"))
        self.successResultOf(d)
        self.assertEqual(self.captures.captured_after, [1.5])
        d, taken = self.shoot()
        self.clock.advance(0.25)
        taken.errback(CameraError(503, "the camera is busy\n"))
        self.failureResultOf(d, CameraError)
        self.assertEqual(self.captures.failed_after, [0.25])
        refused = self.session.capture([("opcode", "x")])
        self.failureResultOf(refused, SettingError)
        self.assertEqual(self.captures.refused_after, [0.0])
        # gphoto2's words for a value the camera does not take.
        d, taken = self.shoot()
        self.clock.advance(0.5)
        taken.errback(CameraError(503, "Failed to set new configuration "
                                  "value 12345 for configuration entry "
                                  "iso.\n"))
        self.failureResultOf(d, CameraError)
        self.assertEqual(self.captures.refused_after, [0.0, 0.5])
        self.assertEqual(self.captures.failed_after, [0.25])

    def test_booth_captures_reach_the_metrics(self):
        """
        A booth sequence's shots count on C{/metrics} as every other
        capture does: the session times them for the service's
        L{CaptureMetrics}.
        """
        captures = CaptureMetrics()
        self.captures = captures
        self.session = self.make_session()
        metrics = Metrics(self.session, self.broadcaster, {}, {}, "/",
                          captures=captures)
        runner = SequenceRunner(
            self.clock, self.session.capture,
            lambda shots, request, sequence_id: defer.succeed(
                {"filename": "strip.jpg"}))
        done = runner.run(parse_request(
            {"layout": "1x1", "countdown": 0}, SequenceDefaults()))
        self.clock.advance(0)
        settings, taken = self.driver.captures[-1]
        self.clock.advance(2.0)
        taken.callback(Shot(b"\xff\xd8photo"))
        self.assertEqual(self.successResultOf(done)["type"], "strip_ready")
        registry = metrics.registry
        self.assertEqual(registry.get_sample_value(
            "fourcut_capture_duration_seconds_count"), 1)
        self.assertEqual(registry.get_sample_value(
            "fourcut_capture_duration_seconds_sum"), 2.0)
        self.assertEqual(registry.get_sample_value(
            "fourcut_capture_failures_total"), 0)

    def test_info_keeps_the_state(self):
        """
        Asking the camera for its model and battery leaves the state as it
        was, and tells no listener of a change.
        """
        self.session.live_view.report_idle()
        info = self.successResultOf(self.session.refresh_info(max_age=0))
        self.assertEqual(info["model"], "Fake EOS")
        self.assertEqual(self.session.state, "idle")
        self.assertEqual(self.states, [])

    def test_first_info_waits_for_the_camera(self):
        """
        L{CameraSession.first_info}: callers before the camera first
        answered share one question and get its answer; later ones get
        it at once, without asking; a camera that cannot answer gives
        what is known, never a failure.
        """
        asked = []
        answer = defer.Deferred()

        def info(on_start=None):
            asked.append(1)
            return answer

        self.patch(self.driver.settings, "info", info)
        first, second = self.session.first_info(), self.session.first_info()
        self.assertNoResult(first)
        self.assertNoResult(second)
        answer.callback({"model": "Fake EOS", "manufacturer": "Fake Inc.",
                         "port": "usb:001,007"})
        for d in (first, second):
            info = self.successResultOf(d)
            self.assertEqual((info["model"], info["manufacturer"],
                              info["port"]),
                             ("Fake EOS", "Fake Inc.", "usb:001,007"))
        self.successResultOf(self.session.first_info())
        self.assertEqual(asked, [1])

    def test_first_info_without_a_camera(self):
        self.patch(self.driver.settings, "info", lambda on_start=None:
                   defer.fail(CameraError(504, "No camera found")))
        info = self.successResultOf(self.session.first_info())
        self.assertIsNone(info["manufacturer"])

    def test_capture_mode_goes_with_the_photo(self):
        """
        The capture mode's settings go to the driver with the photo (the
        held session sets and puts them back inside its one call); a
        refused one is kept in mode_errors and the photo is still saved.
        """
        self.session = self.make_session(CameraModes(
            live_view=(("iso", "800"),), capture=(("iso", "100"),)))
        self.watch()
        applied = self.driver.settings.applied
        self.assertEqual(applied, [(("iso", "800"),)])
        d, taken = self.shoot()
        self.assertEqual(self.driver.modes, [(("iso", "100"),)])
        taken.callback(Shot(b"\xff\xd8photo",
                            mode_errors=["iso: 100 is not a choice"]))
        self.successResultOf(d)
        self.assertEqual(applied, [(("iso", "800"),)])
        self.assertEqual(self.session.mode_errors["capture"],
                         ["iso: 100 is not a choice"])
        self.assertEqual(len(self.photos.saved), 1)

    def test_no_camera_capture_is_503(self):
        """
        Seed 000: a capture with no camera is a 503 (live view's is 504).
        """
        d, taken = self.shoot()
        taken.errback(CameraError(504, "Could not detect any camera\n"))
        error = self.failureResultOf(d, CameraError).value
        self.assertEqual(error.status, 503)
        self.assertIn("Could not detect", self.session.last_error)

    def test_stall_not_counted_during_an_operation(self):
        """
        The worker sends no frames while it captures; the capture has its
        own deadline, so the stall watchdog waits.
        """
        live = self.watch()
        d, taken = self.shoot()
        self.clock.advance(20)
        self.assertIsNone(live.killed)
        taken.callback(Shot(b"\xff\xd8photo"))
        self.successResultOf(d)
        self.clock.advance(5.5)
        self.assertIn("stalled", live.killed)

    def test_command_pauses_live_view_and_releases(self):
        """
        The gphoto2 CLI needs the camera: live view stops, the held
        session releases it, then the CLI runs.
        """
        live = self.watch()
        ran = []
        self.session._children.run = lambda gphoto2, deadline, *args: (
            ran.append((self.driver.releases, args)) or defer.succeed(
                FakeResult()))
        d = self.session.command(["--summary"])
        self.assertTrue(live.stopped)
        self.assertEqual(ran, [(1, ("--summary",))])
        self.assertEqual(self.successResultOf(d), b"summary")
        # Live view comes back for the watcher.
        self.assertEqual(len(self.driver.lives), 2)

    def test_idle_after_live_view(self):
        """
        When live view stops and nothing runs, the driver hears the camera
        is idle (the held one may release it after release_after).
        """
        self.watch()
        self.broadcaster.unsubscribe(self.subscriber)
        self.clock.advance(2.0)
        self.assertEqual(self.driver.idles, 1)

    def test_death_is_retried_with_a_placeholder(self):
        live = self.watch()
        live.die()
        self.assertEqual(self.session.state, "recovering")
        self.assertTrue(self.frames[-1].placeholder)
        self.clock.advance(FIRST_RETRY_DELAY)
        self.assertEqual(len(self.driver.lives), 2)
        self.driver.lives[-1].frame()
        self.assertEqual(self.session.state, "previewing")


class CLISessionTests(SessionTests):
    holds_session = False

    def test_capture_pauses_live_view(self):
        """
        A gphoto2 child per operation: live view stops for the capture and
        starts again after it for the watcher still there.
        """
        live = self.watch()
        d, taken = self.shoot()
        self.assertTrue(live.stopped)
        self.assertEqual(self.states[-1], "capturing")
        taken.callback(Shot(b"\xff\xd8photo"))
        self.successResultOf(d)
        self.assertEqual(len(self.driver.lives), 2)
        self.driver.lives[-1].frame()
        self.assertEqual(self.session.state, "previewing")


class FakeResult:
    ok = True
    stdout = b"summary"


class FakeWorker:
    """
    A L{fourcut.camera.workerclient.WorkerClient} as L{HeldDriver} uses it.
    """

    count = 0

    def __init__(self, reactor, gphoto2, on_frame=None, on_event=None,
                 on_start=None, **options):
        FakeWorker.count += 1
        self.pid = 500 + FakeWorker.count
        self.on_frame = on_frame
        self.on_event = on_event
        self.on_start = on_start
        self.options = options
        self.transport = None
        self.exited = None
        self.stopping = False
        self.ended = defer.Deferred()
        self.calls = []
        self.answers = {}
        self.warm = False

    @property
    def running(self):
        return self.transport is not None and self.exited is None

    def start(self):
        self.transport = FakeTransport(self.pid)
        self.on_start(self.transport)
        return defer.succeed({"ok": True})

    def _answer(self, name, *args):
        self.calls.append((name,) + args)
        answer = self.answers.get(name, {"ok": True})
        if isinstance(answer, Exception):
            return defer.fail(answer)
        return defer.succeed(answer)

    def live_view(self, on, keep=False):
        if keep:
            self.warm = True
            return self._answer("live_view", on, "keep")
        if not on:
            self.warm = False
        return self._answer("live_view", on)

    def capture(self, settings, deadline=None, mode=()):
        return self._answer("capture", tuple(settings), tuple(mode))

    def release(self):
        return self._answer("release")

    def open(self):
        return self._answer("open")

    def get(self, section, option):
        return self._answer("get", section, option)

    def end(self, why):
        self.why = why
        return self.die()

    def stop(self):
        return self.die()

    def die(self, stderr=""):
        if self.exited is None:
            self.exited = WorkerEnded(self.pid, 4, None, stderr, False,
                                      getattr(self, "why", None))
            self.ended.callback(self.exited)
        return defer.succeed(None)


class FakeTransport:
    def __init__(self, pid):
        self.pid = pid


class HeldDriverTests(SynchronousTestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.children = Children(self.clock)
        self.workers = []

        def factory(*args, **kwargs):
            worker = FakeWorker(*args, **kwargs)
            self.workers.append(worker)
            return worker

        self.driver = HeldDriver(self.clock, GPhoto2(), self.children,
                                 release_after=30, worker_factory=factory)

    def test_one_worker_for_everything(self):
        """
        Settings, live view and captures share one worker (one session).
        """
        frames = []
        live = self.driver.start_live_view(
            lambda data, ts: frames.append(data))
        self.workers[0].on_frame(b"jpeg", 1, 2.0)
        self.assertIsNone(self.successResultOf(live.started))
        self.assertEqual(frames, [b"jpeg"])
        self.workers[0].answers["capture"] = {
            "ok": True, "data": b"\xff\xd8", "path": "/capt0000.jpg"}
        shot = self.successResultOf(self.driver.capture((("iso", "800"),),
                                                        60))
        self.assertEqual(shot.location, "/capt0000.jpg")
        self.successResultOf(self.driver.get("imgsettings", "iso"))
        self.assertEqual(len(self.workers), 1)
        self.assertEqual(list(self.children.running), [self.workers[0].pid])

    def test_failed_camera_call_means_a_new_session(self):
        """
        A camera failure (not a refused value) ends the worker: the next
        use starts a new one, with a new camera session.
        """
        self.driver.get("imgsettings", "iso")
        first = self.workers[0]
        first.answers["capture"] = CameraError(503, "[-1] Unspecified error")
        self.failureResultOf(self.driver.capture((), 60), CameraError)
        self.assertIsNotNone(first.exited)
        self.assertEqual(self.children.running, {})
        self.driver.get("imgsettings", "iso")
        self.assertEqual(len(self.workers), 2)

    def test_next_worker_waits_for_the_last_to_be_gone(self):
        """
        Never two processes talking to the camera: a use while the old
        worker is still being ended starts the new one only once it has
        exited.
        """
        self.driver.get("imgsettings", "iso")
        first = self.workers[0]
        first.stopping = True
        d = self.driver.get("imgsettings", "iso")
        self.assertEqual(len(self.workers), 1)
        self.assertNoResult(d)
        first.die()
        self.successResultOf(d)
        self.assertEqual(len(self.workers), 2)

    def test_worker_death_ends_live_view(self):
        live = self.driver.start_live_view(lambda data, ts: None)
        self.workers[0].die("Segmentation fault")
        reason, text = self.successResultOf(live.ended)
        self.assertIn("Segmentation fault", text)
        self.assertEqual(self.children.running, {})

    def test_release_after_idle_and_open_again(self):
        self.driver.get("imgsettings", "iso")
        worker = self.workers[0]
        self.driver.idle()
        self.clock.advance(29)
        self.assertNotIn(("release",), worker.calls)
        self.clock.advance(1)
        self.assertIn(("release",), worker.calls)
        self.assertTrue(self.driver.released)
        self.driver.get("imgsettings", "iso")
        self.assertEqual(worker.calls[-2:], [("open",),
                                             ("get", "imgsettings", "iso")])
        self.assertFalse(self.driver.released)

    def test_use_cancels_a_pending_release(self):
        self.driver.get("imgsettings", "iso")
        self.driver.idle()
        self.clock.advance(10)
        self.driver.get("imgsettings", "iso")
        self.clock.advance(30)
        self.assertNotIn(("release",), self.workers[0].calls)

    def test_stop_live_view_keeps_the_session(self):
        live = self.driver.start_live_view(lambda data, ts: None)
        self.successResultOf(live.stop())
        self.assertEqual(self.workers[0].calls[-1], ("live_view", False))
        self.assertIsNone(self.workers[0].exited)

    def test_stop_warm_keeps_the_viewfinder(self):
        """
        Live view stopped warm stops the frames only (the worker keeps the
        viewfinder on); L{HeldDriver.cool} takes it down, once.
        """
        live = self.driver.start_live_view(lambda data, ts: None)
        self.assertTrue(self.driver.keeps_warm)
        self.assertFalse(self.driver.warm)
        self.successResultOf(live.stop(warm=True))
        worker = self.workers[0]
        self.assertEqual(worker.calls[-1], ("live_view", False, "keep"))
        self.assertTrue(self.driver.warm)
        self.assertTrue(self.driver.status()["warm"])
        self.successResultOf(self.driver.cool())
        self.assertEqual(worker.calls[-1], ("live_view", False))
        self.assertFalse(self.driver.warm)
        calls = len(worker.calls)
        self.successResultOf(self.driver.cool())
        self.assertEqual(len(worker.calls), calls)
        self.assertIsNone(worker.exited)

    def test_warm_worker_gone(self):
        """
        A worker that ended leaves nothing warm: nothing to take down.
        """
        live = self.driver.start_live_view(lambda data, ts: None)
        self.successResultOf(live.stop(warm=True))
        self.workers[0].die()
        self.assertFalse(self.driver.warm)
        self.successResultOf(self.driver.cool())
