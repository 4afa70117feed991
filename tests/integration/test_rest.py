"""
Seed 001's REST endpoints (C{/status}, C{/health}, C{/camera/info},
C{/camera/restart}) with the real camera session behind them, and the YAML
camera settings that shape what the camera does: transforms, per-mode
gphoto2 settings, standby. On the virtual Canon EOS 700D over USB, as a
booth runs it; the generic camera's health and info over PTP/IP in
L{PTPIPRestTests}. What each endpoint decides and answers is tested in
memory (L{tests.web.test_rest}).
"""

import base64
import json

import treq
from twisted.internet import defer

from fourcut.virtualcam import eospack as eos

from tests.support import (EOS_STILL, EOS_USB, ISO_100, ISO_800, PTPIP,
                      jpeg_size)
from tests.support.service import ServiceTestCase
from tests.support.time import sleep
from tests.support.wsclient import connect

#: The 700D's Canon white balance codes (libgphoto2's names).
WB_DAYLIGHT, WB_TUNGSTEN, WB_FLASH = 1, 3, 5


class EOSTestCase(ServiceTestCase):
    virtual = EOS_USB


class RestTests(EOSTestCase):
    async def get_json(self, path, code=200, **kwargs):
        response = await treq.get(self.base + path, pool=self.pool, **kwargs)
        self.assertEqual(response.code, code)
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["application/json"])
        return json.loads(await response.content())

    async def test_status(self):
        status = await self.get_json("/status")
        self.assertEqual(status["service"], "fourcut")
        self.assertEqual(status["camera"]["state"], "idle")
        self.assertEqual(status["preview"]["subscribers"], 0)
        self.assertEqual(status["captures"], 0)
        self.assertEqual(status["driver"]["driver"], "held")
        watcher = defer.ensureDeferred(self.preview(1.5))
        await sleep(1.0)
        status = await self.get_json("/status")
        self.assertEqual(status["camera"]["state"], "previewing")
        self.assertEqual(status["preview"]["subscribers"], 1)
        self.assertGreater(status["preview"]["frames"], 5)
        await watcher

    #: What /health says of the unplugged camera: a USB camera that is
    #: gone is not detected.
    UNPLUGGED = "Could not detect any camera"

    async def test_health(self):
        health = await self.get_json("/health")
        self.assertEqual(health["status"], "ok")
        self.camera.unplug()
        # The healthy answer is reused for a few seconds; a new probe
        # after that finds the camera gone.
        self.service.status.probe_interval = 0
        health = await self.get_json("/health", code=503)
        self.assertEqual(health["status"], "unhealthy")
        self.assertIn(self.UNPLUGGED, health["reason"])
        self.camera.replug()
        health = await self.get_json("/health")
        self.assertEqual(health["status"], "ok")

    async def test_health_while_previewing(self):
        watcher = defer.ensureDeferred(self.preview(2))
        await sleep(1.0)
        health = await self.get_json("/health")
        self.assertEqual(health["state"], "previewing")
        self.assertLess(health["last_frame_age"], 1.0)
        self.assertEqual(len(self.session.children), 1,
                         "the probe must not start a second gphoto2")
        await watcher

    async def test_camera_info(self):
        info = await self.get_json("/camera/info")
        self.assertEqual(info["model"], "Canon EOS 700D")
        self.assertEqual(info["manufacturer"], "Canon Inc.")
        self.assertEqual(info["port"], "usb:001,007")
        self.assertEqual(info["battery"], "100%")
        self.assertEqual(info["state"], "idle")

    async def test_restart(self):
        """
        Live view comes back after a restart. (Its methods and answer:
        L{tests.web.test_rest.RestartTests}.)
        """
        client = await connect(self, self.port)
        await client.reply({"type": "start_preview", "requestId": 1,
                            "format": "binary"})
        await client.wait_for(lambda: len(client.frames) > 5)
        [before] = self.session.children
        response = await treq.post(self.base + "/camera/restart",
                                   pool=self.pool)
        self.assertEqual(response.code, 200)
        body = json.loads(await response.content())
        self.assertEqual(body["status"], "restarted")
        # Live view comes back for the client still watching, in a new
        # gphoto2 child.
        count = len(client.frames)
        await client.wait_for(lambda: len(client.frames) > count + 5)
        self.assertNotIn(before, self.session.children)


