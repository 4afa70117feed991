# -*- test-case-name: tests.integration.test_ws -*-
"""
The WebSocket control protocol of seed 001, at C{/ws} of the web site.

Every client shares the one camera session and the one live view stream
with the HTTP API. A client that sends C{start_preview} gets frames through
its own L{LatestFrameProducer}, registered on its transport: a slow client
skips frames and costs at most the transport's buffer and one frame, as on
C{/preview}. Each frame is encoded and framed once for all clients (per
format and size), by L{fourcut.stream.broadcast.EncodedFrames} with Autobahn's
prepared messages. C{start_preview} with C{width} (and C{quality}) watches
a downscaled stream (L{fourcut.stream.scaled}) instead of the camera's;
one sent again with another size (or none) moves the client to it.

Requests are JSON objects with a C{type}; every reply echoes the request's
C{requestId}. Anything malformed gets an C{error} reply and the connection
stays open; only a frame Autobahn cannot parse, or a message over the hard
size limit, closes that one connection.

With an access token configured (C{access.token}, see L{fourcut.web.access}),
a client proves it has the token either in the handshake (a C{token} query
parameter on the URL, or an C{Authorization: Bearer} header; a wrong one is
refused with HTTP 401) or with a first C{{"type": "auth", "token": ...}}
message, answered C{authenticated} or an C{error} with C{code} 401; after
L{MAX_AUTH_FAILURES} wrong tokens the connection is closed (code 3000,
"Unauthorized" in IANA's registry). Until then only live view
(L{PREVIEW_TYPES}) works, and only if C{preview.public}; anything else gets
an C{error} "authentication required" with C{code} 401, and the
C{camera_info} of a connecting client is left out. With live view
protected as well, a client that has not authenticated within
C{auth_timeout} seconds is closed (code 3008, "Timeout"); with public live
view, one that has neither authenticated nor started watching. Only
authenticated clients count against C{max_clients}: the others are kept few
by L{fourcut.web.limits.ConnectionLimits}, so that they cannot take the
front-end's slots.

What the server sends a client is bounded (C{max_unsent_bytes}). Frames
are skipped for a client that does not keep up; once more than the limit
of anything else (replies, errors, pongs) is unread, its requests are not
read any more until it has caught up, so that it cannot make the server
produce replies it does not receive, and a request or ping that is already
in when that happens closes it. Requests and pings count against
C{commands_per_second}: over it, requests are answered "too many requests"
and pings get no pong; a client whose refused requests and pings go over
that rate too, past L{FLOOD_BURST}, is closed (code 1008). Autobahn's
keepalive pings every 10 s, and a client that does not answer within 30 s
is dropped, however much else it sends. A C{camera_status} due while a
client is over its limit waits, and only the newest is sent when it has
caught up.

C{preview_started} is the first message a client gets after its
C{start_preview}: its frames are held back (L{LatestFrameProducer.hold})
until the reply is out. C{camera_status} announces only states a client
can act on (L{CameraServerFactory.announced_state}). A browser page from
another site may connect only if C{server.cors_origins} lists its origin
(L{fourcut.web.cors}).
"""

import base64
import json
import math
from datetime import datetime, timezone

from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import (WebSocketServerFactory,
                                        WebSocketServerProtocol)
from autobahn.websocket.types import ConnectionDeny
from twisted.internet import defer
from twisted.internet.interfaces import ISSLTransport
from twisted.logger import Logger
from twisted.web import server

from fourcut import __version__
from fourcut.booth.sequence import SequenceError
from fourcut.stream.broadcast import EncodedFrames, FrameCounts, LatestFrameProducer
from fourcut.errors import CameraError, SettingError, http_status
from fourcut.photos import check_name_hint
from fourcut.stream.scaled import PerSource, ScaledStreams, SizeError, parse_size
from fourcut.web.access import AccessPolicy
from fourcut.web.cors import CORSPolicy, same_origin
from fourcut.stream.pacing import TransportPacing
from fourcut.stream.sockets import FrameWriter, prepare_for_frames, unsent_bytes
from fourcut.web.limits import connection_of
from fourcut.web.live import address_text
from fourcut.web.replies import Resource, error, hide_paths, json_body, os_error_text

