"""
Tests for L{fourcut.config}.
"""

import dataclasses
import os
import pathlib

from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from fourcut.config import (
    AccessConfig, CameraConfig, Config, ConfigError, PathsConfig,
    PreviewConfig, ServerConfig, load_config, parse_config)

EXAMPLE = FilePath(os.path.dirname(os.path.abspath(__file__))).parent() \
    .child("etc").child("fourcut.yaml")

TOKEN = "0123456789abcdef"


class ErrorAssertions:
    """
    Checks that an error is one line, names the dotted key and says what is
    allowed.
    """

    def assertOneLine(self, error):
        text = str(error)
        self.assertNotIn("\n", text)
        self.assertNotIn("\r", text)
        self.assertTrue(text.strip())
        return text

    def assertRejected(self, mapping, key, *fragments, source="test.yaml"):
        """
        C{parse_config(mapping)} fails naming C{key}, with every fragment
        in the message.
        """
        error = self.assertRaises(ConfigError, parse_config, mapping, source)
        text = self.assertOneLine(error)
        self.assertEqual(error.key, key)
        self.assertIn("%s: %s: " % (source, key), text)
        for fragment in fragments:
            self.assertIn(fragment, text)
        return error

    def camera(self, **values):
        return {"camera": values}


class DefaultsTests(SynchronousTestCase):
    """
    No file, an empty file or missing sections all mean the defaults.
    """

    def test_values(self):
        config = load_config()
        self.assertEqual(config.server.listen, "tcp:8080")
        self.assertEqual(config.server.max_ws_clients, 100)
        self.assertEqual(config.server.max_message_bytes, 65536)
        self.assertEqual(config.server.commands_per_second, 20.0)
        camera = config.camera
        self.assertIsNone(camera.port)
        self.assertIsNone(camera.model)
        self.assertIs(camera.virtual, False)
        self.assertIsNone(camera.resolution)
        self.assertIsNone(camera.preview_resolution)
        self.assertIsNone(camera.preview_iso)
        self.assertIsNone(camera.capture_iso)
        self.assertEqual(camera.preview_rotation, 0)
        self.assertEqual(camera.capture_rotation, 0)
        self.assertIs(camera.preview_flip, False)
        self.assertIs(camera.capture_flip, False)
        self.assertIs(camera.delete_internal_memory, False)
        self.assertEqual(camera.max_restart_attempts, 3)
        self.assertEqual(camera.restart_delay, 5)
        self.assertEqual(camera.live_view, ())
        self.assertEqual(camera.capture, ())
        self.assertEqual(camera.standby, ())
        self.assertEqual(camera.standby_after, 60)
        self.assertEqual(camera.command_timeout, 30)
        self.assertEqual(camera.capture_timeout, 60)
        self.assertEqual(config.preview.stop_grace, 2.0)
        self.assertEqual(config.preview.stall_timeout, 5.0)
        self.assertEqual(config.preview.snapshot_timeout, 10.0)
        self.assertIs(config.preview.public, True)
        self.assertEqual(config.preview.max_sizes, 4)
        self.assertEqual(config.paths.photos, "photos")
        self.assertIsNone(config.paths.temp)
        self.assertIsNone(config.access.token)

    def test_sameAsDataclassDefaults(self):
        self.assertEqual(load_config(), Config())
        self.assertEqual(parse_config({}), Config())

    def test_emptyFile(self):
        path = self.mktemp()
        FilePath(path).setContent(b"")
        self.assertEqual(load_config(path), Config())

    def test_commentsOnly(self):
        path = self.mktemp()
        FilePath(path).setContent(b"# nothing here\n")
        self.assertEqual(load_config(path), Config())

    def test_emptySections(self):
        """
        A section header with nothing under it (YAML null) is all defaults.
        """
        path = self.mktemp()
        FilePath(path).setContent(b"server:\ncamera:\npaths: {}\n")
        self.assertEqual(load_config(path), Config())

    def test_missingSectionsKeepDefaults(self):
        config = parse_config({"camera": {"preview_iso": 400}})
        self.assertEqual(config.camera.preview_iso, 400)
        self.assertEqual(config.server, ServerConfig())
        self.assertEqual(config.paths, PathsConfig())
        self.assertEqual(dataclasses.replace(config.camera, preview_iso=None),
                         CameraConfig())


