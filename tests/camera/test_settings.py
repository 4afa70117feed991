"""
L{fourcut.camera.settings} in memory: what command line and environment
each settings child gets, and how its answer (or its failure: a deadline
overrun, a signal, an exit status, no answer) becomes a result, a
L{CameraError} with the right status or a L{SettingError}. The children
themselves run against the virtual camera in
L{tests.integration.test_camconfig} and L{tests.integration.test_worker}.
"""

import json
import os
import sys

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

import fourcut
from fourcut.camera import processes
from fourcut.camera.gphoto2 import GPhoto2
from fourcut.camera.processes import Result
from fourcut.camera.settings import (STDERR_TAIL, CameraSettings,
                                     apply_args, format_value, interpret,
                                     interpret_answer, package_root,
                                     parse_answer)
from fourcut.errors import CameraError, SettingError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fourcut.__file__)))


def result(stdout=b"", stderr=b"", exit_code=0, signal=None,
           timed_out=False):
    return Result(["x"], stdout, stderr, exit_code, signal, timed_out)


def answer(**fields):
    return (b"some noise\n" + json.dumps(fields).encode() + b"\n")


class ValueTests(SynchronousTestCase):
    def test_format_value(self):
        for value, text in [(True, "1"), (False, "0"), (1600, "1600"),
                            (2.0, "2"), (2.5, "2.5"), ("Auto", "Auto"),
                            (0, "0"), (-1.0, "-1")]:
            self.assertEqual(format_value(value), text, value)

    def test_apply_args(self):
        self.assertEqual(apply_args([("iso", 100), ("flash", True),
                                     ("/main/x", "a=b")]),
                         ["iso=100", "flash=1", "/main/x=a=b"])
        self.assertEqual(apply_args([]), [])
        for name in ("", "a=b", None):
            error = self.assertRaises(SettingError, apply_args,
                                      [("iso", 1), (name, 1)])
            self.assertEqual(str(error), "bad setting name %r" % (name,))
            self.assertEqual(error.details, {"reason": "unknown-name",
                                             "name": name})

    def test_package_root(self):
        self.assertEqual(package_root(), ROOT)


