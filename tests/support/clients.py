# -*- test-case-name: tests.integration.test_access,tests.web.test_gallery -*-
"""
Bare TCP clients for what treq cannot do: send bytes exactly as given,
stop reading, hang up in the middle, or keep a connection half-made.
"""

from twisted.internet import defer, protocol, reactor

__all__ = ["RawHTTP", "connect_raw", "http_response"]


def http_response(data):
    """
    C{(status line, headers, body)} of the HTTP response at the start of
    C{data} once it is whole (a body as long as its C{Content-Length}, none
    without one), else L{None}. Header names are lower case.
    """
    head, found, body = data.partition(b"\r\n\r\n")
    if not found:
        return None
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get(b"content-length", b"0"))
    if len(body) < length:
        return None
    return lines[0], headers, body[:length]


class RawHTTP(protocol.Protocol):
    """
    Sends C{request} exactly as given once connected and keeps what the
    server answers.

    @ivar data: everything received (only its length with C{keep} false).
    @ivar received: how many bytes came.
    @ivar connected_d: fires with this client once it is connected.
    @ivar lost: fires with L{data} when the connection ends.
    """

    def __init__(self, request=b"", read=True, keep=True):
        """
        @param read: if false, the client stops reading at once (a client
            whose buffers fill).
        @param keep: if false, only count what comes (a long stream).
        """
        self.request = request
        self.read = read
        self.keep = keep
        self.data = b""
        self.received = 0
        self.connected_d = defer.Deferred()
        self.lost = defer.Deferred()

    def connectionMade(self):
        if not self.read:
            self.transport.pauseProducing()
        if self.request:
            self.transport.write(self.request)
        self.connected_d.callback(self)

    def dataReceived(self, data):
        self.received += len(data)
        if self.keep:
            self.data += data

    def connectionLost(self, reason):
        self.lost.callback(self.data)

    def response(self):
        """
        C{(status line, headers, body)} once a whole response is in, or
        L{None}.
        """
        return http_response(self.data)


async def connect_raw(testcase, port, client=None, data=b""):
    """
    Connect C{client} (a new L{RawHTTP} if L{None}) to C{port} on the
    loopback interface and write C{data}; the connection is aborted when
    the test ends if it is still open.
    """
    client = client if client is not None else RawHTTP()
    await protocol.ClientCreator(reactor, lambda: client).connectTCP(
        "127.0.0.1", port)
    testcase.addCleanup(lambda: client.transport.abortConnection()
                        if client.transport.connected else None)
    if data:
        client.transport.write(data)
    return client
