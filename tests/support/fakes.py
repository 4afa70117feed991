# -*- test-case-name: tests.web.test_ws -*-
"""
Stand-ins for the camera side, for tests of what sits above it: a camera
session that acts as the camera would (L{FakeSession}: real JPEGs saved
through a real photo store, gphoto2's own texts when it fails), one whose
answers the test gives or holds back (L{ScriptedSession}), and what the
status reads beside them.
"""

import io

from PIL import Image
from twisted.internet import defer

from fourcut import policy
from fourcut.camera.commands import NO_CAMERA
from fourcut.errors import CameraError, SettingError, classify

__all__ = ["BAD_PARAMETERS", "FakeDriver", "FakeGPhoto2", "FakeSession",
           "FakeStatus", "GPHOTO2_VERSION", "ISO_CONFIG", "NO_CAMERA_TEXT",
           "NO_FOCUS", "ScriptedSession", "small_jpeg"]


class ScriptedSession:
    """
    The camera session as the web side uses it
    (L{fourcut.camera.session.CameraSession}): every request is recorded in
    L{calls} and answered from L{answers}.

    @ivar answers: request name (C{"capture"}, C{"get_setting"}, ...) to
        its answer: a value, an exception to fail with, or a callable
        taking the request's arguments and returning either. A request
        with no answer waits: its Deferred is appended to L{waiting} under
        its name, for the test to fire.
    @ivar calls: C{(name, args)} of every request, in order.
    @ivar state: the session's state, as C{camera_status} reports it.
    """

    def __init__(self, state="idle", **answers):
        self.state = state
        self.last_error = None
        self.calls = []
        self.waiting = {}
        self.answers = {"live_view_ready": None, "refresh_info": None,
                        "first_info": None}
        self.answers.update(answers)

    def _answer(self, name, *args):
        self.calls.append((name, args))
        if name not in self.answers:
            d = defer.Deferred()
            self.waiting.setdefault(name, []).append(d)
            return d
        answer = self.answers[name]
        if callable(answer):
            answer = answer(*args)
        if isinstance(answer, Exception):
            return defer.fail(answer)
        return defer.succeed(answer)

    def called(self, name):
        """
        The arguments of every request C{name}, in order.
        """
        return [args for called, args in self.calls if called == name]

    def live_view_ready(self):
        return self._answer("live_view_ready")

    def capture(self, settings=(), name=None):
        return self._answer("capture", settings, name)

    def refresh_info(self, max_age=None):
        return self._answer("refresh_info")

    def first_info(self):
        return self._answer("first_info")

    def get_setting(self, section, option):
        return self._answer("get_setting", section, option)

    def set_setting(self, section, option, value):
        return self._answer("set_setting", section, option, value)


class FakeStatus:
    """
    L{fourcut.status.Status} as the WebSocket side reads it: the
    C{camera_info} of a L{FakeSession}.
    """

    def __init__(self, session, model="Fake Camera"):
        self.session = session
        self.model = model

    def camera_info(self):
        return {"model": self.model, "state": self.session.state,
                "preview_supported": True,
                "last_error": self.session.last_error}


#: What the gphoto2 CLI (libgphoto2 2.5.30) writes to stderr when no
#: camera answers (unplugged, or none there): the texts the integration
#: tests see through the whole chain.
NO_CAMERA_TEXT = (
    "\n*** Error ***              \nAn error occurred in the io-library "
    "('Could not detect any camera'): Could not detect any camera\n"
    "*** Error (-105: 'Unknown model') ***       \n")

#: What a Canon EOS's driver says to C{--get-config=nosuch} or
#: C{--set-config-index=iso=999}.
BAD_PARAMETERS = "*** Error (-2: 'Bad parameters') ***       \n"

#: What gphoto2 says of an EOS that could not focus.
NO_FOCUS = "\n*** Error ***              \nPerhaps no focus?\n"

#: The first lines of C{gphoto2 --version}.
GPHOTO2_VERSION = (b"gphoto2         2.5.30\n\nCopyright (c) 2000-2023 "
                   b"Marcus Meissner and others\n")

#: C{gphoto2 --get-config=iso} on the virtual 700D.
ISO_CONFIG = (b"Label: ISO Speed\nReadonly: 0\nType: RADIO\nCurrent: 100\n"
              b"Choice: 0 Auto\nChoice: 1 100\nChoice: 2 200\nEND\n")


def small_jpeg(size=(96, 64), colour=(200, 120, 40)):
    """
    A real JPEG of C{size}, for live view frames and captures.
    """
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=80)
    return out.getvalue()


class FakeDriver:
    """
    The held driver as C{/status} shows it.
    """

    name = "held"
    holds_session = True

    def status(self):
        return {"driver": self.name, "worker_pid": None,
                "workers_started": 0, "released": True}


class FakeGPhoto2:
    """
    What the status reads of L{fourcut.camera.gphoto2.GPhoto2}.
    """

    model = None
    port = None
    resettable = True


