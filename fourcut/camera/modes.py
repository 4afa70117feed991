# -*- test-case-name: tests.camera.test_state,tests.camera.test_camera_session -*-
"""
The camera's modes: the gphoto2 settings applied when the session enters
live view, takes a photo or rests between guests (C{camera.live_view},
C{camera.capture} and C{camera.standby} in the config, the ISOs
C{camera.preview_iso} and C{camera.capture_iso} with them).

L{CameraModes} says what each mode sets; L{ModeSwitch} applies a mode
through the driver, with the camera's lock held by its caller (the session
for standby, live view supervision for live view). A refused setting is
never fatal: a camera that refuses one still works, and the operator reads
why on C{/status} (L{fourcut.camera.state.CameraState.mode_errors}).
"""

from dataclasses import dataclass

from twisted.internet import defer

__all__ = ["CameraModes", "ModeSwitch"]


@dataclass(frozen=True)
class CameraModes:
    """
    C{(name, value)} gphoto2 settings for each mode.

    @ivar standby_after: seconds without a preview subscriber before the
        C{standby} settings are applied (0: never).
    """

    live_view: tuple = ()
    capture: tuple = ()
    standby: tuple = ()
    standby_after: float = 0

    @classmethod
    def with_iso(cls, live_view=(), capture=(), standby=(), preview_iso=None,
                 capture_iso=None, standby_after=0):
        """
        The modes, C{preview_iso} applied with the C{live_view} settings
        and C{capture_iso} with the C{capture} ones (after them).
        """
        live_view, capture = tuple(live_view), tuple(capture)
        if preview_iso is not None:
            live_view += (("iso", str(preview_iso)),)
        if capture_iso is not None:
            capture += (("iso", str(capture_iso)),)
        return cls(live_view, capture, tuple(standby), standby_after)

    def settings(self, mode):
        """
        The settings of C{mode} (C{"live_view"}, C{"capture"} or
        C{"standby"}).
        """
        return getattr(self, mode)


class ModeSwitch:
    """
    Applies a mode's settings.

    @param driver: the session's L{fourcut.camera.interfaces.IDriver}.
    @param children: the L{fourcut.camera.processes.Children} a settings
        child is tracked in.
    @param modes: the L{CameraModes}.
    @param state: the L{fourcut.camera.state.CameraState} told what the
        camera refused.
    """

    def __init__(self, driver, children, modes, state):
        self._driver = driver
        self._children = children
        self.modes = modes
        self._state = state

    @defer.inlineCallbacks
    def enter(self, mode):
        """
        Apply the settings listed for C{mode}; failures go to the state's
        C{mode_errors}. Call with the camera's lock held.
        """
        pairs = self.modes.settings(mode)
        if not pairs:
            return
        try:
            result = yield self._children.tracked(
                lambda on_start: self._driver.settings.apply(
                    pairs, on_start=on_start))
        except Exception as e:
            failures = [str(e)]
        else:
            failures = ["%s: %s" % (r["name"], r["error"])
                        for r in result["results"] if not r["ok"]]
        self._state.mode_entered(mode, failures)
