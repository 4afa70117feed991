"""
The WebSocket control protocol of seed 001, at C{/ws} of the web site.

Every client shares the one camera session and the one live view stream
with the HTTP API. A client that sends C{start_preview} gets frames through
its own L{LatestFrameProducer}, registered on its transport: a slow client
skips frames and costs at most the transport's buffer and one frame, as on
C{/preview}. Each frame is encoded and framed once for all clients (per
format), by L{fourcut.broadcast.EncodedFrames} with Autobahn's prepared
messages.

Requests are JSON objects with a C{type}; every reply echoes the request's
C{requestId}. Anything malformed gets an C{error} reply and the connection
stays open; only a frame Autobahn cannot parse, or a message over the hard
size limit, closes that one connection.

With an access token configured (C{access.token}, see L{fourcut.access}),
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
C{auth_timeout} seconds is closed (code 3008, "Timeout").
"""

import base64
import json
import math
from datetime import datetime, timezone

from autobahn.twisted.websocket import (WebSocketServerFactory,
                                        WebSocketServerProtocol)
from autobahn.websocket.types import ConnectionDeny
from twisted.internet import defer
from twisted.logger import Logger

from . import __version__
from .access import AccessPolicy
from .broadcast import EncodedFrames, LatestFrameProducer
from .gphoto2 import CameraError
from .photos import check_name_hint
from .settings import SettingError
from .web import bound_unsent

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

#: Close codes (IANA's WebSocket registry): too many wrong tokens, and no
#: authentication in time.
CLOSE_UNAUTHORIZED = 3000
CLOSE_TIMEOUT = 3008


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
    _camera_request = False
    authenticated = False
    auth_failures = 0
    _auth_timer = None

    def onConnect(self, request):
        factory = self.factory
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
        if len(factory.clients) >= factory.max_clients:
            log.warn("refused a WebSocket client from {peer}: "
                     "{n} connected already", peer=request.peer,
                     n=len(factory.clients))
            raise ConnectionDeny(503, "too many WebSocket clients (the "
                                      "limit is %d)" % factory.max_clients)
        return None

    def onOpen(self):
        factory = self.factory
        factory.clients.add(self)
        self.limit = RateLimit(factory.clock, factory.commands_per_second)
        # WebSocketResource took this transport over from twisted.web,
        # whose HTTPChannel is still registered as its producer; ours
        # replaces it (registering a second one raises).
        self.transport.unregisterProducer()
        bound_unsent(self.transport)
        self.producer = LatestFrameProducer(self._write_frame,
                                            on_stop=self._stop_preview)
        self.transport.registerProducer(self.producer, True)
        access = factory.access
        self.send({"type": "connected", "version": __version__,
                   "server": "fourcut", "auth_required": access.required,
                   "authenticated": self.authenticated,
                   "preview_public": access.preview_public})
        if self.authenticated:
            self.send({"type": "camera_info",
                       "data": factory.status.camera_info()})
        elif not access.preview_public:
            self._auth_timer = factory.clock.callLater(
                factory.auth_timeout, self._auth_timed_out)

    def onClose(self, wasClean, code, reason):
        self.factory.clients.discard(self)
        self._stop_preview()
        self._cancel_auth_timer()

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
            self.authenticated = True
            self._cancel_auth_timer()
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

    def _auth_timed_out(self):
        self._auth_timer = None
        if not self.authenticated and self.state == self.STATE_OPEN:
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

    def send(self, message):
        """
        Send one JSON message, if the connection is still open.
        """
        if self.state == self.STATE_OPEN:
            self.sendMessage(json.dumps(message).encode("utf-8"))

    def _write_frame(self, frame):
        if self.state == self.STATE_OPEN and self.preview_format:
            self.sendPreparedMessage(
                self.factory.encoder.get(frame, self.preview_format))

    def _reply(self, request_id, message):
        if request_id is not None:
            message["requestId"] = request_id
        self.send(message)

    def _error(self, request_id, text, **details):
        message = {"type": "error", "error": text}
        message.update(details)
        self._reply(request_id, message)

    # Receiving -----------------------------------------------------------

    def onMessage(self, payload, isBinary):
        factory = self.factory
        if len(payload) > factory.max_message_bytes:
            return self._error(None, "message of %d bytes is over the limit "
                               "of %d bytes" % (len(payload),
                                                factory.max_message_bytes))
        if isBinary:
            return self._error(None, "binary messages are not accepted: "
                               "send JSON text")
        try:
            message = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            return self._error(None, "not JSON: %s" % (e,))
        except RecursionError:
            return self._error(None, "not JSON fourcut accepts: nested too "
                               "deeply")
        if not isinstance(message, dict):
            return self._error(None, "a message must be a JSON object with "
                               "a \"type\"")
        request_id = message.get("requestId")
        if request_id is not None and not (
                isinstance(request_id, (str, int))
                and not isinstance(request_id, bool)
                and len(str(request_id)) <= MAX_REQUEST_ID):
            return self._error(None, "requestId must be a string or an "
                               "integer of at most %d characters"
                               % MAX_REQUEST_ID)
        if not self.limit.allow():
            return self._error(request_id, "too many requests: at most %g "
                               "a second" % factory.commands_per_second)
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
        d = defer.maybeDeferred(handler, message)
        if kind in CAMERA_REQUESTS:
            d.addBoth(self._camera_request_done)
        d.addCallbacks(lambda reply: self._reply(request_id, reply),
                       self._failed, errbackArgs=(request_id, kind))

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
                        code=failure.value.status)
        elif failure.check(OSError):
            log.failure("{kind}: the photo could not be saved", failure,
                        kind=kind)
            self._error(request_id, "the photo could not be saved: %s"
                        % (failure.value,))
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
        subscribed = self.preview_format is not None
        self.preview_format = fmt
        if not subscribed:
            factory.broadcaster.subscribe(self.producer)
        try:
            yield factory.session.live_view_ready()
            if self.preview_format is None:
                # stop_preview came while live view was starting.
                return {"type": "preview_stopped"}
        except Exception:
            self._stop_preview()
            raise
        return {"type": "preview_started", "format": fmt}

    def do_stop_preview(self, message):
        self._stop_preview()
        return {"type": "preview_stopped"}

    def _stop_preview(self):
        if self.preview_format is not None:
            self.preview_format = None
            self.factory.broadcaster.unsubscribe(self.producer)

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


