"""
The Canon EOS personality driven by python-gphoto2 (the 2.6.4 wheel, with
libgphoto2 2.5.34) in a child process with a HOME of its own (see
L{tests.support.pygphoto2_client}), on the USB path through fourcut's port library
as a booth's body is; a smaller set over PTP/IP.
"""

import json
import os
import sys

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from fourcut.camera import processes
from fourcut.virtualcam import usbport

from tests.support import EOS_STILL, jpeg_size, start_camera, start_usb_camera


class EOSPythonTestCase(TestCase):
    """
    The virtual 700D on USB and a python-gphoto2 child per action, each
    ended by PID when the test ends.
    """

    async def start_camera(self):
        return await start_usb_camera(self, personality="eos",
                                      profile="fast")

    async def setUp(self):
        self.camera = await self.start_camera()
        self.device = self.camera.device
        self.outdir = self.mktemp()
        os.makedirs(self.outdir)
        self.pids = []
        self.addCleanup(self.end_all)

    def env(self):
        return self.camera.env(usbport.PYTHON)

    def end_all(self):
        for pid in self.pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    async def client(self, action):
        home = self.mktemp()
        os.makedirs(home)
        env = self.env()
        env.update(HOME=home, PYTHONPATH=os.pathsep.join(sys.path))
        result = await processes.run(
            reactor, [sys.executable, "-m", "tests.support.pygphoto2_client",
                      self.camera.port, self.camera.model, action,
                      self.outdir], deadline=60, env=env,
            on_start=lambda transport: self.pids.append(transport.pid))
        self.assertTrue(result.ok, result)
        return json.loads(result.stdout)

    def picture(self, name):
        with open(os.path.join(self.outdir, name), "rb") as f:
            return f.read()


class PythonGPhoto2EOSTests(EOSPythonTestCase):
    async def test_detect(self):
        """
        Auto-detected by its USB ids, and opened without a port or a model.
        """
        result = await self.client("detect")
        self.assertEqual(result, {
            "detected": [["Canon EOS 700D", "usb:001,007"]], "iso": "100"})

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
        self.assertEqual(jpeg_size(self.picture("capture.jpg")), EOS_STILL)
        self.assertEqual(self.device.captures, 1)
        self.assertEqual(self.device.ram_objects, {})
        self.assertEqual(self.device.capture_log[0]["target"], "RAM")

    async def test_no_focus(self):
        self.device.no_focus()
        result = await self.client("eos_capture")
        self.assertLess(result["error"], 0)
        self.assertEqual(self.device.captures, 0)

    async def test_capture_preview(self):
        """
        Live view through the 0xA102 warm-up: three different frames.
        """
        result = await self.client("preview")
        self.assertEqual(result["mime_types"], ["image/jpeg"] * 3)
        previews = [self.picture("preview%d.jpg" % i) for i in range(3)]
        for data in previews:
            self.assertEqual(jpeg_size(data), (960, 640))
        self.assertEqual(len(set(previews)), 3)
        self.assertGreater(self.device.not_ready_answers, 0)


class PTPIPPythonGPhoto2EOSTests(EOSPythonTestCase):
    """
    The same body over PTP/IP (a Wi-Fi EOS): its settings and a capture.
    """

    async def start_camera(self):
        return await start_camera(self, personality="eos", profile="fast")

    def env(self):
        return dict(os.environ)

    test_model_battery_and_iso = (
        PythonGPhoto2EOSTests.test_model_battery_and_iso)
    test_capture_to_ram = PythonGPhoto2EOSTests.test_capture_to_ram
