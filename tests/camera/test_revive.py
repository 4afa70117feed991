"""
Live view that stops delivering while the session is healthy (issue 24),
under L{task.Clock}: the cheapest way back first (L{Revival}), the held
driver keeping its session (and worker) while a toggle may do, and the
supervisor retrying at once with the placeholder shown meanwhile.
"""

from twisted.internet import defer, task
from twisted.trial.unittest import SynchronousTestCase

from fourcut.camera.held import HeldDriver
from fourcut.camera.liveview import FREEZE_PLACEHOLDER, LiveViewSupervisor
from fourcut.camera.modes import CameraModes, ModeSwitch
from fourcut.camera.processes import Children
from fourcut.camera.revive import Revival
from fourcut.camera.gphoto2 import GPhoto2
from fourcut.errors import CameraError
from fourcut.stream.broadcast import Broadcaster

from tests.camera.test_camera_session import FakeDriver, FakeWorker
from tests.camera.test_liveview import FakeSink


class RevivalTests(SynchronousTestCase):
    def test_cheapest_first(self):
        """
        Viewfinder toggle, then output toggle, then a new session; once
        live view delivers, the next death starts from the toggle again.
        """
        revival = Revival()
        self.assertEqual(revival.died(True), "viewfinder")
        self.assertTrue(revival.reviving)
        self.assertEqual(revival.take(), "viewfinder")
        self.assertIsNone(revival.take())
        self.assertEqual(revival.died(True), "output")
        self.assertEqual(revival.died(True), "session")
        self.assertFalse(revival.reviving)
        self.assertEqual(revival.died(True), "session")
        revival.delivered()
        self.assertEqual(revival.died(True), "viewfinder")
        revival.delivered()
        self.assertEqual(revival.status(), {
            "deaths": 2,
            "tried": {"viewfinder": 2, "output": 1, "session": 2},
            "revived": {"viewfinder": 1, "output": 0, "session": 1}})

    def test_unhealthy_session(self):
        revival = Revival()
        self.assertEqual(revival.died(False), "session")
        self.assertIsNone(revival.take())

    def test_last_step_is_a_session(self):
        self.assertRaises(ValueError, Revival, ("viewfinder",))
        self.assertEqual(Revival(("session",)).died(True), "session")


class RevivingWorker(FakeWorker):
    def live_view(self, on, revive=None):
        return self._answer("live_view", on, revive)


