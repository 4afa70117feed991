"""
Camera settings through L{fourcut.camera.settings.CameraSettings}: the real
python-gphoto2 in a child process (L{fourcut.camera.child.settings}) driving a virtual
camera started by each test (the Canon EOS 700D on USB, auto-detected; a
smaller set on the generic camera over PTP/IP); plus the value conversion
rules on their own.
"""

import datetime
import os
import struct
import sys

from twisted.internet import defer, reactor
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory
from twisted.trial.unittest import TestCase

from fourcut.camera.child import settings as camconfig

from fourcut.camera import processes
from fourcut.camera.child.settings import Refused
from fourcut.camera.gphoto2 import GPhoto2, prepare_home
from fourcut.camera.settings import (
    CameraSettings, format_value, interpret, package_root, parse_answer)
from fourcut.errors import CameraError, SettingError
from fourcut.virtualcam import eosbodies
from fourcut.virtualcam import eospack as eos
from fourcut.virtualcam import ptp, usbport
from fourcut.virtualcam.camera import GPHOTO2_MODEL
from fourcut.virtualcam.device import Reply

from tests.support import LISTEN, start_camera, start_usb_camera

ISO_CHOICES = ["100", "200", "400", "800", "1600", "3200", "6400"]
WB_CHOICES = ["Automatic", "Daylight", "Fluorescent", "Tungsten", "Flash"]
F_CHOICES = ["f/2.8", "f/4", "f/5.6", "f/8", "f/11", "f/16"]
SHUTTER_CHOICES = ["0.0005s", "0.0010s", "0.0020s", "0.0040s", "0.0080s",
                   "0.0166s", "0.0333s", "0.0666s", "0.1250s", "0.2500s",
                   "0.5000s", "1.0000s"]
SIZE_CHOICES = ["2592x1728", "1920x1280", "1296x864"]


# Pure conversion rules -------------------------------------------------------

class ToggleTests(TestCase):
    def test_accepted(self):
        for value, expected in [(True, 1), (False, 0), (1, 1), (0, 0),
                                (1.0, 1), ("on", 1), ("OFF", 0),
                                (" yes ", 1), ("no", 0), ("true", 1),
                                ("False", 0), ("1", 1), ("0", 0)]:
            self.assertEqual(camconfig.convert_toggle(value), expected,
                             value)

    def test_refused(self):
        for value in [2, -1, 0.5, "maybe", "", None, [1]]:
            with self.assertRaises(Refused) as caught:
                camconfig.convert_toggle(value)
            self.assertIn("on/off", caught.exception.message)
            self.assertEqual(caught.exception.reason, "bad-value")


class ChoiceTests(TestCase):
    def test_exact_text(self):
        self.assertEqual(camconfig.convert_choice("400", ISO_CHOICES), "400")
        self.assertEqual(camconfig.convert_choice("f/5.6", F_CHOICES),
                         "f/5.6")

    def test_number(self):
        self.assertEqual(camconfig.convert_choice(400, ISO_CHOICES), "400")
        self.assertEqual(camconfig.convert_choice(1600.0, ISO_CHOICES),
                         "1600")

    def test_case_and_blanks(self):
        self.assertEqual(camconfig.convert_choice(" daylight", WB_CHOICES),
                         "Daylight")

    def test_numeric_forms(self):
        """
        Numbers match choices that show them with a prefix, a unit or as
        a fraction.
        """
        convert = camconfig.convert_choice
        self.assertEqual(convert(8, F_CHOICES), "f/8")
        self.assertEqual(convert("5.6", F_CHOICES), "f/5.6")
        self.assertEqual(convert(2.8, F_CHOICES), "f/2.8")
        self.assertEqual(convert("1/125", SHUTTER_CHOICES), "0.0080s")
        self.assertEqual(convert(1, SHUTTER_CHOICES), "1.0000s")
        self.assertEqual(convert("ISO 800", ISO_CHOICES), "800")

    def test_exact_before_numeric(self):
        """
        An exact match wins over a numeric one.
        """
        self.assertEqual(camconfig.convert_choice("1", ["1.0", "1"]), "1")

    def test_ambiguous_number(self):
        with self.assertRaises(Refused) as caught:
            camconfig.convert_choice(8, ["f/8", "8.0"])
        self.assertIn("several", caught.exception.message)

    def test_not_a_choice(self):
        for value in [12345, "12345", "Purple", 401, True, None, [400]]:
            with self.assertRaises(Refused) as caught:
                camconfig.convert_choice(value, ISO_CHOICES)
            self.assertIn("choices: 100, 200, 400, 800, 1600, 3200, 6400",
                          caught.exception.message)

    def test_no_choices(self):
        """
        A widget that lists no choices takes any text.
        """
        self.assertEqual(camconfig.convert_choice("anything", []),
                         "anything")