#: Requests that take the camera for a while; a connection may have one
#: of them waiting at a time (the replies say when it is done).
CAMERA_REQUESTS = frozenset(["capture_photo", "get_camera_setting",
                             "set_camera_setting"])

HANDLED = frozenset(name[3:] for name in vars(CameraServerProtocol)
                    if name.startswith("do_"))


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
    C{autobahn.twisted.resource.WebSocketResource}.

    @ivar clients: the open connections.
    @ivar access: the L{AccessPolicy}.
    @ivar auth_timeout: seconds a client has to authenticate when live
        view is not public.
    """

    protocol = CameraServerProtocol

    def __init__(self, session, broadcaster, status, clock,
                 max_clients=100, max_message_bytes=65536,
                 commands_per_second=20.0, access=None,
                 auth_timeout=AUTH_TIMEOUT):
        WebSocketServerFactory.__init__(self, server="fourcut")
        self.access = access if access is not None else AccessPolicy()
        self.auth_timeout = auth_timeout
        self.session = session
        self.broadcaster = broadcaster
        self.status = status
        self.clock = clock
        self.max_clients = max_clients
        self.max_message_bytes = max_message_bytes
        self.commands_per_second = commands_per_second
        self.clients = set()
        self.encoder = EncodedFrames(self.encode_frame)
        hard = max_message_bytes * HARD_LIMIT_FACTOR
        self.setProtocolOptions(maxMessagePayloadSize=hard,
                                maxFramePayloadSize=hard,
                                autoPingInterval=10, autoPingTimeout=30,
                                failByDrop=False)
        status.websockets = lambda: len(self.clients)
        session.state_listeners.append(self.state_changed)

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
        (C{camera_status}).
        """
        message = {"type": "camera_status", "state": state, "error": error}
        for client in list(self.clients):
            if client.may_watch:
                client.send(message)
