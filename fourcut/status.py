# -*- test-case-name: tests.integration.test_rest -*-
"""
What the service says about itself and its camera: one source for
C{GET /status}, C{GET /camera/info}, C{GET /health} and the WebSocket
C{camera_info} and C{camera_status} messages, so they never disagree.
"""

import time

from twisted.internet import defer

from fourcut import __version__

__all__ = ["CameraSummary", "ServiceStatus"]


class CameraSummary:
    """
    What the service says about its camera (the C{data} of a
    C{camera_info} message), read from the camera session alone: the
    WebSocket side is given this, and L{ServiceStatus} reads the clients
    of the WebSocket side, so neither waits for the other to be built.

    @param session: the L{fourcut.camera.session.CameraSession}.
    """

    def __init__(self, session):
        self.session = session

    def camera_info(self):
        """
        The C{data} of a C{camera_info} message.
        """
        session = self.session
        return {
            "model": session.info.get("model") or session.gphoto2.model,
            "manufacturer": session.info.get("manufacturer"),
            "port": session.info.get("port") or session.gphoto2.port,
            "state": session.state,
            "preview_supported": True,
            "battery": session.info.get("battery"),
            "last_error": session.last_error,
            "version": __version__,
        }


class ServiceStatus:
    """
    @param session: the L{fourcut.camera.session.CameraSession}.
    @param broadcaster: the L{fourcut.stream.broadcast.Broadcaster}.
    @param clock: an L{IReactorTime}, for uptime and frame ages.
    @param camera: the L{CameraSummary} of C{session}.
    @param websockets: a callable giving the number of WebSocket clients,
        for C{/status}.
    @param sizes: a callable giving the downscaled sizes served
        (L{fourcut.stream.scaled.ScaledStreams.describe}), for C{/status}.
    @param live_clients: a callable giving, for each client watching live
        view (HTTP and WebSocket), a dict of its figures
        (L{fourcut.stream.broadcast.LatestFrameProducer.figures} and who
        it is), for C{/status}.
    @param stall_timeout: seconds without a frame after which running live
        view counts as unhealthy.
    @param probe_interval: seconds a health probe of an idle camera is
        reused for, so that a monitor polling C{/health} does not keep the
        camera busy.
    @param blocks: more C{(name, callable)} pairs: C{/status} shows what
        each callable gives under its name (printing's C{printer}).
    """

    def __init__(self, session, broadcaster, clock, camera,
                 websockets=lambda: 0, sizes=lambda: [],
                 live_clients=lambda: [], stall_timeout=5.0,
                 probe_interval=5.0, wall_clock=None, blocks=()):
        self.session = session
        self.broadcaster = broadcaster
        self.clock = clock
        self.camera = camera
        self.wall_clock = wall_clock or time.time
        self.stall_timeout = stall_timeout
        self.probe_interval = probe_interval
        self.started = clock.seconds()
        self.websockets = websockets
        self.sizes = sizes
        self.live_clients = live_clients
        self._probe = None          # (when, error text or None)
        self.blocks = tuple(blocks)

    def camera_info(self):
        """
        The C{data} of a C{camera_info} message (L{CameraSummary}).
        """
        return self.camera.camera_info()

    def status(self):
        """
        The body of C{GET /status}.
        """
        latest = self.broadcaster.latest
        sizes = self.sizes()
        answer = {
            "service": "fourcut",
            "version": __version__,
            "uptime": round(self.clock.seconds() - self.started, 3),
            "camera": self.camera_info(),
            "preview": {
                # A downscaled size is one subscriber of the camera's
                # broadcaster however many clients it has: count them.
                "subscribers": self.broadcaster.demand + sum(
                    size["subscribers"] - 1 for size in sizes
                    if size["subscribers"]),
                "sizes": sizes,
                "websocket_clients": self.websockets(),
                "frames": latest.number if latest is not None else 0,
                "last_frame_age": (
                    round(self.wall_clock() - latest.timestamp, 3)
                    if latest is not None else None),
                "clients": self.live_clients(),
            },
            "live_view": {
                "failures_in_a_row": self.session.failures,
                "restarts": self.session.restarts,
            },
            "captures": self.session.captures,
            "mode_errors": dict(self.session.mode_errors),
            "driver": self.session.driver.status(),
        }
        for name, block in self.blocks:
            answer[name] = block()
        return answer

    @defer.inlineCallbacks
    def health(self):
        """
        Whether the camera answers: fires with C{(True, details)} or
        C{(False, reason)}.

        Live view that delivers frames, or an operation in progress, is
        proof enough. An idle camera is asked for its info (at most once
        per C{probe_interval}); this waits for a running operation
        rather than interrupting it, and never interrupts live view.
        """
        session = self.session
        state = session.state
        if state == "previewing":
            latest = self.broadcaster.latest
            age = (self.wall_clock() - latest.timestamp
                   if latest is not None else None)
            if age is not None and age < self.stall_timeout:
                return True, {"state": state, "last_frame_age": round(age, 3)}
            if age is None and session.last_error is None:
                return True, {"state": state, "last_frame_age": None}
            return False, ("live view has sent no frame for %.1f s"
                           % (age if age is not None else 0.0))
        if state in ("capturing", "busy", "resetting"):
            return True, {"state": state}
        if state == "recovering" or (state == "offline"
                                     and session.camera_in_use):
            return False, session.last_error or "live view is restarting"
        now = self.clock.seconds()
        if self._probe is None or now - self._probe[0] >= self.probe_interval:
            try:
                yield session.refresh_info(max_age=0)
            except Exception as e:
                text = getattr(e, "text", None) or str(e)
                self._probe = (now, text.strip() or type(e).__name__)
            else:
                self._probe = (now, None)
        error = self._probe[1]
        if error is not None:
            return False, error
        return True, {"state": session.state}
