"""
Unattended operation: the camera goes away, hangs, is busy, the disk is
full. Faults are injected through the virtual camera's controls; gphoto2
is the real one.
"""

import errno
import os
import signal

from twisted.internet import defer, reactor

from fourcut.errors import SEED_NO_CAMERA
from fourcut.virtualcam import eospack as eos

from tests.support import EOS_STILL as STILL
from tests.support import EOS_USB, ISO_100, PTPIP, jpeg_size
from tests.support.clients import RawHTTP, connect_raw
from tests.support.service import ServiceTestCase, gphoto2_children
from tests.support.time import sleep
from tests.support.wsclient import connect

#: Quick recovery for tests: retries after 0.5, 1 s, then every 1 s.
FAST = {"camera": {"restart_delay": 1.0, "max_restart_attempts": 2,
                   "capture_timeout": 8, "command_timeout": 5},
        "preview": {"stall_timeout": 2.0, "stop_grace": 0.5}}


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


class Watcher:
    """
    A WebSocket client watching binary preview that counts real frames
    and offline placeholders, keeping only the last frame.
    """

    def __init__(self, client):
        self.client = client
        self.real = 0
        self.placeholders = 0
        self.last = None
        client.on_binary = self._frame

    def _frame(self, data):
        self.last = data
        if b"fourcut-virtualcam" in data:
            self.real += 1
        else:
            self.placeholders += 1
        self.client._check()

    async def more_real_frames(self, count, timeout=20):
        start = self.real
        await self.client.wait_for(lambda: self.real >= start + count,
                                   timeout)

    async def more_placeholders(self, count, timeout=20):
        start = self.placeholders
        await self.client.wait_for(
            lambda: self.placeholders >= start + count, timeout)


class SupervisionTestCase(ServiceTestCase):
    """
    On the virtual Canon EOS 700D over USB, as a booth runs it; the tests
    of photos kept on the card run on the generic camera over PTP/IP
    (L{PTPIPSupervisionTestCase}), since the EOS captures to its RAM.
    """

    config = FAST
    virtual = EOS_USB

    async def watcher(self):
        client = await connect(self, self.port)
        reply = await client.reply({"type": "start_preview", "requestId": 1,
                                    "format": "binary"})
        self.assertEqual(reply["type"], "preview_started", reply)
        watcher = Watcher(client)
        await watcher.more_real_frames(3)
        return watcher

    async def wait_state(self, *states, timeout=20):
        for _ in range(int(timeout * 20)):
            if self.session.state in states:
                return
            await sleep(0.05)
        self.fail("state %r, wanted %r" % (self.session.state, states))


class PTPIPSupervisionTestCase(SupervisionTestCase):
    """
    On the generic virtual camera over PTP/IP, which keeps each photo on
    its card.
    """

    virtual = PTPIP


