"""
A WebSocket test client on Autobahn's Twisted client, collecting what the
server sends so that tests can wait for particular messages.
"""

import json

from autobahn.twisted.websocket import (WebSocketClientFactory,
                                        WebSocketClientProtocol)
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, wrapClientTLS

__all__ = ["Lookups", "TestClient", "connect"]


class Lookups:
    """
    Finding what a WebSocket test client received, in its C{messages}.
    """

    def find(self, request_id):
        """
        The first message that echoes C{request_id}, or L{None}.
        """
        for message in self.messages:
            if message.get("requestId") == request_id:
                return message
        return None

    def of_type(self, kind):
        """
        The messages of type C{kind}, in order.
        """
        return [m for m in self.messages if m.get("type") == kind]


class TestClient(Lookups, WebSocketClientProtocol):
    """
    @ivar messages: JSON messages received, in order.
    @ivar frames: binary messages received (raw JPEGs).
    @ivar received: everything received, in order, as C{"binary"} for a
        binary message and the C{type} of a JSON one.
    """

    def __init__(self):
        WebSocketClientProtocol.__init__(self)
        self.messages = []
        self.frames = []
        self.received = []
        self._waiting = []
        self.opened = defer.Deferred()
        self.closed = defer.Deferred()

    def onOpen(self):
        self.opened.callback(self)

    #: If set, called with each binary message instead of keeping it in
    #: L{frames} (for long tests that would otherwise keep every frame).
    on_binary = None

    def onMessage(self, payload, isBinary):
        if isBinary and self.on_binary is not None:
            self.on_binary(payload)
        elif isBinary:
            self.frames.append(payload)
        else:
            self.messages.append(json.loads(payload.decode("utf-8")))
        self.received.append("binary" if isBinary
                             else self.messages[-1].get("type"))
        self._check()

    def onClose(self, wasClean, code, reason):
        if not self.opened.called:
            self.opened.errback(ConnectionError(code, reason))
        self.closed.callback((wasClean, code, reason))
        for d, _ in self._waiting:
            d.errback(ConnectionError("closed: %r %r" % (code, reason)))
        self._waiting = []

    def _check(self):
        still = []
        for d, test in self._waiting:
            if test():
                d.callback(None)
            else:
                still.append((d, test))
        self._waiting = still

    def wait_for(self, test, timeout=15.0):
        """
        Fire when C{test()} is true; fail after C{timeout} seconds.
        """
        d = defer.Deferred()
        if test():
            d.callback(None)
        else:
            self._waiting.append((d, test))
            d.addTimeout(timeout, reactor)
        return d

    def request(self, message=None, raw=None, binary=False):
        self.sendMessage(raw if raw is not None else
                         json.dumps(message).encode("utf-8"),
                         isBinary=binary)

    async def reply(self, message, timeout=15.0):
        """
        Send C{message} (which has a C{requestId}) and return the reply
        that echoes its C{requestId}.
        """
        request_id = message["requestId"]
        self.request(message)
        await self.wait_for(lambda: self.find(request_id), timeout)
        return self.find(request_id)


async def connect(testcase, port, path="/ws", factory_options=None,
                  headers=None, tls=None):
    """
    Connect a L{TestClient} to C{ws://127.0.0.1:port/path}; it is closed
    when the test ends.

    @param path: the path, with a query if wanted (C{"/ws?token=..."}).
    @param headers: extra handshake headers, a dict.
    @param tls: client TLS options (C{optionsForClientTLS}) to connect to
        C{wss://} instead.
    """
    scheme = "ws" if tls is None else "wss"
    factory = WebSocketClientFactory(
        "%s://127.0.0.1:%d%s" % (scheme, port, path), headers=headers)
    factory.protocol = TestClient
    factory.setProtocolOptions(**(factory_options or {}))
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
    if tls is not None:
        endpoint = wrapClientTLS(tls, endpoint)
    client = await endpoint.connect(factory)

    def close():
        if client.transport is not None and client.transport.connected:
            client.transport.abortConnection()
            return client.closed
    testcase.addCleanup(close)
    await client.opened
    return client