class ImmutabilityTests(SynchronousTestCase):
    """
    A loaded config cannot be changed behind the server's back.
    """

    def test_frozen(self):
        config = parse_config({"camera": {"live_view": ["iso=400"],
                                          "resolution": [640, 480]}})
        for obj, name in [(config, "server"), (config.server, "listen"),
                          (config.camera, "virtual"),
                          (config.preview, "public"),
                          (config.paths, "photos"),
                          (config.access, "token")]:
            self.assertRaises(dataclasses.FrozenInstanceError,
                              setattr, obj, name, None)
        self.assertIsInstance(config.camera.live_view, tuple)
        self.assertIsInstance(config.camera.live_view[0], tuple)
        self.assertIsInstance(config.camera.resolution, tuple)

    def test_hashable(self):
        self.assertEqual(hash(parse_config({})), hash(Config()))


class ExampleFileTests(SynchronousTestCase):
    """
    The shipped example loads and documents the real defaults.
    """

    def test_loads(self):
        self.assertIsInstance(load_config(EXAMPLE.path), Config)

    def test_showsDefaults(self):
        self.assertEqual(load_config(EXAMPLE.path), Config())

    def test_mentionsEveryKey(self):
        text = EXAMPLE.getContent().decode("utf-8")
        for section in dataclasses.fields(Config):
            self.assertIn("\n%s:\n" % (section.name,), text)
            for key in dataclasses.fields(section.type):
                self.assertIn("  %s:" % (key.name,), text)
        for key in ("host", "port"):
            self.assertIn("  # %s:" % (key,), text)

    def test_warnsAboutListenAndActions(self):
        text = EXAMPLE.getContent().decode("utf-8")
        self.assertIn("ALL network interfaces", text)
        self.assertIn("tcp:8080:interface=127.0.0.1", text)
        self.assertIn('live_view: ["iso=400"]', text)
        self.assertIn("viewfinder", text)
        self.assertIn("refused", text)


class SeedCompatibilityTests(SynchronousTestCase):
    """
    The C{camera:} block users already have loads as written there.
    """

    SEED = b"""\
camera:
  resolution: [5184, 3456] # Capture resolution
  preview_resolution: [1280, 720] # Preview stream resolution
  preview_iso: 400 # ISO for preview
  capture_iso: 100 # ISO for capture
  preview_rotation: 0 # Rotation (0, 90, 180, 270)
  capture_rotation: 0
  preview_flip: true # Mirror preview
  capture_flip: false
  max_restart_attempts: 3
  restart_delay: 5

server:
  host: "0.0.0.0"
  port: 8080

paths:
  photos: "/app/photos"
  temp: "/app/temp"
"""

    def test_seed(self):
        path = self.mktemp()
        FilePath(path).setContent(self.SEED)
        config = load_config(path)
        self.assertEqual(config.camera.resolution, (5184, 3456))
        self.assertEqual(config.camera.preview_resolution, (1280, 720))
        self.assertEqual(config.camera.preview_iso, 400)
        self.assertEqual(config.camera.capture_iso, 100)
        self.assertIs(config.camera.preview_flip, True)
        self.assertIs(config.camera.capture_flip, False)
        self.assertEqual(config.camera.restart_delay, 5.0)
        self.assertEqual(config.server.listen, "tcp:8080:interface=0.0.0.0")
        self.assertEqual(config.paths.photos, "/app/photos")
        self.assertEqual(config.paths.temp, "/app/temp")


