"""
The WebSocket protocol of seed 001 at C{/ws}, over a real listening site
with the virtual camera, the real gphoto2 CLI and python-gphoto2 behind it:
what only the whole chain shows (the camera's answers, live view frames
over a socket, captures, the session's states). What the WebSocket side
decides by itself (dispatch, validation, limits, access) is tested in
memory: L{tests.web.test_ws}, L{tests.web.test_ws_auth}.
"""

import base64
import os
from datetime import datetime

from twisted.internet import defer

from fourcut.virtualcam import eosbodies
from fourcut.virtualcam import eospack as eos

from tests.support import ISO_100, ISO_1600, jpeg_size
from tests.support.service import PTPIPWebSocketTestCase, WebSocketTestCase
from tests.support.time import sleep


class ConnectTests(WebSocketTestCase):
    async def test_get_camera_info(self):
        client = await self.client()
        reply = await client.reply({"type": "get_camera_info",
                                    "requestId": "abc"})
        self.assertEqual(reply["type"], "camera_info")
        data = reply["data"]
        self.assertEqual(data["model"], "Canon EOS 700D")
        self.assertEqual(data["battery"], "100%")
        self.assertEqual(data["port"], "usb:001,007")
        self.assertEqual(data["state"], "idle")


class PTPIPConnectTests(PTPIPWebSocketTestCase):
    async def test_get_camera_info(self):
        """
        The generic camera's model, battery and PTP/IP port.
        """
        client = await self.client()
        reply = await client.reply({"type": "get_camera_info",
                                    "requestId": "abc"})
        self.assertEqual(reply["type"], "camera_info")
        data = reply["data"]
        self.assertEqual(data["model"], "Virtual DSLR")
        self.assertEqual(data["battery"], "80%")
        self.assertTrue(data["port"].startswith("ptpip:127.0.0.1:"))
        self.assertEqual(data["state"], "idle")


class PreviewTests(WebSocketTestCase):
    async def test_json_preview(self):
        client = await self.client()
        reply = await client.reply({"type": "start_preview",
                                    "requestId": 7})
        self.assertEqual(reply, {"type": "preview_started", "format": "json",
                                 "requestId": 7})
        frames = await self.frames_after(client, 10)
        numbers = [f["frame_number"] for f in frames]
        self.assertEqual(numbers, sorted(set(numbers)))
        for frame in frames:
            self.assertEqual(set(frame), {"type", "data", "timestamp",
                                          "frame_number"})
            datetime.fromisoformat(frame["timestamp"])
        self.assertEqual(jpeg_size(base64.b64decode(frames[-1]["data"])),
                         (960, 640))
        reply = await client.reply({"type": "stop_preview",
                                    "requestId": "s"})
        self.assertEqual(reply["type"], "preview_stopped")
        count = len(client.of_type("preview_frame"))
        await sleep(0.5)
        self.assertEqual(len(client.of_type("preview_frame")), count)
        self.assertEqual(self.broadcaster.demand, 0)

    async def test_websocket_and_http_clients_share_live_view(self):
        clients = [await self.client() for _ in range(2)]
        await clients[0].reply({"type": "start_preview", "requestId": 1})
        await clients[1].reply({"type": "start_preview", "requestId": 1,
                                "format": "binary"})
        parts = await self.preview(2)
        self.assertGreater(len(parts), 30)
        self.assertGreater(len(clients[0].of_type("preview_frame")), 30)
        self.assertGreater(len(clients[1].frames), 30)
        self.assertEqual(len(self.session.children), 1)
        # Each frame was encoded once per format, not once per client (by
        # Autobahn's factory, which every server-side client shares).
        factory = next(iter(self.service.websocket.clients)).factory
        self.assertLessEqual(factory.encoder.encoded,
                             2 * self.broadcaster.latest.number)

    async def test_stalled_client_does_not_stall_others(self):
        slow = await self.client()
        await slow.reply({"type": "start_preview", "requestId": 1,
                          "format": "binary"})
        slow.transport.pauseProducing()     # stop reading
        self.addCleanup(slow.transport.resumeProducing)
        fast = await self.client()
        await fast.reply({"type": "start_preview", "requestId": 1,
                          "format": "binary"})
        await self.frames_after(fast, 45, binary=True)
        # Paused by its transport, or held by its pacing: either way it
        # skips frames and the other gets them all.
        server_side = [p for p in self.broadcaster._subscribers
                       if p.paused or p.waiting]
        self.assertEqual(len(server_side), 1)
        self.assertGreater(server_side[0].skipped, 20)

    async def test_preview_fails_when_unplugged(self):
        """
        An unplugged USB camera is not detected: seed 000's 504.
        """
        self.camera.unplug()
        client = await self.client()
        reply = await client.reply({"type": "start_preview",
                                    "requestId": "u"}, timeout=30)
        self.assertEqual(reply["type"], "error")
        self.assertEqual(reply["code"], 504, reply)
        self.assertIn("Could not detect any camera", reply["error"])
        self.assertEqual(self.broadcaster.demand, 0)