class HeldRevivalTests(SynchronousTestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.workers = []

        def factory(*args, **kwargs):
            worker = RevivingWorker(*args, **kwargs)
            self.workers.append(worker)
            return worker

        self.driver = HeldDriver(self.clock, GPhoto2(), Children(self.clock),
                                 worker_factory=factory)

    def start(self):
        live = self.driver.start_live_view(lambda data, ts: None)
        self.workers[-1].on_frame(b"jpeg", 1, 2.0)
        return live

    def dead(self):
        self.workers[-1].on_event(
            "live_view_dead", CameraError(503, "[-1] Unspecified error"))

    def test_toggle_keeps_the_session(self):
        """
        Live view that stops delivering in a healthy session ends, but the
        worker (the session) stays, and the next start toggles the
        viewfinder in it.
        """
        live = self.start()
        self.dead()
        self.assertTrue(live.ended.called)
        self.assertTrue(self.driver.reviving)
        self.assertTrue(self.workers[0].running)
        self.start()
        self.assertEqual(len(self.workers), 1)
        self.assertEqual(self.workers[0].calls[-1],
                         ("live_view", True, "viewfinder"))
        self.assertFalse(self.driver.reviving)
        self.assertEqual(self.driver.status()["revival"]["revived"],
                         {"viewfinder": 1, "output": 0, "session": 0})

    def test_failed_toggles_then_new_session(self):
        """
        A toggle that brings nothing back: the output toggle next, in the
        same session; then the worker is ended and the next start opens a
        new session, with no toggle.
        """
        self.start()
        self.dead()
        worker = self.workers[0]
        worker.answers["live_view"] = CameraError(503, "[-1] Unspecified")
        live = self.driver.start_live_view(lambda data, ts: None)
        self.assertTrue(live.ended.called)
        self.assertTrue(worker.running)
        self.assertEqual(self.driver.revival.pending, "output")
        live = self.driver.start_live_view(lambda data, ts: None)
        self.assertEqual(worker.calls[-1], ("live_view", True, "output"))
        self.assertFalse(worker.running)
        self.assertIsNone(self.driver.revival.pending)
        del worker.answers["live_view"]
        self.start()
        self.assertEqual(len(self.workers), 2)
        self.assertEqual(self.workers[1].calls[-1],
                         ("live_view", True, None))
        self.assertEqual(self.driver.revival.status()["revived"]["session"],
                         1)

    def test_broken_session_not_kept(self):
        """
        C{live_view_stopped} (the session does not answer) ends the worker
        as before: no toggle.
        """
        self.start()
        self.workers[0].on_event("live_view_stopped",
                                 CameraError(503, "[-7] I/O problem"))
        self.assertFalse(self.workers[0].running)
        self.assertFalse(self.driver.reviving)


class RevivingDriver(FakeDriver):
    reviving = False


class SupervisorRevivalTests(SynchronousTestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.driver = RevivingDriver(holds_session=True)
        self.sink = FakeSink()
        self.broadcaster = Broadcaster()
        self.published = []
        publish = self.broadcaster.publish

        def record(data, timestamp, placeholder=False):
            self.published.append((self.clock.seconds(), placeholder))
            return publish(data, timestamp, placeholder=placeholder)

        self.broadcaster.publish = record
        self.lock = defer.DeferredLock()
        modes = ModeSwitch(self.driver, Children(self.clock), CameraModes(),
                           self.sink)
        self.supervisor = LiveViewSupervisor(
            self.clock, self.lock, self.driver, self.broadcaster, self.sink,
            modes, stop_grace=2.0, stall_timeout=5.0, restart_delay=4.0,
            wall_clock=self.clock.seconds)
        self.addCleanup(self.supervisor.shutdown)

    def test_placeholder_while_frozen(self):
        """
        Live view that sends nothing (libgphoto2 retries a dead body's
        0xA102 for 3 s) gives watchers the placeholder after
        L{FREEZE_PLACEHOLDER} seconds and then every second, not before;
        frames stop it.
        """
        self.supervisor.demand_changed(1)
        live = self.driver.lives[-1]
        live.frame()
        self.clock.pump([0.25] * 3)
        self.assertEqual([p for p in self.published if p[1]], [])
        self.clock.pump([0.25] * 10)
        placeholders = [t for t, p in self.published if p]
        self.assertEqual(len(placeholders), 3)
        self.assertLessEqual(placeholders[0], FREEZE_PLACEHOLDER + 0.25)
        live.frame()
        self.clock.pump([0.25] * 3)
        self.assertEqual(len([p for p in self.published if p[1]]), 3)

    def test_no_placeholder_during_an_operation(self):
        self.supervisor.demand_changed(1)
        self.driver.lives[-1].frame()
        self.lock.acquire()
        self.clock.pump([0.25] * 12)
        self.assertEqual([p for p in self.published if p[1]], [])

    def test_revival_retried_at_once(self):
        """
        When the driver has a toggle to try, live view is started again at
        once, not after the quick retry's delay.
        """
        self.supervisor.demand_changed(1)
        self.driver.lives[-1].frame()
        self.driver.reviving = True
        self.driver.lives[-1].die("[-1] Unspecified error\n")
        self.assertEqual(self.sink.state, "recovering")
        self.clock.advance(0)
        self.assertEqual(len(self.driver.lives), 2)
        self.assertTrue(self.published[-1][1])

    def test_other_deaths_wait(self):
        self.supervisor.demand_changed(1)
        self.driver.lives[-1].frame()
        self.driver.lives[-1].die()
        self.clock.advance(0)
        self.assertEqual(len(self.driver.lives), 1)