class RangeTests(TestCase):
    def test_within(self):
        self.assertEqual(camconfig.convert_range(50, [0, 100, 1]), 50.0)
        self.assertEqual(camconfig.convert_range("75", [0, 100, 1]), 75.0)
        self.assertEqual(camconfig.convert_range(0, [0, 100, 1]), 0.0)
        self.assertEqual(camconfig.convert_range(100, [0, 100, 1]), 100.0)

    def test_snaps_float_noise(self):
        self.assertEqual(camconfig.convert_range(0.1 + 0.2, [0, 1, 0.1]),
                         0.3)

    def test_off_step_refused(self):
        with self.assertRaises(Refused) as caught:
            camconfig.convert_range(0.35, [0, 1, 0.1])
        message = caught.exception.message
        self.assertIn("nearest: 0.3 or 0.4", message)
        self.assertIn("range: 0 to 1 in steps of 0.1", message)

    def test_continuous(self):
        self.assertEqual(camconfig.convert_range(0.123, [0, 1, 0]), 0.123)

    def test_out_of_range(self):
        for value in [-1, 101, "1e9"]:
            with self.assertRaises(Refused) as caught:
                camconfig.convert_range(value, [0, 100, 1])
            self.assertIn("range: 0 to 100 in steps of 1",
                          caught.exception.message)

    def test_not_a_number(self):
        for value in ["lots", True, None, float("nan"), "inf"]:
            with self.assertRaises(Refused) as caught:
                camconfig.convert_range(value, [0, 100, 1])
            self.assertIn("range: 0 to 100", caught.exception.message)


class TextAndDateTests(TestCase):
    def test_text(self):
        self.assertEqual(camconfig.convert_text("booth"), "booth")
        self.assertEqual(camconfig.convert_text(400), "400")
        self.assertEqual(camconfig.convert_text(1.5), "1.5")
        for value in [True, None, {}]:
            self.assertRaises(Refused, camconfig.convert_text, value)

    def test_date(self):
        convert = camconfig.convert_date
        self.assertEqual(convert("now", now=lambda: 1700000000.7),
                         1700000000)
        self.assertEqual(convert(1700000000), 1700000000)
        self.assertEqual(convert("1700000000"), 1700000000)
        self.assertEqual(convert("2023-11-14T22:13:20+00:00"), 1700000000)
        local = datetime.datetime(2024, 1, 2, 3, 4, 5).timestamp()
        self.assertEqual(convert("2024-01-02T03:04:05"), int(local))

    def test_bad_date(self):
        for value in ["yesterday", -5, True, None, ""]:
            with self.assertRaises(Refused) as caught:
                camconfig.convert_date(value)
            self.assertIn("Unix time", caught.exception.message)

    def test_convert_by_kind(self):
        self.assertEqual(camconfig.convert("radio", 400, ISO_CHOICES), "400")
        self.assertEqual(camconfig.convert("menu", "800", ISO_CHOICES), "800")
        self.assertEqual(camconfig.convert("toggle", "on"), 1)
        self.assertEqual(camconfig.convert("range", 3, None, [0, 5, 1]), 3.0)
        self.assertEqual(camconfig.convert("text", "x"), "x")
        self.assertEqual(camconfig.convert("date", 5), 5)
        self.assertRaises(Refused, camconfig.convert, "button", 1)


class CommandLineTests(TestCase):
    def test_parse_literal(self):
        self.assertEqual(camconfig.parse_literal("400"), 400)
        self.assertEqual(camconfig.parse_literal('"400"'), "400")
        self.assertEqual(camconfig.parse_literal("true"), True)
        self.assertEqual(camconfig.parse_literal("1.5"), 1.5)
        self.assertEqual(camconfig.parse_literal("-1"), -1)
        self.assertEqual(camconfig.parse_literal("Daylight"), "Daylight")
        self.assertEqual(camconfig.parse_literal("1/125"), "1/125")

    def test_parse_pair(self):
        self.assertEqual(camconfig.parse_pair("iso=400"), ("iso", "400"))
        self.assertEqual(camconfig.parse_pair("a=b=c"), ("a", "b=c"))
        self.assertEqual(camconfig.parse_pair("artist="), ("artist", ""))
        self.assertRaises(ValueError, camconfig.parse_pair, "iso")
        self.assertRaises(ValueError, camconfig.parse_pair, "=400")

    def test_parse_args(self):
        args = camconfig.parse_args(["--port", "ptpip:h:1", "--", "set",
                                     "imgsettings", "iso", "-1"])
        self.assertEqual((args.port, args.model, args.command, args.args),
                         ("ptpip:h:1", None, "set",
                          ["imgsettings", "iso", "-1"]))

    def test_format_value(self):
        self.assertEqual(format_value(True), "1")
        self.assertEqual(format_value(False), "0")
        self.assertEqual(format_value(400), "400")
        self.assertEqual(format_value(400.0), "400")
        self.assertEqual(format_value(5.6), "5.6")
        self.assertEqual(format_value("Daylight"), "Daylight")


# The parent's reading of a child's result -------------------------------------

def result(stdout=b"", stderr=b"", exit_code=0, signal=None,
           timed_out=False):
    return processes.Result(["python"], stdout, stderr, exit_code, signal,
                          timed_out)