class AnswerTests(SynchronousTestCase):
    def test_parse_answer(self):
        """
        The last line that is a JSON object with C{ok}; anything else
        printed is ignored.
        """
        self.assertEqual(parse_answer(
            b'{"ok": true, "n": 1}\n  {"ok": false, "n": 2}  \n'
            b'{"no": "ok"}\n[1]\n{broken\nlast words\n'),
            {"ok": False, "n": 2})
        self.assertEqual(parse_answer(b'{"ok": 1}'), {"ok": 1})
        for stdout in (b"", b"nothing\n", b'{"a": 1}\n', b"{nope}\n",
                       b'"ok"\n', b'{"ok": 1\n'):
            self.assertIsNone(parse_answer(stdout), stdout)

    def test_parse_answer_bad_utf8(self):
        self.assertEqual(parse_answer(b'\xff\xfe\n{"ok": true}\n\xff\n'),
                         {"ok": True})

    def test_ok(self):
        self.assertEqual(interpret("get", result(answer(ok=True, value="1")),
                                   5), {"ok": True, "value": "1"})

    def test_apply_answer_with_failures(self):
        """
        C{apply}'s answer lists each setting's failure: not an exception.
        """
        found = {"ok": False, "results": [{"name": "iso", "ok": False}]}
        self.assertEqual(interpret_answer("apply", found), found)

    def test_apply_child_answer(self):
        """
        A child's C{apply} answer with failures is its answer, as the
        worker's is (L{interpret} passes the command on).
        """
        self.assertEqual(interpret("apply", result(answer(
            ok=False, results=[{"name": "iso", "ok": False}])), 5),
            {"ok": False, "results": [{"name": "iso", "ok": False}]})

    def test_refused(self):
        error = self.assertRaises(SettingError, interpret_answer, "set", {
            "ok": False, "error": "value 7 not allowed", "reason": "choice",
            "choices": ["1", "2"]})
        self.assertEqual(str(error), "value 7 not allowed")
        self.assertEqual(error.details, {"reason": "choice",
                                         "choices": ["1", "2"]})
        error = self.assertRaises(SettingError, interpret_answer, "get",
                                  {"ok": False})
        self.assertEqual(str(error), "refused")
        self.assertEqual(error.details, {})

    def test_camera_trouble(self):
        for camera, status in [("absent", 504), ("busy", 503),
                               ("error", 503)]:
            error = self.assertRaises(CameraError, interpret_answer, "get", {
                "ok": False, "camera": camera, "error": "it said"})
            self.assertEqual((error.status, error.text), (status, "it said"))
        error = self.assertRaises(CameraError, interpret_answer, "apply",
                                  {"ok": True, "camera": "busy"})
        self.assertEqual((error.status, error.text), (503, "camera error"))
        self.assertEqual(interpret_answer("get", {"ok": True,
                                                  "camera": None}),
                         {"ok": True, "camera": None})

    def test_timed_out(self):
        error = self.assertRaises(CameraError, interpret, "list", result(
            answer(ok=True), b"  stuck\n", timed_out=True), 2.5)
        self.assertEqual(error.status, 503)
        self.assertEqual(error.text, "camera settings (list) did not finish "
                         "within 2.5s and were stopped; the camera may be "
                         "hung: stuck")

    def test_no_answer(self):
        """
        A child that was killed, failed or printed nothing useful: a 503
        saying which, with the end of its stderr.
        """
        for child, how in [
                (result(exit_code=None, signal=9), "was killed by signal 9"),
                (result(answer(ok=True), exit_code=2),
                 "failed with exit status 2"),
                (result(b"nothing\n"), "gave no answer")]:
            child.stderr = b"x" * 5000 + b"Traceback: boom \n"
            error = self.assertRaises(CameraError, interpret, "info", child,
                                      5)
            self.assertEqual(error.status, 503)
            tail = ("x" * 5000 + "Traceback: boom")[-STDERR_TAIL:]
            self.assertEqual(error.text, "camera settings (info) %s: %s"
                             % (how, tail))
        self.assertEqual(STDERR_TAIL, 1000)

    def test_stderr_not_utf8(self):
        error = self.assertRaises(CameraError, interpret, "get", result(
            b"", b"bad \xff byte"), 5)
        self.assertTrue(error.text.endswith(": bad \ufffd byte"), error.text)


class FakeRun:
    """
    Stands in for L{processes.run}: records each call, calls C{on_start}
    with a transport, and answers C{answer}.
    """

    def __init__(self, answer):
        self.calls = []
        self.answer = answer

    def __call__(self, reactor, argv, deadline, env=None, on_start=None):
        self.calls.append((reactor, argv, deadline, env))
        on_start("transport-%d" % (len(self.calls),))
        return defer.succeed(self.answer)