__all__ = ["CameraServerFactory", "CameraServerProtocol", "RequestError",
           "WebSocketEndpoint", "capture_settings", "handshake_token",
           "iso_time"]

log = Logger()

#: Preview formats a client may ask for.
FORMATS = ("json", "binary")

#: A message over this many times C{max_message_bytes} closes the
#: connection (Autobahn stops reading it); under it, an C{error} reply.
HARD_LIMIT_FACTOR = 4

#: Settings one C{capture_photo} may override.
MAX_CAPTURE_SETTINGS = 16

#: Longest C{requestId} echoed back.
MAX_REQUEST_ID = 200

#: Requests that are live view: allowed without the token when
#: C{preview.public} is true. Every other type needs it.
PREVIEW_TYPES = frozenset(["start_preview", "stop_preview"])

#: Wrong tokens in C{auth} messages before the connection is closed.
MAX_AUTH_FAILURES = 3

#: Seconds a client has to authenticate when even live view needs the
#: token.
AUTH_TIMEOUT = 10.0

#: Requests and pings refused for the rate limit that a client may send in
#: a burst (beyond the rate itself) before it is closed as a flood.
FLOOD_BURST = 100

#: Bytes a client may leave unread before its requests are no longer read.
MAX_UNSENT_BYTES = 1048576

#: Seconds an C{idle} that was not announced (live view paused while
#: someone watched) may last before it is announced after all.
IDLE_SETTLE = 3.0

#: Close codes (IANA's WebSocket registry): too many wrong tokens, and no
#: authentication in time; RFC 6455's policy violation (a flood) and "try
#: again later" (no slot for one more authenticated client).
CLOSE_UNAUTHORIZED = 3000
CLOSE_TIMEOUT = 3008
CLOSE_POLICY = 1008
CLOSE_TRY_AGAIN = 1013


class RequestError(Exception):
    """
    The client's request cannot be done; C{str()} says why, for the
    C{error} reply. C{details} are extra reply fields.
    """

    def __init__(self, text, **details):
        Exception.__init__(self, text)
        self.details = details


def iso_time(seconds):
    """
    Wall-clock seconds as an ISO 8601 UTC timestamp, as the seed sends.
    """
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


