"""
The virtual camera driven by python-gphoto2 (the PyPI wheel, with its own
libgphoto2), run in a child process: see L{tests.support.pygphoto2_client} for why
not in a thread of the test process.
"""

import json
import os
import sys

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from fourcut.camera import processes

from tests.support import jpeg_size, start_camera


class PythonGPhoto2Tests(TestCase):
    async def setUp(self):
        self.camera = await start_camera(self)
        self.outdir = self.mktemp()
        os.makedirs(self.outdir)

    async def client(self, action):
        result = await processes.run(
            reactor, [sys.executable, "-m", "tests.support.pygphoto2_client",
                      self.camera.port, self.camera.model, action,
                      self.outdir], deadline=60,
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
        self.assertTrue(result.ok, result)
        return json.loads(result.stdout)

    def picture(self, name):
        with open(os.path.join(self.outdir, name), "rb") as f:
            return f.read()

    async def test_capture_preview(self):
        result = await self.client("preview")
        self.assertEqual(result["mime_types"], ["image/jpeg"] * 3)
        previews = [self.picture("preview%d.jpg" % i) for i in range(3)]
        for data in previews:
            self.assertEqual(jpeg_size(data), (960, 640))
        self.assertEqual(len(set(previews)), 3)

    async def test_capture_and_download(self):
        result = await self.client("capture")
        self.assertEqual(result, {"folder": "/store_00010001",
                                  "name": "IMG_0001.JPG"})
        self.assertEqual(jpeg_size(self.picture("capture.jpg")), (2592, 1728))
        self.assertEqual(len(self.camera.device.objects), 1)

    async def test_config_round_trip(self):
        result = await self.client("config")
        self.assertEqual(result, {
            "before": "400",
            "choices": ["100", "200", "400", "800", "1600", "3200", "6400"],
            "after": "1600", "battery": "80%", "battery_readonly": 1})

    async def test_refused_value(self):
        result = await self.client("refused")
        self.assertLess(result["error"], 0)
        self.assertEqual(result["iso"], "400")