class UnplugTests(SupervisionTestCase):
    async def test_unplug_and_replug_during_live_view(self):
        """
        Watchers keep their connections through an unplug, get the offline
        placeholder, and live frames again once the camera is back.
        """
        ws = await self.watcher()
        http = defer.ensureDeferred(self.preview(8))
        await sleep(0.5)
        self.camera.unplug()
        await self.wait_state("recovering", "offline")
        await ws.more_placeholders(2)
        self.assertEqual(jpeg_size(ws.last), (960, 640))
        snapshot = await self.get("/snapshot")
        # 503 with the placeholder up, 504 "Could not detect any camera"
        # when the retry that the snapshot asked for says so.
        self.assertIn(snapshot.code, (503, 504))
        await snapshot.content()
        self.camera.replug()
        replugged = reactor.seconds()
        await ws.more_real_frames(5)
        self.assertLess(reactor.seconds() - replugged, 5)
        self.assertEqual(self.session.state, "previewing")
        parts = await http
        real = [p for p in parts if b"fourcut-virtualcam" in p[1]]
        offline = [p for p in parts if b"fourcut-virtualcam" not in p[1]]
        self.assertGreater(len(real), 10)
        self.assertGreater(len(offline), 0)
        # The HTTP watcher's last frames are live again.
        self.assertIn(b"fourcut-virtualcam", parts[-1][1])
        self.assertEqual(len(self.session.children), 1)

    async def test_long_outage_slows_retries_then_recovers(self):
        ws = await self.watcher()
        self.camera.unplug()
        await self.wait_state("offline", timeout=10)
        restarts = self.session.restarts
        await sleep(2.5)
        # Retried at the steady interval (1 s here), not in a tight loop.
        self.assertLessEqual(self.session.restarts - restarts, 4)
        self.assertGreaterEqual(self.session.restarts - restarts, 1)
        self.camera.replug()
        await ws.more_real_frames(5)
        self.assertEqual(self.session.failures, 0)

    async def test_unplug_during_capture(self):
        ws = await self.watcher()
        self.camera.slow_capture(1.0)
        capture = self.get("/capture")
        await self.wait_state("capturing")
        await sleep(0.3)
        self.camera.unplug()
        response = await capture
        self.assertIn(response.code, (200, 503))
        await response.content()
        self.camera.replug()
        self.camera.slow_capture(0)
        response = await self.get("/capture")
        self.assertEqual(response.code, 200)
        self.assertEqual(jpeg_size(await response.content()), STILL)
        await ws.more_real_frames(5)

    async def test_unplug_while_idle(self):
        self.camera.unplug()
        self.service.status.probe_interval = 0
        response = await self.get("/health")
        self.assertEqual(response.code, 503)
        # An unplugged USB camera is not detected: seed 000's 504.
        response = await self.get("/preview?timeout=1")
        self.assertEqual(response.code, 504)
        self.assertEqual(await response.content(), SEED_NO_CAMERA.encode())
        self.camera.replug()
        parts = await self.preview(1.5)
        self.assertGreater(len(parts), 10)
        response = await self.get("/health")
        self.assertEqual(response.code, 200)

    async def test_fifty_cycles(self):
        """
        50 unplug/replug cycles with an HTTP and a WebSocket watcher
        connected all along: the server ends healthy, with one gphoto2
        child, and its memory has not grown.
        """
        ws = await self.watcher()
        http = await self.raw_preview()
        await ws.more_real_frames(10)
        start_rss = rss_kib()
        resumes = []
        for cycle in range(50):
            self.camera.unplug()
            await self.wait_state("recovering", "offline")
            self.camera.replug()
            replugged = reactor.seconds()
            await ws.more_real_frames(2)
            resumes.append(reactor.seconds() - replugged)
        grown = rss_kib() - start_rss
        self.assertLess(grown, 20 * 1024, "RSS grew by %d KiB" % grown)
        self.assertEqual(len(gphoto2_children()), 1)
        response = await self.get("/health")
        self.assertEqual(response.code, 200)
        self.assertTrue(http.transport.connected,
                        "the HTTP watcher was cut off")
        received = http.received
        await sleep(0.5)
        self.assertGreater(http.received, received + 500000)
        # For the report: time to resume after replug.
        resumes.sort()
        print("\n50 cycles: resume after replug median %.2fs, max %.2fs; "
              "RSS grew %d KiB" % (resumes[len(resumes) // 2], resumes[-1],
                                   grown))

    async def raw_preview(self):
        return await connect_raw(self, self.port, RawHTTP(
            b"GET /preview HTTP/1.1\r\nHost: x\r\n\r\n", keep=False))


class HangTests(SupervisionTestCase):
    # A deadline shorter than libgphoto2's own 2.5 s read timeout, so
    # that fourcut's deadline is what ends the child.
    config = {"camera": dict(FAST["camera"], capture_timeout=2),
              "preview": FAST["preview"]}

    async def test_camera_that_never_answers_capture(self):
        """
        A camera that stops answering: the capture's deadline ends the
        gphoto2 child and the client hears so.
        """
        self.camera.hang(1000)
        response = await self.get("/capture")
        self.assertEqual(response.code, 503)
        self.assertIn(b"deadline", await response.content())
        self.assertEqual(self.session.children, {})
        self.assertEqual(gphoto2_children(), [])

    async def test_stalled_live_view_is_restarted(self):
        ws = await self.watcher()
        self.camera.hang(3)
        await self.wait_state("recovering", "offline", timeout=10)
        self.assertIn("stalled", self.session.last_error)
        await ws.more_real_frames(5, timeout=30)


class WorkerDeathTests(SupervisionTestCase):
    async def test_killed_worker_is_replaced(self):
        """
        The held session's worker killed during live view: watchers keep
        their connections and get live frames from a new worker.
        """
        ws = await self.watcher()
        [pid] = gphoto2_children()
        os.kill(pid, signal.SIGKILL)
        await self.wait_state("recovering", "offline", timeout=10)
        await ws.more_real_frames(5, timeout=30)
        self.assertEqual(self.session.state, "previewing")
        self.assertEqual(self.session.driver.workers_started, 2)
        [new] = gphoto2_children()
        self.assertNotEqual(new, pid)
        self.assertEqual(list(self.session.children), [new])


class BusyTests(SupervisionTestCase):
    async def test_device_busy_burst(self):
        ws = await self.watcher()
        self.camera.busy(20)
        response = await self.get("/capture")
        self.assertIn(response.code, (200, 503))
        await response.content()
        self.camera.busy(0)
        response = await self.get("/capture")
        self.assertEqual(response.code, 200)
        # Read it all: the EOS's photo is too big to sit in socket buffers.
        self.assertEqual(jpeg_size(await response.content()), STILL)
        await ws.more_real_frames(5)


class EOSBodyTests(SupervisionTestCase):
    """
    What a Canon EOS body does to live view and captures: bursts of
    0xA102 ("not ready") and DeviceBusy, falling asleep, a full card.
    """

    async def test_not_ready_and_busy_bursts_during_live_view(self):
        """
        libgphoto2 rides out the bursts inside one preview call (it
        retries for up to 3 s): live view goes on, nothing is restarted.
        """
        ws = await self.watcher()
        device = self.camera.device
        # The live view session (with the CLI driver the connect's
        # camera_info opened one before it, to ask the camera).
        sessions = device.sessions_opened
        for burst in (device.evf_not_ready, device.evf_busy,
                      device.evf_not_ready):
            answers = device.not_ready_answers
            burst(15)
            await ws.more_real_frames(10)
        self.assertGreaterEqual(device.not_ready_answers, answers + 15)
        self.assertEqual((device.faults.evf_not_ready,
                          device.faults.evf_busy), (0, 0))
        self.assertEqual(ws.placeholders, 0)
        self.assertEqual(self.session.restarts, 0)
        self.assertEqual(self.session.state, "previewing")
        self.assertEqual(device.sessions_opened, sessions)

    async def test_sleep_and_wake_during_live_view(self):
        """
        The body falls asleep (auto power off) while watched: it answers
        nothing, live view stalls and is restarted, and the new session's
        OpenSession wakes it; the watcher gets live frames again.
        """
        ws = await self.watcher()
        device = self.camera.device
        device.sleep()
        await self.wait_state("recovering", "offline", timeout=10)
        await ws.more_real_frames(5, timeout=30)
        self.assertFalse(device.faults.asleep)
        self.assertGreaterEqual(device.sessions_opened, 2)
        self.assertEqual(self.session.state, "previewing")

    async def set_capture_target(self, target):
        client = await connect(self, self.port)
        reply = await client.reply({
            "type": "set_camera_setting", "requestId": 1,
            "section": "settings", "option": "capturetarget",
            "value": target}, timeout=30)
        self.assertEqual(reply["type"], "setting_updated", reply)

    async def test_card_full(self):
        """
        Capturing to a full card: a 503 that says so, nothing saved, live
        view goes on; to the camera's RAM the capture works.
        """
        ws = await self.watcher()
        await self.set_capture_target("Memory card")
        self.camera.device.card_full()
        response = await self.get("/capture")
        body = await response.content()
        self.assertEqual(response.code, 503, body)
        self.assertIn(b"Store Full", body)
        self.assertEqual(self.camera.device.captures, 0)
        self.assertFalse(os.listdir(self.photos))
        await ws.more_real_frames(5)
        await self.set_capture_target("Internal RAM")
        response = await self.get("/capture")
        self.assertEqual(response.code, 200)
        self.assertEqual(jpeg_size(await response.content()), STILL)
        self.assertEqual(self.camera.device.capture_log[-1]["target"], "RAM")


class CLIEOSBodyTests(EOSBodyTests):
    driver = "cli"


class DiskTests(PTPIPSupervisionTestCase):
    async def test_disk_full(self):
        """
        ENOSPC while saving: a clear 507, the photo stays on the card, and
        live view goes on.
        """
        ws = await self.watcher()

        def full(data, name=None):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.session.photo_taker.photos.save = full
        response = await self.get("/capture")
        self.assertEqual(response.code, 507)
        self.assertIn(b"No space left", await response.content())
        self.assertEqual(len(self.camera.device.objects), 1)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        await ws.more_real_frames(5)

    async def test_photos_path_is_not_a_directory(self):
        # Made at start-up (a file there stops start-up); replaced since.
        os.rmdir(self.photos)
        with open(self.photos, "w") as f:
            f.write("in the way")
        response = await self.get("/capture")
        self.assertEqual(response.code, 500)
        self.assertIn(b"could not be saved", await response.content())
        self.assertEqual(len(self.camera.device.objects), 1)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)


