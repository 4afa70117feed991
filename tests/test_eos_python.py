"""
The Canon EOS personality driven by python-gphoto2 (the 2.6.4 wheel, with
libgphoto2 2.5.34) in a child process with a HOME of its own; see
L{tests.pygphoto2_client}.
"""

import json
import os
import sys

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from fourcut import process

from .support import jpeg_size, start_camera


class PythonGPhoto2EOSTests(TestCase):
    async def setUp(self):
        self.camera = await start_camera(self, personality="eos",
                                         profile="fast")
        self.device = self.camera.device
        self.outdir = self.mktemp()
        os.makedirs(self.outdir)

    async def client(self, action):
        home = self.mktemp()
        os.makedirs(home)
        result = await process.run(
            reactor, [sys.executable, "-m", "tests.pygphoto2_client",
                      self.camera.port, self.camera.model, action,
                      self.outdir], deadline=60,
            env=dict(os.environ, HOME=home,
                     PYTHONPATH=os.pathsep.join(sys.path)))
        self.assertTrue(result.ok, result)
        return json.loads(result.stdout)

    def picture(self, name):
        with open(os.path.join(self.outdir, name), "rb") as f:
            return f.read()

    async def test_model_battery_and_iso(self):
        result = await self.client("eos_config")
        self.assertEqual(result["model"], "Canon EOS 700D")
        self.assertEqual(result["battery"], "100%")
        self.assertEqual(result["lens"], "EF-S18-55mm f/3.5-5.6 IS STM")
        self.assertEqual(result["iso_before"], "100")
        self.assertEqual(result["iso_choices"][:3], ["Auto", "100", "200"])
        self.assertEqual(result["iso_after"], "400")
        self.assertEqual(self.device.value(0xD103), 0x58)

    async def test_capture_to_ram(self):
        """
        2.5.34's trigger: focus is done when RemoteReleaseOn(1) answers,
        "000000000101" focus info means in focus.
        """
        result = await self.client("eos_capture")
        self.assertEqual(result["folder"], "/")
        self.assertTrue(result["name"].startswith("capt"), result)
        self.assertEqual(jpeg_size(self.picture("capture.jpg")), (5184, 3456))
        self.assertEqual(self.device.captures, 1)
        self.assertEqual(self.device.ram_objects, {})

    async def test_no_focus(self):
        self.device.no_focus()
        result = await self.client("eos_capture")
        self.assertLess(result["error"], 0)
        self.assertEqual(self.device.captures, 0)

    async def test_capture_preview(self):
        result = await self.client("preview")
        self.assertEqual(result["mime_types"], ["image/jpeg"] * 3)
        previews = [self.picture("preview%d.jpg" % i) for i in range(3)]
        for data in previews:
            self.assertEqual(jpeg_size(data), (960, 640))
        self.assertEqual(len(set(previews)), 3)
        self.assertGreater(self.device.not_ready_answers, 0)
