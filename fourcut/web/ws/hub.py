# -*- test-case-name: tests.web.test_ws,tests.web.test_ws_lazy -*-
"""
The WebSocket side of the service as the rest of it sees it: its settings,
its clients, the camera's state announced to them (C{camera_status}), the
frames sent to them (for C{/metrics}) and the booth's sequences shown on
every screen (L{fourcut.booth.screens} reads L{WebSocketHub.clients}).

No Autobahn here. The hub is made when the site is built; Autobahn's
factory (L{fourcut.web.ws.factory.CameraServerFactory}, made with the
hub) only when the first client asks for C{/ws}
(L{fourcut.web.ws.endpoint}). Autobahn loads the C{cryptography} package,
CBOR and txaio with it, several megabytes resident that a booth whose
screens use only HTTP (C{/preview}, C{/capture}, the REST API) would
carry for nothing (issue 23: the server in 60 MB on a Pi).
"""

from fourcut.stream.broadcast import FrameCounts
from fourcut.stream.scaled import ScaledStreams
from fourcut.web.access import AccessPolicy
from fourcut.web.cors import CORSPolicy
from fourcut.web.limits import UNREAD_TIMEOUT

__all__ = ["AUTH_TIMEOUT", "IDLE_SETTLE", "MAX_UNSENT_BYTES",
           "MESSAGE_TIMEOUT", "PING_INTERVAL", "PING_TIMEOUT",
           "WebSocketHub"]

#: Seconds a client has to authenticate when even live view needs the
#: token (L{fourcut.web.ws.auth}).
AUTH_TIMEOUT = 10.0

#: Bytes a client may leave unread before its requests are no longer read
#: (L{fourcut.web.ws.flowcontrol}).
MAX_UNSENT_BYTES = 1048576

#: Seconds a message may take from its first frame to its last.
MESSAGE_TIMEOUT = 10.0

#: Seconds between Autobahn's keepalive pings, and how long a client has
#: to answer one.
PING_INTERVAL = 10.0
PING_TIMEOUT = 30.0

#: Seconds an C{idle} that was not announced (live view paused while
#: someone watched) may last before it is announced after all.
IDLE_SETTLE = 3.0


class WebSocketHub:
    """
    What every WebSocket client shares, and what the rest of the service
    asks of them; make its L{state_changed} a listener of the session's
    state (L{fourcut.web.site.build} does).

    The settings are read by each client (L{fourcut.web.ws.protocol}) when
    it needs them; C{max_message_bytes}, C{ping_interval} and
    C{ping_timeout} by Autobahn's factory when it is made, at the first
    C{/ws} request.

    @ivar clients: the open connections
        (L{fourcut.web.ws.protocol.CameraServerProtocol}s).
    @ivar frame_counts: the live view frames sent to them and skipped
        (L{fourcut.stream.broadcast.FrameCounts}, for C{/metrics}).
    @ivar access: the L{AccessPolicy}.
    @ivar cors: the L{CORSPolicy}: which other sites' pages may connect.
    @ivar auth_timeout: seconds a client has to authenticate (or, with
        public live view, to start watching).
    @ivar max_unsent_bytes: bytes a client may leave unread before its
        requests are no longer read.
    @ivar trimmer: a L{fourcut.memory.Trimmer} told when such a client
        has gone, or L{None}.
    @ivar scaled: the L{ScaledStreams} (C{start_preview} with C{width}).
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
    @ivar ping_interval: seconds between keepalive pings.
    @ivar ping_timeout: seconds a client has to answer one.
    """

    def __init__(self, session, broadcaster, status, clock,
                 max_clients=100, max_message_bytes=65536,
                 commands_per_second=20.0, access=None,
                 auth_timeout=AUTH_TIMEOUT,
                 max_unsent_bytes=MAX_UNSENT_BYTES, trimmer=None,
                 cors=None, scaled=None, pacing=True, booth=None,
                 guesses=None, unread_timeout=UNREAD_TIMEOUT,
                 message_timeout=MESSAGE_TIMEOUT,
                 ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT):
        self.session = session
        self.broadcaster = broadcaster
        self.status = status
        self.clock = clock
        self.max_clients = max_clients
        self.max_message_bytes = max_message_bytes
        self.commands_per_second = commands_per_second
        self.access = access if access is not None else AccessPolicy()
        self.cors = cors if cors is not None else CORSPolicy()
        self.auth_timeout = auth_timeout
        self.max_unsent_bytes = max_unsent_bytes
        self.trimmer = trimmer
        self.scaled = (scaled if scaled is not None
                       else ScaledStreams(clock, broadcaster, max_sizes=0))
        self.pacing = pacing
        self.booth = booth
        self.guesses = guesses
        self.unread_timeout = unread_timeout
        self.message_timeout = message_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.clients = set()
        self.frame_counts = FrameCounts()
        self.announced = session.state
        self._settle = None

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

    def state_changed(self, state, error):
        """
        Tell every client that may watch live view the camera's new state
        (C{camera_status}), if it is one a client can act on (see
        L{announced_state}) and not the one last announced.

        Followed from the start, with or without clients: the first
        client hears only of changes after it connected, as it would
        have had it come later.
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
