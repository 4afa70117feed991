"""
Start-up as an operator meets it, with the real C{twistd -n fourcut} as a
child process: a port already in use, a photos directory that cannot be
used and every kind of config error end the process with status 1 and one
line naming what failed (no usage text, no traceback); a start that works
logs the address it really listens on. And the same failures in process
(L{fourcut.services.FourcutService}).
"""

import glob
import json
import os
import re
import shutil
import signal
import tempfile

import treq
import yaml
from twisted.internet import protocol, reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from fourcut.services import StartupFailed
from fourcut.tap import Options, OptionsError, makeService
from fourcut.virtualcam import usbport

from tests.support import EOS_USB, exit_code, start_twistd
from tests.support.wsclient import connect

#: The virtual camera the children use: fast, no USB port library needed.
FAST = {"camera": {"virtual_body": "generic", "virtual_transport": "ptpip",
                   "virtual_profile": "fast"}}

#: A USB port library that is not there.
NO_LIBRARY = "/nonexistent/fourcut_usb.so"
#: The virtual Canon EOS on USB, fast.
FAST_USB = {"camera": {"virtual_transport": "usb",
                       "virtual_profile": "fast"}}

#: A log line's prefix: twistd's timestamp and the emitter.
LOG_LINE = re.compile(r"^\S+ \[[^\]]+\] ")


