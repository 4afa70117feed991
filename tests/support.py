"""
Shared pieces for the integration tests: a virtual camera per test, the
real gphoto2 CLI run as a child with a deadline, and JPEG checks.
"""

import io
import os
import shutil
import tempfile

from PIL import Image
from twisted.internet import reactor

from fourcut import process
from fourcut.virtualcam.camera import (GPHOTO2_MODEL, VirtualCamera,
                                       VirtualUSBCamera)

LISTEN = "tcp:0:interface=127.0.0.1"


async def start_camera(testcase, **options):
    """
    Start a virtual camera on a free loopback port for C{testcase}; it is
    stopped when the test ends, pass or fail.
    """
    camera = VirtualCamera(reactor, **options)
    await camera.listen(LISTEN)
    testcase.addCleanup(camera.stop)
    return camera


async def start_usb_camera(testcase, **options):
    """
    Start a virtual USB camera for C{testcase} on a Unix socket in a short
    private directory (socket paths end at 107 bytes, trial's temporary
    directories can be longer); it is stopped when the test ends.
    """
    camera = VirtualUSBCamera(reactor, **options)
    directory = tempfile.mkdtemp(prefix="fourcut-test-vusb-")
    testcase.addCleanup(shutil.rmtree, directory, True)
    await camera.listen(os.path.join(directory, "camera.sock"))
    testcase.addCleanup(camera.stop)
    return camera


class GPhoto2Runner:
    """
    Runs the real gphoto2 CLI against a camera port, tracking every child
    so that a failing test still ends them (by PID). With C{port} and
    C{model} L{None}, gphoto2 auto-detects.
    """

    def __init__(self, testcase, port, model=GPHOTO2_MODEL):
        self.port = port
        self.model = model
        self.running = {}
        # libgphoto2 remembers ports in $HOME/.gphoto/settings.
        self.home = os.path.abspath(testcase.mktemp())
        os.makedirs(self.home)
        testcase.addCleanup(self.end_all)

    def argv(self, *args):
        argv = ["gphoto2"]
        if self.model:
            argv += ["--camera", self.model]
        if self.port:
            argv += ["--port", self.port]
        return argv + list(args)

    def env(self):
        return gphoto2_env(self.home)

    def run(self, *args, deadline=30.0, env=None):
        def started(transport):
            self.running[transport.pid] = transport

        def finished(result):
            for pid, transport in list(self.running.items()):
                if transport.pid is None:
                    del self.running[pid]
            return result

        return process.run(reactor, self.argv(*args), deadline,
                           env=self.env() if env is None else env,
                           on_start=started).addBoth(
                               finished)

    def end_all(self):
        for transport in self.running.values():
            if transport.pid is not None:
                try:
                    transport.signalProcess("KILL")
                except Exception:
                    pass
        self.running.clear()


class USBGPhoto2Runner(GPhoto2Runner):
    """
    Runs gphoto2 against a L{VirtualUSBCamera}: its IOLIBS and socket, and
    a HOME of its own for every child, since libgphoto2 remembers ports in
    C{~/.gphoto/settings}. Auto-detects unless given a port and model.
    """

    def __init__(self, testcase, camera, port=None, model=None):
        GPhoto2Runner.__init__(self, testcase, port, model)
        self.camera = camera
        self._testcase = testcase

    def env(self, **changes):
        home = self._testcase.mktemp()
        os.makedirs(home)
        env = self.camera.env(base=gphoto2_env())
        env["HOME"] = home
        env.update(changes)
        return env


def gphoto2_env(home=None):
    """
    gphoto2's environment: English messages whatever the machine's locale,
    and C{home} (a directory of the test's own) as C{HOME}.
    """
    env = dict(os.environ, LANG="C", LC_ALL="C", LANGUAGE="C")
    if home is not None:
        env["HOME"] = home
    return env


def jpeg_size(data):
    """
    Decode C{data} fully and return its C{(width, height)}; raises if it is
    not a valid JPEG.
    """
    image = Image.open(io.BytesIO(data))
    if image.format != "JPEG":
        raise ValueError("not a JPEG: %r" % (image.format,))
    image.load()
    return image.size
