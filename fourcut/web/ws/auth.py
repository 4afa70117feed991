# -*- test-case-name: tests.integration.test_access -*-
"""
Who may use C{/ws}, and what a client may ask before it has proved the
access token: the part of L{fourcut.web.ws.protocol.CameraServerProtocol}
that checks the handshake's origin (L{fourcut.web.cors}) and token,
answers C{auth} messages, and closes a client that does not authenticate
in time. What a client sees of it is in the protocol's docstring.

Only authenticated clients count against C{max_clients}: the others are
kept few by L{fourcut.web.limits.ConnectionLimits}, whose connection is
told when its client proves the token (C{trust}).

A browser page's C{Origin} must be the server's own or listed in
C{server.cors_origins}. With a token configured, "the server's own" is
the C{Host} the page reached (the token protects the rest). With none,
the C{Host} header proves nothing: a page on C{http://evil.example} whose
name the attacker re-points at the booth's address (DNS rebinding) sends
C{Host: evil.example} and C{Origin: http://evil.example}, which agree.
So with no token the origin must name the address the connection came in
on (the server's listening address; C{localhost} for loopback), and any
other name must be listed. The fix for a booth reached by a name is to
set a token.

A wrong token in the handshake or in an C{auth} message is refused (401)
after the delay of L{fourcut.web.guesses.GuessThrottle}, as over HTTP. An C{Origin} is
logged and answered masked like the access log masks a header.
"""

import ipaddress

from autobahn.websocket.types import ConnectionDeny
from twisted.internet.interfaces import ISSLTransport
from twisted.logger import Logger

from fourcut.config import normalise_origin
from fourcut.web.access import shown_header
from fourcut.web.cors import same_origin

__all__ = ["AuthenticationMixin", "MAX_AUTH_FAILURES",
           "PREVIEW_TYPES", "handshake_token", "own_origins"]

log = Logger()

#: Requests that are live view: allowed without the token when
#: C{preview.public} is true. Every other type needs it.
PREVIEW_TYPES = frozenset(["start_preview", "stop_preview"])

#: Wrong tokens in C{auth} messages before the connection is closed.
MAX_AUTH_FAILURES = 3

#: Close codes (IANA's WebSocket registry): too many wrong tokens, and no
#: authentication in time; RFC 6455's "try again later" (no slot for one
#: more authenticated client).
CLOSE_UNAUTHORIZED = 3000
CLOSE_TIMEOUT = 3008
CLOSE_TRY_AGAIN = 1013


