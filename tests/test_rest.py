"""
Seed 001's REST endpoints (C{/status}, C{/health}, C{/camera/info},
C{/camera/restart}) and the YAML camera settings that shape what the
camera does: transforms, per-mode gphoto2 settings, standby.
"""

import base64
import json

import treq
from twisted.internet import defer

from fourcut.virtualcam import ptp

from .support import jpeg_size
from .test_service import ServiceTestCase, sleep
from .wsclient import connect


class RestTests(ServiceTestCase):
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

    async def test_root_answers_json_when_asked(self):
        status = await self.get_json(
            "/", headers={"Accept": ["application/json"]})
        self.assertEqual(status["service"], "fourcut")
        response = await self.get("/")
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["text/html; charset=utf-8"])
        self.assertIn(b'<img src="/preview"', await response.content())

    async def test_health(self):
        health = await self.get_json("/health")
        self.assertEqual(health["status"], "ok")
        self.camera.unplug()
        # The healthy answer is reused for a few seconds; a new probe
        # after that finds the camera gone.
        self.service.status.probe_interval = 0
        health = await self.get_json("/health", code=503)
        self.assertEqual(health["status"], "unhealthy")
        self.assertIn("Connection reset by peer", health["reason"])
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
        self.assertEqual(info["model"], "Virtual DSLR")
        self.assertEqual(info["battery"], "80%")
        self.assertEqual(info["state"], "idle")

    async def test_restart(self):
        response = await self.get("/camera/restart")
        self.assertEqual(response.code, 405)
        response = await treq.head(self.base + "/camera/restart",
                                   pool=self.pool)
        self.assertEqual(response.code, 405)
        self.assertEqual(response.headers.getRawHeaders("allow"),
                         ["POST, OPTIONS"])
        for method in (treq.get, treq.head):
            response = await method(self.base + "/camera", pool=self.pool)
            self.assertEqual(response.code, 404)
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


class TransformTests(ServiceTestCase):
    config = {"camera": {"preview_rotation": 90, "preview_flip": True,
                         "capture_rotation": 270,
                         "resolution": [1200, 1800]}}

    async def test_preview_rotated(self):
        parts = await self.preview(1.5, size=(640, 960))
        self.assertGreater(len(parts), 10)

    async def test_capture_rotated_and_resized(self):
        response = await self.get("/capture")
        self.assertEqual(jpeg_size(await response.content()), (1200, 1800))


class PreviewResolutionTests(ServiceTestCase):
    config = {"camera": {"preview_resolution": [480, 320]}}

    async def test_preview_resized(self):
        client = await connect(self, self.port)
        await client.reply({"type": "start_preview", "requestId": 1})
        await client.wait_for(
            lambda: len(client.of_type("preview_frame")) > 3)
        frame = client.of_type("preview_frame")[-1]
        self.assertEqual(jpeg_size(base64.b64decode(frame["data"])),
                         (480, 320))


class ModeSettingsTests(ServiceTestCase):
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
        return self.camera.device.properties[code].value

    async def test_modes(self):
        parts = await self.preview(1.0)
        self.assertGreater(len(parts), 5)
        self.assertEqual(self.prop(ptp.DPC_WhiteBalance), 4)   # daylight
        self.assertEqual(self.prop(ptp.DPC_ExposureIndex), 800)
        status = json.loads(await (await self.get("/status")).content())
        [error] = status["mode_errors"]["live_view"]
        self.assertIn("nosuchsetting", error)

        response = await self.get("/capture")
        self.assertEqual(response.code, 200)
        [shot] = self.camera.device.objects.values()
        self.assertEqual(shot.settings[ptp.DPC_WhiteBalance], 7)  # flash
        self.assertEqual(shot.settings[ptp.DPC_ExposureIndex], 100)

        # Nobody watching for standby_after seconds: standby settings.
        for _ in range(50):
            if self.session.state == "standby":
                break
            await sleep(0.1)
        self.assertEqual(self.session.state, "standby")
        self.assertEqual(self.prop(ptp.DPC_WhiteBalance), 6)   # tungsten
        # Watching again leaves standby.
        parts = await self.preview(1.0)
        self.assertGreater(len(parts), 5)
        self.assertEqual(self.prop(ptp.DPC_WhiteBalance), 4)


class CLIModeSettingsTests(ModeSettingsTests):
    driver = "cli"