class ValidValuesTests(SynchronousTestCase):
    """
    Values that are allowed come back converted as documented.
    """

    def test_server(self):
        config = parse_config({"server": {
            "listen": "unix:/run/fourcut.sock", "max_ws_clients": 1,
            "max_message_bytes": 1024, "commands_per_second": 1}})
        self.assertEqual(config.server, ServerConfig(
            "unix:/run/fourcut.sock", 1, 1024, 1.0))
        self.assertIsInstance(config.server.commands_per_second, float)

    def test_listenPrefixes(self):
        for listen in ["tcp:9000", "tcp6:9000", "ssl:443:privateKey=k.pem",
                       "unix:/tmp/s", "systemd:domain=INET:index=0"]:
            self.assertEqual(
                parse_config({"server": {"listen": listen}}).server.listen,
                listen)

    def test_camera(self):
        config = parse_config({"camera": {
            "port": "usb:001,007", "model": "Canon EOS 2000D",
            "virtual": True, "resolution": [1, 20000],
            "preview_iso": 50, "capture_iso": 409600,
            "preview_rotation": 90, "capture_rotation": 270,
            "preview_flip": True, "capture_flip": True,
            "delete_internal_memory": True, "max_restart_attempts": 0,
            "restart_delay": 0, "standby_after": 0,
            "command_timeout": 0.5, "capture_timeout": 120}})
        camera = config.camera
        self.assertEqual(camera.port, "usb:001,007")
        self.assertEqual(camera.model, "Canon EOS 2000D")
        self.assertIs(camera.virtual, True)
        self.assertEqual(camera.resolution, (1, 20000))
        self.assertEqual((camera.preview_iso, camera.capture_iso),
                         (50, 409600))
        self.assertEqual((camera.preview_rotation, camera.capture_rotation),
                         (90, 270))
        self.assertIs(camera.delete_internal_memory, True)
        self.assertEqual(camera.max_restart_attempts, 0)
        self.assertEqual(camera.restart_delay, 0.0)
        self.assertEqual(camera.standby_after, 0.0)
        self.assertEqual(camera.command_timeout, 0.5)
        self.assertEqual(camera.capture_timeout, 120.0)

    def test_settings(self):
        config = parse_config({"camera": {
            "live_view": ["iso=400", "/main/capturesettings/af-mode=x"],
            "capture": ["iso=100", "artist=", "my_name-2=a=b"],
            "standby": None}})
        self.assertEqual(config.camera.live_view, (
            ("iso", "400"), ("/main/capturesettings/af-mode", "x")))
        self.assertEqual(config.camera.capture, (
            ("iso", "100"), ("artist", ""), ("my_name-2", "a=b")))
        self.assertEqual(config.camera.standby, ())

    def test_nullables(self):
        config = parse_config({"camera": {
            "port": None, "model": None, "resolution": None,
            "preview_iso": None}, "paths": {"temp": None},
            "access": {"token": None}})
        self.assertEqual(config, Config())

    def test_previewAndAccess(self):
        config = parse_config({
            "preview": {"stop_grace": 0, "stall_timeout": 1,
                        "snapshot_timeout": 2.5, "public": False,
                        "pacing": False, "max_sizes": 0},
            "access": {"token": TOKEN}})
        self.assertEqual(config.preview,
                         PreviewConfig(0.0, 1.0, 2.5, False, pacing=False,
                                       max_sizes=0))
        self.assertEqual(config.access, AccessConfig(TOKEN))

    def test_tokenNotInRepr(self):
        self.assertNotIn(TOKEN, repr(parse_config(
            {"access": {"token": TOKEN}})))


class CaptureTargetTests(SynchronousTestCase, ErrorAssertions):
    """
    C{camera.capture_target} (seed 001's troubleshooting key): the
    C{capturetarget} setting's values, case not minded.
    """

    def test_values(self):
        self.assertIsNone(Config().camera.capture_target)
        for given, kept in [("Memory card", "Memory card"),
                            ("memory card", "Memory card"),
                            (" INTERNAL RAM ", "Internal RAM"),
                            (None, None)]:
            config = parse_config(self.camera(capture_target=given))
            self.assertEqual(config.camera.capture_target, kept, given)

    def test_refused(self):
        for value in ("card", 1, "", True):
            self.assertRejected(self.camera(capture_target=value),
                                "camera.capture_target", "Internal RAM",
                                "Memory card")


class StructureErrorTests(SynchronousTestCase, ErrorAssertions):
    """
    Unknown sections and keys, and sections that are not mappings.
    """

    def test_unknownSection(self):
        error = self.assertRejected({"camra": {}}, "camra",
                                    "unknown section", "camera")
        for section in ("server", "camera", "preview", "paths", "access"):
            self.assertIn(section, str(error))

    def test_unknownKey(self):
        error = self.assertRejected(
            self.camera(prevew_iso=100), "camera.prevew_iso",
            "unknown key", "allowed keys in camera:", "preview_iso",
            "capture_timeout")
        self.assertNotIn("listen", str(error))

    def test_unknownKeyEverySection(self):
        for section in ("server", "camera", "preview", "paths", "access"):
            self.assertRejected({section: {"bogus": 1}},
                                section + ".bogus", "unknown key",
                                "allowed keys in %s:" % (section,))

    def test_nonStringKey(self):
        self.assertRejected({"camera": {1: 2}}, "camera.1", "unknown key")

    def test_sectionNotMapping(self):
        self.assertRejected({"camera": ["port"]}, "camera",
                            "must be a mapping")
        self.assertRejected({"server": "tcp:8080"}, "server",
                            "must be a mapping")

    def test_topLevelNotMapping(self):
        for data in ([1, 2], "camera", 3):
            error = self.assertRaises(ConfigError, parse_config, data, "x.y")
            text = self.assertOneLine(error)
            self.assertTrue(text.startswith("x.y: "), text)
            self.assertIn("must be a mapping", text)