class CameraSettingsTests(SynchronousTestCase):
    def setUp(self):
        self.started = []
        self.run = FakeRun(result(answer(ok=True, value="100")))
        self.patch(processes, "run", self.run)
        self.gphoto2 = GPhoto2(port="usb:001,007", model="Canon EOS 700D")
        self.settings = CameraSettings("reactor", self.gphoto2,
                                       python="/py", deadline=7.5,
                                       on_start=self.started.append)

    def called(self):
        (reactor, argv, deadline, env), = self.run.calls
        self.assertEqual((reactor, deadline), ("reactor", 7.5))
        return argv, env

    def test_defaults(self):
        made = CameraSettings("reactor", self.gphoto2)
        self.assertEqual((made.python, made.deadline, made.on_start),
                         (sys.executable, 30.0, None))
        self.assertEqual(self.successResultOf(made.info()),
                         {"ok": True, "value": "100"})

    def test_argv(self):
        self.assertEqual(self.settings.argv("get", "a", "b"), [
            "/py", "-m", "fourcut.camera.child.settings", "--port",
            "usb:001,007", "--model", "Canon EOS 700D", "--", "get", "a",
            "b"])
        bare = CameraSettings(None, GPhoto2(), python="/py")
        self.assertEqual(bare.argv("list"), [
            "/py", "-m", "fourcut.camera.child.settings", "--", "list"])

    def test_env(self):
        """
        The child finds this fourcut first, then what C{PYTHONPATH} held.
        """
        self.patch(self.gphoto2, "env", lambda python: {"A": "1"})
        self.assertEqual(self.settings.env(), {"A": "1", "PYTHONPATH": ROOT})
        self.patch(self.gphoto2, "env",
                   lambda python: {"PYTHONPATH": "/x"} if python else {})
        self.assertEqual(self.settings.env()["PYTHONPATH"],
                         ROOT + os.pathsep + "/x")

    def test_get(self):
        mine = []
        found = self.successResultOf(self.settings.get(
            "imgsettings", "iso", on_start=mine.append))
        self.assertEqual(found, {"ok": True, "value": "100"})
        argv, env = self.called()
        self.assertEqual(argv[-4:], ["--", "get", "imgsettings", "iso"])
        self.assertEqual(env, self.settings.env())
        self.assertEqual((self.started, mine),
                         (["transport-1"], ["transport-1"]))

    def test_no_on_start(self):
        settings = CameraSettings("reactor", self.gphoto2, deadline=7.5)
        self.successResultOf(settings.list())
        self.assertEqual(self.called()[0][-2:], ["--", "list"])

    def test_commands(self):
        for call, args in [
                (lambda: self.settings.set("s", "o", 1.5),
                 ["set", "s", "o", "1.5"]),
                (lambda: self.settings.set("s", "o", "Auto"),
                 ["set", "s", "o", '"Auto"']),
                (lambda: self.settings.list(), ["list"]),
                (lambda: self.settings.resolve("iso"), ["resolve", "iso"]),
                (lambda: self.settings.values(("iso", "f")),
                 ["values", "iso", "f"]),
                (lambda: self.settings.info(), ["info"]),
                (lambda: self.settings.apply([("iso", 100), ("f", True)]),
                 ["apply", "iso=100", "f=1"])]:
            self.run.calls.clear()
            self.assertEqual(self.successResultOf(call()),
                             {"ok": True, "value": "100"})
            argv, _ = self.called()
            self.assertEqual(argv[argv.index("--") + 1:], args)

    def test_every_on_start(self):
        for name, args in [("set", ("s", "o", 1)), ("list", ()),
                           ("resolve", ("iso",)), ("values", (["iso"],)),
                           ("info", ()), ("apply", ([("iso", 1)],))]:
            mine = []
            self.successResultOf(getattr(self.settings, name)(
                *args, on_start=mine.append))
            self.assertEqual(len(mine), 1, name)

    def test_answer_interpreted(self):
        self.run.answer = result(answer(ok=False, error="no such setting",
                                        reason="unknown-name"))
        failure = self.failureResultOf(self.settings.get("a", "b"),
                                       SettingError)
        self.assertEqual(str(failure.value), "no such setting")
        self.run.answer = result(b"", b"hung", timed_out=True)
        failure = self.failureResultOf(self.settings.info(), CameraError)
        self.assertIn("(info) did not finish within 7.5s", failure.value.text)

    def test_apply_nothing(self):
        self.assertEqual(self.successResultOf(self.settings.apply([])),
                         {"ok": True, "results": []})
        self.assertEqual(self.run.calls, [])

    def test_apply_bad_name(self):
        failure = self.failureResultOf(self.settings.apply([("a=b", 1)]),
                                       SettingError)
        self.assertEqual(failure.value.details["reason"], "unknown-name")
        self.assertEqual(self.run.calls, [])

