"""
The camera worker (L{fourcut.camera.child.worker}) and its client
(L{fourcut.camera.workerclient}): the framing and the client's deadlines on
their own, then the real worker (python-gphoto2) holding one session with
a virtual camera per test.
"""

import os
import signal
import sys

from twisted.internet import defer, reactor, task
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from fourcut.camera.child import wire

from fourcut.camera.child import worker
from fourcut.camera.workerclient import REAP_GRACE, WorkerClient, WorkerEnded
from fourcut.camera.processes import STOP_GRACE
from fourcut.camera.gphoto2 import GPhoto2
from fourcut.camera.settings import CameraSettings, package_root
from fourcut.errors import CameraError, SettingError
from fourcut.virtualcam import eospack as eos
from fourcut.virtualcam import ptp, usbport
from fourcut.virtualcam.camera import GPHOTO2_MODEL
from fourcut.virtualcam.device import Reply

from tests.support import (LISTEN, GPhoto2Runner, jpeg_size, start_camera,
                      start_usb_camera)
from tests.support.time import sleep

ISO_CHOICES = ["100", "200", "400", "800", "1600", "3200", "6400"]


# The framing -------------------------------------------------------------

class WireTests(TestCase):
    def test_round_trip(self):
        data = wire.encode({"type": "frame", "seq": 1}, b"\xff\xd8JPEG")
        self.assertEqual(data[:4], b"FCW1")
        self.assertEqual(wire.Decoder().feed(data),
                         [({"type": "frame", "seq": 1}, b"\xff\xd8JPEG")])

    def test_no_payload(self):
        self.assertEqual(
            wire.Decoder().feed(wire.encode({"type": "answer"})),
            [({"type": "answer"}, b"")])

    def test_byte_by_byte(self):
        """
        Messages split anywhere, even inside the prefix, come out whole.
        """
        payload = bytes(range(256)) * 40 + wire.MAGIC * 3
        stream = (wire.encode({"type": "a", "n": 1}, payload)
                  + wire.encode({"type": "b", "text": "caf\u00e9"})
                  + wire.encode({"type": "c"}, b"x"))
        decoder = wire.Decoder()
        messages = []
        for i in range(len(stream)):
            messages += decoder.feed(stream[i:i + 1])
        self.assertEqual(messages, [({"type": "a", "n": 1}, payload),
                                    ({"type": "b", "text": "caf\u00e9"}, b""),
                                    ({"type": "c"}, b"x")])
        self.assertEqual(decoder.buffered, 0)

    def test_many_in_one_read(self):
        stream = b"".join(wire.encode({"type": "f", "seq": n}, b"%d" % n)
                          for n in range(100))
        messages = wire.Decoder().feed(stream)
        self.assertEqual([h["seq"] for h, _ in messages], list(range(100)))
        self.assertEqual(messages[42][1], b"42")

    def test_lone_surrogate_travels(self):
        header = {"type": "request", "value": "\ud800\x00"}
        self.assertEqual(wire.Decoder().feed(wire.encode(header)),
                         [(header, b"")])

    def assertGarbage(self, data, fragment, **limits):
        decoder = wire.Decoder(**limits)
        with self.assertRaises(wire.WireError) as caught:
            decoder.feed(data)
        self.assertIn(fragment, str(caught.exception))
        # Broken for good: later bytes are not read as messages.
        self.assertRaises(wire.WireError, decoder.feed,
                          wire.encode({"type": "x"}))
        return caught.exception

    def test_garbage_at_once(self):
        self.assertGarbage(b"gphoto2: hello", "not a message")

    def test_garbage_after_a_message(self):
        decoder = wire.Decoder()
        good = wire.encode({"type": "a"})
        with self.assertRaises(wire.WireError):
            decoder.feed(good + b"*** libgphoto2 says hi")

    def test_garbage_noticed_before_a_whole_prefix(self):
        self.assertGarbage(b"FCX", "not a message")

    def test_header_limits(self):
        self.assertGarbage(wire.PREFIX.pack(wire.MAGIC, 0, 0), "a header of 0")
        self.assertGarbage(wire.PREFIX.pack(wire.MAGIC, 5000, 0),
                           "a header of 5000 bytes (at most 4096)",
                           max_header=4096)

    def test_payload_limit(self):
        """
        An oversized payload is refused from its prefix, before any of it
        is kept.
        """
        self.assertGarbage(wire.encode_prefix({"type": "answer"}, 10 ** 9),
                           "a payload of 1000000000 bytes")

    def test_payload_limit_by_type(self):
        limits = {"frame": 10}
        decoder = wire.Decoder(payload_limit=lambda h: limits.get(h["type"]))
        self.assertEqual(len(decoder.feed(wire.encode({"type": "answer"},
                                                      b"x" * 100))), 1)
        self.assertGarbage(wire.encode_prefix({"type": "frame"}, 11),
                           "a frame payload of 11 bytes (at most 10)",
                           payload_limit=lambda h: limits.get(h["type"]))

    def test_header_not_json(self):
        bad = b"{nope"
        self.assertGarbage(wire.PREFIX.pack(wire.MAGIC, len(bad), 0) + bad,
                           "not JSON")

    def test_header_without_type(self):
        for header in (b"[1]", b'{"id": 1}', b'{"type": 3}'):
            self.assertGarbage(
                wire.PREFIX.pack(wire.MAGIC, len(header), 0) + header,
                "not an object with a type")

    def test_bad_utf8(self):
        bad = b'{"type": "\xff"}'
        self.assertGarbage(wire.PREFIX.pack(wire.MAGIC, len(bad), 0) + bad,
                           "not JSON")