class FakeSession:
    """
    The camera session's public side, as the web layer uses it, with no
    camera: every call is recorded in L{calls}, and answers as
    L{fourcut.camera.session.CameraSession} would. A capture is a real
    small JPEG saved through a real L{PhotoStore}; with the camera
    unplugged (L{unplug}) or a fault set (L{fail_next}) operations fail
    with L{CameraError} and gphoto2's own texts.

    @ivar calls: C{(method name, arguments)} of every call.
    @ivar live: whether live view is wanted (the broadcaster's demand).
    """

    #: Its info once asked, as the virtual 700D on USB answers.
    INFO = {"model": "Canon EOS 700D", "manufacturer": "Canon Inc.",
            "battery": "100%", "port": "usb:001,007"}

    def __init__(self, photos, clock):
        self.photos = photos
        self.clock = clock
        self.gphoto2 = FakeGPhoto2()
        self.driver = FakeDriver()
        self.state_listeners = []
        self.info = {"model": None, "manufacturer": None, "battery": None,
                     "port": None}
        self.state = "idle"
        self.last_error = None
        self.captures = 0
        self.failures = 0
        self.restarts = 0
        self.mode_errors = {}
        self.children = {}
        self.camera_in_use = False
        self.live_since = 0.0
        self.demand = 0
        self.calls = []
        self.plugged = True
        self._faults = {}

    # Test controls -------------------------------------------------------

    def unplug(self):
        """
        The camera is gone: every operation fails with gphoto2's text for
        no camera (503 for an operation, 504 where none is found).
        """
        self.plugged = False

    def replug(self):
        self.plugged = True

    def fail_next(self, method, error):
        """
        The next call of C{method} fails with C{error}.
        """
        self._faults[method] = error

    def set_state(self, state, last_error=None):
        """
        The camera is now in C{state}, as the session would tell its
        listeners.
        """
        self.state = state
        if last_error is not None:
            self.last_error = last_error
        for listener in list(self.state_listeners):
            listener(state, self.last_error)

    def subscribe(self, listener):
        """
        As L{fourcut.camera.session.CameraSession.subscribe}: C{listener}
        is told of every state; the callable returned ends that.
        """
        self.state_listeners.append(listener)
        return lambda: self.state_listeners.remove(listener)

    def _fault(self, method, status=503):
        error = self._faults.pop(method, None)
        if error is not None:
            return error
        if not self.plugged:
            return CameraError(classify(NO_CAMERA_TEXT, status),
                               NO_CAMERA_TEXT)
        return None

    def _call(self, method, *args):
        self.calls.append((method, args))

    # What the web layer calls --------------------------------------------

    def demand_changed(self, count):
        self._call("demand_changed", count)
        self.demand = count
        if count == 0 and self.state == "previewing":
            self.set_state("idle")

    def live_view_ready(self):
        self._call("live_view_ready")
        error = self._fault("live_view_ready", 504)
        if error is not None:
            return defer.fail(error)
        if self.state == "idle":
            self.live_since = self.clock.seconds()
            self.set_state("previewing")
        return defer.succeed(None)

    def capture(self, settings=(), name=None):
        self._call("capture", settings, name)
        for setting, _ in settings:
            refused = policy.name_refusal(setting)
            if refused is not None:
                return defer.fail(SettingError(
                    refused, {"reason": "not-allowed"}))
        error = self._fault("capture", 503)
        if error is not None:
            if isinstance(error, CameraError):
                self.last_error = error.text.strip()
            return defer.fail(error)
        data = small_jpeg((300, 200))
        try:
            name, path = self.photos.save(data, name)
        except (OSError, ValueError):
            return defer.fail()
        self.captures += 1
        return defer.succeed((name, path, data))

    def command(self, args):
        self._call("command", args)
        error = self._fault("command", 503)
        if error is not None:
            return defer.fail(error)
        if list(args) == ["--version"]:
            return defer.succeed(GPHOTO2_VERSION)
        if not self.plugged and list(args)[0] not in NO_CAMERA:
            return defer.fail(CameraError(503, NO_CAMERA_TEXT))
        if list(args) == ["--get-config=iso"]:
            return defer.succeed(ISO_CONFIG)
        if any(arg.startswith("--get-config=") for arg in args):
            return defer.fail(CameraError(503, BAD_PARAMETERS))
        return defer.succeed(b"")

    def reset(self):
        self._call("reset")
        error = self._fault("reset")
        if error is not None:
            return defer.fail(error)
        self.last_error = None
        return defer.succeed(None)

    def restart(self):
        self._call("restart")
        error = self._fault("restart")
        if error is not None:
            return defer.fail(error)
        self.last_error = None
        return defer.succeed(None)

    def refresh_info(self, max_age=None):
        self._call("refresh_info", max_age)
        error = self._fault("refresh_info", 504)
        if error is not None:
            return defer.fail(error)
        self.info.update(self.INFO)
        return defer.succeed(self.info)

    def first_info(self):
        """
        As the session's: the info once asked, what is known if the
        camera cannot answer; never fails.
        """
        self._call("first_info")
        if self._fault("first_info", 504) is None:
            self.info.update(self.INFO)
        return defer.succeed(self.info)

    def get_setting(self, section, option):
        self._call("get_setting", section, option)
        error = self._fault("get_setting")
        if error is not None:
            return defer.fail(error)
        return defer.succeed({"value": "100", "type": "radio",
                              "choices": ["Auto", "100", "200"]})

    def set_setting(self, section, option, value):
        self._call("set_setting", section, option, value)
        error = self._fault("set_setting")
        if error is not None:
            return defer.fail(error)
        return defer.succeed({"value": str(value)})

    def called(self, method):
        """
        The arguments of every call of C{method}.
        """
        return [args for name, args in self.calls if name == method]