class DeleteFromCardTests(PTPIPSupervisionTestCase):
    """
    C{delete_internal_memory: true} deletes a photo from the card only once
    it is safely in the photos directory.
    """

    config = {"camera": dict(FAST["camera"], delete_internal_memory=True),
              "preview": FAST["preview"]}

    async def test_deleted_after_saving(self):
        response = await self.get("/capture")
        self.assertEqual(response.code, 200)
        photo = await response.content()
        self.assertEqual(jpeg_size(photo), (2592, 1728))
        saved = os.listdir(self.photos)
        self.assertEqual(len(saved), 1)
        with open(os.path.join(self.photos, saved[0]), "rb") as f:
            self.assertEqual(f.read(), photo)
        self.assertEqual(self.camera.device.objects, {})

    async def test_disk_full_keeps_the_card_copy(self):
        ws = await self.watcher()

        def full(data, name=None):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.session.photo_taker.photos.save = full
        response = await self.get("/capture")
        self.assertEqual(response.code, 507)
        body = await response.content()
        self.assertIn(b"No space left", body)
        self.assertIn(b"kept on the camera's card as /store_00010001/", body)
        self.assertEqual(len(self.camera.device.objects), 1)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        await ws.more_real_frames(5)


class RaceTests(SupervisionTestCase):
    """
    Regressions for races found in review: a watcher arriving while live
    view is being stopped, a waiter that left, a retry with nobody left.
    """

    config = {"camera": dict(FAST["camera"]),
              "preview": dict(FAST["preview"], stop_grace=0.2,
                              snapshot_timeout=0.5)}

    async def test_watcher_arriving_while_live_view_stops(self):
        """
        A watcher who arrives in the moment between fourcut sending the
        idle live view its SIGINT and the child exiting still gets frames.
        """
        ws = await self.watcher()
        frames = []

        class Subscriber:
            def offer(self, frame):
                frames.append(frame)

        subscriber = Subscriber()
        self.addCleanup(self.broadcaster.unsubscribe, subscriber)
        arrived = []
        stop = self.session.live_view._stop_if_unwatched

        def stop_then_arrive():
            stopping = stop()
            if stopping is not None and not arrived:
                # The SIGINT has gone out; the child has not exited yet.
                self.assertIsNotNone(self.session.live_view._stopping)
                self.broadcaster.subscribe(subscriber)
                arrived.append(self.session.live_view_ready())
            return stopping

        self.session.live_view._stop_if_unwatched = stop_then_arrive
        await ws.client.reply({"type": "stop_preview", "requestId": 2})
        for _ in range(100):
            if arrived:
                break
            await sleep(0.05)
        self.assertTrue(arrived, "live view was never stopped")
        await arrived[0]
        for _ in range(100):
            if len([f for f in frames if not f.placeholder]) >= 10:
                break
            await sleep(0.05)
        real = [f for f in frames if b"fourcut-virtualcam" in f.data]
        self.assertGreaterEqual(len(real), 10)

    async def test_live_view_started_for_a_waiter_that_left_stops(self):
        self.camera.slow_capture(1.5)
        capture = self.get("/capture")
        await self.wait_state("capturing")
        response = await self.get("/snapshot")
        self.assertEqual(response.code, 504)
        captured = await capture
        self.assertEqual(captured.code, 200)
        # Read it all: the EOS's photo is too big to sit in socket buffers.
        self.assertEqual(jpeg_size(await captured.content()), STILL)
        # Live view starts for the snapshot's waiter after the capture,
        # then stops again, since nobody is left.
        for _ in range(100):
            if not self.session.camera_in_use and \
                    self.session.state == "idle":
                break
            await sleep(0.1)
        self.assertFalse(self.session.camera_in_use)
        # The held session keeps its worker; the CLI leaves no child.
        self.assertEqual(len(self.session.children),
                         1 if self.session.driver.holds_session else 0)

    async def test_retry_with_nobody_left(self):
        ws = await self.watcher()
        self.camera.unplug()
        await self.wait_state("recovering")
        ws.client.transport.loseConnection()
        await ws.client.closed
        await self.wait_state("offline", timeout=5)
        await sleep(1.5)
        self.assertEqual(self.session.state, "offline")
        self.assertEqual(self.session.children, {})
        self.assertFalse(self.session.live_view._placeholder_loop.running)

    async def test_stop_while_starting(self):
        client = await connect(self, self.port)
        client.request({"type": "start_preview", "requestId": "start"})
        client.request({"type": "stop_preview", "requestId": "stop"})
        await client.wait_for(lambda: client.find("start") is not None)
        self.assertEqual(client.find("stop")["type"], "preview_stopped")
        self.assertEqual(client.find("start")["type"], "preview_stopped")
        self.assertEqual(self.broadcaster.demand, 0)

    async def test_one_camera_request_at_a_time_per_connection(self):
        client = await connect(self, self.port)
        client.request({"type": "capture_photo", "requestId": "a"})
        busy = await client.reply({"type": "capture_photo",
                                   "requestId": "b"})
        self.assertEqual(busy["code"], 429)
        await client.wait_for(lambda: client.find("a") is not None, 30)
        self.assertEqual(client.find("a")["type"], "photo_captured")
        self.assertEqual(self.camera.device.captures, 1)


