# -*- test-case-name: tests.web.test_ws,tests.web.test_ws_auth -*-
"""
fourcut's WebSocket side in memory: the hub and endpoint of
L{fourcut.web.ws} with a fake session, the endpoint mounted at C{/ws} of
a twisted.web C{Site}, and clients
that speak RFC 6455 to it over a C{StringTransport}, byte for byte, with
every timer (fourcut's and Autobahn's) on one L{task.Clock}.

Every test builds the hub through L{make_hub} and the site through
L{WebSocketSite}: the one place that knows their constructors.
"""

import json
import os
import struct

import txaio
from twisted.internet import task
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import Site

from fourcut.stream.broadcast import Broadcaster
from fourcut.web.ws import WebSocketEndpoint, WebSocketHub

from tests.support.fakes import FakeStatus, ScriptedSession
from tests.support.wsclient import Lookups

__all__ = ["MemoryClient", "WebSocketSite", "client_frame", "make_hub",
           "OP_TEXT", "OP_BINARY", "OP_CLOSE", "OP_PING", "OP_PONG"]

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


def make_hub(session, broadcaster, status, clock, booth=None, **options):
    """
    A L{WebSocketHub} over C{session}, C{broadcaster} and C{status} on
    C{clock}, with C{options} as its keyword arguments.
    """
    return WebSocketHub(session, broadcaster, status, clock, booth=booth,
                        **options)


def client_frame(opcode, payload=b"", fin=True, mask=None, length=None):
    """
    One WebSocket frame as a client sends it (masked).

    @param length: the length to announce, if not C{len(payload)}.
    """
    mask = os.urandom(4) if mask is None else mask
    length = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return head + mask + masked


def _server_frames(buffer):
    """
    C{([(fin, opcode, payload)], rest)}: the whole frames at the start of
    C{buffer} (as a server sends them, unmasked), and what follows.
    """
    frames = []
    while len(buffer) >= 2:
        fin, opcode = buffer[0] & 0x80, buffer[0] & 0x0F
        length, start = buffer[1] & 0x7F, 2
        if length == 126:
            if len(buffer) < 4:
                break
            length, start = struct.unpack("!H", buffer[2:4])[0], 4
        elif length == 127:
            if len(buffer) < 10:
                break
            length, start = struct.unpack("!Q", buffer[2:10])[0], 10
        if len(buffer) < start + length:
            break
        frames.append((bool(fin), opcode, buffer[start:start + length]))
        buffer = buffer[start + length:]
    return frames, buffer


class _ReadingClock(task.Clock):
    """
    A clock after whose every step the clients read what the server wrote
    meanwhile (and answer its pings), as a live client would.
    """

    def __init__(self):
        task.Clock.__init__(self)
        self.clients = []

    def advance(self, amount):
        task.Clock.advance(self, amount)
        for client in self.clients:
            client.read()


class WebSocketSite:
    """
    C{/ws} of a twisted.web site in memory, over a L{tests.support.fakes.ScriptedSession} and a
    real L{Broadcaster}, everything timed by L{clock}. Autobahn takes its
    timers from txaio's loop: it is this clock until the test ends.

    @ivar hub: the L{WebSocketHub}.
    """

    def __init__(self, testcase, session=None, broadcaster=None,
                 status=None, booth=None, **options):
        self.clock = _ReadingClock()
        previous = txaio.config.loop
        txaio.config.loop = self.clock
        testcase.addCleanup(setattr, txaio.config, "loop", previous)
        self.testcase = testcase
        self.session = session if session is not None else ScriptedSession()
        self.broadcaster = (broadcaster if broadcaster is not None
                            else Broadcaster())
        self.status = (status if status is not None
                       else FakeStatus(self.session))
        self.hub = make_hub(self.session, self.broadcaster, self.status,
                            self.clock, booth=booth, **options)
        root = Resource()
        root.putChild(b"ws", WebSocketEndpoint(self.hub))
        self.site = Site(root, reactor=self.clock)
        self.clients = self.clock.clients
        testcase.addCleanup(self.disconnect_all)

    def connect(self, path="/ws", headers=None, transport=None):
        """
        A L{MemoryClient} that has sent its handshake for C{path}; see
        its C{status} for the answer.

        @param headers: extra handshake headers, a dict.
        @param transport: the server side's transport, if not a plain
            L{StringTransport}.
        """
        client = MemoryClient(self, path, headers or {}, transport)
        self.clients.append(client)
        return client

    def open(self, path="/ws", headers=None, transport=None):
        """
        A L{MemoryClient} whose handshake was accepted.
        """
        client = self.connect(path, headers, transport)
        self.testcase.assertEqual(client.status, 101, client.head)
        return client

    def disconnect_all(self):
        for client in self.clients:
            client.lose()
        self.clock.advance(120)

    def publish(self, data=b"\xff\xd8jpeg\xff\xd9", timestamp=1.0):
        """
        A live view frame, to every subscriber of the broadcaster.
        """
        self.broadcaster.publish(data, timestamp)


