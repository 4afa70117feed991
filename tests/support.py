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

    def __init__(self, testcase, port, model=GPHOTO2_MODEL,
                 fresh_home=False):
        self.port = port
        self.model = model
        self.running = {}
        self._testcase = testcase
        self.fresh_home = fresh_home
        # libgphoto2 remembers ports in $HOME/.gphoto/settings.
        self.home = self.new_home()
        testcase.addCleanup(self.end_all)

    def new_home(self):
        """
        An empty directory for gphoto2's C{HOME}: libgphoto2 keeps
        C{~/.gphoto/settings} (last port, capture target) there.
        """
        home = os.path.abspath(self._testcase.mktemp())
        os.makedirs(home)
        return home

    def argv(self, *args):
        argv = ["gphoto2"]
        if self.model:
            argv += ["--camera", self.model]
        if self.port:
            argv += ["--port", self.port]
        return argv + list(args)

    def env(self, home=None):
        """
        gphoto2's environment: C{HOME} is C{home}, else a new empty one
        with C{fresh_home}, else this runner's own.
        """
        if home is None:
            home = self.new_home() if self.fresh_home else self.home
        return gphoto2_env(home)

    def run(self, *args, deadline=30.0, env=None, home=None):
        """
        Run gphoto2 with C{args}, in C{env} or L{env}C{(home)}.
        """
        if env is None:
            env = self.env(home)

        def started(transport):
            self.running[transport.pid] = transport

        def finished(result):
            for pid, transport in list(self.running.items()):
                if transport.pid is None:
                    del self.running[pid]
            return result

        return process.run(reactor, self.argv(*args), deadline,
                           env=env, on_start=started).addBoth(
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

    def env(self, home=None, **changes):
        env = self.camera.env(base=gphoto2_env(home or self.new_home()))
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