class TypeErrorTests(SynchronousTestCase, ErrorAssertions):
    """
    Values of the wrong type, including booleans where numbers belong and
    strings or numbers where booleans belong.
    """

    def test_booleansMustBeBooleans(self):
        for section, key in [("camera", "virtual"),
                             ("camera", "preview_flip"),
                             ("camera", "capture_flip"),
                             ("camera", "delete_internal_memory"),
                             ("preview", "public")]:
            for value in ("yes", "true", 1, 0, None):
                self.assertRejected({section: {key: value}},
                                    "%s.%s" % (section, key),
                                    "must be true or false")

    def test_integersRefuseBooleans(self):
        for section, key in [("server", "max_ws_clients"),
                             ("server", "max_message_bytes"),
                             ("server", "port"),
                             ("camera", "preview_iso"),
                             ("camera", "capture_iso"),
                             ("camera", "max_restart_attempts")]:
            self.assertRejected({section: {key: True}},
                                "%s.%s" % (section, key),
                                "must be", "an integer", "(got true)")

    def test_integersRefuseOtherTypes(self):
        for value in ("100", 100.0, [100]):
            self.assertRejected({"server": {"max_ws_clients": value}},
                                "server.max_ws_clients", "an integer")
        self.assertRejected(self.camera(preview_iso="400"),
                            "camera.preview_iso", "from 50 to 409600",
                            "or null", "(got '400')")

    def test_numbersRefuseBooleansAndStrings(self):
        keys = [("server", "commands_per_second"),
                ("camera", "restart_delay"), ("camera", "standby_after"),
                ("camera", "command_timeout"), ("camera", "capture_timeout"),
                ("preview", "stop_grace"), ("preview", "stall_timeout"),
                ("preview", "snapshot_timeout")]
        for section, key in keys:
            for value in (False, "5", None, [5]):
                self.assertRejected({section: {key: value}},
                                    "%s.%s" % (section, key),
                                    "must be a number")

    def test_numbersRefuseInfinityAndNaN(self):
        for value in (float("inf"), float("nan")):
            self.assertRejected(self.camera(restart_delay=value),
                                "camera.restart_delay", "must be a number")

    def test_strings(self):
        for key in ("port", "model"):
            for value in (5, True, "", ["usb:"]):
                self.assertRejected({"camera": {key: value}},
                                    "camera." + key, "non-empty string",
                                    "or null")
        for value in (None, "", 5):
            self.assertRejected({"paths": {"photos": value}},
                                "paths.photos", "non-empty string")
        self.assertRejected({"paths": {"temp": 1}}, "paths.temp",
                            "non-empty string or null")

    def test_valueShownOnOneLine(self):
        """
        A multi-line value does not break the message over lines, and a
        long one is shortened.
        """
        error = self.assertRejected({"paths": {"photos": ["a\nb" * 50]}},
                                    "paths.photos")
        self.assertLess(len(str(error)), 200)