class CLISettingsTests(SupervisionTestCase):
    """
    The C{cli} driver sets a capture's own settings with camconfig children
    around the gphoto2 capture (the held session does it inside the
    worker: L{tests.integration.test_worker}).
    """

    driver = "cli"

    async def test_settings_put_back_when_applying_them_fails(self):
        """
        The settings child sets the ISO and then fails (say, it overran
        its deadline): the old ISO is put back all the same.
        """
        from fourcut.errors import CameraError
        settings = self.session.driver.settings
        real_apply = settings.apply
        calls = []

        async def apply_then_fail(pairs, on_start=None):
            calls.append(pairs)
            await real_apply(pairs, on_start=on_start)
            if len(calls) == 1:
                raise CameraError(503, "settings child overran\n")

        settings.apply = lambda pairs, on_start=None: defer.ensureDeferred(
            apply_then_fail(pairs, on_start))
        client = await connect(self, self.port)
        reply = await client.reply({"type": "capture_photo", "requestId": 1,
                                    "settings": {"iso": 1600}}, timeout=30)
        self.assertEqual(reply["type"], "error")
        self.assertEqual(len(calls), 2)
        self.assertEqual(self.camera.device.value(eos.DPC_EOS_ISOSpeed),
                         ISO_100)
        self.assertEqual(self.camera.device.captures, 0)
