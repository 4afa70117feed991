"""
Clients for the fuzz test (L{tests.integration.test_fuzz}): a raw HTTP client that
sends exactly the bytes it is given and reads one response, and a
WebSocket client that sends any payload and hands back the server's
replies one at a time.
"""

import collections
import json
import re

from autobahn.twisted.websocket import (WebSocketClientFactory,
                                        WebSocketClientProtocol)
from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint

#: A status line as a server must send it.
STATUS_LINE = re.compile(rb"\AHTTP/1\.[01] ([0-9]{3})(?: [^\r\n]*)?\Z")


class HTTPResult:
    """
    What happened to one raw request.

    @ivar outcome: C{"response"} (a whole response, or its head for a
        stream), C{"closed"} (the server closed the connection before a
        response), C{"truncated"} (it closed the connection before the
        whole body its head announced), C{"timeout"}, C{"hung-up"} (the
        client hung up on purpose, without reading), or C{"garbage"} (the
        first line was not an HTTP status line).
    @ivar status: the status code, or L{None}.
    @ivar head: the status line and headers as received (bytes).
    @ivar body: the body received, if the response had a Content-Length.
    @ivar elapsed: seconds from connecting to the outcome.
    """

    outcome = None
    status = None
    head = b""
    body = b""
    elapsed = 0.0
    headers = ()

    def __repr__(self):
        return "<HTTPResult %s %s %r>" % (self.outcome, self.status,
                                          self.head[:80])


class HTTPProbe(protocol.Protocol):
    """
    Sends C{chunks} (a list of C{(delay, bytes)}; the delay is seconds
    after the previous write), reads the first final response (skipping
    C{100 Continue}), then closes the connection by C{close}: C{"lose"}
    (FIN) or C{"abort"} (RST). With C{hangup} set, the client closes that
    many seconds after sending, without reading.

    A response's body is read only when it has a C{Content-Length} (and the
    request was not C{HEAD}); anything else (a stream, a switch of
    protocols) is done once the head is in.
    """

    def __init__(self, chunks, head_request=False, close="lose",
                 timeout=5.0, hangup=None, clock=reactor):
        self.chunks = list(chunks)
        self.head_request = head_request
        self.close = close
        self.timeout = timeout
        self.hangup = hangup
        self.clock = clock
        self.buffer = b""
        self.result = HTTPResult()
        self.done = defer.Deferred()
        self.lost = defer.Deferred()
        self._calls = []
        self._start = None

    def connectionMade(self):
        self._start = self.clock.seconds()
        self._calls.append(self.clock.callLater(self.timeout, self._finish,
                                                "timeout"))
        self._write_next()

    def _write_next(self):
        if not self.transport.connected or self.result.outcome is not None:
            return
        while self.chunks:
            delay, data = self.chunks[0]
            if delay > 0:
                self.chunks[0] = (0, data)
                self._calls.append(self.clock.callLater(delay,
                                                        self._write_next))
                return
            self.chunks.pop(0)
            self.transport.write(data)
        if self.hangup is not None:
            self._calls.append(self.clock.callLater(
                self.hangup, self._finish, "hung-up"))

    def dataReceived(self, data):
        if self.result.outcome is not None or self.hangup is not None:
            return
        self.buffer += data
        self._parse()

    def _parse(self):
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            first = self.buffer.split(b"\r\n", 1)[0]
            if (b"\r\n" in self.buffer or len(self.buffer) > 64) and \
                    not STATUS_LINE.match(first[:200]):
                self.result.head = self.buffer[:1000]
                return self._finish("garbage")
            if end < 0:
                return
            head, rest = self.buffer[:end], self.buffer[end + 4:]
            status = int(STATUS_LINE.match(head.split(b"\r\n", 1)[0])
                         .group(1))
            if status == 100:
                self.buffer = rest
                continue
            headers = {}
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                headers.setdefault(name.strip().lower(), []).append(
                    value.strip())
            self.result.status = status
            self.result.head = head
            self.result.headers = headers
            length = headers.get(b"content-length")
            if (self.head_request or status in (101, 204, 304)
                    or not length):
                return self._finish("response")
            try:
                length = int(length[0])
            except ValueError:
                return self._finish("response")
            if len(rest) >= length:
                self.result.body = rest[:length]
                return self._finish("response")
            return

    def _finish(self, outcome):
        if self.result.outcome is not None:
            return
        self.result.outcome = outcome
        self.result.elapsed = self.clock.seconds() - (self._start or 0)
        for call in self._calls:
            if call.active():
                call.cancel()
        if self.transport.connected:
            if self.close == "abort" or outcome == "timeout":
                self.transport.abortConnection()
            else:
                self.transport.loseConnection()
        self.done.callback(self.result)

    def connectionLost(self, reason):
        if self.result.outcome is None:
            if self.result.status is not None:
                # The head came, but not all of the body it announced.
                self._finish("truncated")
            else:
                self.result.head = self.buffer[:1000]
                self._finish("closed")
        self.lost.callback(None)