def handshake_token(request):
    """
    The token a WebSocket handshake C{request} (Autobahn's
    C{ConnectionRequest}) presents: its last C{token} query parameter, or
    its C{Authorization: Bearer} header; L{None} if neither.
    """
    values = request.params.get("token")
    if values and values[-1]:
        return values[-1]
    scheme, _, value = (request.headers.get("authorization") or
                        "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def own_origins(address, secure):
    """
    The origins a page fourcut served over a connection that came in on
    C{address} (the server's end, an L{IPv4Address} or L{IPv6Address})
    has: the address and port, and C{localhost} with the port on
    loopback.
    """
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if host is None or port is None:
        return frozenset()
    scheme = "https" if secure else "http"
    # A connection's own end is an IP address (with its zone, for a
    # link-local IPv6 one, which ipaddress reads too).
    ip = ipaddress.ip_address(host)
    hosts = ["[%s]" % host] if ip.version == 6 else [host]
    if ip.is_loopback:
        hosts.append("localhost")
    origins = set()
    for name in hosts:
        try:
            origins.add(normalise_origin("%s://%s:%d" % (scheme, name, port)))
        except ValueError:
            pass
    return frozenset(origins)


class AuthenticationMixin:
    """
    Access for L{fourcut.web.ws.protocol.CameraServerProtocol}: the
    handshake's origin and token, the C{auth} message, what a client that
    has not authenticated may ask, and its deadline (see the module
    docstring). It reads the hub's C{access}, C{cors}, C{max_clients},
    C{auth_timeout} and C{clock}, and answers through the protocol's
    C{_reply}, C{_error} and C{_close}.

    @ivar authenticated: the client proved the token (or none is needed).
    @ivar auth_failures: wrong tokens sent in C{auth} messages so far.
    """

    authenticated = False
    auth_failures = 0
    _auth_timer = None

    def onConnect(self, request):
        hub = self.hub
        self._check_origin(request)
        access = hub.access
        supplied = handshake_token(request)
        if not access.required:
            self.authenticated = True
        elif supplied is not None:
            if not access.check(supplied):
                return self._wrong_handshake_token(request)
            self.authenticated = True
        if (self.authenticated and
                hub.authenticated_clients() >= hub.max_clients):
            log.warn("refused a WebSocket client from {peer}: "
                     "{n} connected already", peer=request.peer,
                     n=hub.authenticated_clients())
            raise ConnectionDeny(503, "too many WebSocket clients (the "
                                      "limit is %d)" % hub.max_clients)
        return None

    def _wrong_handshake_token(self, request):
        def refuse(_=None):
            raise ConnectionDeny(401, "the token is wrong")
        guesses = self.hub.guesses
        if guesses is None:
            log.warn("refused a WebSocket client from {peer}: wrong "
                     "token", peer=request.peer)
            refuse()
        host = getattr(self.transport.getPeer(), "host", None)
        return guesses.wait(host, "WebSocket").addCallback(refuse)

    def _check_origin(self, request):
        """
        Refuse a handshake from another site's page, unless
        C{server.cors_origins} lists it (L{fourcut.web.cors}): a client
        without an C{Origin} is no browser, and a page fourcut served
        itself is of the same origin (with no token, of the address the
        connection came in on: see the module docstring).
        """
        origin = request.headers.get("origin")
        if not origin:
            return
        hub = self.hub
        secure = ISSLTransport.providedBy(self.transport)
        if hub.cors.allows(origin):
            return
        if hub.access.required:
            if same_origin(origin, request.headers.get("host"), secure):
                return
        else:
            try:
                normalised = normalise_origin(origin.strip())
            except ValueError:
                normalised = None
            if normalised in own_origins(self.transport.getHost(), secure):
                return
        # (The refusal itself shows at most 100 characters of it.)
        refusal = hub.cors.refusal(shown_header(origin, hub.access))
        log.warn("refused a WebSocket client from {peer}: {refusal}",
                 peer=request.peer, refusal=refusal)
        raise ConnectionDeny(403, refusal)

    def may(self, kind):
        """
        Whether this client may make a request of type C{kind} now.
        """
        return self.authenticated or (
            kind in PREVIEW_TYPES and self.hub.access.preview_public)

    @property
    def may_watch(self):
        """
        Whether this client may watch live view (and so hear about the
        camera's state).
        """
        return self.may("start_preview")

    def _authenticate(self, message, request_id):
        access = self.hub.access
        token = message.get("token")
        if not isinstance(token, str):
            token = None
        if access.check(token):
            hub = self.hub
            if hub.authenticated_clients() >= hub.max_clients:
                log.warn("WebSocket client {peer}: authenticated, but {n} "
                         "clients are already", peer=self.peer,
                         n=hub.authenticated_clients())
                self._error(request_id, "too many WebSocket clients (the "
                            "limit is %d)" % hub.max_clients, code=503)
                self._stop_preview()
                self._close(CLOSE_TRY_AGAIN, "too many clients")
                return
            self.authenticated = True
            self._cancel_auth_timer()
            if self.connection is not None:
                self.connection.trust()
            self._reply(request_id, {"type": "authenticated"})
            self.send_camera_info()
            return
        self.auth_failures += 1
        guesses = self.hub.guesses
        if token and guesses is not None:
            # The answer waits, as over HTTP; the throttle logs the burst.
            host = getattr(self.transport.getPeer(), "host", None)
            failures = self.auth_failures
            guesses.wait(host, "WebSocket").addCallback(
                lambda _: self._refuse_token(request_id, token, failures))
            return
        log.warn("WebSocket client {peer}: {what} ({n} of {limit})",
                 peer=self.peer, n=self.auth_failures,
                 what="wrong token" if token else "no token",
                 limit=MAX_AUTH_FAILURES)
        self._refuse_token(request_id, token, self.auth_failures)

    def _refuse_token(self, request_id, token, failures):
        if self.state != self.STATE_OPEN:
            return
        self._error(request_id, "the token is wrong" if token else
                    "'token' must be a non-empty string", code=401)
        if failures >= MAX_AUTH_FAILURES:
            self._stop_preview()
            self.sendClose(CLOSE_UNAUTHORIZED,
                           "too many failed authentication attempts")

    def _start_auth_timer(self):
        """
        Give a client that has not authenticated C{auth_timeout} seconds
        to do so or (if live view is public) to start watching.
        """
        self._cancel_auth_timer()
        if self.state == self.STATE_OPEN and not self.authenticated:
            self._auth_timer = self.hub.clock.callLater(
                self.hub.auth_timeout, self._auth_timed_out)

    def _auth_timed_out(self):
        self._auth_timer = None
        if (not self.authenticated and self.preview_format is None
                and self.state == self.STATE_OPEN):
            log.info("WebSocket client {peer}: no authentication within "
                     "{timeout} s", peer=self.peer,
                     timeout=self.hub.auth_timeout)
            self.sendClose(CLOSE_TIMEOUT, "authentication timeout")

    def _cancel_auth_timer(self):
        if self._auth_timer is not None and self._auth_timer.active():
            self._auth_timer.cancel()
        self._auth_timer = None