class InterpretTests(TestCase):
    def test_ok(self):
        answer = interpret("get", result(b'{"ok": true, "value": "400"}\n'),
                           30)
        self.assertEqual(answer, {"ok": True, "value": "400"})

    def test_noise_before_answer(self):
        self.assertEqual(parse_answer(b'junk\n{"ok": true}\n'), {"ok": True})
        self.assertIsNone(parse_answer(b"{not json\n"))
        self.assertIsNone(parse_answer(b"[1]\n"))

    def test_refusal(self):
        with self.assertRaises(SettingError) as caught:
            interpret("set", result(
                b'{"ok": false, "reason": "bad-value", "error": "no",'
                b' "choices": ["1"]}'), 30)
        self.assertEqual(caught.exception.message, "no")
        self.assertEqual(str(caught.exception), "no")
        self.assertEqual(caught.exception.details,
                         {"reason": "bad-value", "choices": ["1"]})
        self.assertIsInstance(caught.exception, ValueError)

    def test_apply_failures_are_answers(self):
        answer = interpret("apply", result(
            b'{"ok": false, "results": [{"name": "iso", "ok": false}]}'), 30)
        self.assertFalse(answer["ok"])

    def test_camera_states(self):
        for state, status in [("absent", 504), ("busy", 503),
                              ("error", 503)]:
            with self.assertRaises(CameraError) as caught:
                interpret("apply", result(
                    b'{"ok": false, "camera": "%s", "error": "[-7] x"}'
                    % state.encode()), 30)
            self.assertEqual(caught.exception.status, status)
            self.assertEqual(caught.exception.text, "[-7] x")

    def test_timed_out(self):
        with self.assertRaises(CameraError) as caught:
            interpret("get", result(stderr=b"stuck here", exit_code=None,
                                    signal=2, timed_out=True), 1.5)
        self.assertEqual(caught.exception.status, 503)
        self.assertIn("within 1.5s", caught.exception.text)
        self.assertIn("stuck here", caught.exception.text)

    def test_crashed(self):
        with self.assertRaises(CameraError) as caught:
            interpret("get", result(b'{"ok": true}', b"Traceback: boom",
                                    exit_code=1), 30)
        self.assertEqual(caught.exception.status, 503)
        self.assertIn("exit status 1", caught.exception.text)
        self.assertIn("boom", caught.exception.text)

    def test_killed(self):
        with self.assertRaises(CameraError) as caught:
            interpret("get", result(exit_code=None, signal=9), 30)
        self.assertIn("signal 9", caught.exception.text)

    def test_no_answer(self):
        with self.assertRaises(CameraError) as caught:
            interpret("get", result(b"", b"nothing to say"), 30)
        self.assertIn("no answer", caught.exception.text)

    def test_argv_and_env(self):
        settings = CameraSettings(reactor, GPhoto2("ptpip:h:1:1", "M"),
                                  python="/py")
        self.assertEqual(settings.argv("set", "a", "b", '"-1"'), [
            "/py", "-m", "fourcut.camera.child.settings", "--port", "ptpip:h:1:1",
            "--model", "M", "--", "set", "a", "b", '"-1"'])
        self.assertEqual(CameraSettings(reactor, GPhoto2()).argv("list")[3:],
                         ["--", "list"])
        env = settings.env()
        self.assertEqual(env["LANG"], "C")
        self.assertEqual(env["HOME"], os.environ.get("HOME"))
        first = env["PYTHONPATH"].split(os.pathsep)[0]
        self.assertEqual(first, package_root())
        self.assertTrue(os.path.exists(
            os.path.join(first, "fourcut", "camera", "child", "settings.py")))

    def test_apply_bad_name(self):
        settings = CameraSettings(reactor, GPhoto2("ptpip:h:1:1", "M"))
        return self.assertFailure(settings.apply([("a=b", "1")]),
                                  SettingError)


# Against a virtual camera -------------------------------------------------------

class Children:
    """
    Tracks every child a test starts (by PID) and kills any still running
    when the test ends, pass or fail.
    """

    def __init__(self, testcase):
        self.transports = []
        self.pids = []
        testcase.addCleanup(self.end_all)

    def started(self, transport):
        self.transports.append(transport)
        self.pids.append(transport.pid)

    def end_all(self):
        for transport in self.transports:
            if transport.pid is not None:
                try:
                    transport.signalProcess("KILL")
                except Exception:
                    pass


class SettingsTestCase(TestCase):
    """
    L{CameraSettings} against a virtual camera: every child tracked and
    ended by PID, each L{GPhoto2} with a HOME of its own made as fourcut
    makes its own (libgphoto2 keeps the last port and the capture target
    in C{~/.gphoto/settings}).
    """

    def home(self):
        home = os.path.abspath(self.mktemp())
        os.makedirs(home)
        return prepare_home(home)

    def make_settings(self, port=None, gphoto2_class=GPhoto2, **options):
        return CameraSettings(reactor, self.gphoto2(
            port, gphoto2_class=gphoto2_class),
            on_start=self.children.started, **options)

    async def assertRefused(self, d, *fragments):
        with self.assertRaises(SettingError) as caught:
            await d
        for fragment in fragments:
            self.assertIn(fragment, caught.exception.message)
        return caught.exception

    async def assertEndedAtDeadline(self, d, deadline):
        started = reactor.seconds()
        with self.assertRaises(CameraError) as caught:
            await d
        elapsed = reactor.seconds() - started
        self.assertEqual(caught.exception.status, 503)
        self.assertIn("did not finish within %gs" % (deadline,),
                      caught.exception.text)
        self.assertIn("stopped by SIGINT", caught.exception.text)
        # SIGINT ends it: SIGTERM would only come 3 s later.
        self.assertGreaterEqual(elapsed, deadline)
        self.assertLess(elapsed, deadline + 2.5)
        [pid] = self.children.pids
        self.assertRaises(ProcessLookupError, os.kill, pid, 0)