async def http_probe(port, chunks, **options):
    """
    Connect to C{127.0.0.1:port}, run an L{HTTPProbe}, and return its
    L{HTTPResult} once the connection is closed.
    """
    probe = HTTPProbe(chunks, **options)
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=10)
    try:
        await endpoint.connect(_Once(probe))
    except Exception as e:
        result = HTTPResult()
        result.outcome = "connect-failed: %s" % (e,)
        return result
    result = await probe.done
    await probe.lost
    return result


class _Once(protocol.Factory):
    def __init__(self, probe):
        self.probe = probe

    def buildProtocol(self, addr):
        return self.probe


#: Server messages that are not replies to a request.
BROADCAST_TYPES = frozenset(["preview_frame", "camera_status"])


class FuzzWebSocket(WebSocketClientProtocol):
    """
    Keeps every server message that is not a frame or a state broadcast in
    L{inbox}, in order, for L{next_message}.

    @ivar frames: binary and C{preview_frame} messages received.
    @ivar broadcasts: other broadcast messages received.
    @ivar bad: messages that were not JSON text.
    """

    def __init__(self):
        WebSocketClientProtocol.__init__(self)
        self.inbox = collections.deque()
        self.frames = 0
        self.broadcasts = []
        self.bad = []
        self._waiter = None
        self.opened = defer.Deferred()
        self.closed = defer.Deferred()
        self.close_info = None

    def onOpen(self):
        self.opened.callback(self)

    def onMessage(self, payload, isBinary):
        if isBinary or payload.startswith(b'{"type": "preview_frame"'):
            self.frames += 1
            return
        try:
            message = json.loads(payload.decode("utf-8"))
        except ValueError:
            self.bad.append(payload[:200])
            return
        if not isinstance(message, dict):
            self.bad.append(payload[:200])
            return
        if message.get("type") in BROADCAST_TYPES:
            self.broadcasts.append(message)
            return
        self.inbox.append(message)
        self._wake()

    def _wake(self):
        if self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            waiter.callback(None)

    def onClose(self, wasClean, code, reason):
        self.close_info = (wasClean, code, reason)
        if not self.opened.called:
            self.opened.errback(ConnectionError(code, reason))
        if not self.closed.called:
            self.closed.callback(self.close_info)
        self._wake()

    @property
    def still_open(self):
        return self.close_info is None and self.state == self.STATE_OPEN

    async def next_message(self, timeout):
        """
        The next message of L{inbox}; L{None} if the connection closes or
        C{timeout} seconds pass first.
        """
        if not self.inbox and self.close_info is None:
            self._waiter = defer.Deferred()
            call = reactor.callLater(timeout, self._wake)
            await self._waiter
            if call.active():
                call.cancel()
        if self.inbox:
            return self.inbox.popleft()
        return None


async def ws_connect(port, path="/ws"):
    """
    Open a L{FuzzWebSocket} to C{ws://127.0.0.1:port/path}.
    """
    factory = WebSocketClientFactory("ws://127.0.0.1:%d%s" % (port, path))
    factory.protocol = FuzzWebSocket
    # Photos come back base64-encoded in one message: no limit here.
    factory.setProtocolOptions(maxMessagePayloadSize=0,
                               maxFramePayloadSize=0,
                               openHandshakeTimeout=10,
                               closeHandshakeTimeout=1)
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=10)
    client = await endpoint.connect(factory)
    await client.opened
    return client