class PTPIPPreviewTests(PTPIPWebSocketTestCase):
    async def test_preview_fails_when_unplugged(self):
        """
        A PTP/IP camera that went away resets the connection: a 503.
        """
        self.camera.unplug()
        client = await self.client()
        reply = await client.reply({"type": "start_preview",
                                    "requestId": "u"})
        self.assertEqual(reply["type"], "error")
        self.assertEqual(reply["code"], 503)
        self.assertIn("Connection reset by peer", reply["error"])
        self.assertEqual(self.broadcaster.demand, 0)


class CaptureTests(WebSocketTestCase):
    def record_releases(self):
        """
        The 700D's ISO and image format codes at each release, as a list
        that grows with each picture the camera takes.
        """
        device = self.camera.device
        releases = []
        take_picture = device._take_picture

        def recording():
            releases.append((device.value(eos.DPC_EOS_ISOSpeed),
                             device.value(eos.DPC_EOS_ImageFormat)))
            return take_picture()
        self.patch(device, "_take_picture", recording)
        return releases

    async def test_capture_with_settings_during_preview(self):
        """
        A capture's own settings apply to that photo only: the camera's
        settings read before and after are the same, the camera took the
        photo with the override, and preview comes back.
        """
        releases = self.record_releases()
        client = await self.client()
        await client.reply({"type": "start_preview", "requestId": 1,
                            "format": "binary"})
        await self.frames_after(client, 5, binary=True)
        before = await client.reply({
            "type": "get_camera_setting", "requestId": "before",
            "section": "imgsettings", "option": "iso"})
        self.assertEqual(before["value"], "100")
        reply = await client.reply({
            "type": "capture_photo", "requestId": "c",
            "settings": {"iso": 1600, "imageformat": "S3"},
            "filename": "guest-1.jpg"}, timeout=30)
        self.assertEqual(reply["type"], "photo_captured", reply)
        self.assertEqual(reply["filename"], "guest-1.jpg")
        self.assertEqual(reply["filepath"],
                         os.path.join(self.photos, "guest-1.jpg"))
        image = base64.b64decode(reply["image"])
        self.assertEqual(jpeg_size(image), (720, 480))
        with open(reply["filepath"], "rb") as f:
            self.assertEqual(f.read(), image)
        self.assertEqual(releases, [(ISO_1600, eosbodies.S3)])
        self.assertEqual(self.camera.device.captures, 1)
        after = await client.reply({
            "type": "get_camera_setting", "requestId": "after",
            "section": "imgsettings", "option": "iso"})
        self.assertEqual(after["value"], "100")
        self.assertEqual(self.camera.device.value(eos.DPC_EOS_ISOSpeed),
                         ISO_100)
        # Put back as python-gphoto2 spells it ("L"), not as the CLI does.
        self.assertEqual(self.camera.device.value(eos.DPC_EOS_ImageFormat),
                         eosbodies.L_FINE)
        await self.frames_after(client, 5, binary=True)

    async def test_same_filename_twice(self):
        client = await self.client()
        names = []
        for request_id in ("a", "b"):
            reply = await client.reply({
                "type": "capture_photo", "requestId": request_id,
                "filename": "booth"}, timeout=30)
            names.append(reply["filename"])
        self.assertEqual(names, ["booth.jpg", "booth-2.jpg"])

    async def test_refused_capture_setting(self):
        client = await self.client()
        reply = await client.reply({
            "type": "capture_photo", "requestId": "c",
            "settings": {"iso": 123}}, timeout=30)
        self.assertEqual(reply["type"], "error")
        self.assertIn("123", reply["error"])
        self.assertEqual(self.camera.device.captures, 0)
        self.assertEqual(self.camera.device.capture_log, [])
        self.assertEqual(self.camera.device.value(eos.DPC_EOS_ISOSpeed),
                         ISO_100)

