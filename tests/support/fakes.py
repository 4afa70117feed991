# -*- test-case-name: tests.web.test_ws -*-
"""
Stand-ins for the camera side, for tests of what sits above it: a camera
session whose answers the test gives or holds back, and the status it
reports through.
"""

from twisted.internet import defer

__all__ = ["FakeSession", "FakeStatus"]


class FakeSession:
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
        self.answers = {"live_view_ready": None, "refresh_info": None}
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
