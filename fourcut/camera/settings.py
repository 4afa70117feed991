# -*- test-case-name: tests.camera.test_settings,tests.integration.test_camconfig,tests.integration.test_worker -*-
"""
Camera settings for the server: each operation runs L{fourcut.camera.child.settings}
(python-gphoto2) in a child process under a deadline and turns its JSON
answer into a result or an exception.

python-gphoto2 never runs in the server process: C{Camera.exit()} holds the
GIL while it waits for the camera, libgphoto2 2.5.34 closes fd 0 on exit
(by then possibly a socket of the reactor's), and a hung libgphoto2 call in
a thread cannot be ended. A child can.

A child takes about 0.08 s (get, list, info), 0.13 s (set) or 0.17 s
(apply of three settings) end to end against the virtual camera, python
start-up (0.02 s) and C{import gphoto2} (0.02 s) included; libgphoto2
spends about 0.05 s after each set. Like the gphoto2 CLI, it needs the camera to itself: the camera
session calls these while holding its camera lock.
"""

import json
import os
import sys

from twisted.internet import defer

import fourcut

from fourcut.camera import processes
from fourcut.errors import CameraError, SettingError

__all__ = ["STDERR_TAIL", "CameraSettings", "apply_args", "format_value",
           "interpret", "interpret_answer", "package_root", "parse_answer"]

#: Characters of a child's stderr quoted in errors.
STDERR_TAIL = 1000


def package_root():
    """
    The directory holding the C{fourcut} package, for the child's
    C{PYTHONPATH}.
    """
    return os.path.dirname(os.path.dirname(os.path.abspath(
        fourcut.__file__)))


def format_value(value):
    """
    A value for C{apply}'s C{NAME=VALUE}: text as it is, true/false as 1/0,
    numbers as their decimal text.
    """
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def apply_args(pairs):
    """
    C{(name, value)} pairs as C{apply}'s C{NAME=VALUE} texts.

    @raise SettingError: for a name that is empty or holds C{=}.
    """
    args = []
    for name, value in pairs:
        if not name or "=" in name:
            raise SettingError("bad setting name %r" % (name,),
                               {"reason": "unknown-name", "name": name})
        args.append("%s=%s" % (name, format_value(value)))
    return args


def _tail(data):
    text = data.decode("utf-8", "replace").strip()
    return text[-STDERR_TAIL:]


