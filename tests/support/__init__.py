"""
Shared pieces for the integration tests: a virtual camera per test, the
real gphoto2 CLI run as a child with a deadline, and JPEG checks.
"""

import io
import os
import shutil
import sys
import tempfile

from PIL import Image
from twisted.internet import defer, protocol, reactor

from fourcut.camera import processes
from fourcut.virtualcam.camera import (GPHOTO2_MODEL, VirtualCamera,
                                       VirtualUSBCamera)

LISTEN = "tcp:0:interface=127.0.0.1"

#: C{camera.virtual_*} for the integration tests: the virtual Canon EOS 700D
#: on the USB path, as a booth runs it, with the fast timing profile (the
#: realistic one would make the suite several times slower).
EOS_USB = {"virtual_body": "700D", "virtual_transport": "usb",
           "virtual_profile": "fast"}
#: The generic virtual camera over PTP/IP, for the smaller set of tests
#: that shows the PTP/IP path still works.
PTPIP = {"virtual_body": "generic", "virtual_transport": "ptpip",
         "virtual_profile": "fast"}
#: The virtual 700D's still size at its power-on image format (Large).
EOS_STILL = (5184, 3456)
#: The 700D's Canon ISO codes for 100 (its power-on value), 800 and 1600.
ISO_100, ISO_800, ISO_1600 = 0x48, 0x60, 0x68


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

        return processes.run(reactor, self.argv(*args), deadline,
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


def english_env(**changes):
    """
    This process's environment for a child whose messages tests read:
    English whatever the machine's locale, with C{changes}.
    """
    return dict(os.environ, LANG="C", LC_ALL="C", LANGUAGE="C", **changes)


def gphoto2_env(home=None):
    """
    gphoto2's environment: L{english_env}, and C{home} (a directory of the
    test's own) as C{HOME}.
    """
    if home is None:
        return english_env()
    return english_env(HOME=home)


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


class ChildServer(protocol.ProcessProtocol):
    """
    The child's stdout, line by line, and its end.
    """

    def __init__(self):
        self.buffer = b""
        self.lines = []
        self.stderr = bytearray()
        self._waiting = []
        self.ended = defer.Deferred()

    def outReceived(self, data):
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            line = line.decode("utf-8", "replace")
            self.lines.append(line)
            still = []
            for test, d in self._waiting:
                if test(line):
                    d.callback(line)
                else:
                    still.append((test, d))
            self._waiting = still

    def errReceived(self, data):
        self.stderr += data
        del self.stderr[:-200000]

    def line(self, prefix, timeout=30.0):
        """
        The next line that starts with C{prefix}.
        """
        d = defer.Deferred()
        self._waiting.append((lambda line: line.startswith(prefix), d))
        return d.addTimeout(timeout, reactor)

    def line_with(self, text, timeout=30.0):
        """
        The first line, already received or to come, that holds C{text}.
        """
        for line in self.lines:
            if text in line:
                return defer.succeed(line)
        d = defer.Deferred()
        self._waiting.append((lambda line: text in line, d))
        return d.addTimeout(timeout, reactor)

    async def command(self, word, answer):
        d = self.line(answer)
        self.transport.write(word.encode("ascii") + b"\n")
        return (await d).split()[1:]

    def processEnded(self, reason):
        for _, d in self._waiting:
            d.errback(reason)
        self._waiting = []
        self.reason = reason
        self.ended.callback(None)


#: The checkout: where the tests' children find fourcut and its plugin.
#: The checkout: fourcut's and the tests' packages, for a child's PYTHONPATH.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

#: twistd, run by this interpreter.
TWISTD = [sys.executable, "-c",
          "import sys; from twisted.scripts.twistd import run; "
          "sys.argv[0] = 'twistd'; sys.exit(run())"]


def exit_code(child):
    """
    The exit status of an ended L{ChildServer}'s process (L{None} if a
    signal ended it).
    """
    return getattr(child.reason.value, "exitCode", None)


def start_twistd(testcase, *args, env=None):
    """
    Run C{twistd ARGS} (e.g. C{"-n", "--pidfile=", "fourcut", ...}) as a
    child of C{testcase} with this checkout on its path; return its
    L{ChildServer}. The test ends it if it still runs (SIGTERM, then
    SIGKILL, by PID), and waits for it.
    """
    child = ChildServer()
    environment = english_env(PYTHONPATH=ROOT)
    environment.update(env or {})
    transport = reactor.spawnProcess(child, sys.executable,
                                     TWISTD + list(args), env=environment,
                                     path=ROOT)
    child.pid = transport.pid
    child.transport = transport

    async def end():
        if not child.ended.called:
            transport.signalProcess("TERM")
            timer = reactor.callLater(20, lambda: child.ended.called or
                                      transport.signalProcess("KILL"))
            await child.ended
            if timer.active():
                timer.cancel()
    testcase.addCleanup(end)
    return child
