"""
fourcut as a booth runs it: the virtual Canon EOS 700D on the USB path,
auto-detected through fourcut's port library by the real gphoto2 CLI and
python-gphoto2, with no --camera-port and no --camera-model.
"""

import os

import treq
from twisted.internet import defer

from fourcut.errors import SEED_CLAIMED_MOVIE, SEED_NO_CAMERA, SEED_NOT_DETECTED

from tests.support import EOS_STILL as STILL
from tests.support import EOS_USB, jpeg_size
from tests.support.service import WebSocketTestCase
from tests.support.time import sleep


class EOSServiceTestCase(WebSocketTestCase):
    virtual = EOS_USB


class DetectionTests(EOSServiceTestCase):
    async def test_auto_detect_through_cmd(self):
        """
        Seed 000's documented text, through the real CLI.
        """
        self.assertIsNone(self.session.gphoto2.port)
        self.assertIsNone(self.session.gphoto2.model)
        response = await self.get("/cmd?arg=--auto-detect")
        self.assertEqual(response.code, 200)
        text = (await response.content()).decode()
        self.assertRegex(text, r"Canon EOS 700D\s+usb:001,007")

    async def test_set_config_through_cmd(self):
        """
        --set-config on the EOS through the real CLI: gphoto2 2.5.28 takes
        the setting's name (given a /SECTION/NAME path it crashes on an
        EOS), and the camera has the new value.
        """
        for spelling in ("iso", "/main/imgsettings/iso", "/imgsettings/iso"):
            response = await self.get("/cmd?arg=--set-config=%s=800"
                                      % (spelling,))
            body = await response.content()
            self.assertEqual(response.code, 200, (spelling, body))
            response = await self.get("/cmd?arg=--get-config=iso")
            self.assertIn(b"Current: 800", await response.content())
            response = await self.get("/cmd?arg=--set-config=iso=100")
            self.assertEqual(response.code, 200)
            await response.content()
        # A value the camera does not have is the client's mistake: 400.
        response = await self.get("/cmd?arg=--set-config=iso=12345")
        body = await response.content()
        self.assertEqual(response.code, 400, body)

    async def test_camera_info(self):
        """
        The C{camera_info} sent on connect, to a client that connects
        before the camera first answered, carries the real values; so does
        the answer to C{get_camera_info}.
        """
        client = await self.client()
        sent = client.messages[1]
        self.assertEqual(sent["type"], "camera_info")
        self.assertEqual((sent["data"]["model"], sent["data"]["manufacturer"],
                          sent["data"]["port"]),
                         ("Canon EOS 700D", "Canon Inc.", "usb:001,007"))
        reply = await client.reply({"type": "get_camera_info",
                                    "requestId": 1}, timeout=30)
        data = reply["data"]
        self.assertEqual(data["model"], "Canon EOS 700D")
        self.assertEqual(data["manufacturer"], "Canon Inc.")
        self.assertEqual(data["port"], "usb:001,007")
        self.assertTrue(data["battery"].endswith("%"), data)


class LiveViewAndCaptureTests(EOSServiceTestCase):
    #: Seed 001's troubleshooting key, as a user may spell it; set when the
    #: camera is opened, by either driver. And seed 001's paths.temp,
    #: where photos are written while they arrive (relative: in the
    #: test's working directory).
    config = {"camera": {"capture_target": "memory card"},
              "paths": {"temp": "photos-in-flight"}}

    async def test_preview_through_warm_up(self):
        parts = await self.preview(timeout=3)
        self.assertGreater(len(parts), 10)
        self.assertGreater(self.camera.device.not_ready_answers, 0)

    async def test_capture_during_live_view(self):
        # The CLI's capture to the card takes ~5 s (gphoto2 waits for the
        # camera's events after it); live view must outlast it to resume.
        watcher = defer.ensureDeferred(self.preview(
            timeout=10 if self.driver == "cli" else 6))
        await sleep(2)
        sessions = self.camera.device.sessions_opened
        response = await self.get("/capture")
        self.assertEqual(response.code, 200)
        photo = await response.content()
        self.assertEqual(jpeg_size(photo), STILL)
        saved = os.listdir(self.photos)
        self.assertEqual(len(saved), 1)
        with open(os.path.join(self.photos, saved[0]), "rb") as f:
            self.assertEqual(f.read(), photo)
        self.assertEqual(os.listdir("photos-in-flight"), [])
        parts = await watcher
        self.assertGreater(len(parts), 10)
        self.assertEqual(self.camera.device.captures, 1)
        # camera.capture_target: the photo was taken to the card.
        self.assertEqual([entry["target"] for entry in
                          self.camera.device.capture_log], ["card"])
        if self.driver == "cli":
            # A session for the capture's gphoto2, one to resume live view.
            self.assertGreaterEqual(self.camera.device.sessions_opened,
                                    sessions + 2)
        else:
            # The held session: the capture ran inside it.
            self.assertEqual(self.camera.device.sessions_opened, sessions)

    async def test_settings_over_websocket(self):
        client = await self.client()
        reply = await client.reply({
            "type": "set_camera_setting", "requestId": 1,
            "section": "imgsettings", "option": "iso", "value": 800},
            timeout=30)
        self.assertEqual(reply["type"], "setting_updated", reply)
        self.assertEqual(reply["value"], "800")
        refused = await client.reply({
            "type": "set_camera_setting", "requestId": 2,
            "section": "imgsettings", "option": "iso", "value": 123},
            timeout=30)
        self.assertEqual(refused["type"], "error")
        self.assertIn("1600", refused["choices"])
        opcode = await client.reply({
            "type": "set_camera_setting", "requestId": 3,
            "section": "actions", "option": "opcode",
            "value": "0x100B,0xffffffff"}, timeout=30)
        self.assertIn("actions/opcode may not be changed", opcode["error"])