class RangeErrorTests(SynchronousTestCase, ErrorAssertions):
    """
    Values of the right type that are impossible.
    """

    def test_limits(self):
        cases = [
            ("server", "max_ws_clients", 0, "an integer >= 1 (got 0)"),
            ("server", "max_message_bytes", 1023,
             "an integer >= 1024 (got 1023)"),
            ("server", "commands_per_second", 0, "a number > 0"),
            ("server", "max_unsent_bytes", 65535,
             "an integer >= 65536 (got 65535)"),
            ("server", "max_unauthenticated", 0, "an integer >= 1"),
            ("server", "max_unauthenticated_per_address", 0,
             "an integer >= 1"),
            ("server", "auth_timeout", 0, "a number > 0"),
            ("server", "header_timeout", -1, "a number > 0"),
            ("server", "fd_reserve", -1, "an integer >= 0"),
            ("server", "port", 65536, "from 0 to 65535"),
            ("server", "port", -1, "from 0 to 65535"),
            ("camera", "preview_iso", 49, "from 50 to 409600 or null"),
            ("camera", "capture_iso", 409601, "from 50 to 409600 or null"),
            ("camera", "max_restart_attempts", -1, "an integer >= 0"),
            ("camera", "restart_delay", -0.1, "a number >= 0"),
            ("camera", "standby_after", -1, "a number >= 0"),
            ("camera", "command_timeout", 0, "a number > 0"),
            ("camera", "capture_timeout", -5, "a number > 0"),
            ("preview", "stop_grace", -1, "a number >= 0"),
            ("preview", "stall_timeout", 0, "a number > 0"),
            ("preview", "snapshot_timeout", 0.0, "a number > 0"),
            ("preview", "max_sizes", -1, "an integer from 0 to 32"),
            ("preview", "max_sizes", 33, "an integer from 0 to 32"),
        ]
        for section, key, value, expected in cases:
            self.assertRejected({section: {key: value}},
                                "%s.%s" % (section, key), expected)

    def test_rotation(self):
        self.assertRejected(
            self.camera(preview_rotation=45), "camera.preview_rotation",
            "must be one of 0, 90, 180, 270 (got 45)")
        for value in (360, -90, 90.0, "90", True, None):
            self.assertRejected(self.camera(capture_rotation=value),
                                "camera.capture_rotation",
                                "must be one of 0, 90, 180, 270")

    def test_resolution(self):
        for value in ([1280], [1280, 720, 3], [0, 720], [1280, -1],
                      [20001, 100], [1280.0, 720], ["1280", "720"],
                      [True, 720], "1280x720", 1280, {"w": 1}):
            for key in ("resolution", "preview_resolution"):
                self.assertRejected(
                    {"camera": {key: value}}, "camera." + key,
                    "must be null or [width, height]", "1 to 20000")

    def test_listen(self):
        for value in ("8080", "http:8080", "tcp:", "", None, 8080,
                      " tcp:8080"):
            error = self.assertRejected(
                {"server": {"listen": value}}, "server.listen",
                "Twisted server endpoint")
            for prefix in ("tcp:", "tcp6:", "ssl:", "unix:", "systemd:"):
                self.assertIn(prefix, str(error))

    def test_host(self):
        for value in ("", 127, None, " 127.0.0.1"):
            self.assertRejected({"server": {"host": value}}, "server.host",
                                "IP address or host name")

    def test_shortToken(self):
        error = self.assertRejected(
            {"access": {"token": "secret"}}, "access.token",
            "at least 16 characters", "guessed")
        self.assertNotIn("'secret'", str(error))
        self.assertRejected({"access": {"token": TOKEN[:-1]}},
                            "access.token", "at least 16 characters")

    def test_nonStringToken(self):
        error = self.assertRejected(
            {"access": {"token": 12345678901234567890}}, "access.token",
            "at least 16 characters")
        self.assertNotIn("12345678901234567890", str(error))


class SettingsErrorTests(SynchronousTestCase, ErrorAssertions):
    """
    C{camera.live_view}, C{camera.capture} and C{camera.standby} must be
    lists of C{"name=value"} strings.
    """

    def test_notAList(self):
        for value in ("viewfinder=1", {"viewfinder": 1}, 1, True):
            self.assertRejected(self.camera(live_view=value),
                                "camera.live_view", '"name=value"')

    def test_badItems(self):
        for item in ("viewfinder", "=1", "view finder=1", "iso;rm=1",
                     " viewfinder=1", 1, None, ["viewfinder", "1"],
                     {"viewfinder": 1}):
            for key in ("live_view", "capture", "standby"):
                self.assertRejected(
                    {"camera": {key: ["iso=100", item]}},
                    "camera.%s[1]" % (key,), '"name=value"',
                    "letters, digits")

    def test_duplicateName(self):
        self.assertRejected(
            self.camera(capture=["iso=100", "iso=200"]),
            "camera.capture[1]", "iso is set twice")

    def test_cameraOperationsRefused(self):
        """
        Widgets that run camera operations (L{fourcut.policy}) are
        refused at start-up, in every spelling a path can take, naming the
        widget and why.
        """
        for item, fragment in [
                ("opcode=0x100B,0xffffffff", "actions/opcode"),
                ("/main/actions/opcode=0x1001", "actions/opcode"),
                ("//actions//opcode=0x1001", "actions/opcode"),
                ("actions/bulb=1", "actions/bulb"),
                ("eosremoterelease=Immediate", "actions/eosremoterelease"),
                ("viewfinder=1", "actions/viewfinder"),
                ("movie=1", "actions/movie"),
                ("chdk=On", "settings/chdk"),
                ("/main/settings/remotemode=0", "settings/remotemode"),
                ("/main/other/d11c=2", "other/d11c"),
                ("/main/status/batterylevel=1", "status/batterylevel"),
                ("/main/wifiprofiles/new=x", "wifiprofiles/new"),
                ("/main/imgsettings=1", "/main/SECTION/NAME")]:
            for key in ("live_view", "capture", "standby"):
                self.assertRejected(
                    {"camera": {key: ["iso=100", item]}},
                    "camera.%s[1]" % (key,), fragment)


