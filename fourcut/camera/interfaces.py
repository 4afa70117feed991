# -*- test-case-name: tests.camera.test_interfaces,tests.camera.test_liveview -*-
"""
The camera side's contracts, as C{zope.interface} interfaces: what the
camera session asks of a driver (L{IDriver}), what a driver's running live
view is (L{ILiveView}), where live view supervision reports the camera's
state (L{ICameraStateSink}) and who hears how long each capture took
(L{ICaptureObserver}).

Two drivers provide L{IDriver}: the C{held} one
(L{fourcut.camera.held.HeldDriver}), one camera session in a worker
process, and the C{cli} one (L{fourcut.camera.cli.CLIDriver}), a gphoto2
child per operation; tests provide fakes of each interface.
"""

from zope.interface import Attribute, Interface

__all__ = ["ICameraStateSink", "ICaptureObserver", "IDriver", "ILiveView"]


class ILiveView(Interface):
    """
    Live view while it runs: the source of a driver's frames, as
    L{IDriver.start_live_view} gives it (a gphoto2 C{--capture-movie}
    child, or live view in the held session).
    """

    pid = Attribute("The PID of the process giving the frames, or None "
                    "before it is known.")
    frames = Attribute("Frames given so far.")
    started = Attribute("A Deferred firing with None at the first frame, "
                        "or with the failure text if live view could not "
                        "start.")
    ended = Attribute("A Deferred firing with (reason, text) once live "
                      "view is over: turned off, failed or its process "
                      "gone.")

    def stop():
        """
        Turn live view off (SIGINT first for a gphoto2 child, so that
        libgphoto2 releases the camera); a Deferred firing once it is.
        """

    def kill(why):
        """
        Live view stalled, for the reason C{why} (text): end it; its end
        counts as a death.
        """


class IDriver(Interface):
    """
    What runs live view, captures and settings for the camera session.
    """

    name = Attribute("The driver's name in the config and on /status: "
                     "'held' or 'cli'.")
    holds_session = Attribute(
        "Whether operations run beside live view, between two of its "
        "frames (True), or need the camera to themselves, live view "
        "stopped for each (False).")
    settings = Attribute(
        "What reads and changes settings: get, set, list, info, resolve, "
        "values and apply, as fourcut.camera.settings.CameraSettings, each "
        "taking on_start (called with a child's transport when one is "
        "started) and returning a Deferred.")

    def start_live_view(on_frame):
        """
        Start live view, C{on_frame(jpeg, timestamp)} called for each
        frame; return its L{ILiveView}. Raises L{OSError} if no process
        can be started for it (no descriptors left for its pipes).
        """

    def capture(settings, deadline, mode=()):
        """
        Take a photo with the C{(name, value)} C{settings} set for it and
        put back after it, the capture C{mode}'s settings applied first
        (their refusal only reported); a Deferred firing with a
        L{fourcut.camera.shots.Shot} within C{deadline} seconds, or failing
        with L{fourcut.errors.CameraError} or
        L{fourcut.errors.SettingError}.
        """

    def delete(location):
        """
        Delete the photo at C{location} from the card, once it is saved;
        a failure is logged, never raised (the photo is safe on disk).
        """

    def release():
        """
        Let the gphoto2 CLI have the camera (call with live view off); a
        Deferred firing once it may.
        """

    def idle():
        """
        Nothing runs any more: the driver may release the camera later.
        """

    def close():
        """
        fourcut is stopping: no more timers (the session ends the
        processes itself).
        """

    def status():
        """
        A dict for C{/status}: at least C{{"driver": name}}.
        """


class ICameraStateSink(Interface):
    """
    Where live view supervision (L{fourcut.camera.liveview}) reports what
    the camera is doing, instead of reaching into the session: the state
    C{/status}, C{/metrics} and every WebSocket client read, and the last
    error.
    """

    state = Attribute("What the camera is doing: idle, previewing, "
                      "capturing, busy, resetting, standby, recovering or "
                      "offline.")
    last_error = Attribute("The last failure's text (stripped), or None "
                           "since the last success.")

    def set_state(state):
        """
        The camera is now in C{state}; listeners hear of a change.
        """

    def failed(text):
        """
        An operation or live view failed, saying C{text}.
        """

    def recovered():
        """
        The camera works again: no last error.
        """


class ICaptureObserver(Interface):
    """
    Hears of every capture the session takes (the booth's, the HTTP
    API's, the WebSocket's), for the metrics.
    """

    def captured(seconds):
        """
        A photo was taken and saved, C{seconds} after it was asked for
        (queueing included).
        """

    def capture_failed(seconds):
        """
        A capture failed (camera trouble, not saved, a bug) after
        C{seconds}.
        """

    def capture_refused(seconds):
        """
        A capture was refused for the client's own mistake
        (L{fourcut.errors.is_client_mistake}: a setting value the camera
        does not take) after C{seconds}: not the operator's concern.
        """
