# -*- test-case-name: tests.integration.test_flood -*-
"""
Flow control for a WebSocket client: the part of
L{fourcut.web.ws.protocol.CameraServerProtocol} that bounds what a client
costs, however fast or slow it reads and however much it sends.

What a client sees of it (close codes, replies refused, the keepalive) is
in the protocol's docstring. The bounds: frames are skipped for a client
that does not keep up (its L{fourcut.stream.broadcast.LatestFrameProducer},
fed through L{DrainWatch}); its requests are not read while it has more
than C{max_unsent_bytes} unread; requests and pings count against
C{commands_per_second} (L{RateLimit}), and refusals past L{FLOOD_BURST}
close it.

A message is bounded whatever its size: at most L{MAX_FRAGMENTS} frames,
each one after the first counted against C{commands_per_second} like a
request (a frame over the rate past the burst drops the client), and it
must be complete within C{message_timeout} seconds of its first frame. A
client that started a text message and streamed empty continuation frames
for ever was never counted, never over the size limit, and took a core
(issue 25). A client whose requests are not read because it leaves its
answers unread is dropped after C{unread_timeout} seconds, as an HTTP
client is (L{fourcut.web.limits.DeadlineChannel}).

Live view frames are written straight to the client's socket when nothing
waits before them (L{fourcut.stream.sockets.FrameWriter}), framed once for
every client.
"""

from autobahn.twisted.websocket import WebSocketServerProtocol
from twisted.logger import Logger

from fourcut.stream.internals import (count_sent_octets, prepared_payload,
                                      sends_verbatim)
from fourcut.stream.sockets import unsent_bytes

__all__ = ["DrainWatch", "FLOOD_BURST", "FlowControlMixin", "MAX_FRAGMENTS",
           "RateLimit"]

log = Logger()

#: Requests and pings refused for the rate limit that a client may send in
#: a burst (beyond the rate itself) before it is closed as a flood.
FLOOD_BURST = 100

#: Frames one message may be made of.
MAX_FRAGMENTS = 64

#: Close code for a flood: RFC 6455's policy violation.
CLOSE_POLICY = 1008


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


class DrainWatch:
    """
    The producer registered on a client's transport: passes the transport's
    pause and resume on to the client's
    L{fourcut.stream.broadcast.LatestFrameProducer}, and tells the protocol
    when the transport has drained (it resumes its producer only once its
    buffer is empty).
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


class FlowControlMixin:
    """
    Flow control for L{fourcut.web.ws.protocol.CameraServerProtocol} (see
    the module docstring): live view frames written past Autobahn
    (L{_write_frame}), reading paused while the client has more than
    C{max_unsent_bytes} unread (L{_check_unsent}, resumed by the
    L{DrainWatch} registered on its transport), and requests and pings
    over C{commands_per_second} refused (the protocol's C{limit} and
    C{refusals}, L{RateLimit}s).
    """

    _reading_paused = False
    _pending_status = None
    _held_back = False
    _fragments = 0
    _message_timer = None
    _unread_timer = None

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
                > self.hub.max_unsent_bytes):
            # Not read by the client: read no more of its requests until
            # it has caught up (the transport's buffer has drained).
            self._reading_paused = True
            self._held_back = True
            self.transport.pauseProducing()
            self._unread_timer = self.hub.clock.callLater(
                self.hub.unread_timeout, self._unread_timed_out)

    def _unread_timed_out(self):
        self._unread_timer = None
        log.warn("WebSocket client {peer}: left {n} bytes unread for "
                 "{timeout:g} s; dropping it", peer=self.peer,
                 n=unsent_bytes(self.transport) if self.transport else 0,
                 timeout=self.hub.unread_timeout)
        self._drop("leaves its answers unread")

    def _cancel_flow_timers(self):
        for name in ("_unread_timer", "_message_timer"):
            call = getattr(self, name)
            if call is not None and call.active():
                call.cancel()
            setattr(self, name, None)

    def _drained(self):
        if self._unread_timer is not None and self._unread_timer.active():
            self._unread_timer.cancel()
        self._unread_timer = None
        if self._reading_paused:
            self._reading_paused = False
            if self.state in (self.STATE_OPEN, self.STATE_CLOSING):
                self.transport.resumeProducing()
        status, self._pending_status = self._pending_status, None
        if status is not None:
            self.send(status)

    def send_status(self, message):
        """
        Send a C{camera_status}; while the client is over its limit of
        unread bytes, keep only the newest for when it has caught up.
        """
        if self._reading_paused:
            self._pending_status = message
        else:
            self.send(message)

    def _write_frame(self, frame):
        if self.state == self.STATE_OPEN and self.preview_format:
            message = self.factory.encoders.for_frame(frame).get(
                frame, self.preview_format)
            payload = prepared_payload(message)
            if sends_verbatim(self):
                # Framed once for every client: straight to the socket
                # when nothing waits (fourcut.stream.sockets.FrameWriter),
                # as Autobahn's sendData would write it to the transport.
                self._frames.write(payload)
                count_sent_octets(self, len(payload))
                self._check_unsent()
            else:
                self.sendPreparedMessage(message)
            return len(payload)
        return 0

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
                > self.hub.max_unsent_bytes):
            log.warn("WebSocket client {peer}: sends but does not read "
                     "({n} bytes unread); dropping it", peer=self.peer,
                     n=unsent_bytes(self.transport))
            self._drop("sends requests but does not read the replies")
            return False
        return True

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
                 rate=self.hub.commands_per_second)
        self._stop_preview()
        self._held_back = True
        self._close(CLOSE_POLICY, "too many requests")
        return False

    # Messages, frame by frame --------------------------------------------

    def onMessageBegin(self, isBinary):
        WebSocketServerProtocol.onMessageBegin(self, isBinary)
        self._fragments = 0
        if self._message_timer is None:
            self._message_timer = self.hub.clock.callLater(
                self.hub.message_timeout, self._message_timed_out)

    def onMessageFrameBegin(self, length):
        self._fragments += 1
        if self._fragments > MAX_FRAGMENTS:
            log.warn("WebSocket client {peer}: a message of more than {n} "
                     "frames; dropping it", peer=self.peer, n=MAX_FRAGMENTS)
            self._drop("a message of more than %d frames" % MAX_FRAGMENTS)
            return
        if self._fragments > 1 and not self.limit.allow():
            # A frame is a request as far as the rate goes (the first is
            # counted with its message).
            if not self.refusals.allow():
                log.warn("WebSocket client {peer}: flooding with message "
                         "frames (more than {rate:g} a second); dropping "
                         "it", peer=self.peer,
                         rate=self.hub.commands_per_second)
                self._drop("floods with message frames")
                return
        WebSocketServerProtocol.onMessageFrameBegin(self, length)

    def onMessageEnd(self):
        if self._message_timer is not None and self._message_timer.active():
            self._message_timer.cancel()
        self._message_timer = None
        WebSocketServerProtocol.onMessageEnd(self)

    def _message_timed_out(self):
        self._message_timer = None
        log.warn("WebSocket client {peer}: a message not complete within "
                 "{timeout:g} s; dropping it", peer=self.peer,
                 timeout=self.hub.message_timeout)
        self._drop("a message not complete in time")

    def onPing(self, payload):
        if not self._admit():
            return
        if not self.limit.allow():
            # No pong for a ping over the rate.
            self._over_rate()
            return
        WebSocketServerProtocol.onPing(self, payload)