class PTPIPRestTests(ServiceTestCase):
    """
    The generic camera over PTP/IP: its info, and its health when the
    connection is reset.
    """

    virtual = PTPIP

    get_json = RestTests.get_json
    UNPLUGGED = "Connection reset by peer"
    test_health = RestTests.test_health

    async def test_camera_info(self):
        info = await self.get_json("/camera/info")
        self.assertEqual(info["model"], "Virtual DSLR")
        self.assertEqual(info["battery"], "80%")
        self.assertTrue(info["port"].startswith("ptpip:127.0.0.1:"), info)
        self.assertEqual(info["state"], "idle")


class TransformTests(EOSTestCase):
    config = {"camera": {"preview_rotation": 90, "preview_flip": True,
                         "capture_rotation": 270,
                         "resolution": [1200, 1800]}}

    async def test_preview_rotated(self):
        parts = await self.preview(1.5, size=(640, 960))
        self.assertGreater(len(parts), 10)

    async def test_capture_rotated_and_resized(self):
        response = await self.get("/capture")
        self.assertEqual(jpeg_size(await response.content()), (1200, 1800))


class PreviewResolutionTests(EOSTestCase):
    config = {"camera": {"preview_resolution": [480, 320]}}

    async def test_preview_resized(self):
        client = await connect(self, self.port)
        await client.reply({"type": "start_preview", "requestId": 1})
        await client.wait_for(
            lambda: len(client.of_type("preview_frame")) > 3)
        frame = client.of_type("preview_frame")[-1]
        self.assertEqual(jpeg_size(base64.b64decode(frame["data"])),
                         (480, 320))


class ModeSettingsTests(EOSTestCase):
    """
    Per-mode gphoto2 settings: applied on entering the mode, failures
    reported on /status, never fatal.
    """

    config = {"camera": {
        "live_view": ["whitebalance=Daylight", "nosuchsetting=1"],
        "capture": ["whitebalance=Flash"],
        "standby": ["whitebalance=Tungsten"],
        "preview_iso": 800,
        "capture_iso": 100,
        "standby_after": 1.0,
    }, "preview": {"stop_grace": 0.2}}

    def prop(self, code):
        return self.camera.device.value(code)

    def record_releases(self):
        """
        The white balance and ISO codes at each release, as a list that
        grows with each picture the camera takes (the EOS keeps a capture
        to its RAM nowhere once it is downloaded).
        """
        device = self.camera.device
        releases = []
        take_picture = device._take_picture

        def recording():
            releases.append((self.prop(eos.DPC_EOS_WhiteBalance),
                             self.prop(eos.DPC_EOS_ISOSpeed)))
            return take_picture()
        self.patch(device, "_take_picture", recording)
        return releases

    async def test_modes(self):
        releases = self.record_releases()
        parts = await self.preview(1.0)
        self.assertGreater(len(parts), 5)
        self.assertEqual(self.prop(eos.DPC_EOS_WhiteBalance), WB_DAYLIGHT)
        self.assertEqual(self.prop(eos.DPC_EOS_ISOSpeed), ISO_800)
        status = json.loads(await (await self.get("/status")).content())
        [error] = status["mode_errors"]["live_view"]
        self.assertIn("nosuchsetting", error)

        response = await self.get("/capture")
        self.assertEqual(response.code, 200)
        self.assertEqual(jpeg_size(await response.content()), EOS_STILL)
        self.assertEqual(releases, [(WB_FLASH, ISO_100)])

        # Nobody watching for standby_after seconds: standby settings.
        for _ in range(50):
            if self.session.state == "standby":
                break
            await sleep(0.1)
        self.assertEqual(self.session.state, "standby")
        self.assertEqual(self.prop(eos.DPC_EOS_WhiteBalance), WB_TUNGSTEN)
        # Watching again leaves standby.
        parts = await self.preview(1.0)
        self.assertGreater(len(parts), 5)
        self.assertEqual(self.prop(eos.DPC_EOS_WhiteBalance), WB_DAYLIGHT)


class CLIModeSettingsTests(ModeSettingsTests):
    driver = "cli"
