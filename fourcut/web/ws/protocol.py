# -*- test-case-name: tests.integration.test_ws -*-
"""
The WebSocket control protocol of seed 001, at C{/ws} of the web site: one
client's messages, dispatched to the requests it may make.

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
can act on (L{fourcut.web.ws.hub.WebSocketHub.announced_state}).
A browser page from another site may connect only if C{server.cors_origins}
lists its origin (L{fourcut.web.cors}).

Who may connect and what a client may ask before it proves the token is
decided by L{fourcut.web.ws.auth} (whose C{MAX_AUTH_FAILURES} and
C{PREVIEW_TYPES} are named above); what a client may cost, by
L{fourcut.web.ws.flowcontrol} (C{FLOOD_BURST}).
"""

import base64
import json
import math

from autobahn.twisted.websocket import WebSocketServerProtocol
from twisted.internet import defer
from twisted.logger import Logger

from fourcut import __version__
from fourcut.stream.broadcast import LatestFrameProducer
from fourcut.errors import (CameraError, RequestRefused, SettingError,
                            http_status)
from fourcut.photos import check_name_hint
from fourcut.stream.scaled import SizeError, parse_size
from fourcut.stream.internals import (mark_unclean, outgoing_size_unlimited,
                                      send_close_frame)
from fourcut.stream.pacing import TransportPacing
from fourcut.stream.sockets import FrameWriter, prepare_for_frames
from fourcut.web.limits import connection_of
from fourcut.web.live import address_text
from fourcut.web.replies import hide_paths, json_body, os_error_text
from fourcut.web.ws.auth import AuthenticationMixin
from fourcut.web.ws.flowcontrol import (FLOOD_BURST, DrainWatch,
                                        FlowControlMixin, RateLimit)

__all__ = ["CameraServerProtocol", "RequestError", "capture_settings"]

log = Logger()

#: Preview formats a client may ask for.
FORMATS = ("json", "binary")

#: Settings one C{capture_photo} may override.
MAX_CAPTURE_SETTINGS = 16

#: Longest C{requestId} echoed back.
MAX_REQUEST_ID = 200


class RequestError(Exception):
    """
    The client's request cannot be done; C{str()} says why, for the
    C{error} reply. C{details} are extra reply fields.
    """

    def __init__(self, text, **details):
        Exception.__init__(self, text)
        self.details = details


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