class ListenTests(SynchronousTestCase, ErrorAssertions):
    """
    The seed's C{server.host}/C{server.port} form, and its conflict with
    C{server.listen}.
    """

    def listen(self, **server):
        return parse_config({"server": server}).server.listen

    def test_hostAndPort(self):
        self.assertEqual(self.listen(host="127.0.0.1", port=9000),
                         "tcp:9000:interface=127.0.0.1")

    def test_portOnly(self):
        self.assertEqual(self.listen(port=9000),
                         "tcp:9000:interface=0.0.0.0")

    def test_hostOnly(self):
        self.assertEqual(self.listen(host="10.0.0.2"),
                         "tcp:8080:interface=10.0.0.2")

    def test_ipv6HostEscaped(self):
        """
        Colons in an IPv6 address are escaped so that Twisted reads the
        whole address as the interface.
        """
        from twisted.internet import endpoints, reactor
        listen = self.listen(host="::1", port=0)
        self.assertEqual(listen, r"tcp:0:interface=\:\:1")
        endpoint = endpoints.serverFromString(reactor, listen)
        self.assertEqual(endpoint._interface, "::1")

    def test_bothIsAnError(self):
        for extra in ({"port": 9000}, {"host": "127.0.0.1"}):
            server = dict({"listen": "tcp:9000"}, **extra)
            self.assertRejected({"server": server}, "server.listen",
                                "either server.listen or server.host/"
                                "server.port, not both")

    def test_hostAndPortNotKeptAsFields(self):
        config = parse_config({"server": {"port": 9000}})
        self.assertFalse(hasattr(config.server, "port"))


