"""
Live view supervision (L{fourcut.camera.liveview.LiveViewSupervisor}) on
its own under L{task.Clock}: it reports what the camera is doing through
the state sink it is given, never through the session.
"""

from twisted.internet import defer, task
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from fourcut.camera.interfaces import ICameraStateSink
from fourcut.camera.liveview import FIRST_RETRY_DELAY, LiveViewSupervisor
from fourcut.camera.modes import CameraModes, ModeSwitch
from fourcut.camera.processes import Children
from fourcut.errors import CameraError
from fourcut.stream.broadcast import Broadcaster

from tests.camera.test_camera_session import FakeDriver, FakeLive


@implementer(ICameraStateSink)
class FakeSink:
    """
    A state sink that records every report.
    """

    def __init__(self):
        self.state = "idle"
        self.last_error = None
        self.reports = []
        self.mode_errors = {}

    def set_state(self, state):
        self.reports.append(("state", state))
        self.state = state

    def failed(self, text):
        self.reports.append(("failed", text))
        self.last_error = text.strip()

    def recovered(self):
        self.reports.append(("recovered",))
        self.last_error = None

    def mode_entered(self, mode, failures):
        self.reports.append(("mode", mode, list(failures)))


class SupervisorTests(SynchronousTestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.driver = FakeDriver(holds_session=True)
        self.sink = FakeSink()
        self.broadcaster = Broadcaster()
        self.lock = defer.DeferredLock()
        modes = ModeSwitch(self.driver, Children(self.clock),
                           CameraModes(live_view=(("iso", "800"),)),
                           self.sink)
        self.supervisor = LiveViewSupervisor(
            self.clock, self.lock, self.driver, self.broadcaster, self.sink,
            modes, stop_grace=2.0, stall_timeout=5.0, restart_delay=4.0,
            wall_clock=self.clock.seconds)

    def test_fake_sink(self):
        self.assertTrue(verifyObject(ICameraStateSink, self.sink))

    def test_start_and_idle_stop(self):
        """
        Demand starts live view: the live view mode is applied, then the
        first frame makes the camera C{previewing} with no last error; the
        grace after the last watcher leaves ends it, C{idle}, and the
        driver hears the camera is idle.
        """
        self.supervisor.demand_changed(1)
        self.assertEqual(self.driver.settings.applied, [(("iso", "800"),)])
        live = self.driver.lives[-1]
        live.frame()
        self.assertEqual(self.sink.reports, [
            ("mode", "live_view", []), ("recovered",),
            ("state", "previewing")])
        self.supervisor.demand_changed(0)
        self.clock.advance(2.0)
        self.assertTrue(live.stopped)
        self.assertEqual(self.sink.reports[-1], ("state", "idle"))
        self.assertEqual(self.driver.idles, 1)

    def test_death_reported(self):
        """
        Live view that dies is a failure with its text, C{recovering}
        while the quick retries last; the retry's first frame recovers.
        """
        self.supervisor.demand_changed(1)
        self.driver.lives[-1].frame()
        del self.sink.reports[:]
        self.driver.lives[-1].die("the camera went away\n")
        self.assertEqual(self.sink.reports, [
            ("failed", "the camera went away"), ("state", "recovering")])
        self.clock.advance(FIRST_RETRY_DELAY)
        self.driver.lives[-1].frame()
        self.assertEqual(self.sink.reports[-2:], [
            ("recovered",), ("state", "previewing")])

    def test_stall_reported(self):
        """
        No frame for C{stall_timeout} seconds: live view is ended, and the
        sink hears why.
        """
        self.supervisor.demand_changed(1)
        live = self.driver.lives[-1]
        live.frame()
        self.clock.advance(5.5)
        self.assertIn("stalled", live.killed)
        self.assertIn("stalled", self.sink.last_error)
        self.assertEqual(self.sink.state, "recovering")

    def test_failure_to_start(self):
        """
        Live view that will not start fails its waiters with a
        L{CameraError} classified by its text, and the sink hears the text.
        """
        ready = self.supervisor.ready()
        live = self.driver.lives[-1]
        live.started.callback("Could not detect any camera\n")
        error = self.failureResultOf(ready, CameraError).value
        self.assertEqual(error.status, 504)
        self.assertEqual(self.sink.last_error, "Could not detect any camera")

    def test_offline_after_the_quick_retries(self):
        """
        After C{max_restart_attempts} quick retries the sink hears
        C{offline}; watchers get placeholders meanwhile.
        """
        def fail():
            # As a gphoto2 child that ends before its first frame.
            live = self.driver.lives[-1]
            live.started.callback("it died\n")
            live.die()

        self.supervisor.demand_changed(1)
        for attempt in range(self.supervisor.max_restart_attempts):
            fail()
            self.assertEqual(self.sink.state, "recovering")
            self.clock.advance(FIRST_RETRY_DELAY * 2 ** attempt)
        fail()
        self.assertEqual(self.sink.state, "offline")
        self.assertEqual(len(self.driver.lives),
                         self.supervisor.max_restart_attempts + 1)
        self.assertTrue(self.broadcaster.latest.placeholder)


class WarmLive(FakeLive):
    """
    Live view of a driver that can keep the viewfinder on: records
    whether it was stopped warm.
    """

    warm = None

    def stop(self, warm=False):
        self.warm = warm
        return FakeLive.stop(self)


class WarmDriver(FakeDriver):
    """
    A driver that C{keeps_warm}, as the held session does: counts the
    viewfinder taken down.
    """

    keeps_warm = True

    def __init__(self):
        FakeDriver.__init__(self, holds_session=True)
        self.warm = False
        self.cooled = 0

    def start_live_view(self, on_frame):
        self.warm = False
        live = WarmLive(on_frame, 100 + len(self.lives))
        live.ended.addCallback(self._ended, live)
        self.lives.append(live)
        return live

    def _ended(self, result, live):
        self.warm = bool(live.warm)
        return result

    def cool(self):
        self.cooled += 1
        self.warm = False
        return defer.succeed(None)


class WarmStandbyTests(SynchronousTestCase):
    """
    After C{stop_grace} with nobody watching, the frames stop and the
    viewfinder stays on; C{warm_for} seconds after the last watcher left
    it goes down.
    """

    def setUp(self):
        self.clock = task.Clock()
        self.sink = FakeSink()
        self.lock = defer.DeferredLock()

    def supervisor(self, driver, warm_for=60.0):
        modes = ModeSwitch(driver, Children(self.clock), CameraModes(),
                           self.sink)
        return LiveViewSupervisor(
            self.clock, self.lock, driver, Broadcaster(), self.sink,
            modes, stop_grace=2.0, stall_timeout=5.0, restart_delay=4.0,
            wall_clock=self.clock.seconds, warm_for=warm_for)

    def watch_and_leave(self, supervisor, driver):
        supervisor.demand_changed(1)
        live = driver.lives[-1]
        live.frame()
        supervisor.demand_changed(0)
        return live

    def test_frames_stop_viewfinder_stays(self):
        """
        The grace after the last watcher stops live view warm: no stall is
        seen in the silence that follows, the camera is C{idle}, and
        C{warm_for} seconds after the watcher left (not before) the
        viewfinder goes down, once.
        """
        driver = WarmDriver()
        supervisor = self.supervisor(driver)
        live = self.watch_and_leave(supervisor, driver)
        self.clock.advance(2.0)
        self.assertTrue(live.stopped)
        self.assertIs(live.warm, True)
        self.assertTrue(driver.warm)
        self.assertEqual(self.sink.state, "idle")
        self.clock.advance(57.9)
        self.assertEqual((driver.cooled, live.killed), (0, None))
        self.assertEqual(len(driver.lives), 1)
        self.clock.advance(0.1)
        self.assertEqual(driver.cooled, 1)
        self.assertFalse(driver.warm)
        self.clock.advance(120)
        self.assertEqual(driver.cooled, 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_viewer_while_warm(self):
        """
        A watcher coming while the viewfinder is warm starts live view
        (on the warm viewfinder) and keeps it up: the pending cool-down
        is cancelled, and the next one counts from the next leave.
        """
        driver = WarmDriver()
        supervisor = self.supervisor(driver)
        self.watch_and_leave(supervisor, driver)
        self.clock.advance(2.0)
        self.clock.advance(28.0)
        live = self.watch_and_leave(supervisor, driver)
        self.assertEqual(len(driver.lives), 2)
        self.clock.advance(2.0)
        self.clock.advance(38.0)
        self.assertEqual(driver.cooled, 0)
        self.assertTrue(live.warm)
        self.clock.advance(20)
        self.assertEqual(driver.cooled, 1)

    def test_snapshot_while_warm_cools_later(self):
        """
        Live view started for a snapshot (no watcher) stops warm after the
        grace too, and its viewfinder goes down after C{warm_for} as well:
        never left on for good.
        """
        driver = WarmDriver()
        supervisor = self.supervisor(driver)
        ready = supervisor.ready()
        driver.lives[-1].frame()
        self.successResultOf(ready)
        self.clock.advance(2.0)
        self.assertTrue(driver.warm)
        self.clock.advance(58.0)
        self.assertEqual(driver.cooled, 1)

    def test_cool_waits_for_an_operation(self):
        """
        The viewfinder goes down under the camera's lock: after an
        operation holding it, not in its middle.
        """
        driver = WarmDriver()
        supervisor = self.supervisor(driver)
        self.watch_and_leave(supervisor, driver)
        self.clock.advance(2.0)
        held = self.lock.acquire()
        self.successResultOf(held)
        self.clock.advance(58.0)
        self.assertEqual(driver.cooled, 0)
        self.lock.release()
        self.assertEqual(driver.cooled, 1)

    def test_no_warm_standby(self):
        """
        C{warm_for} no longer than the grace, or a driver that cannot keep
        the viewfinder (the gphoto2 CLI's live view ends with its
        process): live view goes down whole after the grace, as before.
        """
        for driver, warm_for in [(WarmDriver(), 2.0), (WarmDriver(), 0),
                                 (FakeDriver(holds_session=False), 60.0)]:
            supervisor = self.supervisor(driver, warm_for)
            live = self.watch_and_leave(supervisor, driver)
            self.clock.advance(2.0)
            self.assertTrue(live.stopped)
            self.assertFalse(getattr(live, "warm", False))
            self.clock.advance(120)
            self.assertEqual(getattr(driver, "cooled", 0), 0)
            self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_shutdown_cancels_the_cool_down(self):
        driver = WarmDriver()
        supervisor = self.supervisor(driver)
        self.watch_and_leave(supervisor, driver)
        self.clock.advance(2.0)
        supervisor.shutdown()
        self.assertEqual(self.clock.getDelayedCalls(), [])