class MemoryClient(Lookups):
    """
    A WebSocket client of a L{WebSocketSite}: writes a handshake and
    frames into the server's protocol, reads frames back from the
    transport it writes to.

    What the server sent is read whenever the test looks (L{messages},
    L{frames}, ...): whatever made the server write (a frame published, a
    Deferred fired, the clock advanced) is seen.

    @ivar status: the handshake's HTTP status (101 when accepted).
    @ivar head: the handshake's response head, text.
    @ivar body: the response body of a refused handshake.
    """

    def __init__(self, server, path, headers, transport=None):
        self.server = server
        self.transport = (transport if transport is not None
                          else StringTransport(
                              hostAddress=IPv4Address("TCP", "127.0.0.1",
                                                      8080),
                              peerAddress=IPv4Address("TCP", "127.0.0.1",
                                                      40000 + len(
                                                          server.clients))))
        self._messages = []
        self._frames = []
        self._received = []
        self._pongs = []
        self._pings = []
        #: Whether to answer the server's pings (a client that does not
        #: is dropped).
        self.answer_pings = True
        self._close = None
        self._lost = False
        self._closing = False
        self.status = None
        self.head = ""
        self.body = b""
        self._buffer = b""
        self._fragments = None
        channel = server.site.buildProtocol(self.transport.getPeer())
        self.transport.protocol = channel
        channel.makeConnection(self.transport)
        headers = dict(headers)
        lines = ["GET %s HTTP/1.1" % (path,),
                 "Host: %s" % (headers.pop("Host", "127.0.0.1:8080"),),
                 "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                 "Sec-WebSocket-Version: 13"]
        lines += ["%s: %s" % item for item in headers.items()]
        self._deliver(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))

    @property
    def messages(self):
        """
        JSON messages received, in order.
        """
        self.read()
        return self._messages

    @property
    def frames(self):
        """
        Binary messages received, in order.
        """
        self.read()
        return self._frames

    @property
    def received(self):
        """
        Every message received, as C{"binary"} or its JSON C{type}.
        """
        self.read()
        return self._received

    @property
    def pongs(self):
        """
        The payloads of the pongs received.
        """
        self.read()
        return self._pongs

    @property
    def pings(self):
        """
        The payloads of the server's pings (Autobahn's keepalive).
        """
        self.read()
        return self._pings

    @property
    def close_code(self):
        """
        The code of the server's close frame, or L{None} if none came.
        """
        self.read()
        return self._close and self._close[0]

    @property
    def close_reason(self):
        """
        The reason of the server's close frame, or L{None}.
        """
        self.read()
        return self._close and self._close[1]

    @property
    def lost(self):
        """
        Whether the connection has ended.
        """
        self.read()
        return self._lost

    @property
    def protocol(self):
        """
        The server's protocol for this connection: twisted.web's channel,
        then (once upgraded) fourcut's L{CameraServerProtocol}.
        """
        return self.transport.protocol

    def _deliver(self, data):
        if not self._lost:
            self.protocol.dataReceived(data)
        self.read()

    def read(self):
        """
        Take what the server wrote since the last read.
        """
        self._buffer += self.transport.value()
        self.transport.clear()
        if self.status is None:
            head, found, rest = self._buffer.partition(b"\r\n\r\n")
            if not found:
                return
            self.head = head.decode("latin-1")
            self.status = int(self.head.split(" ", 2)[1])
            self._buffer = rest
        if self.status != 101:
            self.body += self._buffer
            self._buffer = b""
        else:
            frames, self._buffer = _server_frames(self._buffer)
            for frame in frames:
                self._frame(*frame)
        if self.transport.disconnecting and not self._lost:
            self.lose()

    def lose(self, reason=None):
        """
        The connection ends (the client went away, or the server closed
        it): the server's protocol hears of it.
        """
        if not self._lost:
            self._lost = True
            self.protocol.connectionLost(
                reason or Failure(ConnectionDone()))

    def _frame(self, fin, opcode, payload):
        if opcode == OP_CONTINUATION:
            self._fragments[1] += payload
            if fin:
                opcode, payload = self._fragments
                self._fragments = None
                self._message(opcode, payload)
        elif opcode in (OP_TEXT, OP_BINARY):
            if fin:
                self._message(opcode, payload)
            else:
                self._fragments = [opcode, payload]
        elif opcode == OP_CLOSE:
            if len(payload) >= 2:
                self._close = (struct.unpack("!H", payload[:2])[0],
                               payload[2:].decode("utf-8"))
            else:
                self._close = (1005, "")
            if not self._closing:
                # The closing handshake's reply, as RFC 6455 asks.
                self._closing = True
                self._deliver(client_frame(OP_CLOSE, payload[:2]))
        elif opcode == OP_PONG:
            self._pongs.append(payload)
        elif opcode == OP_PING:
            self._pings.append(payload)
            if self.answer_pings:
                self._deliver(client_frame(OP_PONG, payload))

    def _message(self, opcode, payload):
        if opcode == OP_BINARY:
            self._frames.append(payload)
            self._received.append("binary")
        else:
            message = json.loads(payload.decode("utf-8"))
            self._messages.append(message)
            self._received.append(message.get("type"))

    # Sending -------------------------------------------------------------

    def send_frame(self, opcode, payload=b"", fin=True):
        self._deliver(client_frame(opcode, payload, fin=fin))

    def send(self, message=None, raw=None, binary=False):
        """
        Send C{message} as JSON, or C{raw} bytes as a text (or binary)
        message.
        """
        if raw is None:
            raw = json.dumps(message).encode("utf-8")
        self.send_frame(OP_BINARY if binary else OP_TEXT, raw)

    def reply(self, message):
        """
        Send C{message} (which has a C{requestId}) and return the reply
        that echoes its C{requestId}, if it came (L{None} if not yet).
        """
        self.send(message)
        return self.find(message["requestId"])

    def ping(self, payload=b"p"):
        self.send_frame(OP_PING, payload)

    def close(self, code=1000, reason=""):
        """
        Start the closing handshake.
        """
        self._closing = True
        self.send_frame(OP_CLOSE, struct.pack("!H", code)
                        + reason.encode("utf-8"))

    @property
    def types(self):
        return [m.get("type") for m in self.messages]