class LoadErrorTests(SynchronousTestCase, ErrorAssertions):
    """
    Files that cannot be used at all say which file.
    """

    def test_missingFile(self):
        path = self.mktemp()
        error = self.assertRaises(ConfigError, load_config, path)
        text = self.assertOneLine(error)
        self.assertIn(path, text)
        self.assertIn("cannot read", text)

    def test_directory(self):
        path = self.mktemp()
        os.mkdir(path)
        error = self.assertRaises(ConfigError, load_config, path)
        self.assertIn(path, self.assertOneLine(error))

    def test_invalidYAML(self):
        path = self.mktemp()
        FilePath(path).setContent(b"camera:\n  port: [unclosed\n  x: 1\n")
        error = self.assertRaises(ConfigError, load_config, path)
        text = self.assertOneLine(error)
        self.assertTrue(text.startswith(path + ": not valid YAML"), text)
        self.assertIn("line ", text)

    def test_badTab(self):
        path = self.mktemp()
        FilePath(path).setContent(b"camera:\n\tport: x\n")
        error = self.assertRaises(ConfigError, load_config, path)
        self.assertIn(path, self.assertOneLine(error))

    def test_notUTF8(self):
        path = self.mktemp()
        FilePath(path).setContent(b"paths:\n  photos: \xff\xfe\xfa\n")
        error = self.assertRaises(ConfigError, load_config, path)
        self.assertIn(path, self.assertOneLine(error))

    def test_unsafeTagRefused(self):
        """
        C{safe_load} refuses Python object tags; that is reported as a
        YAML error rather than running anything.
        """
        path = self.mktemp()
        FilePath(path).setContent(
            b"paths:\n  photos: !!python/object/apply:os.getcwd []\n")
        error = self.assertRaises(ConfigError, load_config, path)
        self.assertIn(path + ": not valid YAML", self.assertOneLine(error))

    def test_topLevelNotMapping(self):
        for content in (b"- camera\n- server\n", b"just text\n", b"42\n"):
            path = self.mktemp()
            FilePath(path).setContent(content)
            error = self.assertRaises(ConfigError, load_config, path)
            text = self.assertOneLine(error)
            self.assertTrue(text.startswith(path + ": "), text)
            self.assertIn("top level must be a mapping", text)

    def test_validationErrorNamesFile(self):
        path = self.mktemp()
        FilePath(path).setContent(b"camera:\n  preview_rotation: 45\n")
        error = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(
            self.assertOneLine(error),
            "%s: camera.preview_rotation: must be one of 0, 90, 180, 270 "
            "(got 45)" % (path,))
        self.assertEqual(error.key, "camera.preview_rotation")
        self.assertEqual(error.source, path)

    def test_pathLike(self):
        path = pathlib.Path(self.mktemp())
        path.write_bytes(b"paths:\n  photos: /x\n")
        self.assertEqual(load_config(path).paths.photos, "/x")

    def test_yamlBooleansAccepted(self):
        """
        Real YAML booleans (C{true}, C{True}) work; quoted ones do not.
        """
        path = self.mktemp()
        FilePath(path).setContent(b"camera:\n  virtual: True\n"
                                  b"preview:\n  public: false\n")
        config = load_config(path)
        self.assertIs(config.camera.virtual, True)
        self.assertIs(config.preview.public, False)
        FilePath(path).setContent(b'camera:\n  virtual: "true"\n')
        error = self.assertRaises(ConfigError, load_config, path)
        self.assertIn("camera.virtual: must be true or false",
                      self.assertOneLine(error))


class YAMLBooleanTests(SynchronousTestCase):
    """
    The booleans the example config allows, true and false, and nothing
    else: YAML 1.1's yes/no/on/off are strings here (PyYAML would read
    them as booleans), so C{preview_flip: yes} is refused as the example
    says.
    """

    def load(self, text):
        path = self.mktemp()
        FilePath(path).setContent(text.encode("utf-8"))
        return load_config(path)

    def test_trueAndFalse(self):
        for word, value in [("true", True), ("True", True), ("TRUE", True),
                            ("false", False), ("False", False),
                            ("FALSE", False)]:
            config = self.load("camera:\n  preview_flip: %s\n" % (word,))
            self.assertIs(config.camera.preview_flip, value, word)

    def test_yaml11BooleansRefused(self):
        for word in ("yes", "no", "Yes", "NO", "on", "off", "On", "y", "n"):
            error = self.assertRaises(
                ConfigError, self.load,
                "camera:\n  preview_flip: %s\n" % (word,))
            self.assertIn("camera.preview_flip: must be true or false "
                          "(got %r)" % (word,), str(error))

    def test_yaml11BooleansAreStrings(self):
        config = self.load("camera:\n  port: on\n  model: yes\n")
        self.assertEqual((config.camera.port, config.camera.model),
                         ("on", "yes"))


class NewKeysTests(SynchronousTestCase, ErrorAssertions):
    """
    C{server.cors_origins} and C{logging.format}.
    """

    def test_defaults(self):
        config = load_config()
        self.assertEqual(config.server.cors_origins, ())
        self.assertEqual(config.logging.format, "text")

    def test_originsNormalised(self):
        config = parse_config({"server": {"cors_origins": [
            "HTTP://LocalHost:3000", "https://booth.example:443", "null",
            "http://localhost:3000/", "http://[::1]:8000"]}})
        self.assertEqual(config.server.cors_origins, (
            "http://localhost:3000", "https://booth.example", "null",
            "http://[::1]:8000"))

    def test_badOrigins(self):
        for value, fragment in [
                ("http://x", "must be a list"),
                (["http://x/app"], "without a path"),
                (["ftp://x"], "http:// or https://"),
                (["localhost:3000"], "http:// or https://"),
                (["http://x:99999"], "port"),
                ([3000], "must be an origin")]:
            self.assertRejected({"server": {"cors_origins": value}},
                                "server.cors_origins" + (
                                    "[0]" if isinstance(value, list) else ""),
                                fragment)

    def test_logFormat(self):
        self.assertEqual(parse_config({"logging": {"format": "json"}})
                         .logging.format, "json")
        self.assertRejected({"logging": {"format": "xml"}},
                            "logging.format", "text, json")


