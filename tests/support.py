"""
Shared pieces for the integration tests: a virtual camera per test, the
real gphoto2 CLI run as a child with a deadline, and JPEG checks.
"""

import io
import os

from PIL import Image
from twisted.internet import reactor

from fourcut import process
from fourcut.virtualcam.camera import GPHOTO2_MODEL, VirtualCamera

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


class GPhoto2Runner:
    """
    Runs the real gphoto2 CLI against a camera port, tracking every child
    so that a failing test still ends them (by PID).
    """

    def __init__(self, testcase, port, model=GPHOTO2_MODEL,
                 fresh_home=False):
        self.port = port
        self.model = model
        self.running = {}
        self._testcase = testcase
        self.fresh_home = fresh_home
        testcase.addCleanup(self.end_all)

    def new_home(self):
        """
        An empty directory for gphoto2's C{HOME}: libgphoto2 keeps
        C{~/.gphoto/settings} (last port, capture target) there.
        """
        home = self._testcase.mktemp()
        os.makedirs(home)
        return home

    def argv(self, *args):
        return ["gphoto2", "--camera", self.model, "--port", self.port] \
            + list(args)

    def run(self, *args, deadline=30.0, home=None):
        """
        Run gphoto2 with C{args}. With C{fresh_home}, each child gets an
        empty C{HOME} of its own unless C{home} names one to share.
        """
        env = gphoto2_env()
        if home is None and self.fresh_home:
            home = self.new_home()
        if home is not None:
            env["HOME"] = home

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


def gphoto2_env():
    """
    gphoto2's environment: English messages whatever the machine's locale.
    """
    return dict(os.environ, LANG="C", LC_ALL="C", LANGUAGE="C")


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
