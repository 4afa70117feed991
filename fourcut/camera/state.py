# -*- test-case-name: tests.camera.test_state,tests.camera.test_camera_session -*-
"""
What the camera is doing, told to whoever listens.

L{CameraState} is the camera session's state sink
(L{fourcut.camera.interfaces.ICameraStateSink}): the session and its live
view supervision (L{fourcut.camera.liveview}) report into it, and the
WebSocket side subscribes to it so that every client hears each change at
once (C{camera_state}), rather than polling C{/status}.
"""

from twisted.logger import Logger
from zope.interface import implementer

from fourcut.camera.interfaces import ICameraStateSink

__all__ = ["CameraState"]


@implementer(ICameraStateSink)
class CameraState:
    """
    @ivar state: what the camera is doing (see
        L{fourcut.camera.session.CameraSession.state}); C{idle} at first.
    @ivar last_error: the last failure's text, or L{None}.
    @ivar mode_errors: C{{mode: [text, ...]}}, the settings of each mode
        (C{live_view}, C{capture}, C{standby}) the camera refused the last
        time that mode was entered; a mode that went through is absent.
    """

    log = Logger()

    def __init__(self):
        self.state = "idle"
        self.last_error = None
        self.mode_errors = {}
        self._listeners = []

    def subscribe(self, listener):
        """
        Call C{listener(state, last_error)} at every change of state from
        now on; returns a callable that unsubscribes it. A listener that
        raises is logged and kept.
        """
        self._listeners.append(listener)

        def unsubscribe():
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def set_state(self, state):
        if state == self.state:
            return
        self.state = state
        for listener in list(self._listeners):
            try:
                listener(state, self.last_error)
            except Exception:
                self.log.failure("state listener {listener!r} failed",
                                 listener=listener)

    def failed(self, text):
        self.last_error = text.strip()

    def recovered(self):
        self.last_error = None

    def mode_entered(self, mode, failures):
        """
        The settings of C{mode} were applied, the camera refusing those
        C{failures} (text): kept for C{/status} and logged, or forgotten
        when there are none.
        """
        if failures:
            self.mode_errors[mode] = list(failures)
            self.log.warn("{mode} settings failed: {failures}", mode=mode,
                          failures="; ".join(failures))
        else:
            self.mode_errors.pop(mode, None)