class OverrideTests(SynchronousTestCase, ErrorAssertions):
    """
    Overrides (from the command line) win over the file and are validated
    the same way.
    """

    def setUp(self):
        self.path = self.mktemp()
        FilePath(self.path).setContent(
            b"server:\n  listen: tcp:8081\n"
            b"camera:\n  port: usb:001,002\n  preview_iso: 400\n"
            b"paths:\n  photos: /from/file\n")

    def test_overridesWin(self):
        config = load_config(self.path, {
            "server.listen": "tcp:9000",
            "camera.port": "ptpip:127.0.0.1:1:1",
            "paths.photos": "/x"})
        self.assertEqual(config.server.listen, "tcp:9000")
        self.assertEqual(config.camera.port, "ptpip:127.0.0.1:1:1")
        self.assertEqual(config.paths.photos, "/x")
        self.assertEqual(config.camera.preview_iso, 400)

    def test_noneMeansNotGiven(self):
        config = load_config(self.path, {
            "server.listen": None, "camera.port": None,
            "paths.photos": None, "camera.bogus": None})
        self.assertEqual(config.server.listen, "tcp:8081")
        self.assertEqual(config.camera.port, "usb:001,002")
        self.assertEqual(config.paths.photos, "/from/file")

    def test_withoutFile(self):
        config = load_config(None, {"camera.virtual": True,
                                    "access.token": TOKEN})
        self.assertIs(config.camera.virtual, True)
        self.assertEqual(config.access.token, TOKEN)

    def test_overridesValidated(self):
        error = self.assertRaises(ConfigError, load_config, self.path,
                                  {"server.listen": "9000"})
        text = self.assertOneLine(error)
        self.assertEqual(error.key, "server.listen")
        self.assertTrue(text.startswith("command line: server.listen: "),
                        text)
        error = self.assertRaises(ConfigError, load_config, None,
                                  {"camera.preview_rotation": 45})
        self.assertEqual(
            str(error), "command line: camera.preview_rotation: must be "
            "one of 0, 90, 180, 270 (got 45)")

    def test_unknownOverrideKey(self):
        for key in ("camera.prevew_iso", "camra.port", "camera", "server."):
            error = self.assertRaises(ConfigError, load_config, None,
                                      {key: 1})
            text = self.assertOneLine(error)
            self.assertEqual(error.key, key)
            self.assertIn("command line: %s: unknown" % (key,), text)

    def test_fileErrorsStillReported(self):
        """
        Overriding one key does not hide a bad value elsewhere in the file.
        """
        path = self.mktemp()
        FilePath(path).setContent(b"camera:\n  capture_rotation: 1\n")
        error = self.assertRaises(ConfigError, load_config, path,
                                  {"camera.preview_rotation": 90})
        self.assertEqual(error.key, "camera.capture_rotation")
        self.assertEqual(error.source, path)

    def test_overrideFixesBadFileValue(self):
        """
        An override replaces the file's value before validation, so a bad
        value in the file can be corrected from the command line.
        """
        path = self.mktemp()
        FilePath(path).setContent(b"camera:\n  preview_rotation: 45\n")
        config = load_config(path, {"camera.preview_rotation": 180})
        self.assertEqual(config.camera.preview_rotation, 180)

    def test_listenOverridesHostPort(self):
        path = self.mktemp()
        FilePath(path).setContent(b"server:\n  host: 0.0.0.0\n  port: 80\n")
        self.assertEqual(load_config(path).server.listen,
                         "tcp:80:interface=0.0.0.0")
        config = load_config(path, {"server.listen": "tcp:9000"})
        self.assertEqual(config.server.listen, "tcp:9000")

    def test_portOverridesListen(self):
        config = load_config(self.path, {"server.port": 9001})
        self.assertEqual(config.server.listen, "tcp:9001:interface=0.0.0.0")

    def test_overrideConflictWithinOverrides(self):
        error = self.assertRaises(ConfigError, load_config, None, {
            "server.listen": "tcp:9000", "server.port": 9001})
        self.assertEqual(error.key, "server.listen")
        self.assertIn("not both", self.assertOneLine(error))