class RequestCheckTests(TestCase):
    def check(self, **header):
        return worker.check_request(dict(header, type="request"))

    def test_good(self):
        self.assertEqual(self.check(id=1, command="get", section="imgsettings",
                                    option="iso"),
                         (1, "get", {"section": "imgsettings",
                                     "option": "iso"}))
        self.assertEqual(self.check(id=2, command="set", section="a",
                                    option="b", value=[1, {"x": None}]),
                         (2, "set", {"section": "a", "option": "b",
                                     "value": [1, {"x": None}]}))
        self.assertEqual(self.check(id=3, command="capture",
                                    settings=[["iso", "800"]]),
                         (3, "capture", {"settings": [("iso", "800")]}))
        self.assertEqual(self.check(id=4, command="capture"),
                         (4, "capture", {"settings": []}))
        self.assertEqual(self.check(id=5, command="live_view_off",
                                    keep=True),
                         (5, "live_view_off", {"keep": True}))

    def test_refused(self):
        for header, fragment in [
                ({"id": "1", "command": "list"}, "integer id"),
                ({"id": True, "command": "list"}, "integer id"),
                ({"id": 1, "command": "reboot"}, "unknown command 'reboot'"),
                ({"id": 1, "command": "get", "section": "a"},
                 "get needs option"),
                ({"id": 1, "command": "get", "section": 1, "option": "b"},
                 "section is not str"),
                ({"id": 1, "command": "apply", "pairs": [1]},
                 "NAME=VALUE strings"),
                ({"id": 1, "command": "capture", "settings": [["iso"]]},
                 "[NAME, VALUE]"),
                ({"id": 1, "command": "list", "extra": 1},
                 "list does not take extra"),
                ({"id": 1, "command": "keepalive", "timeout": "5"},
                 "timeout is not int/float"),
                ({"id": 1, "command": "keepalive", "timeout": True},
                 "timeout is not int/float"),
                ({"id": 1, "command": "live_view_off", "keep": 1},
                 "keep is not bool")]:
            checked = self.check(**header)
            self.assertEqual(len(checked), 2, header)
            self.assertIn(fragment, checked[1])

    def test_looks_cut_off(self):
        """
        Answers a camera gone away also gives make the worker check the
        connection; others do not.
        """
        cut = worker.looks_cut_off
        self.assertTrue(cut("get", {"ok": False, "reason": "unknown-option"}))
        self.assertTrue(cut("apply", {"ok": False, "results": [
            {"ok": True}, {"ok": False, "reason": "unknown-name"}]}))
        self.assertTrue(cut("list", {"ok": True, "sections": {
            "status": {"options": {"batterylevel": {}}},
            "imgsettings": {"options": {}}}}))
        self.assertTrue(cut("info", {"ok": True, "model": None,
                                     "port": "usb:"}))
        self.assertTrue(cut("keepalive", {"ok": False, "camera": "error"}))
        self.assertFalse(cut("get", {"ok": False, "reason": "bad-value"}))
        self.assertFalse(cut("get", {"ok": False, "camera": "error"}))
        self.assertFalse(cut("list", {"ok": True, "sections": {
            "imgsettings": {"options": {"iso": {}}}}}))
        self.assertFalse(cut("info", {"ok": True, "model": "EOS"}))

    def test_connection_broken(self):
        for code in (-7, -10, -34, -35, -52, -53, -70):
            self.assertTrue(worker.connection_broken(code), code)
        for code in (None, -1, -2, -6, -108, -110):
            self.assertFalse(worker.connection_broken(code), code)


# The client on its own: a fake process on a fake clock --------------------

class FakeProcess:
    pid = 4242

    def __init__(self, protocol):
        self.protocol = protocol
        self.written = bytearray()
        self.signals = []

    def write(self, data):
        self.written += data

    def signalProcess(self, name):
        self.signals.append(name)

    def requests(self):
        return [h for h, _ in wire.Decoder().feed(bytes(self.written))]

    def send(self, header, payload=b""):
        self.protocol.childDataReceived(1, wire.encode(header, payload))

    def exit(self, code=0, signal_number=None):
        self.pid = None
        if code == 0 and signal_number is None:
            reason = Failure(ProcessDone(0))
        else:
            reason = Failure(ProcessTerminated(code, signal_number))
        self.protocol.processEnded(reason)


class FakeReactor(task.Clock):
    def __init__(self):
        task.Clock.__init__(self)
        self.spawned = []

    def spawnProcess(self, protocol, executable, args, env=None):
        process = FakeProcess(protocol)
        protocol.makeConnection(process)
        self.spawned.append((process, args, env))
        return process