class PTPIPCameraSettingsTests(SettingsTestCase):
    """
    The generic camera's standard PTP settings over PTP/IP through the real
    python-gphoto2 (L{EOSCameraSettingsTests} has every setting of the
    EOS on USB): the PTP/IP path, the caller's IOLIBS, an absent camera.
    """

    async def setUp(self):
        self.camera = await start_camera(self)
        self.children = Children(self)
        self.settings = self.make_settings(self.camera.port)

    def gphoto2(self, port, model=GPHOTO2_MODEL, gphoto2_class=GPhoto2):
        return gphoto2_class(port, model, home=self.home())

    async def test_callers_iolibs_win(self):
        """
        python-gphoto2 resets IOLIBS when imported; the child puts the
        caller's value back, so a directory without the PTP/IP library
        means no PTP/IP port (and the wheel's own libraries are not used).
        """
        empty = self.mktemp()
        os.makedirs(empty)
        gphoto2 = self.gphoto2(self.camera.port)
        gphoto2.python_env = {"IOLIBS": empty}
        settings = CameraSettings(reactor, gphoto2,
                                  on_start=self.children.started)
        with self.assertRaises(CameraError) as caught:
            await settings.info()
        self.assertIn("Error loading a library", caught.exception.text)
        answer = await self.make_settings(self.camera.port).info()
        self.assertEqual(answer["model"], self.camera.device.model)

    def test_environment(self):
        gphoto2 = GPhoto2(home="/fourcut-home")
        gphoto2.cli_env = {"IOLIBS": "/cli"}
        gphoto2.python_env = {"IOLIBS": "/py"}
        self.assertEqual(gphoto2.env()["HOME"], "/fourcut-home")
        self.assertEqual(gphoto2.env()["IOLIBS"], "/cli")
        self.assertEqual(gphoto2.env(python=True)["IOLIBS"], "/py")
        self.assertEqual(gphoto2.env()["LC_ALL"], "C")

    def device_value(self, code):
        return self.camera.device.properties[code].value

    async def test_get_iso(self):
        answer = await self.settings.get("imgsettings", "iso")
        self.assertEqual(answer, {
            "ok": True, "section": "imgsettings", "option": "iso",
            "name": "iso", "label": "ISO Speed", "type": "radio",
            "readonly": False, "value": "400", "choices": ISO_CHOICES})

    async def test_set_fnumber(self):
        answer = await self.settings.set("capturesettings", "f-number", 8)
        self.assertEqual(answer["value"], "f/8")
        self.assertEqual(self.device_value(ptp.DPC_FNumber), 800)
        answer = await self.settings.set("capturesettings", "f-number",
                                         "f/11")
        self.assertEqual(answer["value"], "f/11")
        self.assertEqual(self.device_value(ptp.DPC_FNumber), 1100)
        answer = await self.settings.set("capturesettings", "f-number", 2.8)
        self.assertEqual(answer["value"], "f/2.8")
        self.assertEqual(self.device_value(ptp.DPC_FNumber), 280)

    async def test_not_a_choice(self):
        error = await self.assertRefused(
            self.settings.set("imgsettings", "iso", 12345),
            "12345", "choices: 100, 200, 400, 800, 1600, 3200, 6400")
        self.assertEqual(error.details["choices"], ISO_CHOICES)
        self.assertEqual(error.details["reason"], "bad-value")
        self.assertEqual(error.details["current"], "400")
        self.assertEqual(self.device_value(ptp.DPC_ExposureIndex), 400)

    async def test_camera_refuses(self):
        """
        A value the widget offers but the camera refuses (0x201C) comes
        back with gphoto2's text and the choices.
        """
        prop = self.camera.device.properties[ptp.DPC_ExposureIndex]
        prop.allows = lambda value: False
        error = await self.assertRefused(
            self.settings.set("imgsettings", "iso", 800),
            "the camera refused iso = '800'", "Bad parameters",
            "choices: 100, 200")
        self.assertEqual(error.details["reason"], "camera-refused")
        self.assertEqual(error.details["choices"], ISO_CHOICES)
        self.assertEqual(prop.value, 400)

    async def test_info(self):
        answer = await self.settings.info()
        self.assertEqual(answer, {
            "ok": True, "model": "Virtual DSLR",
            "driver_model": GPHOTO2_MODEL, "manufacturer": "fourcut",
            "serial": "FOURCUT0001", "version": "1.0", "battery": "80%",
            "port": self.camera.port})

    async def test_absent(self):
        port = await serverFromString(reactor, LISTEN).listen(Factory())
        number = port.getHost().port
        await port.stopListening()
        settings = self.make_settings("ptpip:127.0.0.1:%d:%d"
                                      % (number, number))
        with self.assertRaises(CameraError) as caught:
            await settings.get("imgsettings", "iso")
        self.assertEqual(caught.exception.status, 504)
        self.assertIn("Connection refused", caught.exception.text)

    async def test_unknown_model(self):
        settings = CameraSettings(reactor, self.gphoto2(self.camera.port,
                                                        "Nope"),
                                  on_start=self.children.started)
        with self.assertRaises(CameraError) as caught:
            await settings.info()
        self.assertEqual(caught.exception.status, 504)
        self.assertIn("Unknown model", caught.exception.text)

    async def test_unplugged(self):
        self.camera.unplug()
        with self.assertRaises(CameraError) as caught:
            await self.settings.set("imgsettings", "iso", 800)
        self.assertEqual(caught.exception.status, 503)
        self.assertIn("I/O problem", caught.exception.text)
        self.assertEqual(self.device_value(ptp.DPC_ExposureIndex), 400)


