# -*- test-case-name: tests.integration.test_ws -*-
"""
The WebSocket side of the service: its clients, the camera's state
announced to them (C{camera_status}), and live view frames encoded once for
all of them (L{CameraServerFactory.encode_frame}).
"""

import base64
import json
from datetime import datetime, timezone

from autobahn.twisted.websocket import WebSocketServerFactory

from fourcut.stream.broadcast import EncodedFrames, FrameCounts
from fourcut.stream.scaled import PerSource, ScaledStreams
from fourcut.web.access import AccessPolicy
from fourcut.web.cors import CORSPolicy
from fourcut.web.ws.auth import AUTH_TIMEOUT
from fourcut.web.limits import UNREAD_TIMEOUT
from fourcut.web.ws.flowcontrol import MAX_UNSENT_BYTES, MESSAGE_TIMEOUT
from fourcut.web.ws.protocol import CameraServerProtocol

__all__ = ["CameraServerFactory", "iso_time"]

#: A message over this many times C{max_message_bytes} closes the
#: connection (Autobahn stops reading it); under it, an C{error} reply.
HARD_LIMIT_FACTOR = 4

#: Seconds an C{idle} that was not announced (live view paused while
#: someone watched) may last before it is announced after all.
IDLE_SETTLE = 3.0


def iso_time(seconds):
    """
    Wall-clock seconds as an ISO 8601 UTC timestamp, as the seed sends.
    """
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


class CameraServerFactory(WebSocketServerFactory):
    """
    The WebSocket side of the service; mount it with
    C{autobahn.twisted.resource.WebSocketResource}, and make its
    L{state_changed} a listener of the session's state
    (L{fourcut.web.site.build} does both).

    @ivar clients: the open connections.
    @ivar access: the L{AccessPolicy}.
    @ivar cors: the L{CORSPolicy}: which other sites' pages may connect.
    @ivar auth_timeout: seconds a client has to authenticate (or, with
        public live view, to start watching).
    @ivar max_unsent_bytes: bytes a client may leave unread before its
        requests are no longer read.
    @ivar trimmer: a L{fourcut.memory.Trimmer} told when such a client
        has gone, or L{None}.
    @ivar booth: the L{fourcut.booth.service.Booth} that runs
        C{capture_sequence}, or L{None}.
    @ivar pacing: whether each client's frames are paced by what its
        connection has delivered (L{fourcut.stream.pacing}).
    @ivar guesses: the L{fourcut.web.guesses.GuessThrottle} that delays
        a handshake's wrong token, or L{None}.
    @ivar unread_timeout: seconds a client may leave answers unread
        (its requests not read) before it is dropped.
    @ivar message_timeout: seconds a message may take from its first
        frame to its last.
    """

    protocol = CameraServerProtocol

    def __init__(self, session, broadcaster, status, clock,
                 max_clients=100, max_message_bytes=65536,
                 commands_per_second=20.0, access=None,
                 auth_timeout=AUTH_TIMEOUT,
                 max_unsent_bytes=MAX_UNSENT_BYTES, trimmer=None,
                 cors=None, scaled=None, pacing=True, booth=None,
                 guesses=None, unread_timeout=UNREAD_TIMEOUT,
                 message_timeout=MESSAGE_TIMEOUT):
        #: The L{fourcut.booth.service.Booth} whose sequences
        #: C{capture_sequence} runs, or L{None}.
        self.booth = booth
        self.guesses = guesses
        self.unread_timeout = unread_timeout
        self.message_timeout = message_timeout
        WebSocketServerFactory.__init__(self, server="fourcut")
        self.access = access if access is not None else AccessPolicy()
        self.cors = cors if cors is not None else CORSPolicy()
        self.auth_timeout = auth_timeout
        self.pacing = pacing
        self.max_unsent_bytes = max_unsent_bytes
        self.trimmer = trimmer
        self.session = session
        self.broadcaster = broadcaster
        self.status = status
        self.clock = clock
        self.max_clients = max_clients
        self.max_message_bytes = max_message_bytes
        self.commands_per_second = commands_per_second
        self.clients = set()
        self.frame_counts = FrameCounts()
        self.announced = session.state
        self._settle = None
        self.encoder = EncodedFrames(self.encode_frame)
        #: The downscaled streams (C{start_preview} with C{width}).
        self.scaled = (scaled if scaled is not None
                       else ScaledStreams(clock, broadcaster, max_sizes=0))
        # One cache per size: a size's frames have the camera's numbers.
        self.encoders = PerSource(lambda: EncodedFrames(self.encode_frame),
                                  broadcaster, self.encoder)
        hard = max_message_bytes * HARD_LIMIT_FACTOR
        self.setProtocolOptions(maxMessagePayloadSize=hard,
                                maxFramePayloadSize=hard,
                                autoPingInterval=10, autoPingTimeout=30,
                                # Only a pong answers a ping: a client
                                # that sends but never reads is dropped.
                                autoPingRestartOnAnyTraffic=False,
                                failByDrop=False,
                                # The Origin is checked by the protocol
                                # against server.cors_origins: Autobahn
                                # took every origin but "null".
                                allowedOrigins=["*"], allowNullOrigin=True)

    def stop(self):
        """
        Forget a pending announcement (the service is stopping).
        """
        if self._settle is not None and self._settle.active():
            self._settle.cancel()
        self._settle = None

    def client_count(self):
        """
        How many WebSocket connections are open (for C{/status}).
        """
        return len(self.clients)

    def authenticated_clients(self):
        """
        How many open connections have proved the token (all of them, with
        no token configured): what C{max_clients} bounds.
        """
        return sum(1 for client in self.clients if client.authenticated)

    def encode_frame(self, frame, format):
        """
        One frame as a prepared WebSocket message: the raw JPEG as a
        binary message, or the seed's C{preview_frame} JSON with the JPEG
        in base64. Framed once here, sent as is to every client.
        """
        if format == "binary":
            payload, binary = frame.data, True
        else:
            payload = json.dumps({
                "type": "preview_frame",
                "data": base64.b64encode(frame.data).decode("ascii"),
                "timestamp": iso_time(frame.timestamp),
                "frame_number": frame.number,
            }).encode("utf-8")
            binary = False
        return self.prepareMessage(payload, isBinary=binary,
                                   doNotCompress=True)

    def state_changed(self, state, error):
        """
        Tell every client that may watch live view the camera's new state
        (C{camera_status}), if it is one a client can act on (see
        L{announced_state}) and not the one last announced.
        """
        if self._settle is not None and self._settle.active():
            self._settle.cancel()
        self._settle = None
        shown = self.announced_state(state)
        if shown is None:
            if state == "idle":
                # Announced after all if it lasts: everybody left while
                # live view was paused, and it does not come back.
                self._settle = self.clock.callLater(
                    IDLE_SETTLE, self._settled)
            return
        self._announce(shown, error)

    def _settled(self):
        self._settle = None
        state = self.session.state
        if state == "idle":
            self._announce(state, self.session.last_error)

    def _announce(self, state, error):
        if state == self.announced:
            return
        self.announced = state
        message = {"type": "camera_status", "state": state, "error": error}
        for client in list(self.clients):
            if client.may_watch:
                client.send_status(message)

    def announced_state(self, state):
        """
        The state C{camera_status} announces for the session's C{state},
        or L{None} for one no client can act on: C{busy} (a setting or a
        command: other requests queue meanwhile, and live view comes back
        by itself), and C{idle} while anyone watches live view (it is only
        paused for an operation, or restarting).
        """
        if state == "busy":
            return None
        if state == "idle" and self.broadcaster.demand > 0:
            return None
        return state