class RateLimit:
    """
    A token bucket: C{rate} requests a second, bursts of up to C{burst}.
    """

    def __init__(self, clock, rate, burst=None):
        self.clock = clock
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self.tokens = self.burst
        self.last = clock.seconds()

    def allow(self):
        now = self.clock.seconds()
        self.tokens = min(self.burst,
                          self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class _DrainWatch:
    """
    The producer registered on a client's transport: passes the transport's
    pause and resume on to the client's L{LatestFrameProducer}, and tells
    the protocol when the transport has drained (it resumes its producer
    only once its buffer is empty).
    """

    def __init__(self, producer, drained):
        self.producer = producer
        self.drained = drained

    def pauseProducing(self):
        self.producer.pauseProducing()

    def resumeProducing(self):
        self.drained()
        self.producer.resumeProducing()

    def stopProducing(self):
        self.producer.stopProducing()


def _scalar(value):
    return (isinstance(value, (str, int, float)) and
            not (isinstance(value, float) and not math.isfinite(value)))


def _plain_text(value):
    """
    Whether C{value} can go into a child's argument list as text: no NUL
    or line breaks (an argv cannot hold a NUL), and no lone surrogates
    (JSON allows C{"\\ud800"}; UTF-8 cannot encode it).
    """
    if any(c in value for c in "\0\r\n"):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(message, field):
    value = message.get(field)
    if not isinstance(value, str) or not value:
        raise RequestError("%r must be a non-empty string" % (field,))
    if len(value) > 100:
        raise RequestError("%r is too long" % (field,))
    if not _plain_text(value):
        raise RequestError("%r must be plain text (no NUL, line breaks or "
                           "lone surrogates)" % (field,))
    return value


def capture_settings(settings):
    """
    Check a C{capture_photo}'s C{settings} object and return it as
    C{(name, value)} string pairs for gphoto2.
    """
    if settings is None:
        return ()
    if not isinstance(settings, dict):
        raise RequestError("'settings' must be an object such as "
                           "{\"iso\": 100}")
    if len(settings) > MAX_CAPTURE_SETTINGS:
        raise RequestError("at most %d settings per capture"
                           % (MAX_CAPTURE_SETTINGS,))
    pairs = []
    for name, value in settings.items():
        if (not name or len(name) > 64 or
                not all(c.isascii() and (c.isalnum() or c in "_-")
                        for c in name)):
            raise RequestError("setting name %r: letters, digits, '_' and "
                               "'-' only" % (name,))
        if isinstance(value, bool):
            value = int(value)
        if not _scalar(value):
            raise RequestError("setting %r: the value must be a string or "
                               "a number" % (name,))
        value = str(value)
        if len(value) > 100 or not _plain_text(value):
            raise RequestError("setting %r: the value must be plain text of "
                               "at most 100 characters" % (name,))
        pairs.append((name, value))
    return tuple(pairs)


class CameraServerProtocol(WebSocketServerProtocol):
    """
    One WebSocket client.
    """

    preview_format = None
    #: What the client watches: the camera's broadcaster, or a
    #: L{fourcut.stream.scaled.ScaledStream} (C{width}).
    preview_source = None
    _camera_request = False
    authenticated = False
    auth_failures = 0
    _auth_timer = None
    _reading_paused = False
    _pending_status = None
    _held_back = False
    connection = None

    def makeConnection(self, transport):
        # Autobahn's resource hands over the transport twisted.web had: with
        # connection limits, the LimitedConnection wrapper. Keep it (it is
        # how the limits hear of this client's progress) and write to the
        # transport below it, which is what Autobahn expects (it looks for
        # TLS there).
        self.connection = connection_of(transport)
        if self.connection is not None:
            transport = self.connection.transport
        WebSocketServerProtocol.makeConnection(self, transport)

    def onConnect(self, request):
        factory = self.factory
        self._check_origin(request)
        access = factory.access
        supplied = handshake_token(request)
        if not access.required:
            self.authenticated = True
        elif supplied is not None:
            if not access.check(supplied):
                log.warn("refused a WebSocket client from {peer}: wrong "
                         "token", peer=request.peer)
                raise ConnectionDeny(401, "the token is wrong")
            self.authenticated = True
        if (self.authenticated and
                factory.authenticated_clients() >= factory.max_clients):
            log.warn("refused a WebSocket client from {peer}: "
                     "{n} connected already", peer=request.peer,
                     n=factory.authenticated_clients())
            raise ConnectionDeny(503, "too many WebSocket clients (the "
                                      "limit is %d)" % factory.max_clients)
        return None

    def _check_origin(self, request):
        """
        Refuse a handshake from another site's page, unless
        C{server.cors_origins} lists it (L{fourcut.web.cors}): a client
        without an C{Origin} is no browser, and a page fourcut served
        itself is of the same origin.
        """
        origin = request.headers.get("origin")
        if not origin:
            return
        secure = ISSLTransport.providedBy(self.transport)
        if (same_origin(origin, request.headers.get("host"), secure)
                or self.factory.cors.allows(origin)):
            return
        refusal = self.factory.cors.refusal(origin)
        log.warn("refused a WebSocket client from {peer}: {refusal}",
                 peer=request.peer, refusal=refusal)
        raise ConnectionDeny(403, refusal)

    def sendHttpErrorResponse(self, code, reason, responseHeaders=None):
        """
        A refused handshake, as fourcut answers errors on C{/ws}: the
        reason in the status line (what WebSocket clients show) and in a
        JSON body C{{"error": ..., "status": ...}}.
        """
        reason = "".join(c if c.isprintable() else " " for c in reason)
        body = json_body({"error": reason, "status": code})
        lines = ["HTTP/1.1 %d %s" % (code, reason)]
        for name, value in responseHeaders or ():
            lines.append("%s: %s" % (name, value))
        lines += ["Content-Type: application/json",
                  "Content-Length: %d" % (len(body),),
                  "Cache-Control: no-store", "", ""]
        self.sendData("\r\n".join(lines).encode("utf-8") + body)

    def onOpen(self):
        factory = self.factory
        factory.clients.add(self)
        self.limit = RateLimit(factory.clock, factory.commands_per_second)
        self.refusals = RateLimit(factory.clock, factory.commands_per_second,
                                  burst=FLOOD_BURST)
        # WebSocketResource took this transport over from twisted.web,
        # whose HTTPChannel is still registered as its producer; ours
        # replaces it (registering a second one raises).
        self.transport.unregisterProducer()
        prepare_for_frames(self.transport)
        self._frames = FrameWriter(self.transport)
        pacing = (TransportPacing(self.transport, factory.clock)
                  if factory.pacing else None)
        self.producer = LatestFrameProducer(self._write_frame,
                                            on_stop=self._stop_preview,
                                            counts=factory.frame_counts,
                                            pacing=pacing,
                                            clock=factory.clock)
        self.transport.registerProducer(
            _DrainWatch(self.producer, self._drained), True)
        if self.connection is not None:
            if self.authenticated:
                self.connection.trust()
            else:
                # Waiting for its auth message: idle, as far as the
                # connection limits are concerned.
                self.connection.set_busy(False)
        access = factory.access
        self.send({"type": "connected", "version": __version__,
                   "server": "fourcut", "auth_required": access.required,
                   "authenticated": self.authenticated,
                   "preview_public": access.preview_public})
        if self.authenticated:
            self.send({"type": "camera_info",
                       "data": factory.status.camera_info()})
        else:
            self._start_auth_timer()

    def onClose(self, wasClean, code, reason):
        self.factory.clients.discard(self)
        self._stop_preview()
        self._cancel_auth_timer()
        if self._held_back and self.factory.trimmer is not None:
            # It left up to max_unsent_bytes behind: give the memory back.
            self.factory.trimmer.soon()

    # Access --------------------------------------------------------------

    def may(self, kind):
        """
        Whether this client may make a request of type C{kind} now.
        """
        return self.authenticated or (
            kind in PREVIEW_TYPES and self.factory.access.preview_public)

    @property
    def may_watch(self):
        """
        Whether this client may watch live view (and so hear about the
        camera's state).
        """
        return self.may("start_preview")

    def _authenticate(self, message, request_id):
        access = self.factory.access
        token = message.get("token")
        if not isinstance(token, str):
            token = None
        if access.check(token):
            factory = self.factory
            if factory.authenticated_clients() >= factory.max_clients:
                log.warn("WebSocket client {peer}: authenticated, but {n} "
                         "clients are already", peer=self.peer,
                         n=factory.authenticated_clients())
                self._error(request_id, "too many WebSocket clients (the "
                            "limit is %d)" % factory.max_clients, code=503)
                self._stop_preview()
                self._close(CLOSE_TRY_AGAIN, "too many clients")
                return
            self.authenticated = True
            self._cancel_auth_timer()
            if self.connection is not None:
                self.connection.trust()
            self._reply(request_id, {"type": "authenticated"})
            self.send({"type": "camera_info",
                       "data": self.factory.status.camera_info()})
            return
        self.auth_failures += 1
        log.warn("WebSocket client {peer}: {what} ({n} of {limit})",
                 peer=self.peer, n=self.auth_failures,
                 what="wrong token" if token else "no token",
                 limit=MAX_AUTH_FAILURES)
        self._error(request_id, "the token is wrong" if token else
                    "'token' must be a non-empty string", code=401)
        if self.auth_failures >= MAX_AUTH_FAILURES:
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
            self._auth_timer = self.factory.clock.callLater(
                self.factory.auth_timeout, self._auth_timed_out)

    def _auth_timed_out(self):
        self._auth_timer = None
        if (not self.authenticated and self.preview_format is None
                and self.state == self.STATE_OPEN):
            log.info("WebSocket client {peer}: no authentication within "
                     "{timeout} s", peer=self.peer,
                     timeout=self.factory.auth_timeout)
            self.sendClose(CLOSE_TIMEOUT, "authentication timeout")

    def _cancel_auth_timer(self):
        if self._auth_timer is not None and self._auth_timer.active():
            self._auth_timer.cancel()
        self._auth_timer = None

    # Sending -------------------------------------------------------------

    def sendMessage(self, payload, isBinary=False, *args, **kwargs):
        # Autobahn applies maxMessagePayloadSize to what we send as well as
        # to what we receive; the limit is there for the client's messages,
        # not for our photos (a base64 capture is over a megabyte).
        limit, self.maxMessagePayloadSize = self.maxMessagePayloadSize, 0
        try:
            return WebSocketServerProtocol.sendMessage(
                self, payload, isBinary, *args, **kwargs)
        finally:
            self.maxMessagePayloadSize = limit

    def sendData(self, data, sync=False, chopsize=None):
        # Everything sent goes through here: the handshake, replies,
        # errors, pongs and close frames, and frames while something
        # waits in Autobahn's queue (else _write_frame writes them).
        WebSocketServerProtocol.sendData(self, data, sync, chopsize)
        self._check_unsent()

    def _check_unsent(self):
        """
        Stop reading the client's requests while it has more than
        C{max_unsent_bytes} unread.
        """
        if (not self._reading_paused and self.transport is not None
                and unsent_bytes(self.transport)
                > self.factory.max_unsent_bytes):
            # Not read by the client: read no more of its requests until
            # it has caught up (the transport's buffer has drained).
            self._reading_paused = True
            self._held_back = True
            self.transport.pauseProducing()

    def _drained(self):
        if self._reading_paused:
            self._reading_paused = False
            if self.state in (self.STATE_OPEN, self.STATE_CLOSING):
                self.transport.resumeProducing()
        status, self._pending_status = self._pending_status, None
        if status is not None:
            self.send(status)

    def send(self, message):
        """
        Send one JSON message, if the connection is still open.
        """
        if self.state == self.STATE_OPEN:
            self.sendMessage(json.dumps(message).encode("utf-8"))

    def send_status(self, message):
        """
        Send a C{camera_status}; while the client is over its limit of
        unread bytes, keep only the newest for when it has caught up.
        """
        if self._reading_paused:
            self._pending_status = message
        else:
            self.send(message)

    def figures(self):
        """
        This client for C{/status} while it watches live view: who it is,
        the format it asked for, and how its live view goes
        (L{LatestFrameProducer.figures}).
        """
        found = {"transport": "websocket",
                 "peer": address_text(self.transport.getPeer()),
                 "format": self.preview_format,
                 "width": getattr(self.preview_source, "width", None)}
        found.update(self.producer.figures())
        return found

    def _write_frame(self, frame):
        if self.state == self.STATE_OPEN and self.preview_format:
            message = self.factory.encoders.for_frame(frame).get(
                frame, self.preview_format)
            payload = message.payloadHybi
            if self._perMessageCompress is None and not self.send_queue:
                # Framed once for every client: straight to the socket
                # when nothing waits (fourcut.stream.sockets.FrameWriter),
                # as Autobahn's sendData would write it to the transport.
                self._frames.write(payload)
                self.trafficStats.outgoingOctetsWireLevel += len(payload)
                self._check_unsent()
            else:
                self.sendPreparedMessage(message)
            return len(payload)
        return 0

    def _reply(self, request_id, message):
        if request_id is not None:
            message["requestId"] = request_id
        self.send(message)

    def _error(self, request_id, text, **details):
        message = {"type": "error",
                   "error": hide_paths(text) or "internal error"}
        message.update(details)
        self._reply(request_id, message)

    # Receiving -----------------------------------------------------------

    def _admit(self):
        """
        Whether to act on one more request or ping from this client. One
        that arrives while the client has more than C{max_unsent_bytes}
        unread (it was already in when its reading was paused) shows a
        client that sends but does not read: it is dropped, and no reply is
        made that it would not receive.
        """
        if self.state != self.STATE_OPEN:
            return False
        if (self._reading_paused and unsent_bytes(self.transport)
                > self.factory.max_unsent_bytes):
            log.warn("WebSocket client {peer}: sends but does not read "
                     "({n} bytes unread); dropping it", peer=self.peer,
                     n=unsent_bytes(self.transport))
            self._drop("sends requests but does not read the replies")
            return False
        return True

    def _close(self, code, reason):
        """
        Start the closing handshake with any close code; Autobahn's
        C{sendClose} takes only 1000 and application codes, not RFC
        6455's own 1008 and 1013.
        """
        if self.state == self.STATE_OPEN:
            self.sendCloseFrame(code=code, reasonUtf8=reason.encode("utf-8"),
                                isReply=False)

    def _drop(self, why):
        self._stop_preview()
        self.wasClean = False
        self.wasNotCleanReason = why
        self.dropConnection(abort=True)

    def _over_rate(self):
        """
        A request or ping over C{commands_per_second}: say whether the
        client may still be answered (with a refusal); a client whose
        refusals go over the rate as well is closed as a flood.
        """
        if self.refusals.allow():
            return True
        log.warn("WebSocket client {peer}: flooding (more than {rate:g} "
                 "requests a second); closing it", peer=self.peer,
                 rate=self.factory.commands_per_second)
        self._stop_preview()
        self._held_back = True
        self._close(CLOSE_POLICY, "too many requests")
        return False

    def onPing(self, payload):
        if not self._admit():
            return
        if not self.limit.allow():
            # No pong for a ping over the rate.
            self._over_rate()
            return
        WebSocketServerProtocol.onPing(self, payload)

    def _parse(self, payload, isBinary):
        """
        C{(message, problem)}: the request as a dict, and what is wrong
        with it (L{None} if nothing).
        """
        factory = self.factory
        if len(payload) > factory.max_message_bytes:
            return None, ("message of %d bytes is over the limit of %d "
                          "bytes" % (len(payload), factory.max_message_bytes))
        if isBinary:
            return None, "binary messages are not accepted: send JSON text"
        try:
            message = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            return None, "not JSON: %s" % (e,)
        except RecursionError:
            return None, "not JSON fourcut accepts: nested too deeply"
        if not isinstance(message, dict):
            return None, "a message must be a JSON object with a \"type\""
        return message, None

    def onMessage(self, payload, isBinary):
        if not self._admit():
            return
        factory = self.factory
        message, problem = self._parse(payload, isBinary)
        request_id = None
        if message is not None:
            request_id = message.get("requestId")
            if request_id is not None and not (
                    isinstance(request_id, (str, int))
                    and not isinstance(request_id, bool)
                    and len(str(request_id)) <= MAX_REQUEST_ID):
                request_id = None
                problem = ("requestId must be a string or an integer of at "
                           "most %d characters" % MAX_REQUEST_ID)
        # Every message counts, malformed ones too.
        if not self.limit.allow():
            if self._over_rate():
                self._error(request_id, "too many requests: at most %g a "
                            "second" % factory.commands_per_second, code=429)
            return
        if problem is not None:
            return self._error(request_id, problem)
        kind = message.get("type")
        if kind == "auth":
            return self._authenticate(message, request_id)
        handler = getattr(self, "do_" + kind, None) \
            if isinstance(kind, str) and kind in HANDLED else None
        if handler is None:
            return self._error(request_id, "unknown type %r; known types: %s"
                               % (kind, ", ".join(sorted(HANDLED
                                                         | {"auth"}))))
        if not self.may(kind):
            return self._error(request_id, "authentication required",
                               code=401)
        if kind in CAMERA_REQUESTS:
            if self._camera_request:
                return self._error(request_id, "busy: one camera request "
                                   "at a time per connection; wait for the "
                                   "reply", code=429)
            self._camera_request = True
        if kind == "start_preview":
            # preview_started (or the error) is the first thing the client
            # hears after start_preview: frames wait for it, even the first
            # one, which comes before live view is reported ready.
            self.producer.hold()
        d = defer.maybeDeferred(handler, message)
        if kind in CAMERA_REQUESTS:
            d.addBoth(self._camera_request_done)
        d.addCallbacks(lambda reply: self._reply(request_id, reply),
                       self._failed, errbackArgs=(request_id, kind))
        if kind == "start_preview":
            d.addBoth(lambda _: self.producer.release())

    def _camera_request_done(self, result):
        self._camera_request = False
        return result

    def _failed(self, failure, request_id, kind):
        if failure.check(RequestError):
            self._error(request_id, str(failure.value),
                        **failure.value.details)
        elif failure.check(SettingError):
            details = {key: value for key, value in
                       failure.value.details.items()
                       if key in ("choices", "range", "section", "option",
                                  "sections", "options")}
            self._error(request_id, str(failure.value), **details)
        elif failure.check(CameraError):
            self._error(request_id, failure.value.text.strip(),
                        code=http_status(failure.value))
        elif failure.check(OSError):
            log.failure("{kind}: the photo could not be saved", failure,
                        kind=kind)
            self._error(request_id, "the photo could not be saved: %s"
                        % (os_error_text(failure.value),))
        else:
            log.failure("{kind} failed", failure, kind=kind)
            self._error(request_id, "internal error; see the server log")

    # Requests ------------------------------------------------------------

    @defer.inlineCallbacks
    def do_start_preview(self, message):
        fmt = message.get("format", "json")
        if fmt not in FORMATS:
            raise RequestError("format must be one of: %s"
                               % ", ".join(FORMATS))
        factory = self.factory
        try:
            size = parse_size(message.get("width"), message.get("quality"))
            source = (factory.broadcaster if size is None
                      else factory.scaled.acquire(*size))
        except SizeError as e:
            # Nothing changed: a client already watching keeps its size.
            raise RequestError(str(e), code=e.code, **e.details)
        subscribed = self.preview_format is not None
        self.preview_format = fmt
        if source is not self.preview_source:
            # Another size: onto the new one first, so that demand for the
            # camera's frames does not drop to 0 in between.
            source.subscribe(self.producer)
            if self.preview_source is not None:
                self.preview_source.unsubscribe(self.producer)
            self.preview_source = source
        if not subscribed:
            if self.connection is not None and not self.authenticated:
                # An anonymous viewer (public live view) is not idle.
                self.connection.set_busy(True)
        try:
            yield factory.session.live_view_ready()
            if self.preview_format is None:
                # stop_preview came while live view was starting.
                return {"type": "preview_stopped"}
        except Exception:
            self._stop_preview()
            raise
        reply = {"type": "preview_started", "format": fmt}
        if source is not factory.broadcaster:
            # Downscaled (a width at least the camera's is the full size).
            reply.update(width=size[0], quality=size[1])
        return reply

    def do_stop_preview(self, message):
        self._stop_preview()
        return {"type": "preview_stopped"}

    def _stop_preview(self):
        if self.preview_format is not None:
            self.preview_format = None
            if self.preview_source is not None:
                self.preview_source.unsubscribe(self.producer)
                self.preview_source = None
            if not self.authenticated and self.state == self.STATE_OPEN:
                if self.connection is not None:
                    self.connection.set_busy(False)
                self._start_auth_timer()

    @defer.inlineCallbacks
    def do_capture_photo(self, message):
        settings = capture_settings(message.get("settings"))
        name = message.get("filename")
        if name is not None:
            try:
                check_name_hint(name)
            except ValueError as e:
                raise RequestError(str(e))
        name, path, data = yield self.factory.session.capture(settings, name)
        return {"type": "photo_captured", "filename": name, "filepath": path,
                "size": len(data),
                "image": base64.b64encode(data).decode("ascii")}

    @defer.inlineCallbacks
    def do_get_camera_info(self, message):
        yield self.factory.session.refresh_info()
        return {"type": "camera_info",
                "data": self.factory.status.camera_info()}

    @defer.inlineCallbacks
    def do_get_camera_setting(self, message):
        section, option = _text(message, "section"), _text(message, "option")
        answer = yield self.factory.session.get_setting(section, option)
        reply = {"type": "setting_value", "section": section,
                 "option": option}
        reply["value"] = answer.get("value")
        reply["widget"] = answer.get("type")
        for key in ("readonly", "choices", "range"):
            if key in answer:
                reply[key] = answer[key]
        return reply

    @defer.inlineCallbacks
    def do_set_camera_setting(self, message):
        section, option = _text(message, "section"), _text(message, "option")
        if "value" not in message:
            raise RequestError("'value' is missing")
        value = message["value"]
        if not (_scalar(value) or isinstance(value, bool)):
            raise RequestError("'value' must be a string, a number or a "
                               "boolean")
        if isinstance(value, str) and (len(value) > 1000
                                       or not _plain_text(value)):
            raise RequestError("'value' must be plain text (no NUL, line "
                               "breaks or lone surrogates)")
        answer = yield self.factory.session.set_setting(section, option,
                                                        value)
        return {"type": "setting_updated", "section": section,
                "option": option, "value": answer.get("value")}

    def do_capture_sequence(self, message):
        """
        A booth sequence (L{fourcut.booth.sequence}): the reply is its
        C{strip_ready}; the countdown and shots come as events meanwhile,
        to this client and every other screen.
        """
        booth = self.factory.booth
        if booth is None:
            raise RequestError("this server runs no booth", code=404)

        def failed(failure):
            failure.trap(SequenceError)
            error = failure.value
            raise RequestError(str(error), code=error.code, **{
                key: value for key, value in error.details.items()
                if value is not None})
        return defer.ensureDeferred(
            booth.websocket_sequence(self, message)).addErrback(failed)


#: Requests that take the camera for a while; a connection may have one
#: of them waiting at a time (the replies say when it is done).
CAMERA_REQUESTS = frozenset(["capture_photo", "get_camera_setting",
                             "set_camera_setting"])

HANDLED = frozenset(name[3:] for name in vars(CameraServerProtocol)
                    if name.startswith("do_"))


class WebSocketEndpoint(Resource):
    """
    C{/ws}: the WebSocket handshake, handed to Autobahn's resource. A
    C{GET} that is not a WebSocket upgrade is a 426 in fourcut's format
    (Autobahn answers it with an HTML status page); other methods a 405.
    """

    isLeaf = True
    methods = (b"GET",)

    def __init__(self, factory):
        Resource.__init__(self)
        self.factory = factory
        self._websocket = WebSocketResource(factory)

    def render_GET(self, request):
        upgrade = (request.getHeader(b"upgrade") or b"").lower()
        if upgrade != b"websocket":
            error(request, 426, "fourcut: /ws is a WebSocket; connect with "
                  "a WebSocket client (ws://HOST:PORT/ws)",
                  headers=[(b"upgrade", b"websocket")])
            return server.NOT_DONE_YET
        return self._websocket.render(request)


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
    """

    protocol = CameraServerProtocol
    booth = None

    def __init__(self, session, broadcaster, status, clock,
                 max_clients=100, max_message_bytes=65536,
                 commands_per_second=20.0, access=None,
                 auth_timeout=AUTH_TIMEOUT,
                 max_unsent_bytes=MAX_UNSENT_BYTES, trimmer=None,
                 cors=None, scaled=None, pacing=True):
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