def parse_answer(stdout):
    """
    The JSON object a child printed, or L{None}: the last line of C{stdout}
    that is one.
    """
    for line in reversed(stdout.decode("utf-8", "replace").splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            answer = json.loads(line)
        except ValueError:
            continue
        if isinstance(answer, dict) and "ok" in answer:
            return answer
    return None


def interpret(command, result, deadline):
    """
    The answer of a finished child (a L{fourcut.camera.processes.Result}).

    @return: the answer dict when it is C{ok} (and for C{apply}, whose
        answer lists each setting's failure).
    @raise CameraError: 504 when there is no camera; 503 when it is busy or
        in trouble, or when the child overran C{deadline}, crashed or
        printed no answer.
    @raise SettingError: for an unknown name or a refused value.
    """
    if result.timed_out:
        raise CameraError(503, "camera settings (%s) did not finish within "
                          "%gs and were stopped; the camera may be hung: %s"
                          % (command, deadline, _tail(result.stderr)))
    answer = parse_answer(result.stdout) if result.exit_code == 0 else None
    if answer is None:
        if result.signal is not None:
            how = "was killed by signal %d" % (result.signal,)
        elif result.exit_code != 0:
            how = "failed with exit status %s" % (result.exit_code,)
        else:
            how = "gave no answer"
        raise CameraError(503, "camera settings (%s) %s: %s"
                          % (command, how, _tail(result.stderr)))
    return interpret_answer(command, answer)


def interpret_answer(command, answer):
    """
    A camconfig answer (a dict, from a child or from the camera worker)
    as a result or an exception, as L{interpret} describes.
    """
    if answer.get("camera"):
        status = 504 if answer["camera"] == "absent" else 503
        raise CameraError(status, answer.get("error") or "camera error")
    if answer["ok"] or command == "apply":
        return answer
    details = {key: value for key, value in answer.items()
               if key not in ("ok", "error")}
    raise SettingError(answer.get("error") or "refused", details)


class CameraSettings:
    """
    The settings of the camera that C{gphoto2} (a L{fourcut.camera.gphoto2.GPhoto2})
    names, read and changed through child processes.

    @param python: the interpreter to run L{fourcut.camera.child.settings} with; it
        must have python-gphoto2.
    @param deadline: seconds a child may take before it is ended (SIGINT,
        then SIGTERM, then SIGKILL, by its PID).
    @param on_start: called with each child's process transport as it
        starts, so the camera session can track (and end) it; each method
        also takes its own C{on_start}, called after this one.
    """

    def __init__(self, reactor, gphoto2, python=sys.executable,
                 deadline=30.0, on_start=None):
        self.reactor = reactor
        self.gphoto2 = gphoto2
        self.python = python
        self.deadline = deadline
        self.on_start = on_start

    def argv(self, command, *args):
        argv = [self.python, "-m", "fourcut.camera.child.settings"]
        if self.gphoto2.port:
            argv += ["--port", self.gphoto2.port]
        if self.gphoto2.model:
            argv += ["--model", self.gphoto2.model]
        return argv + ["--", command] + list(args)

    def env(self):
        env = self.gphoto2.env(python=True)
        paths = [package_root()]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(paths)
        return env

    def _run(self, command, args, on_start):
        def started(transport):
            if self.on_start is not None:
                self.on_start(transport)
            if on_start is not None:
                on_start(transport)

        d = processes.run(self.reactor, self.argv(command, *args),
                        self.deadline, env=self.env(), on_start=started)
        d.addCallback(lambda result: interpret(command, result,
                                               self.deadline))
        return d

    def get(self, section, option, on_start=None):
        """
        One setting: fires with C{{"value", "type", "readonly", "label",
        "choices" or "range", "section", "option"}}.
        """
        return self._run("get", [section, option], on_start)

    def set(self, section, option, value, on_start=None):
        """
        Change one setting to C{value} (text, number or bool; converted by
        the setting's type, see L{fourcut.camera.child.settings}); fires with what
        L{get} gives, the value read back from the camera, plus
        C{requested}.
        """
        return self._run("set", [section, option, json.dumps(value)],
                         on_start)

    def list(self, on_start=None):
        """
        Every setting: fires with C{{"sections": {section: {"label",
        "options": {option: {...}}}}}}.
        """
        return self._run("list", [], on_start)

    def resolve(self, name, on_start=None):
        """
        The widget that C{gphoto2 --set-config NAME=...} would change:
        fires with C{{"section", "option", "path"}} when fourcut lets it
        be changed; fails with L{SettingError} (C{reason} C{not-allowed}
        or C{unknown-name}) otherwise.
        """
        return self._run("resolve", [name], on_start)

    def values(self, names, on_start=None):
        """
        The current values of settings C{names} (looked up as L{apply}
        does): fires with C{{"values": [value, ...]}}, spelled as L{apply}
        takes them.
        """
        return self._run("values", list(names), on_start)

    def info(self, on_start=None):
        """
        Fires with C{model}, C{driver_model}, C{manufacturer}, C{serial},
        C{version}, C{battery} (text such as C{"80%"}, or L{None}) and
        C{port}.
        """
        return self._run("info", [], on_start)

    def apply(self, pairs, on_start=None):
        """
        Change several settings, each looked up by name anywhere in the
        camera's tree (C{iso}, or a path such as C{/main/imgsettings/iso});
        one refused does not stop the others.

        @param pairs: C{(name, value)} pairs; values as text (others are
            made text with L{format_value}).
        @return: a L{Deferred} firing with C{{"ok": all succeeded,
            "results": [{"name", "ok", "value" or "error", ...}, ...]}}; it
            fails with L{CameraError} only when the camera itself fails.
        """
        try:
            args = apply_args(pairs)
        except SettingError as e:
            return defer.fail(e)
        if not args:
            return defer.succeed({"ok": True, "results": []})
        return self._run("apply", args, on_start)