class SettingTests(WebSocketTestCase):
    #: (section, option, a value to set, a value the camera refuses)
    SETTINGS = [
        ("imgsettings", "iso", "800", "123"),
        ("imgsettings", "whitebalance", "Daylight", "Purple"),
        ("imgsettings", "imageformat", "S1", "7x7"),
        ("capturesettings", "aperture", "8", "1.1"),
        ("capturesettings", "shutterspeed", "1/250", "1/8000"),
    ]

    async def test_get_and_set_each_setting(self):
        client = await self.client()
        for section, option, good, bad in self.SETTINGS:
            got = await client.reply({
                "type": "get_camera_setting", "requestId": option + "?",
                "section": section, "option": option})
            self.assertEqual(got["type"], "setting_value", got)
            self.assertIn(good, got["choices"])
            updated = await client.reply({
                "type": "set_camera_setting", "requestId": option + "=",
                "section": section, "option": option, "value": good})
            self.assertEqual(updated, {
                "type": "setting_updated", "requestId": option + "=",
                "section": section, "option": option, "value": good})
            refused = await client.reply({
                "type": "set_camera_setting", "requestId": option + "!",
                "section": section, "option": option, "value": bad})
            self.assertEqual(refused["type"], "error", refused)
            self.assertIn(good, refused["choices"])
            self.assertIn(good, refused["error"])
            again = await client.reply({
                "type": "get_camera_setting", "requestId": option + "??",
                "section": section, "option": option})
            self.assertEqual(again["value"], good)

    async def test_read_only_and_unknown(self):
        client = await self.client()
        battery = await client.reply({
            "type": "get_camera_setting", "requestId": 1,
            "section": "status", "option": "batterylevel"})
        self.assertEqual(battery["type"], "setting_value", battery)
        refused = await client.reply({
            "type": "set_camera_setting", "requestId": 2,
            "section": "status", "option": "batterylevel", "value": "50%"})
        self.assertEqual(refused["type"], "error")
        unknown = await client.reply({
            "type": "get_camera_setting", "requestId": 3,
            "section": "nosuch", "option": "iso"})
        self.assertEqual(unknown["type"], "error")
        self.assertIn("nosuch", unknown["error"])
        unknown = await client.reply({
            "type": "get_camera_setting", "requestId": 4,
            "section": "imgsettings", "option": "nosuch"})
        self.assertIn("nosuch", unknown["error"])

    async def test_setting_during_preview(self):
        client = await self.client()
        await client.reply({"type": "start_preview", "requestId": 1,
                            "format": "binary"})
        reply = await client.reply({
            "type": "set_camera_setting", "requestId": 2,
            "section": "imgsettings", "option": "iso", "value": 1600})
        self.assertEqual(reply["value"], "1600")
        await self.frames_after(client, 5, binary=True)


class PTPIPSettingTests(PTPIPWebSocketTestCase):
    """
    The generic camera's standard PTP settings, by the same test.
    """

    SETTINGS = [
        ("imgsettings", "iso", "800", "123"),
        ("imgsettings", "whitebalance", "Daylight", "Purple"),
        ("imgsettings", "imagesize", "1296x864", "7x7"),
        ("capturesettings", "f-number", "f/8", "f/1.1"),
        ("capturesettings", "shutterspeed", "0.0040s", "2.0000s"),
    ]

    test_get_and_set_each_setting = SettingTests.test_get_and_set_each_setting


class ConcurrencyTests(WebSocketTestCase):
    async def test_concurrent_captures_from_two_clients(self):
        a, b = await self.client(), await self.client()
        replies = await defer.gatherResults([
            defer.ensureDeferred(a.reply({"type": "capture_photo",
                                          "requestId": "a"}, timeout=30)),
            defer.ensureDeferred(b.reply({"type": "capture_photo",
                                          "requestId": "b"}, timeout=30))])
        names = {r["filename"] for r in replies}
        self.assertEqual(len(names), 2)
        self.assertEqual(sorted(os.listdir(self.photos)), sorted(names))