class CameraServerProtocol(AuthenticationMixin, FlowControlMixin,
                           WebSocketServerProtocol):
    """
    One WebSocket client: its requests, dispatched to the C{do_} methods.
    Who it is and what it may ask is L{AuthenticationMixin}'s; what it may
    cost, L{FlowControlMixin}'s.
    """

    preview_format = None
    #: What the client watches: the camera's broadcaster, or a
    #: L{fourcut.stream.scaled.ScaledStream} (C{width}).
    preview_source = None
    _camera_request = False
    connection = None

    @property
    def hub(self):
        """
        The L{fourcut.web.ws.hub.WebSocketHub}: the settings, the other
        clients and the service's objects every client shares. The
        factory (Autobahn's, which sets C{factory} on each protocol it
        builds) adds only the frames encoded for them all.
        """
        return self.factory.hub

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
        hub = self.hub
        hub.clients.add(self)
        self.limit = RateLimit(hub.clock, hub.commands_per_second)
        self.refusals = RateLimit(hub.clock, hub.commands_per_second,
                                  burst=FLOOD_BURST)
        # WebSocketResource took this transport over from twisted.web,
        # whose HTTPChannel is still registered as its producer; ours
        # replaces it (registering a second one raises).
        self.transport.unregisterProducer()
        prepare_for_frames(self.transport)
        self._frames = FrameWriter(self.transport)
        pacing = (TransportPacing(self.transport, hub.clock)
                  if hub.pacing else None)
        self.producer = LatestFrameProducer(self._write_frame,
                                            on_stop=self._stop_preview,
                                            counts=hub.frame_counts,
                                            pacing=pacing,
                                            clock=hub.clock)
        self.transport.registerProducer(
            DrainWatch(self.producer, self._drained), True)
        if self.connection is not None:
            if self.authenticated:
                self.connection.trust()
            else:
                # Waiting for its auth message: idle, as far as the
                # connection limits are concerned.
                self.connection.set_busy(False)
        access = hub.access
        self.send({"type": "connected", "version": __version__,
                   "server": "fourcut", "auth_required": access.required,
                   "authenticated": self.authenticated,
                   "preview_public": access.preview_public})
        if self.authenticated:
            self.send_camera_info()
        else:
            self._start_auth_timer()

    def onClose(self, wasClean, code, reason):
        self.hub.clients.discard(self)
        self._stop_preview()
        self._cancel_auth_timer()
        self._cancel_flow_timers()
        if self._held_back and self.hub.trimmer is not None:
            # It left up to max_unsent_bytes behind: give the memory back.
            self.hub.trimmer.soon()

    # Sending -------------------------------------------------------------

    def sendMessage(self, payload, isBinary=False, *args, **kwargs):
        # Autobahn applies maxMessagePayloadSize to what we send as well as
        # to what we receive; the limit is there for the client's messages,
        # not for our photos (a base64 capture is over a megabyte).
        with outgoing_size_unlimited(self):
            return WebSocketServerProtocol.sendMessage(
                self, payload, isBinary, *args, **kwargs)

    def send_camera_info(self):
        """
        Send C{camera_info} once the camera's model, manufacturer and port
        are known (L{fourcut.camera.session.CameraSession.first_info}): a
        client that connects before the camera first answered waits for
        them rather than get nulls. Fires once sent (or not, the client
        gone).
        """
        hub = self.hub
        return hub.session.first_info().addCallback(
            lambda _: self.send({"type": "camera_info",
                                 "data": hub.status.camera_info()}))

    def send(self, message):
        """
        Send one JSON message, if the connection is still open.
        """
        if self.state == self.STATE_OPEN:
            self.sendMessage(json.dumps(message).encode("utf-8"))

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

    def _close(self, code, reason):
        """
        Start the closing handshake with any close code; Autobahn's
        C{sendClose} takes only 1000 and application codes, not RFC
        6455's own 1008 and 1013.
        """
        if self.state == self.STATE_OPEN:
            send_close_frame(self, code, reason)

    def _drop(self, why):
        self._stop_preview()
        self._cancel_flow_timers()
        if self.state == self.STATE_CLOSED:
            return
        mark_unclean(self, why)
        self.dropConnection(abort=True)

    def _parse(self, payload, isBinary):
        """
        C{(message, problem)}: the request as a dict, and what is wrong
        with it (L{None} if nothing).
        """
        hub = self.hub
        if len(payload) > hub.max_message_bytes:
            return None, ("message of %d bytes is over the limit of %d "
                          "bytes" % (len(payload), hub.max_message_bytes))
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
        hub = self.hub
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
                            "second" % hub.commands_per_second, code=429)
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
        hub = self.hub
        try:
            size = parse_size(message.get("width"), message.get("quality"))
            source = (hub.broadcaster if size is None
                      else hub.scaled.acquire(
                          *size, trusted=self.authenticated))
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
            yield hub.session.live_view_ready()
            if self.preview_format is None:
                # stop_preview came while live view was starting.
                return {"type": "preview_stopped"}
        except Exception:
            self._stop_preview()
            raise
        reply = {"type": "preview_started", "format": fmt}
        if source is not hub.broadcaster:
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
        name, path, data = yield self.hub.session.capture(settings, name)
        return {"type": "photo_captured", "filename": name, "filepath": path,
                "size": len(data),
                "image": base64.b64encode(data).decode("ascii")}

    @defer.inlineCallbacks
    def do_get_camera_info(self, message):
        yield self.hub.session.refresh_info()
        return {"type": "camera_info",
                "data": self.hub.status.camera_info()}

    @defer.inlineCallbacks
    def do_get_camera_setting(self, message):
        section, option = _text(message, "section"), _text(message, "option")
        answer = yield self.hub.session.get_setting(section, option)
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
        answer = yield self.hub.session.set_setting(section, option, value)
        return {"type": "setting_updated", "section": section,
                "option": option, "value": answer.get("value")}

    def do_capture_sequence(self, message):
        """
        A booth sequence (L{fourcut.booth.sequence}): the reply is its
        C{strip_ready}; the countdown and shots come as events meanwhile,
        to this client and every other screen.
        """
        booth = self.hub.booth
        if booth is None:
            raise RequestError("this server runs no booth", code=404)

        def failed(failure):
            failure.trap(RequestRefused)
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