class ClientTests(TestCase):
    def setUp(self):
        self.reactor = FakeReactor()
        self.frames = []
        self.events = []
        self.client = WorkerClient(
            self.reactor, GPhoto2("ptpip:127.0.0.1:1:1", GPHOTO2_MODEL),
            deadline=5.0, capture_deadline=20.0,
            on_frame=lambda *frame: self.frames.append(frame),
            on_event=lambda *event: self.events.append(event))
        self.started = self.client.start()
        [(self.process, self.argv, self.env)] = self.reactor.spawned
        self.process.send({"type": "hello", "ok": True, "pid": 4242})

    def answer(self, answer, payload=b"", index=-1):
        request = self.process.requests()[index]
        self.process.send({"type": "answer", "id": request["id"],
                           "answer": answer}, payload)

    def test_argv_and_env(self):
        self.assertEqual(self.argv[:3], [sys.executable, "-m",
                                         "fourcut.camera.child.worker"])
        self.assertIn("ptpip:127.0.0.1:1:1", self.argv)
        self.assertIn(GPHOTO2_MODEL, self.argv)
        self.assertEqual(self.env["LANG"], "C")
        self.assertEqual(self.env["PYTHONPATH"].split(os.pathsep)[0],
                         package_root())
        self.assertEqual(self.successResultOf(self.started)["pid"], 4242)

    def test_answers_as_camera_settings(self):
        d = self.client.get("imgsettings", "iso")
        self.assertEqual(self.process.requests()[-1], {
            "type": "request", "id": 1, "command": "get",
            "section": "imgsettings", "option": "iso"})
        self.answer({"ok": True, "value": "400"})
        self.assertEqual(self.successResultOf(d), {"ok": True,
                                                   "value": "400"})
        d = self.client.set("imgsettings", "iso", 12345)
        self.assertEqual(self.process.requests()[-1]["value"], 12345)
        self.answer({"ok": False, "reason": "bad-value", "error": "no",
                     "choices": ISO_CHOICES})
        error = self.failureResultOf(d, SettingError).value
        self.assertEqual(error.details, {"reason": "bad-value",
                                         "choices": ISO_CHOICES})
        d = self.client.info()
        self.answer({"ok": False, "camera": "absent", "error": "gone"})
        self.assertEqual(self.failureResultOf(d, CameraError).value.status,
                         504)
        d = self.client.list()
        self.answer({"ok": False, "camera": "busy", "error": "busy"})
        self.assertEqual(self.failureResultOf(d, CameraError).value.status,
                         503)

    def test_apply_and_capture_format_values(self):
        self.client.apply([("iso", 800), ("bulb", True)])
        self.assertEqual(self.process.requests()[-1]["pairs"],
                         ["iso=800", "bulb=1"])
        self.failureResultOf(self.client.apply([("a=b", 1)]), SettingError)
        self.assertEqual(self.successResultOf(self.client.apply([])),
                         {"ok": True, "results": []})
        d = self.client.capture([("iso", 1600.0)])
        self.assertEqual(self.process.requests()[-1]["settings"],
                         [["iso", "1600"]])
        self.answer({"ok": True, "path": "/a/b.jpg"}, b"\xff\xd8photo")
        self.assertEqual(self.successResultOf(d),
                         {"ok": True, "path": "/a/b.jpg",
                          "data": b"\xff\xd8photo"})

    def test_frames_and_events(self):
        self.process.send({"type": "frame", "seq": 7, "time": 12.5}, b"jpeg")
        self.assertEqual(self.frames, [(b"jpeg", 7, 12.5)])
        self.assertEqual(self.client.frames, 1)
        self.process.send({"type": "event", "event": "live_view_stopped",
                           "answer": {"ok": False, "camera": "error",
                                      "error": "[-7] I/O problem"}})
        [(name, error)] = self.events
        self.assertEqual((name, error.status, error.text),
                         ("live_view_stopped", 503, "[-7] I/O problem"))

    def test_deadline(self):
        """
        A call that overruns its deadline ends the worker with SIGINT,
        SIGTERM, SIGKILL; every pending call fails once it is gone, not
        before.
        """
        slow = self.client.capture()
        other = self.client.get("imgsettings", "iso")
        self.reactor.advance(5.0)
        self.assertEqual(self.process.signals, ["INT"])
        self.assertNoResult(slow)
        self.assertNoResult(other)
        self.assertNoResult(self.client.ended)
        self.failureResultOf(self.client.list(), CameraError)
        self.reactor.advance(3.0)
        self.assertEqual(self.process.signals, ["INT", "TERM"])
        self.reactor.advance(2.0)
        self.assertEqual(self.process.signals, ["INT", "TERM", "KILL"])
        self.process.protocol.childDataReceived(2, b"stopped by SIGINT\n")
        self.process.exit(signal_number=9)
        for d in (slow, other):
            error = self.failureResultOf(d, CameraError).value
            self.assertEqual(error.status, 503)
            self.assertIn("get did not finish within its 5s deadline",
                          error.text)
            self.assertIn("killed by SIGKILL", error.text)
            self.assertIn("stopped by SIGINT", error.text)
        ended = self.successResultOf(self.client.ended)
        self.assertIsInstance(ended, WorkerEnded)
        self.assertEqual((ended.signal, ended.requested),
                         (9, True))
        self.assertIn("did not finish", ended.why)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_capture_deadline(self):
        d = self.client.capture()
        self.reactor.advance(19.0)
        self.assertEqual(self.process.signals, [])
        self.reactor.advance(1.0)
        self.assertEqual(self.process.signals, ["INT"])
        self.process.exit(3)
        self.assertIn("capture did not finish within its 20s deadline",
                      self.failureResultOf(d, CameraError).value.text)

    def test_garbage(self):
        d = self.client.get("imgsettings", "iso")
        self.process.protocol.childDataReceived(1, b"Saving file as ...\n")
        self.assertEqual(self.process.signals, ["INT"])
        # Nothing more is read.
        self.answer({"ok": True})
        self.assertNoResult(d)
        self.process.exit(0)
        self.assertIn("garbage", self.failureResultOf(d, CameraError)
                      .value.text)
        self.assertIn("garbage", self.successResultOf(self.client.ended).why)

    def test_oversized_frame(self):
        self.process.protocol.childDataReceived(1, wire.encode_prefix(
            {"type": "frame", "seq": 1}, 17 * 1024 * 1024))
        self.assertEqual(self.process.signals, ["INT"])

    def test_answer_to_no_request(self):
        self.process.send({"type": "answer", "id": 99, "answer": {"ok": 1}})
        self.assertEqual(self.process.signals, ["INT"])

    def test_died(self):
        d = self.client.info()
        self.process.protocol.childDataReceived(2, b"Segmentation fault\n")
        self.process.exit(signal_number=11)
        error = self.failureResultOf(d, CameraError).value
        self.assertIn("ended (killed by SIGSEGV) before it answered info",
                      error.text)
        self.assertIn("Segmentation fault", error.text)
        ended = self.successResultOf(self.client.ended)
        self.assertEqual((ended.requested, ended.why), (False, None))
        self.failureResultOf(self.client.info(), CameraError)

    def test_stop(self):
        d = self.client.stop()
        again = self.client.stop()
        self.assertEqual(self.process.signals, ["INT"])
        self.assertNoResult(d)
        self.process.exit(0)
        self.successResultOf(d)
        self.successResultOf(again)
        self.assertTrue(self.successResultOf(self.client.ended).requested)
        self.successResultOf(self.client.stop())

    def test_reaped_but_not_reported_has_its_pipes_closed(self):
        """
        A worker signalled to the end, reaped (no PID any more) but whose
        end never arrives (a pipe still seen open) has our ends of its
        pipes closed after the SIGKILL, so that its end is reported.
        """
        closed = []
        process = self.process
        process.reapProcess = lambda: None

        def close(fd):
            closed.append(fd)
            if len(closed) == 3:
                process.exit(signal_number=9)

        process.closeChildFD = close
        d = self.client.stop()
        process.pid = None
        self.reactor.advance(sum(STOP_GRACE) + REAP_GRACE)
        self.assertEqual(closed, [0, 1, 2])
        self.successResultOf(d)
        self.assertEqual(self.successResultOf(self.client.ended).how,
                         "killed by SIGKILL")

    def test_not_reaped_is_reaped(self):
        """
        A worker signalled to the end whose end never arrived and that is
        not reaped (see L{fourcut.camera.processes.Reaping}) is reaped after the
        SIGKILL, so that its end is reported.
        """
        process = self.process
        reaps = []

        def reap():
            reaps.append(process.pid)
            process.exit(signal_number=9)

        process.reapProcess = reap
        d = self.client.stop()
        self.reactor.advance(sum(STOP_GRACE))
        self.assertEqual(process.signals, ["INT", "TERM", "KILL"])
        self.assertNoResult(d)
        self.reactor.advance(REAP_GRACE)
        self.assertEqual(reaps, [4242])
        self.successResultOf(d)
        self.assertEqual(self.successResultOf(self.client.ended).how,
                         "killed by SIGKILL")

    def test_bounded_pending(self):
        calls = [self.client.get("a", "b") for _ in range(16)]
        self.assertIn("already waiting", self.failureResultOf(
            self.client.get("a", "b"), CameraError).value.text)
        for d in calls:
            self.assertNoResult(d)

    def test_start_fails(self):
        client = WorkerClient(self.reactor, GPhoto2(), deadline=5.0)
        d = client.start()
        process = self.reactor.spawned[-1][0]
        process.send({"type": "hello", "ok": False, "camera": "error",
                      "error": "python-gphoto2 cannot be imported"})
        self.assertNoResult(d)
        process.exit(1)
        self.assertIn("cannot be imported",
                      self.failureResultOf(d, CameraError).value.text)

    def test_cannot_spawn(self):
        def refuse(*args, **kwargs):
            raise OSError(24, "Too many open files")

        self.reactor.spawnProcess = refuse
        client = WorkerClient(self.reactor, GPhoto2(), deadline=5.0)
        error = self.failureResultOf(client.start(), CameraError).value
        self.assertIn("Too many open files", error.text)
        ended = self.successResultOf(client.ended)
        self.assertIn("could not be started", ended.why)
        self.failureResultOf(client.info(), CameraError)
        self.successResultOf(client.stop())

    def test_start_deadline(self):
        client = WorkerClient(self.reactor, GPhoto2(), deadline=5.0)
        d = client.start()
        process = self.reactor.spawned[-1][0]
        self.reactor.advance(5.0)
        self.assertEqual(process.signals, ["INT"])
        process.exit(1)
        self.assertIn("did not start within 5s",
                      self.failureResultOf(d, CameraError).value.text)