class USBFaultTests(EOSServiceTestCase):
    """
    Seed 000's error answers, whole bodies and statuses, through either
    driver (L{fourcut.errors.SEED_BODIES}).
    """

    async def assertSeedAnswer(self, path, status, body):
        response = await self.get(path)
        got = (await response.content()).decode()
        self.assertEqual((response.code, got), (status, body))
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["text/plain; charset=utf-8"])

    async def test_claimed_by_another_program(self):
        """
        Seed 000's 503: gphoto2's movie transcript with the io-library's
        "Could not claim the USB device".
        """
        self.camera.claim_by_other()
        await self.assertSeedAnswer("/preview?timeout=2", 503,
                                    SEED_CLAIMED_MOVIE)
        # The seed shows no capture of a claimed camera: the driver's own
        # words answer it.
        response = await self.get("/capture")
        body = (await response.content()).decode()
        self.assertEqual(response.code, 503, body)
        self.assertIn("Could not claim", body)
        self.assertNotIn("Movie capture", body)
        self.camera.claim_by_other(False)

    async def test_no_camera(self):
        """
        Seed 000's 504 for live view and 503 for a capture when no camera
        is found, word for word; a replugged camera is found again.
        (gphoto2 says "No camera found" only when it falls back to a port
        saved in ~/.gphoto/settings, which fourcut's private HOME never
        has: the seed's text is fourcut's, L{fourcut.errors.seed_error}.)
        """
        self.camera.unplug()
        await self.assertSeedAnswer("/preview?timeout=2", 504,
                                    SEED_NO_CAMERA)
        await self.assertSeedAnswer("/capture", 503, SEED_NOT_DETECTED)
        self.camera.replug()
        parts = await self.preview(timeout=3)
        self.assertGreater(len(parts), 5)

    async def test_reset(self):
        resets = self.camera.factory.resets
        response = await self.get("/reset")
        self.assertEqual(response.code, 200)
        self.assertEqual(await response.content(), b"Camera has been reset.")
        self.assertEqual(self.camera.factory.resets,
                         resets + 1)


class CaptureTargetTests(EOSServiceTestCase):
    async def test_memory_card_kept_across_sessions(self):
        """
        capturetarget=Memory card set over WebSocket holds for the next
        camera session too (a worker restarted, or the CLI's capture
        child): the photo is kept on the card as the second copy. The
        python-gphoto2 children (libgphoto2 2.5.34) and the gphoto2 CLI
        (2.5.30) share the settings file in fourcut's HOME.
        """
        client = await self.client()
        reply = await client.reply({
            "type": "set_camera_setting", "requestId": 1,
            "section": "settings", "option": "capturetarget",
            "value": "Memory card"}, timeout=30)
        self.assertEqual(reply["type"], "setting_updated", reply)
        # A new session: the held worker ends and a new one starts.
        response = await treq.post(self.base + "/camera/restart",
                                   pool=self.pool)
        self.assertEqual(response.code, 200)
        await response.content()
        sessions = self.camera.device.sessions_opened
        response = await self.get("/capture")
        self.assertEqual(response.code, 200)
        photo = await response.content()
        self.assertGreater(self.camera.device.sessions_opened, sessions)
        self.assertEqual([entry["target"] for entry in
                          self.camera.device.capture_log], ["card"])
        [stored] = self.camera.device.objects.values()
        self.assertEqual(stored.data, photo)
        reply = await client.reply({
            "type": "get_camera_setting", "requestId": 2,
            "section": "settings", "option": "capturetarget"}, timeout=30)
        self.assertEqual(reply["value"], "Memory card")


class CLIDetectionTests(DetectionTests):
    driver = "cli"


class CLILiveViewAndCaptureTests(LiveViewAndCaptureTests):
    driver = "cli"


class CLIUSBFaultTests(USBFaultTests):
    driver = "cli"


class CLICaptureTargetTests(CaptureTargetTests):
    driver = "cli"


class ReleaseAfterTests(EOSServiceTestCase):
    """
    camera.release_after: the held session gives the camera back when
    idle, and opens it again at the next use.
    """

    config = {"camera": {"release_after": 0.5},
              "preview": {"stop_grace": 0.2}}

    async def test_released_when_idle_and_opened_again(self):
        parts = await self.preview(timeout=2)
        self.assertGreater(len(parts), 5)
        device = self.camera.device
        opened = device.sessions_opened
        for _ in range(100):
            if self.session.driver.released and not device.session_open:
                break
            await sleep(0.1)
        self.assertTrue(self.session.driver.released)
        self.assertFalse(device.session_open, "the camera is still held")
        # Another program can use it now: the gphoto2 CLI through /cmd.
        response = await self.get("/cmd?arg=--summary")
        self.assertEqual(response.code, 200)
        await response.content()
        response = await self.get("/capture")
        self.assertEqual(response.code, 200)
        self.assertEqual(jpeg_size(await response.content()), STILL)
        # The CLI's session and the worker's new one; the same worker.
        self.assertEqual(device.sessions_opened, opened + 2)
        self.assertEqual(self.session.driver.workers_started, 1)