class TwistdTestCase(TestCase):
    timeout = 60

    def write_config(self, data):
        path = os.path.abspath(self.mktemp() + ".yaml")
        with open(path, "w") as f:
            if isinstance(data, str):
                f.write(data)
            else:
                yaml.safe_dump(data, f)
        return path

    def fourcut(self, *args, config=FAST, photos=None, twistd=(), env=None,
                virtual=True):
        """
        Start C{twistd -n TWISTD fourcut} with the virtual camera (unless
        not C{virtual}) and C{args}, C{env} added to its environment.
        """
        if photos is None:
            photos = os.path.abspath(self.mktemp())
        argv = ["-n", "--pidfile="] + list(twistd) + ["fourcut"] + (
            ["--virtual-camera"] if virtual else []) + ["--photos", photos]
        if config is not None:
            argv += ["--config", self.write_config(config)]
        return start_twistd(self, *(argv + list(args)), env=env)

    def own_tmpdir(self):
        """
        A C{TMPDIR} for a child, and a function counting the virtual
        camera's port library directories (C{fourcut-iolibs-*}) in it.
        """
        # Short: the virtual camera's Unix socket goes in it too (paths
        # end at 107 bytes).
        tmpdir = tempfile.mkdtemp(prefix="fourcut-test-")
        self.addCleanup(shutil.rmtree, tmpdir, True)
        return {"TMPDIR": tmpdir}, lambda: len(
            glob.glob(os.path.join(tmpdir, "fourcut-iolibs-*")))

    async def failed(self, child):
        """
        Wait for C{child} to end; check it ended with status 1 and without
        a traceback; return its stdout lines and its stderr.
        """
        await child.ended
        stderr = child.stderr.decode("utf-8", "replace")
        everything = "\n".join(child.lines) + stderr
        self.assertEqual(exit_code(child), 1, everything)
        self.assertNotIn("Traceback", everything)
        self.assertNotIn("Usage:", everything)
        return child.lines, stderr

    def held_port(self):
        """
        A loopback port this test listens on for its whole length.
        """
        port = reactor.listenTCP(0, protocol.ServerFactory(),
                                 interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return port.getHost().port


class ServiceFailureTests(TwistdTestCase):
    async def test_port_in_use(self):
        port = self.held_port()
        listen = "tcp:%d:interface=127.0.0.1" % (port,)
        # The virtual camera over PTP/IP needs no USB port library: with
        # none (pip could not build one) it gets past that check to the
        # listening port.
        lines, stderr = await self.failed(self.fourcut(
            "--listen", listen, env={"FOURCUT_VUSB_LIBRARY": NO_LIBRARY}))
        [failure] = [line for line in lines if "fourcut: cannot" in line]
        self.assertEqual(LOG_LINE.sub("", failure),
                         "fourcut: cannot listen on %s: Address already in "
                         "use" % (listen,))
        self.assertIn("#critical]", failure)
        # It stopped before the camera started.
        self.assertEqual([line for line in lines
                          if "virtual camera:" in line], [])

    async def test_photos_directory_is_a_file(self):
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write("not a directory\n")
        for photos in (path, os.path.join(path, "photos")):
            child = self.fourcut("--listen", "tcp:0:interface=127.0.0.1",
                                 photos=photos)
            lines, stderr = await self.failed(child)
            [failure] = [line for line in lines if "fourcut: cannot" in line]
            self.assertEqual(LOG_LINE.sub("", failure),
                             "fourcut: cannot use the photos directory %s: "
                             "Not a directory" % (photos,))
            self.assertEqual([line for line in lines
                              if "fourcut: open" in line], [])

    async def test_listens_where_it_says(self):
        """
        The C{fourcut: open} line names the port it really listens on
        (C{./dev demo} points at it), and the service answers there. With
        the virtual camera on USB, SIGTERM leaves none of its port library
        directories behind (twistd ends itself by the signal, and runs no
        C{atexit} handler).
        """
        photos = os.path.abspath(self.mktemp())
        env, iolibs = self.own_tmpdir()
        child = self.fourcut("--listen", "tcp:0:interface=127.0.0.1",
                             photos=photos, env=env, config=FAST_USB)
        line = await child.line_with("fourcut: open http://")
        url = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        self.assertIsNotNone(url, line)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        response = await treq.get(url.group(0) + "status", pool=pool)
        self.assertEqual(response.code, 200)
        self.assertEqual(json.loads(await response.content())["service"],
                         "fourcut")
        # The photos directory was made and checked at start-up.
        self.assertEqual(os.listdir(photos), [])
        # One for the gphoto2 CLI's libgphoto2, one for python-gphoto2's,
        # made once the camera listens.
        await child.line_with("virtual camera:")
        self.assertEqual(iolibs(), 2)
        child.transport.signalProcess("TERM")
        await child.ended
        # twistd ends itself with the signal that stopped it.
        self.assertEqual(child.reason.value.signal, signal.SIGTERM)
        self.assertEqual(iolibs(), 0)


class ConfigErrorTests(TwistdTestCase):
    async def assertOneLine(self, child, *fragments):
        lines, stderr = await self.failed(child)
        self.assertEqual(lines, [], "nothing on stdout")
        [line] = stderr.splitlines()
        self.assertTrue(line.startswith("fourcut: "), line)
        self.assertTrue(line.endswith("; see twistd fourcut --help"), line)
        for fragment in fragments:
            self.assertIn(fragment, line)

    async def test_missing_file(self):
        path = os.path.abspath(self.mktemp())
        await self.assertOneLine(
            start_twistd(self, "-n", "--pidfile=", "fourcut", "--config",
                         path),
            path, "cannot read config file: No such file or directory")

    async def test_invalid_yaml(self):
        await self.assertOneLine(
            self.fourcut(config="camera: [unclosed\n"), "not valid YAML",
            "line 2")

    async def test_yes_is_not_a_boolean(self):
        await self.assertOneLine(
            self.fourcut(config="camera:\n  preview_flip: yes\n"),
            "camera.preview_flip: must be true or false (got 'yes')")

    async def test_unknown_key(self):
        await self.assertOneLine(
            self.fourcut(config={"server": {"cors_origin": []}}),
            "server.cors_origin: unknown key (did you mean cors_origins?)")

    async def test_virtual_usb_camera_without_port_library(self):
        """
        Without fourcut's USB port library (an install without gcc or
        libgphoto2's headers) the virtual camera on USB would never be
        detected: C{twistd fourcut} ends at start and names what is
        missing and the way out.
        """
        await self.assertOneLine(
            self.fourcut(config={"camera": {"virtual_transport": "usb"}},
                         env={"FOURCUT_VUSB_LIBRARY": NO_LIBRARY}),
            "fourcut: --virtual-camera on USB: %s is missing" % (NO_LIBRARY,),
            "libgphoto2-dev", "camera.virtual_transport: ptpip")

    async def test_bad_options(self):
        await self.assertOneLine(self.fourcut("--listen", "8080"),
                                 "command line: server.listen")
        await self.assertOneLine(self.fourcut("--nosuch"),
                                 "option --nosuch not recognized")
        await self.assertOneLine(
            self.fourcut("--listen", "ssl:0:privateKey=/nonexistent.pem"),
            "server.listen: ssl:0:privateKey=/nonexistent.pem: No such file")


class InProcessTests(TestCase):
    """
    L{FourcutService} stops what it started and raises L{StartupFailed},
    which is an L{Exception} for twistd and a L{SystemExit} of status 1.
    """

    def make(self, *args):
        photos = os.path.abspath(self.mktemp())
        options = Options()
        options.parseOptions(["--virtual-camera", "--photos", photos]
                             + list(args))
        return makeService(options, reactor=reactor)

    def test_port_in_use(self):
        port = reactor.listenTCP(0, protocol.ServerFactory(),
                                 interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        service = self.make("--listen", "tcp:%d:interface=127.0.0.1"
                            % (port.getHost().port,))
        error = self.assertRaises(StartupFailed, service.startService)
        self.assertIsInstance(error, SystemExit)
        self.assertIsInstance(error, Exception)
        self.assertEqual(error.code, 1)
        self.assertIn("Address already in use", str(error))
        self.assertFalse(service.running)
        for child in service:
            self.assertFalse(child.running, child)
        # Nothing after the port started: no private HOME was made.
        self.assertIsNone(service.session.gphoto2.home)
        self.assertNoResult(service.web.listening)

    async def test_external_camera_leaves_nothing(self):
        """
        With the virtual USB camera run apart (C{./dev camera --usb
        SOCKET}), the port library directories are made when the service
        starts and removed when it stops; a start that fails before makes
        none.
        """
        self.patch(os, "environ", dict(os.environ, **{
            usbport.SOCKET_ENV: "/nonexistent/camera.sock"}))
        # Nothing runs now that uses the ones earlier tests made.
        usbport.remove_iolibs()
        port = reactor.listenTCP(0, protocol.ServerFactory(),
                                 interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        options = Options()
        options.parseOptions(["--photos", os.path.abspath(self.mktemp()),
                              "--listen", "tcp:%d:interface=127.0.0.1"
                              % (port.getHost().port,)])
        service = makeService(options, reactor=reactor)
        self.assertRaises(StartupFailed, service.startService)
        self.assertEqual(usbport.made_iolibs(), [])
        options = Options()
        options.parseOptions(["--photos", os.path.abspath(self.mktemp()),
                              "--listen", "tcp:0:interface=127.0.0.1"])
        service = makeService(options, reactor=reactor)
        service.startService()
        self.addCleanup(lambda: service.running and service.stopService())
        made = usbport.made_iolibs()
        self.assertEqual(len(made), 2)
        self.assertEqual(service.session.gphoto2.cli_env["IOLIBS"], made[0])
        await service.stopService()
        self.assertEqual([path for path in made if os.path.exists(path)], [])
        self.assertEqual(usbport.made_iolibs(), [])

    def test_temp_unusable(self):
        """
        C{paths.temp} (seed 001's key) that cannot be written ends the
        start with one line saying what to set.
        """
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write("a file\n")
        config = os.path.abspath(self.mktemp() + ".yaml")
        with open(config, "w") as f:
            yaml.safe_dump({"paths": {"temp": path}}, f)
        service = self.make("--config", config)
        error = self.assertRaises(StartupFailed, service.startService)
        self.assertEqual(str(error).count("\n"), 0)
        self.assertIn("cannot use paths.temp %s: Not a directory; set "
                      "paths.temp to a directory fourcut can write, or to "
                      "null" % (path,), str(error))
        self.assertFalse(service.running)

    def test_config_error(self):
        options = Options()
        error = self.assertRaises(OptionsError, options.parseOptions,
                                  ["--listen", "nonsense"])
        self.assertEqual(error.code.count("\n"), 0)
        self.assertIn("server.listen", error.code)


class SettingsKeptTests(TwistdTestCase):
    """
    What libgphoto2 keeps of the camera's settings survives a crash and a
    restart, through both drivers (issue 25: C{capturetarget=Memory card}
    was gone after a restart, and the card copy stopped silently).
    """

    timeout = 120

    async def start(self, photos, driver):
        config = {"camera": dict(EOS_USB, driver=driver)}
        # A TMPDIR of the test's own: kill -9 leaves the virtual camera's
        # port library directories behind, which the test then removes.
        env, _ = self.own_tmpdir()
        child = self.fourcut("--listen", "tcp:0:interface=127.0.0.1",
                             config=config, photos=photos, env=env)
        line = await child.line_with("fourcut: open http://")
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))
        return child, port

    async def setting(self, port, message):
        client = await connect(self, port)
        try:
            return await client.reply(dict(message, requestId=1),
                                      timeout=30.0)
        finally:
            client.transport.abortConnection()

    async def test_capture_target_survives(self):
        photos = os.path.abspath(self.mktemp())
        home = os.path.join(os.path.dirname(photos), "fourcut-state",
                            "gphoto2-home")
        # Set through the CLI driver (a gphoto2 child), then a crash:
        # kill -9.
        child, port = await self.start(photos, "cli")
        reply = await self.setting(port, {
            "type": "set_camera_setting", "section": "settings",
            "option": "capturetarget", "value": "Memory card"})
        self.assertEqual(reply.get("value"), "Memory card", reply)
        child.transport.signalProcess("KILL")
        await child.ended
        self.assertTrue(os.path.isdir(home))
        # Read through the held session (python-gphoto2's own
        # libgphoto2) on a fresh virtual camera, whose own target is the
        # RAM again, and through /cmd (the CLI).
        child, port = await self.start(photos, "held")
        reply = await self.setting(port, {
            "type": "get_camera_setting", "section": "settings",
            "option": "capturetarget"})
        self.assertEqual(reply.get("value"), "Memory card", reply)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        response = await treq.get(
            "http://127.0.0.1:%d/cmd?arg=--get-config=capturetarget" % port,
            pool=pool)
        self.assertIn(b"Current: Memory card", await response.content())
        # A clean stop keeps it too.
        child.transport.signalProcess("TERM")
        await child.ended
        self.assertTrue(os.path.exists(os.path.join(home, ".gphoto",
                                                    "settings")))