class PreviewOrderTests(WebSocketTestCase):
    """
    C{preview_started} is the first thing a client hears after
    C{start_preview}: before, the first frame of a live view that was
    starting went out before the reply (the session reports live view
    ready once that frame has come).
    """

    def assertStartedFirst(self, client, since, what):
        after = client.received[since:]
        self.assertIn("preview_started", after, what)
        first_frame = [i for i, kind in enumerate(after)
                       if kind in ("binary", "preview_frame")]
        self.assertTrue(first_frame, what)
        self.assertLess(after.index("preview_started"), first_frame[0],
                        (what, after[:5]))

    async def start_all(self, clients, request_id):
        marks = [len(client.received) for client in clients]
        replies = await defer.gatherResults([
            defer.ensureDeferred(client.reply({
                "type": "start_preview", "requestId": request_id,
                "format": "binary" if i % 2 else "json"}, timeout=30))
            for i, client in enumerate(clients)])
        for reply in replies:
            self.assertEqual(reply["type"], "preview_started", reply)
        for client, mark in zip(clients, marks):
            await client.wait_for(lambda c=client, m=mark: "binary" in
                                  c.received[m:] or "preview_frame" in
                                  c.received[m:])
        return marks

    async def test_after_a_restart(self):
        """
        Live view restarting (a capture, then new clients at once): the
        same order.
        """
        first = await self.client()
        await first.reply({"type": "start_preview", "requestId": 1,
                           "format": "binary"})
        capture = defer.ensureDeferred(first.reply(
            {"type": "capture_photo", "requestId": "c"}, timeout=30))
        await first.wait_for(lambda: "capturing" in [
            m["state"] for m in first.of_type("camera_status")])
        late = [await self.client() for _ in range(8)]
        marks = await self.start_all(late, "late")
        for n, (client, mark) in enumerate(zip(late, marks)):
            self.assertStartedFirst(client, mark, ("after capture", n))
        self.assertEqual((await capture)["type"], "photo_captured")


class CameraStatusTests(WebSocketTestCase):
    """
    C{camera_status} only for a state a client can act on: never C{busy},
    and no C{idle} while live view is only paused for an operation.
    """

    def states(self, client, since=0):
        return [m["state"] for m in client.messages[since:]
                if m.get("type") == "camera_status"]

    async def watching(self):
        client = await self.client()
        await client.reply({"type": "start_preview", "requestId": "w",
                            "format": "binary"})
        await self.frames_after(client, 3, binary=True)
        await client.wait_for(lambda: self.states(client) == ["previewing"])
        return client

    async def test_setting_during_live_view(self):
        """
        A setting read and changed while live view runs: live view pauses
        and comes back (previewing, idle, busy, idle, previewing in the
        session), and nobody is told anything.
        """
        watcher = await self.watching()
        other = await self.client()
        mark = len(watcher.messages)
        for request in ({"type": "get_camera_setting", "requestId": "g",
                         "section": "imgsettings", "option": "iso"},
                        {"type": "set_camera_setting", "requestId": "s",
                         "section": "imgsettings", "option": "iso",
                         "value": "800"}):
            reply = await other.reply(request, timeout=30)
            self.assertNotEqual(reply["type"], "error", reply)
        await self.frames_after(watcher, 5, binary=True)
        # Longer than an idle may wait to be announced after all.
        await sleep(3.5)
        self.assertEqual(self.states(watcher, mark), [])
        self.assertEqual(self.states(other), [])
        self.assertEqual(self.session.state, "previewing")

    async def test_capture_during_live_view(self):
        watcher = await self.watching()
        mark = len(watcher.messages)
        reply = await watcher.reply({"type": "capture_photo",
                                     "requestId": "c"}, timeout=30)
        self.assertEqual(reply["type"], "photo_captured")
        await watcher.wait_for(
            lambda: self.states(watcher, mark)[-1:] == ["previewing"])
        self.assertEqual(self.states(watcher, mark),
                         ["capturing", "previewing"])

    async def test_nobody_watching(self):
        client = await self.client()
        reply = await client.reply({
            "type": "set_camera_setting", "requestId": "s",
            "section": "imgsettings", "option": "iso", "value": "800"},
            timeout=30)
        self.assertEqual(reply["type"], "setting_updated")
        await client.reply({"type": "capture_photo", "requestId": "c"},
                           timeout=30)
        self.assertEqual(self.states(client), ["capturing", "idle"])

    async def test_camera_trouble_is_announced(self):
        watcher = await self.watching()
        mark = len(watcher.messages)
        self.camera.unplug()
        await watcher.wait_for(lambda: "recovering" in
                               self.states(watcher, mark))
        self.camera.replug()
        await watcher.wait_for(
            lambda: self.states(watcher, mark)[-1:] == ["previewing"],
            timeout=30)
        self.assertNotIn("busy", self.states(watcher, mark))