# The real worker against a virtual camera ----------------------------------

def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Frames:
    """
    Live view frames as the client gives them, with the reactor's time of
    arrival; L{wait} fires once there are so many.
    """

    def __init__(self):
        self.frames = []            # (data, sequence, timestamp, arrived)
        self._waiting = []

    def __call__(self, data, sequence, timestamp):
        self.frames.append((data, sequence, timestamp, reactor.seconds()))
        for entry in list(self._waiting):
            count, d, timer = entry
            if len(self.frames) >= count:
                self._waiting.remove(entry)
                timer.cancel()
                d.callback(None)

    def wait(self, more, timeout=10.0):
        count = len(self.frames) + more
        d = defer.Deferred()

        def late():
            self._waiting.remove(entry)
            d.errback(AssertionError("%d frames after %gs, not %d"
                                     % (len(self.frames), timeout, count)))

        entry = (count, d, reactor.callLater(timeout, late))
        self._waiting.append(entry)
        return d


class WorkerTestCase(TestCase):
    async def setUp(self):
        self.camera = await start_camera(self)
        self.pids = []
        self.addCleanup(self.kill_all)

    def kill_all(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def started(self, transport):
        self.pids.append(transport.pid)

    async def start_worker(self, camera=None, port=None, model=GPHOTO2_MODEL,
                           cls=WorkerClient, gphoto2=None, **options):
        camera = camera or self.camera
        frames = Frames()
        events = []
        options.setdefault("on_frame", frames)
        client = cls(reactor, gphoto2 or GPhoto2(port or camera.port, model),
                     on_start=self.started,
                     on_event=lambda *e: events.append(e), **options)
        client.test_frames = frames
        client.test_events = events
        self.addCleanup(client.stop)
        await client.start()
        return client

    def device_value(self, code, camera=None):
        return (camera or self.camera).device.properties[code].value


class LiveViewTests(WorkerTestCase):
    async def test_frames(self):
        """
        Frames are valid 960x640 JPEGs, numbered one after another,
        stamped with when they left the camera, at about the camera's 30
        fps, in one session.
        """
        client = await self.start_worker()
        frames = client.test_frames
        answer = await client.live_view(True)
        self.assertEqual(answer["live_view"], True)
        self.assertEqual(len(frames.frames), 1)
        first = frames.frames[0][3]
        await frames.wait(44)
        elapsed = frames.frames[-1][3] - first
        self.assertEqual([f[1] for f in frames.frames], list(range(1, 46)))
        for data, _, timestamp, _ in frames.frames[::11]:
            self.assertEqual(jpeg_size(data), (960, 640))
        stamps = [f[2] for f in frames.frames]
        self.assertEqual(stamps, sorted(stamps))
        fps = 44 / elapsed
        self.assertTrue(15 <= fps <= 32, fps)
        self.assertEqual(self.camera.sessions_opened, 1)
        await client.live_view(False)
        count = len(frames.frames)
        await sleep(0.3)
        self.assertEqual(len(frames.frames), count)
        status = await client.status()
        self.assertEqual((status["state"], status["live_view"],
                          status["frames"], status["sessions"]),
                         ("open", False, count, 1))

    async def test_capped_fps(self):
        """
        A camera that answers at once is paced by the worker's cap, not
        polled flat out.
        """
        self.camera.device.fps = 0
        client = await self.start_worker(fps=10)
        frames = client.test_frames
        await client.live_view(True)
        await frames.wait(10)
        elapsed = frames.frames[-1][3] - frames.frames[0][3]
        self.assertTrue(0.85 <= elapsed <= 2.0, elapsed)

    async def test_capture_during_live_view(self):
        """
        A capture runs between two frames in the same session: the same
        worker, no new camera session, and live view goes on after it.
        """
        client = await self.start_worker()
        frames = client.test_frames
        await client.live_view(True)
        await frames.wait(5)
        before = len(frames.frames)
        photo = await client.capture()
        after = len(frames.frames)
        await frames.wait(5)
        self.assertEqual(jpeg_size(photo["data"]), (2592, 1728))
        self.assertEqual((photo["folder"], photo["name"], photo["path"],
                          photo["mime"], photo["size"]),
                         ("/store_00010001", "IMG_0001.JPG",
                          "/store_00010001/IMG_0001.JPG", "image/jpeg",
                          len(photo["data"])))
        # No frame while the camera captured.
        self.assertLessEqual(after - before, 1)
        sequences = [f[1] for f in frames.frames]
        self.assertEqual(sequences, list(range(1, len(sequences) + 1)))
        self.assertEqual(self.camera.sessions_opened, 1)
        self.assertEqual(self.pids, [client.pid])
        self.assertTrue(alive(client.pid))
        # Kept on the card until deleted.
        self.assertEqual(len(self.camera.device.objects), 1)
        self.assertEqual(await client.delete(photo["path"]),
                         {"ok": True, "path": photo["path"]})
        self.assertEqual(self.camera.device.objects, {})
        await frames.wait(2)

    async def test_capture_with_settings(self):
        """
        A capture's own ISO is set for it and put back after it, inside
        the session.
        """
        client = await self.start_worker()
        await client.live_view(True)
        self.assertEqual(self.device_value(ptp.DPC_ExposureIndex), 400)
        photo = await client.capture([("iso", 1600)])
        [stored] = self.camera.device.objects.values()
        self.assertEqual(stored.settings[ptp.DPC_ExposureIndex], 1600)
        self.assertEqual(self.device_value(ptp.DPC_ExposureIndex), 400)
        self.assertEqual(photo["settings"], [
            {"name": "iso", "value": "1600", "restored": "400"}])
        self.assertEqual(photo["restore_errors"], [])
        self.assertEqual(self.camera.sessions_opened, 1)
        await client.test_frames.wait(3)

    async def test_capture_mode_then_own_settings(self):
        """
        The server's capture mode is set first and the photo's own
        settings over it; both put back after. A refused mode setting is
        only reported: the photo is taken all the same.
        """
        client = await self.start_worker()
        photo = await client.capture([("iso", 1600)],
                                     mode=[("iso", 100),
                                           ("whitebalance", "Nowhere")])
        [stored] = self.camera.device.objects.values()
        self.assertEqual(stored.settings[ptp.DPC_ExposureIndex], 1600)
        self.assertEqual(self.device_value(ptp.DPC_ExposureIndex), 400)
        [error] = photo["mode_errors"]
        self.assertIn("whitebalance", error)
        self.assertEqual(photo["settings"], [
            {"name": "iso", "value": "1600", "restored": "100"}])

    async def test_capture_refused_setting(self):
        """
        A refused setting puts back those already set, and nothing is
        captured.
        """
        client = await self.start_worker()
        with self.assertRaises(SettingError) as caught:
            await client.capture([("whitebalance", "Daylight"),
                                  ("iso", 12345)])
        error = caught.exception
        self.assertTrue(error.message.startswith(
            "iso: '12345' is not a choice; choices: 100"), error.message)
        self.assertEqual((error.details["reason"], error.details["choices"]),
                         ("bad-value", ISO_CHOICES))
        self.assertEqual(self.camera.device.objects, {})
        self.assertEqual(self.device_value(ptp.DPC_WhiteBalance), 2)
        self.assertEqual(self.device_value(ptp.DPC_ExposureIndex), 400)
        with self.assertRaises(SettingError) as caught:
            await client.capture([("opcode", "0x100B")])
        self.assertEqual(caught.exception.details["reason"], "not-allowed")
        with self.assertRaises(SettingError) as caught:
            await client.capture([("nosuch", "1")])
        self.assertEqual(caught.exception.details["reason"], "unknown-name")
        self.assertEqual(self.camera.device.objects, {})

    async def test_capture_fails(self):
        client = await self.start_worker()
        self.camera.fail_captures(1)
        with self.assertRaises(CameraError) as caught:
            await client.capture([("iso", 800)])
        self.assertEqual(caught.exception.status, 503)
        self.assertEqual(self.device_value(ptp.DPC_ExposureIndex), 400)
        photo = await client.capture()
        self.assertEqual(jpeg_size(photo["data"]), (2592, 1728))
        self.assertEqual(self.camera.sessions_opened, 1)


class SettingsParityTests(WorkerTestCase):
    """
    The worker answers every settings request as a camconfig child does:
    the same inputs on two fresh cameras, one through
    L{CameraSettings}, one through the worker.
    """

    REQUESTS = [
        ("get", ("imgsettings", "iso")),
        ("get", ("imgsettings", "whitebalance")),
        ("get", ("capturesettings", "shutterspeed")),
        ("get", ("status", "batterylevel")),
        ("set", ("imgsettings", "iso", 1600)),
        ("set", ("imgsettings", "iso", "3200")),
        ("set", ("imgsettings", "whitebalance", "tungsten")),
        ("set", ("capturesettings", "f-number", 8)),
        ("set", ("capturesettings", "shutterspeed", "1/125")),
        ("set", ("imgsettings", "iso", 12345)),
        ("set", ("imgsettings", "iso", "--port")),
        ("set", ("status", "batterylevel", "50%")),
        ("set", ("actions", "opcode", "0x100B")),
        ("set", ("actions", "bulb", True)),
        ("get", ("nosuch", "iso")),
        ("set", ("imgsettings", "nosuch", 1)),
        ("get", ("capturesettings", "iso")),
        ("list", ()),
        ("info", ()),
        ("apply", ([("iso", "200"), ("whitebalance", "Purple"),
                    ("f-number", 4)],)),
        ("apply", ([("nosuch", 1), ("batterylevel", 50),
                    ("opcode", "0x1001"), ("/main/imgsettings/iso", 800)],)),
        ("apply", ([],)),
        ("apply", ([("a=b", 1)],)),
        ("resolve", ("iso",)),
        ("resolve", ("ISO Speed",)),
        ("resolve", ("opcode",)),
        ("resolve", ("/main/actions/opcode",)),
        ("resolve", ("nosuch",)),
        ("values", (["iso", "/main/imgsettings/imagesize", "whitebalance"],)),
        ("values", (["iso", "nosuch"],)),
        ("get", ("imgsettings", "iso")),
    ]

    async def outcome(self, d, port):
        try:
            answer = await d
        except SettingError as e:
            return ("SettingError", e.message, e.details)
        except CameraError as e:
            return ("CameraError", e.status, e.text)
        if answer.get("port") == port:
            answer = dict(answer, port="PORT")
        return ("ok", answer)

    async def test_same_answers(self):
        other = await start_camera(self)
        settings = CameraSettings(reactor, GPhoto2(other.port, GPHOTO2_MODEL),
                                  on_start=self.started)
        client = await self.start_worker()
        for method, args in self.REQUESTS:
            expected = await self.outcome(getattr(settings, method)(*args),
                                          other.port)
            got = await self.outcome(getattr(client, method)(*args),
                                     self.camera.port)
            self.assertEqual(got, expected, (method, args))
        for code in (ptp.DPC_ExposureIndex, ptp.DPC_WhiteBalance,
                     ptp.DPC_FNumber, ptp.DPC_ExposureTime):
            self.assertEqual(self.device_value(code),
                             self.device_value(code, other))
        self.assertEqual(self.camera.sessions_opened, 1)
        # A child, and so a session, for each request camconfig ran.
        self.assertEqual(other.sessions_opened, len(self.REQUESTS) - 2)

    async def test_camera_refuses(self):
        for camera in (self.camera,):
            prop = camera.device.properties[ptp.DPC_ExposureIndex]
            prop.allows = lambda value: False
        client = await self.start_worker()
        with self.assertRaises(SettingError) as caught:
            await client.set("imgsettings", "iso", 800)
        error = caught.exception
        self.assertIn("the camera refused iso = '800'", error.message)
        self.assertIn("Bad parameters", error.message)
        self.assertEqual(error.details["reason"], "camera-refused")
        self.assertEqual(self.device_value(ptp.DPC_ExposureIndex), 400)
        # The session is fine.
        self.assertEqual((await client.get("imgsettings", "iso"))["value"],
                         "400")
        self.assertEqual(self.camera.sessions_opened, 1)


class ReleaseTests(WorkerTestCase):
    async def test_release_for_the_cli(self):
        """
        Released, the camera is free for the gphoto2 CLI; opened again,
        the worker goes on.
        """
        client = await self.start_worker()
        frames = client.test_frames
        await client.live_view(True)
        self.assertEqual(await client.release(),
                         {"ok": True, "state": "released"})
        self.assertFalse(self.camera.session_open)
        count = len(frames.frames)
        with self.assertRaises(CameraError) as caught:
            await client.get("imgsettings", "iso")
        self.assertIn("released", caught.exception.text)
        result = await GPhoto2Runner(self, self.camera.port).run("--summary")
        self.assertTrue(result.ok, result)
        self.assertIn(b"Virtual DSLR", result.stdout)
        self.assertEqual(len(frames.frames), count)
        answer = await client.open()
        self.assertEqual((answer["state"], answer["sessions"]), ("open", 2))
        self.assertEqual((await client.get("imgsettings", "iso"))["value"],
                         "400")
        await client.live_view(True)
        await frames.wait(3)
        # The worker's two and the CLI's one.
        self.assertEqual(self.camera.sessions_opened, 3)
        self.assertEqual(self.pids, [client.pid])


class FaultTests(WorkerTestCase):
    async def assertEndedAtDeadline(self, d, deadline, started):
        with self.assertRaises(CameraError) as caught:
            await d
        elapsed = reactor.seconds() - started
        self.assertEqual(caught.exception.status, 503)
        self.assertGreaterEqual(elapsed, deadline - 0.01)
        # SIGINT ends it: SIGTERM would come 3 s later.
        self.assertLess(elapsed, deadline + 2.5)
        return caught.exception

    async def test_hung_camera(self):
        """
        A camera that stops answering during live view: the next call
        overruns its deadline, the worker is ended by SIGINT, and every
        pending call fails.
        """
        client = await self.start_worker(deadline=1.5)
        await client.live_view(True)
        await client.test_frames.wait(2)
        self.camera.hang(1000)
        started = reactor.seconds()
        first = client.get("imgsettings", "iso")
        second = client.capture()
        error = await self.assertEndedAtDeadline(first, 1.5, started)
        self.assertIn("get did not finish within its 1.5s deadline",
                      error.text)
        self.assertIn("the camera may be hung", error.text)
        with self.assertRaises(CameraError):
            await second
        ended = await client.ended
        self.assertTrue(ended.requested)
        # Ended by the SIGINT, or (on a loaded machine, when libgphoto2's
        # own 2.5 s read timeout fires before the SIGINT is handled) as a
        # lost connection: either way without closing the camera.
        self.assertIn(ended.exit_code, (worker.EXIT_NOT_CLOSED,
                                        worker.EXIT_CAMERA_LOST))
        if ended.exit_code == worker.EXIT_NOT_CLOSED:
            self.assertIn("stopped by SIGINT; ending without closing",
                          ended.stderr)
        self.assertFalse(alive(client.pid))

    async def test_hung_during_capture(self):
        client = await self.start_worker(capture_deadline=1.0)
        device = self.camera.device
        handle = device.handle

        def hang_at_capture(request, data=None):
            if request.code == ptp.OC_InitiateCapture:
                device.faults.hang = 1000
            return handle(request, data)

        device.handle = hang_at_capture
        started = reactor.seconds()
        error = await self.assertEndedAtDeadline(client.capture(), 1.0,
                                                 started)
        self.assertIn("capture did not finish within its 1s deadline",
                      error.text)
        self.assertFalse(alive(client.pid))

    async def test_unplugged_during_live_view(self):
        """
        Live view stops with a camera error, reported as an event; the
        worker then ends by itself (status 4), without waiting to close a
        camera that is gone, and the calls waiting fail.
        """
        client = await self.start_worker()
        await client.live_view(True)
        await client.test_frames.wait(2)
        waiting = client.get("imgsettings", "iso")
        self.camera.unplug()
        ended = await client.ended
        [(name, error)] = client.test_events
        self.assertEqual(name, "live_view_stopped")
        self.assertEqual(error.status, 503)
        self.assertIn("I/O problem", error.text)
        self.assertFalse(client.live)
        self.assertEqual((ended.exit_code, ended.requested),
                         (worker.EXIT_CAMERA_LOST, False))
        self.assertIn("the connection to the camera is lost", ended.stderr)
        with self.assertRaises(CameraError) as caught:
            await waiting
        self.assertIn("exit status 4", caught.exception.text)
        self.assertFalse(alive(client.pid))
        # Plugged back: a new worker, a new session.
        self.camera.replug()
        client = await self.start_worker()
        self.assertEqual((await client.get("imgsettings", "iso"))["value"],
                         "400")

    async def test_unplugged_while_idle(self):
        """
        The idle keepalive notices a camera that went away.
        """
        client = await self.start_worker(keepalive=0.1)
        await client.open()
        self.camera.unplug()
        ended = await client.ended
        self.assertEqual([name for name, _ in client.test_events],
                         ["camera_lost"])
        self.assertEqual(ended.exit_code, worker.EXIT_CAMERA_LOST)

    async def test_unplugged_between_calls(self):
        client = await self.start_worker()
        await client.open()
        self.camera.unplug()
        # libgphoto2 gives a tree without the settings it could not read;
        # the worker checks the connection rather than answer "unknown
        # option".
        with self.assertRaises(CameraError) as caught:
            await client.set("imgsettings", "iso", 800)
        self.assertEqual(caught.exception.status, 503)
        self.assertIn("I/O problem", caught.exception.text)
        ended = await client.ended
        self.assertEqual(ended.exit_code, worker.EXIT_CAMERA_LOST)

    async def test_worker_dies(self):
        """
        A worker killed from outside: pending calls fail, C{ended} says
        how, and nothing is left.
        """
        client = await self.start_worker()
        await client.live_view(True)
        self.camera.hang(1000)
        d = client.get("imgsettings", "iso")
        os.kill(client.pid, signal.SIGKILL)
        with self.assertRaises(CameraError) as caught:
            await d
        self.assertIn("ended (killed by SIGKILL) before it answered get",
                      caught.exception.text)
        ended = await client.ended
        self.assertEqual((ended.signal, ended.requested), (9, False))

    async def test_absent(self):
        port = await serverFromString(reactor, LISTEN).listen(Factory())
        number = port.getHost().port
        await port.stopListening()
        client = await self.start_worker(
            port="ptpip:127.0.0.1:%d:%d" % (number, number))
        with self.assertRaises(CameraError) as caught:
            await client.info()
        self.assertEqual(caught.exception.status, 504)
        self.assertIn("Connection refused", caught.exception.text)
        with self.assertRaises(CameraError) as caught:
            await client.live_view(True)
        self.assertEqual(caught.exception.status, 504)
        self.assertTrue(client.running)

    async def test_no_python_gphoto2(self):
        fake = os.path.join(self.mktemp(), "gphoto2")
        os.makedirs(fake)
        with open(os.path.join(fake, "__init__.py"), "w") as f:
            f.write("raise ImportError('broken on purpose')\n")
        gphoto2 = GPhoto2(self.camera.port, GPHOTO2_MODEL)
        gphoto2.python_env = {"PYTHONPATH": os.path.dirname(fake)}
        with self.assertRaises(CameraError) as caught:
            await self.start_worker(gphoto2=gphoto2)
        self.assertIn("python-gphoto2 cannot be imported",
                      caught.exception.text)
        self.assertIn("broken on purpose", caught.exception.text)


class USBFaultTests(WorkerTestCase):
    """
    The worker on the virtual Canon EOS 700D over USB, auto-detected: a
    USB camera pulled out fails libgphoto2's calls with "[-1] Unspecified
    error", not an I/O error, and the EOS driver's wait_for_event even
    succeeds.
    """

    async def setUp(self):
        self.camera = await start_usb_camera(self, personality="eos")
        self.pids = []
        self.addCleanup(self.kill_all)

    def usb_gphoto2(self):
        gphoto2 = GPhoto2()
        gphoto2.python_env = self.camera.env(usbport.PYTHON, base={})
        return gphoto2

    async def test_info_after_unplug(self):
        """
        The health probe's info on an open session whose camera was
        unplugged says the camera is gone (it answered from libgphoto2's
        cache, as if the camera were there), and the worker ends.
        """
        client = await self.start_worker(gphoto2=self.usb_gphoto2())
        info = await client.info()
        self.assertEqual(info["model"], "Canon EOS 700D")
        self.camera.unplug()
        with self.assertRaises(CameraError) as caught:
            await client.info()
        self.assertIn("Could not detect any camera: usb:001,007 is gone",
                      caught.exception.text)
        ended = await client.ended
        self.assertEqual(ended.exit_code, worker.EXIT_CAMERA_LOST)
        self.camera.replug()
        client = await self.start_worker(gphoto2=self.usb_gphoto2())
        self.assertEqual((await client.info())["battery"], "100%")

    async def test_unplugged_while_idle(self):
        """
        The idle keepalive notices the USB camera pulled out (its "[-1]
        Unspecified error" alone did not count as a lost connection).
        """
        client = await self.start_worker(gphoto2=self.usb_gphoto2(),
                                         keepalive=0.1)
        await client.open()
        self.camera.unplug()
        ended = await client.ended
        [(name, error)] = client.test_events
        self.assertEqual(name, "camera_lost")
        self.assertIn("usb:001,007 is gone", error.text)
        self.assertEqual(ended.exit_code, worker.EXIT_CAMERA_LOST)

    async def test_storage_refused_while_plugged_in(self):
        """
        The bus is asked only to tell a failed round trip apart: a camera
        still plugged in that refuses GetStorageInfo (a body without a
        card may) is not taken for gone, and its session is kept.
        """
        device = self.camera.device
        handle = device.handle
        refused = []

        def refusing(request, data=None):
            if request.code in (ptp.OC_GetStorageInfo,
                                eos.OC_EOS_GetStorageInfo) and not refused:
                refused.append(request.code)
                return defer.succeed(Reply(ptp.RC_GeneralError))
            return handle(request, data)

        client = await self.start_worker(gphoto2=self.usb_gphoto2())
        await client.open()
        self.patch(device, "handle", refusing)
        info = await client.info()
        self.assertTrue(refused, "GetStorageInfo was never asked")
        self.assertEqual(info["model"], "Canon EOS 700D")
        self.assertTrue(client.running)
        self.assertEqual((await client.info())["battery"], "100%")
        self.assertEqual(device.sessions_opened, 1)

    async def test_warm_viewfinder(self):
        """
        Live view stopped warm (C{keep}): no poll reaches the body while it
        waits, its viewfinder stays on, a capture meanwhile works, and the
        next start gives a frame without a new viewfinder start (no
        warm-up) in the same session; the last stop takes the viewfinder
        down. A warm viewfinder that died meanwhile (bodies' live view
        dies, watched or not) is turned off and on in the same session.
        """
        device = self.camera.device
        handle = device.handle
        polls = []

        def counting(request, data=None):
            if request.code == eos.OC_EOS_GetViewFinderData:
                polls.append(request.code)
            return handle(request, data)

        self.patch(device, "handle", counting)
        client = await self.start_worker(gphoto2=self.usb_gphoto2(),
                                         keepalive=0.1)
        frames = client.test_frames
        await client.live_view(True)
        await frames.wait(3)
        answer = await client.live_view(False, keep=True)
        self.assertEqual((answer["warm"], client.warm), (True, True))
        before = len(polls)
        await sleep(0.5)
        self.assertEqual(len(polls), before)
        self.assertTrue(device.mirror_up)
        starts = device.liveview_starts
        photo = await client.capture()
        self.assertEqual(jpeg_size(photo["data"]), (5184, 3456))
        count = len(frames.frames)
        answer = await client.live_view(True)
        self.assertTrue(answer["warm"])
        self.assertEqual(len(frames.frames), count + 1)
        self.assertEqual(device.liveview_starts, starts)
        await frames.wait(2)
        await client.live_view(False, keep=True)
        # Dead while warm: no poll saw it die, the next start does.
        device.evf_dies_now("toggle")
        await client.live_view(True)
        await frames.wait(2)
        self.assertEqual(device.revived["toggle"], 1)
        await client.live_view(False)
        self.assertEqual(client.warm, False)
        self.assertFalse(device.mirror_up)
        self.assertEqual(device.sessions_opened, 1)
        self.assertEqual(client.test_events, [])


GARBAGE = r"""
import os, sys, time
from fourcut.camera.child import wire
os.write(1, wire.encode({"type": "hello", "ok": True}))
os.read(0, 65536)
os.write(1, %r)
time.sleep(60)
"""


class GarbageTests(WorkerTestCase):
    def worker_class(self, garbage):
        class Garbage(WorkerClient):
            def argv(self):
                return [sys.executable, "-c", GARBAGE % (garbage,)]
        return Garbage

    async def assertEndedForGarbage(self, garbage, fragment):
        client = await self.start_worker(cls=self.worker_class(garbage))
        with self.assertRaises(CameraError) as caught:
            await client.get("imgsettings", "iso")
        self.assertIn("garbage", caught.exception.text)
        ended = await client.ended
        self.assertTrue(ended.requested)
        self.assertIn(fragment, ended.why)
        self.assertFalse(alive(client.pid))

    async def test_garbage(self):
        await self.assertEndedForGarbage(b"Saving file as capt0000.jpg\n",
                                         "not a message")

    async def test_oversized_frame(self):
        await self.assertEndedForGarbage(
            wire.encode_prefix({"type": "frame", "seq": 1}, 40 * 1024 ** 2),
            "a frame payload of 41943040 bytes")


class ProcessTests(WorkerTestCase):
    async def test_stop_leaves_nothing(self):
        client = await self.start_worker()
        await client.live_view(True)
        await client.test_frames.wait(2)
        pid = client.pid
        started = reactor.seconds()
        await client.stop()
        self.assertLess(reactor.seconds() - started, 2.0)
        self.assertFalse(alive(pid))
        ended = await client.ended
        self.assertEqual((ended.exit_code, ended.requested), (0, True))
        self.assertIn("stopped by SIGINT; camera closed", ended.stderr)
        with self.assertRaises(CameraError):
            await client.info()

    async def test_pipe_closed(self):
        """
        The server closing the request pipe (as when it dies) ends the
        worker, camera closed.
        """
        client = await self.start_worker()
        await client.live_view(True)
        client.transport.closeStdin()
        ended = await client.ended
        self.assertEqual((ended.exit_code, ended.requested), (0, False))
        self.assertIn("the server closed the pipe; camera closed",
                      ended.stderr)
        self.assertFalse(self.camera.session_open)

    async def test_sigterm(self):
        client = await self.start_worker()
        await client.live_view(True)
        self.camera.hang(1000)
        await sleep(0.2)
        started = reactor.seconds()
        os.kill(client.pid, signal.SIGTERM)
        ended = await client.ended
        self.assertLess(reactor.seconds() - started, 1.0)
        self.assertEqual(ended.signal, signal.SIGTERM)

    async def test_descriptors(self):
        """
        The protocol is on descriptors above 2: fd 0 is /dev/null (which
        libgphoto2 may close), 1 and 2 a file of the worker's own.
        """
        client = await self.start_worker()
        await client.live_view(True)
        await client.release()
        await client.open()
        fds = "/proc/%d/fd" % (client.pid,)
        self.assertEqual(os.readlink(fds + "/0"), "/dev/null")
        self.assertEqual(os.readlink(fds + "/1"), os.readlink(fds + "/2"))
        self.assertTrue(os.readlink(fds + "/1").endswith("(deleted)"))
        pipes = [fd for fd in os.listdir(fds) if int(fd) > 2
                 and os.readlink(fds + "/" + fd).startswith("pipe:")]
        self.assertGreaterEqual(len(pipes), 2)

    async def test_idle_keepalive(self):
        """
        An idle open camera is polled for events; the session stays.
        """
        client = await self.start_worker(keepalive=0.1)
        await client.open()
        await sleep(0.6)
        answer = await client.keepalive()
        self.assertEqual(answer, {"ok": True, "events": []})
        self.assertEqual((await client.status())["state"], "open")
        self.assertEqual(self.camera.sessions_opened, 1)