#: The virtual 700D's choices as python-gphoto2 (libgphoto2 2.5.34) names
#: them.
EOS_ISO_CHOICES = ["Auto", "100", "200", "400", "800", "1600", "3200",
                   "6400", "12800", "25600"]
EOS_WB_CHOICES = ["Auto", "Daylight", "Shadow", "Cloudy", "Tungsten",
                  "Fluorescent", "Flash", "Manual"]
EOS_APERTURES = ["3.5", "4", "4.5", "5", "5.6", "6.3", "7.1", "8", "9",
                 "10", "11", "13", "14", "16", "18", "20", "22"]
EOS_FORMATS = ["L", "cL", "M", "cM", "S1", "cS1", "S2", "S3"]
EOS_TARGETS = ["Internal RAM", "Memory card"]


class EOSCameraSettingsTests(SettingsTestCase):
    """
    Every setting of the virtual Canon EOS 700D on USB, auto-detected,
    through the real python-gphoto2, as a booth changes them.
    """

    async def setUp(self):
        self.camera = await start_usb_camera(self, personality="eos")
        self.device = self.camera.device
        self.children = Children(self)
        self.settings = self.make_settings()

    def gphoto2(self, port=None, model=None, gphoto2_class=GPhoto2):
        gphoto2 = gphoto2_class(port, model, home=self.home())
        gphoto2.python_env = self.camera.env(usbport.PYTHON, base={})
        return gphoto2

    def refuse(self, code, rc=ptp.RC_InvalidDevicePropValue):
        """
        The body refuses every operation C{code} with C{rc}; returns the
        list of refusals.
        """
        handle = self.device.handle
        refused = []

        def refusing(request, data=None):
            if request.code == code:
                refused.append(request)
                return defer.succeed(Reply(rc))
            return handle(request, data)
        self.patch(self.device, "handle", refusing)
        return refused

    # get ---------------------------------------------------------------

    async def test_get_iso(self):
        answer = await self.settings.get("imgsettings", "iso")
        self.assertEqual(answer, {
            "ok": True, "section": "imgsettings", "option": "iso",
            "name": "iso", "label": "ISO Speed", "type": "radio",
            "readonly": False, "value": "100", "choices": EOS_ISO_CHOICES})

    async def test_get_each_setting(self):
        for section, option, value, choices in [
                ("imgsettings", "whitebalance", "Auto", EOS_WB_CHOICES),
                ("imgsettings", "imageformat", "L", EOS_FORMATS),
                ("capturesettings", "aperture", "5.6", EOS_APERTURES),
                ("settings", "capturetarget", "Internal RAM", EOS_TARGETS)]:
            answer = await self.settings.get(section, option)
            self.assertEqual((answer["type"], answer["value"],
                              answer["choices"], answer["readonly"]),
                             ("radio", value, choices, False), option)
        answer = await self.settings.get("capturesettings", "shutterspeed")
        self.assertEqual(answer["value"], "1/125")
        # 30 s ... 1/4000 in thirds of a stop.
        self.assertEqual(len(answer["choices"]), 52)
        self.assertEqual(answer["choices"][:3], ["30", "25", "20"])
        self.assertEqual(answer["choices"][-3:], ["1/2500", "1/3200",
                                                  "1/4000"])

    async def test_get_batterylevel(self):
        answer = await self.settings.get("status", "batterylevel")
        self.assertEqual((answer["type"], answer["value"],
                          answer["readonly"]), ("text", "100%", True))
        self.assertNotIn("choices", answer)
        self.device.battery_low()
        answer = await self.settings.get("status", "batterylevel")
        self.assertEqual(answer["value"], "Low")

    # set -----------------------------------------------------------------

    async def test_set_iso(self):
        answer = await self.settings.set("imgsettings", "iso", 1600)
        self.assertEqual((answer["ok"], answer["value"], answer["requested"]),
                         (True, "1600", "1600"))
        self.assertEqual(self.device.value(eos.DPC_EOS_ISOSpeed), 0x68)
        answer = await self.settings.set("imgsettings", "iso", "3200")
        self.assertEqual(answer["value"], "3200")
        self.assertEqual(self.device.value(eos.DPC_EOS_ISOSpeed), 0x70)
        answer = await self.settings.get("imgsettings", "iso")
        self.assertEqual(answer["value"], "3200")

    async def test_set_whitebalance(self):
        answer = await self.settings.set("imgsettings", "whitebalance",
                                         "Daylight")
        self.assertEqual(answer["value"], "Daylight")
        self.assertEqual(self.device.value(eos.DPC_EOS_WhiteBalance), 1)
        answer = await self.settings.set("imgsettings", "whitebalance",
                                         "tungsten")
        self.assertEqual(answer["value"], "Tungsten")
        self.assertEqual(self.device.value(eos.DPC_EOS_WhiteBalance), 3)

    async def test_set_aperture(self):
        for value, shown, code in [(8, "8", 0x38), ("11", "11", 0x40),
                                   (3.5, "3.5", 0x25)]:
            answer = await self.settings.set("capturesettings", "aperture",
                                             value)
            self.assertEqual(answer["value"], shown)
            self.assertEqual(self.device.value(eos.DPC_EOS_Aperture), code)

    async def test_set_shutterspeed(self):
        answer = await self.settings.set("capturesettings", "shutterspeed",
                                         "1/250")
        self.assertEqual(answer["value"], "1/250")
        self.assertEqual(self.device.value(eos.DPC_EOS_ShutterSpeed), 0x78)
        answer = await self.settings.set("capturesettings", "shutterspeed",
                                         1)
        self.assertEqual(answer["value"], "1")
        self.assertEqual(self.device.value(eos.DPC_EOS_ShutterSpeed), 0x38)

    async def test_set_imageformat(self):
        answer = await self.settings.set("imgsettings", "imageformat", "S3")
        self.assertEqual(answer["value"], "S3")
        self.assertEqual(self.device.value(eos.DPC_EOS_ImageFormat),
                         eosbodies.S3)
        answer = await self.settings.set("imgsettings", "imageformat", "cM")
        self.assertEqual(self.device.value(eos.DPC_EOS_ImageFormat),
                         eosbodies.M_NORMAL)

    async def test_set_capturetarget(self):
        """
        The capture target is libgphoto2's own setting, pushed to the body
        (0xD11C) in each session: set in one child, it is sent again by the
        next one.
        """
        targets = []
        handle = self.device.handle

        def recording(request, data=None):
            if request.code == eos.OC_EOS_SetDevicePropValueEx:
                code, raw = eos.parse_set_prop_value_ex(data)
                if code == eos.DPC_EOS_CaptureDestination:
                    targets.append((self.device.sessions_opened,
                                    struct.unpack("<I", raw[:4])[0]))
            return handle(request, data)
        self.patch(self.device, "handle", recording)
        answer = await self.settings.set("settings", "capturetarget",
                                         "Memory card")
        self.assertEqual(answer["value"], "Memory card")
        self.assertIn((1, eos.CAPTURE_DEST_CARD), targets)
        answer = await self.settings.get("settings", "capturetarget")
        self.assertEqual(answer["value"], "Memory card")
        self.assertEqual(self.device.sessions_opened, 2)
        # The second session never asked for the camera's RAM.
        self.assertNotIn((2, eos.CAPTURE_DEST_RAM), targets)

    async def test_set_value_like_an_option(self):
        error = await self.assertRefused(
            self.settings.set("imgsettings", "iso", "--port"),
            "'--port' is not a choice")
        self.assertEqual(error.details["reason"], "bad-value")

    # refusals ------------------------------------------------------------

    async def test_not_a_choice(self):
        """
        A value the 700D does not list, for each setting: refused before
        the camera hears of it, with the choices.
        """
        for section, option, bad, choices in [
                ("imgsettings", "iso", 12345, EOS_ISO_CHOICES),
                ("imgsettings", "whitebalance", "Purple", EOS_WB_CHOICES),
                ("imgsettings", "imageformat", "RAW", EOS_FORMATS),
                ("capturesettings", "aperture", 1.4, EOS_APERTURES),
                ("settings", "capturetarget", "Cloud", EOS_TARGETS)]:
            error = await self.assertRefused(
                self.settings.set(section, option, bad),
                str(bad), "choices: " + ", ".join(choices[:3]))
            self.assertEqual(error.details["choices"], choices, option)
            self.assertEqual(error.details["reason"], "bad-value")
        error = await self.assertRefused(
            self.settings.set("capturesettings", "shutterspeed", "1/8000"),
            "1/8000", "choices: 30, 25, 20")
        self.assertEqual(error.details["current"], "1/125")
        self.assertEqual(self.device.value(eos.DPC_EOS_ISOSpeed), 0x48)
        self.assertEqual(self.device.value(eos.DPC_EOS_Aperture), 0x30)

    async def test_read_only(self):
        error = await self.assertRefused(
            self.settings.set("status", "batterylevel", "50%"),
            "batterylevel is read-only")
        self.assertEqual(error.details["reason"], "read-only")

    async def test_camera_refuses(self):
        """
        A value the widget offers but the body refuses (0x201C to
        SetDevicePropValueEx) comes back as refused, with the choices.
        """
        refused = self.refuse(eos.OC_EOS_SetDevicePropValueEx)
        error = await self.assertRefused(
            self.settings.set("imgsettings", "iso", 800),
            "the camera refused iso = '800'", "choices: Auto, 100, 200")
        self.assertEqual(error.details["reason"], "camera-refused")
        self.assertEqual(error.details["choices"], EOS_ISO_CHOICES)
        self.assertTrue(refused)
        self.assertEqual(self.device.value(eos.DPC_EOS_ISOSpeed), 0x48)

    async def test_policy(self):
        """
        The operations libgphoto2 shows as settings are refused by what
        they are (see L{fourcut.policy}).
        """
        for section, option, value in [("actions", "viewfinder", 1),
                                       ("actions", "eosremoterelease",
                                        "Immediate"),
                                       ("settings", "output", "PC"),
                                       ("settings", "evfmode", "0")]:
            error = await self.assertRefused(
                self.settings.set(section, option, value),
                "%s/%s may not be changed" % (section, option))
            self.assertEqual(error.details["reason"], "not-allowed")
        self.assertEqual(self.device.liveview_starts, 0)
        self.assertEqual(self.device.captures, 0)

    async def test_unknown_section(self):
        error = await self.assertRefused(
            self.settings.get("nosuch", "iso"),
            "unknown section 'nosuch'", "imgsettings", "capturesettings")
        self.assertEqual(error.details["reason"], "unknown-section")
        self.assertIn("status", error.details["sections"])

    async def test_unknown_option(self):
        error = await self.assertRefused(
            self.settings.set("imgsettings", "nosuch", 1),
            "unknown option 'nosuch' in section 'imgsettings'",
            "imageformat, iso, whitebalance")
        self.assertEqual(error.details["options"],
                         ["imageformat", "iso", "whitebalance"])
        await self.assertRefused(
            self.settings.get("capturesettings", "iso"),
            "unknown option 'iso' in section 'capturesettings'",
            "aperture, shutterspeed")

    # list, info, apply -----------------------------------------------------

    async def test_list(self):
        sections = (await self.settings.list())["sections"]
        self.assertEqual(sorted(sections), [
            "actions", "capturesettings", "imgsettings", "settings",
            "status"])
        self.assertEqual(sorted(sections["imgsettings"]["options"]),
                         ["imageformat", "iso", "whitebalance"])
        for name in ("aperture", "shutterspeed"):
            self.assertIn(name, sections["capturesettings"]["options"])
        self.assertIn("viewfinder", sections["actions"]["options"])
        iso = sections["imgsettings"]["options"]["iso"]
        self.assertEqual((iso["type"], iso["value"], iso["choices"]),
                         ("radio", "100", EOS_ISO_CHOICES))
        status = sections["status"]["options"]
        self.assertEqual((status["batterylevel"]["value"],
                          status["batterylevel"]["readonly"]),
                         ("100%", True))
        self.assertEqual(status["lensname"]["value"],
                         "EF-S18-55mm f/3.5-5.6 IS STM")

    async def test_info(self):
        answer = await self.settings.info()
        self.assertEqual(answer, {
            "ok": True, "model": "Canon EOS 700D",
            "driver_model": "Canon EOS 700D", "manufacturer": "Canon Inc.",
            "serial": self.device.serial, "version": "3-1.1.5",
            "battery": "100%", "port": "usb:001,007"})

    async def test_apply(self):
        answer = await self.settings.apply([("iso", "3200"),
                                            ("whitebalance", "Purple"),
                                            ("aperture", 4)])
        self.assertFalse(answer["ok"])
        iso, wb, aperture = answer["results"]
        self.assertEqual((iso["name"], iso["ok"], iso["value"],
                          iso["section"]),
                         ("iso", True, "3200", "imgsettings"))
        self.assertEqual((wb["name"], wb["ok"]), ("whitebalance", False))
        self.assertIn("choices: Auto, Daylight", wb["error"])
        self.assertEqual(wb["choices"], EOS_WB_CHOICES)
        self.assertEqual((aperture["ok"], aperture["value"]), (True, "4"))
        self.assertEqual(self.device.value(eos.DPC_EOS_ISOSpeed), 0x70)
        self.assertEqual(self.device.value(eos.DPC_EOS_WhiteBalance), 0)
        self.assertEqual(self.device.value(eos.DPC_EOS_Aperture), 0x28)

    async def test_apply_all_good(self):
        answer = await self.settings.apply([
            ("/main/imgsettings/imageformat", "M"),
            ("shutterspeed", "1/250")])
        self.assertTrue(answer["ok"], answer)
        self.assertEqual([r["value"] for r in answer["results"]],
                         ["M", "1/250"])
        self.assertEqual(self.device.value(eos.DPC_EOS_ImageFormat),
                         eosbodies.M_FINE)

    async def test_values(self):
        answer = await self.settings.values(
            ["iso", "/main/imgsettings/imageformat", "whitebalance",
             "capturetarget"])
        self.assertEqual(answer["values"],
                         ["100", "L", "Auto", "Internal RAM"])
        with self.assertRaises(SettingError) as caught:
            await self.settings.values(["iso", "nosuch"])
        self.assertIn("'nosuch'", str(caught.exception))

    async def test_apply_unknown_and_read_only(self):
        answer = await self.settings.apply([("nosuch", "1"),
                                            ("batterylevel", "5"),
                                            ("iso", "400")])
        self.assertEqual([(r["name"], r["ok"], r.get("reason"))
                          for r in answer["results"]],
                         [("nosuch", False, "unknown-name"),
                          ("batterylevel", False, "read-only"),
                          ("iso", True, None)])
        self.assertEqual(self.device.value(eos.DPC_EOS_ISOSpeed), 0x58)

    async def test_on_start(self):
        """
        Both the constructor's and the call's C{on_start} see the child.
        """
        seen = []
        await self.settings.get("imgsettings", "iso",
                                on_start=lambda t: seen.append(t.pid))
        self.assertEqual(seen, self.children.pids)
        self.assertEqual(len(seen), 1)
        self.assertRaises(ProcessLookupError, os.kill, seen[0], 0)

    # camera trouble --------------------------------------------------------

    async def test_absent(self):
        await self.camera.stop()
        with self.assertRaises(CameraError) as caught:
            await self.settings.get("imgsettings", "iso")
        self.assertEqual(caught.exception.status, 504)
        self.assertIn("Could not detect any camera", caught.exception.text)

    async def test_unplugged_and_replugged(self):
        self.camera.unplug()
        with self.assertRaises(CameraError) as caught:
            await self.settings.set("imgsettings", "iso", 800)
        self.assertEqual(caught.exception.status, 504)
        self.assertIn("Could not detect any camera", caught.exception.text)
        self.assertEqual(self.device.value(eos.DPC_EOS_ISOSpeed), 0x48)
        self.camera.replug()
        answer = await self.settings.set("imgsettings", "iso", 800)
        self.assertEqual(self.device.value(eos.DPC_EOS_ISOSpeed), 0x60)
        self.assertEqual(answer["value"], "800")

    async def test_claimed_by_another_program(self):
        self.camera.claim_by_other()
        with self.assertRaises(CameraError) as caught:
            await self.settings.get("imgsettings", "iso")
        self.assertEqual(caught.exception.status, 503)
        self.assertIn("Could not claim the USB device", caught.exception.text)
        self.camera.claim_by_other(False)
        answer = await self.settings.get("imgsettings", "iso")
        self.assertEqual(answer["value"], "100")

    async def test_busy(self):
        self.device.busy(1000)
        with self.assertRaises(CameraError) as caught:
            await self.settings.get("imgsettings", "iso")
        self.assertEqual(caught.exception.status, 503)
        self.device.busy(0)
        answer = await self.settings.get("imgsettings", "iso")
        self.assertEqual(answer["value"], "100")

    async def test_hung_camera(self):
        """
        A camera that stops answering: the child is ended at the deadline,
        the call fails with 503, and the child is gone.
        """
        self.device.hang(1000)
        settings = self.make_settings(deadline=1.0)
        await self.assertEndedAtDeadline(
            settings.get("imgsettings", "iso"), 1.0)

    async def test_hung_during_set(self):
        """
        A camera that stops answering once the set is sent.
        """
        device = self.device
        handle = device.handle

        def hang_at_set(request, data=None):
            if request.code == eos.OC_EOS_SetDevicePropValueEx:
                device.faults.hang = 1000
            return handle(request, data)

        self.patch(device, "handle", hang_at_set)
        settings = self.make_settings(deadline=1.5)
        await self.assertEndedAtDeadline(
            settings.set("imgsettings", "iso", 800), 1.5)
        self.assertEqual(self.device.value(eos.DPC_EOS_ISOSpeed), 0x48)

    async def test_no_python_gphoto2(self):
        """
        A child that cannot import python-gphoto2 says so.
        """
        fake = os.path.join(self.mktemp(), "gphoto2")
        os.makedirs(fake)
        with open(os.path.join(fake, "__init__.py"), "w") as f:
            f.write("raise ImportError('broken on purpose')\n")

        class Broken(GPhoto2):
            def env(self, python=False):
                return dict(GPhoto2.env(self, python),
                            PYTHONPATH=os.path.dirname(fake))

        settings = self.make_settings(gphoto2_class=Broken)
        with self.assertRaises(CameraError) as caught:
            await settings.info()
        self.assertEqual(caught.exception.status, 503)
        self.assertIn("python-gphoto2 cannot be imported",
                      caught.exception.text)
        self.assertIn("broken on purpose", caught.exception.text)

    async def test_crashing_child(self):
        settings = self.make_settings(python=sys.executable, deadline=30.0)
        settings.python = "/bin/false"
        with self.assertRaises(CameraError) as caught:
            await settings.list()
        self.assertEqual(caught.exception.status, 503)
        self.assertIn("exit status 1", caught.exception.text)
