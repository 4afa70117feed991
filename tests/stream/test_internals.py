"""
Tests of L{fourcut.stream.internals} against the I{installed} Twisted and
Autobahn: a real TCP connection on 127.0.0.1, TLS, twisted.web's channel,
request and static file, and Autobahn's protocol over a real connection
with and without permessage-deflate.

The attributes read there are the libraries' private state. These tests
are where an upgrade that renames or changes any of it shows: each failure
names the attribute, the function that reads it and the versions
installed.
"""

import os

import autobahn
import twisted
from autobahn.exception import PayloadExceededError
from autobahn.twisted.websocket import (WebSocketClientFactory,
                                        WebSocketClientProtocol,
                                        WebSocketServerFactory,
                                        WebSocketServerProtocol)
from autobahn.websocket.compress import (PerMessageDeflateOffer,
                                         PerMessageDeflateOfferAccept,
                                         PerMessageDeflateResponse,
                                         PerMessageDeflateResponseAccept)
from twisted.internet import defer, protocol, reactor, task
from twisted.internet.abstract import FileDescriptor
from twisted.internet.address import IPv4Address
from twisted.internet.ssl import CertificateOptions
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web import http, resource, server, static

from fourcut.stream import internals

VERSIONS = "Twisted %s, Autobahn %s" % (twisted.__version__,
                                         autobahn.__version__)


def changed(attribute, reader):
    """
    The failure message for private state that is not what
    L{fourcut.stream.internals} expects.
    """
    return ("%s is not what fourcut.stream.internals.%s expects under %s: "
            "update that function (and only it) for the installed version"
            % (attribute, reader, VERSIONS))


class StateTestsMixin:
    """
    Checks that say, when they fail, which private attribute changed, which
    function of L{fourcut.stream.internals} reads it, and under which
    versions.
    """

    def use(self, reader, *args):
        """
        Call C{fourcut.stream.internals.<reader>} with C{args}; fail naming
        it and the versions if the state it reads is gone.
        """
        try:
            return getattr(internals, reader)(*args)
        except AttributeError as e:
            self.fail("fourcut.stream.internals.%s failed under %s: %s. The "
                      "private state it reads has changed: update that "
                      "function (and only it) for the installed version"
                      % (reader, VERSIONS, e))

    def assertHasState(self, obj, attribute, reader, own=False):
        """
        Fail, naming C{attribute}, C{reader} and the versions, unless
        C{obj} has C{attribute} (in its instance dictionary, with C{own}).
        """
        found = (attribute in getattr(obj, "__dict__", {}) if own
                 else hasattr(obj, attribute))
        if not found:
            self.fail("%s.%s is gone: %s" % (
                type(obj).__module__, type(obj).__qualname__ + "."
                + attribute, changed(attribute, reader)))


async def wait_until(condition, timeout=10.0):
    """
    Turn the reactor until C{condition()} is true (or C{timeout} seconds).
    """
    for _ in range(int(timeout / 0.01)):
        if condition():
            return True
        await task.deferLater(reactor, 0.01, lambda: None)
    return condition()


# Twisted's TCP connection ------------------------------------------------

class Accept(protocol.Protocol):
    def connectionMade(self):
        self.factory.accepted.callback(self)


class Collect(protocol.Protocol):
    """
    A client that keeps what it receives.
    """

    def __init__(self):
        self.received = []
        self.length = 0

    def dataReceived(self, data):
        self.received.append(data)
        self.length += len(data)


class TCPConnection(StateTestsMixin, TestCase):
    """
    The state of Twisted's TCP transport (L{twisted.internet.tcp}) over a
    real loopback connection.
    """

    async def connect(self):
        """
        C{(server_transport, client)}: the server side's
        L{FileDescriptor}, and the client's L{Collect}.
        """
        factory = protocol.Factory.forProtocol(Accept)
        factory.accepted = defer.Deferred()
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client = await protocol.ClientCreator(reactor, Collect).connectTCP(
            "127.0.0.1", port.getHost().port)
        self.addCleanup(client.transport.loseConnection)
        accepted = await factory.accepted
        self.addCleanup(accepted.transport.loseConnection)
        self.assertIsInstance(accepted.transport, FileDescriptor)
        return accepted.transport, client

    async def test_attributes(self):
        """
        The connection has the buffer, offset, queue length, send limit and
        write method fourcut reads.
        """
        transport, _ = await self.connect()
        for attribute in ("dataBuffer", "offset", "_tempDataLen"):
            self.assertHasState(transport, attribute, "buffered_bytes")
        self.assertHasState(transport, "writeSomeData", "write_directly")
        self.assertHasState(transport, "SEND_LIMIT", "raise_send_limit")

    async def test_buffered_bytes(self):
        """
        A write is buffered whole until the reactor's next turn; then
        L{internals.buffered_bytes} is what the kernel has not taken, and
        0 once it has taken everything.
        """
        transport, client = await self.connect()
        taken = []
        send = transport.writeSomeData

        def counted(data):
            sent = send(data)
            if isinstance(sent, int):
                taken.append(sent)
            return sent
        transport.writeSomeData = counted
        # Not read by the client: the kernel's buffers fill, Twisted's
        # holds the rest.
        client.transport.pauseProducing()
        size = 32 * 1024 * 1024
        transport.write(b"x" * size)
        self.assertEqual(self.use("buffered_bytes", transport), size,
                         changed("dataBuffer, offset, _tempDataLen",
                                 "buffered_bytes"))
        self.assertTrue(await wait_until(lambda: sum(taken) > 0))
        buffered = self.use("buffered_bytes", transport)
        self.assertEqual(buffered, size - sum(taken),
                         changed("dataBuffer, offset, _tempDataLen",
                                 "buffered_bytes"))
        self.assertGreater(buffered, 0)
        client.transport.resumeProducing()
        self.assertTrue(await wait_until(lambda: client.length == size,
                                         timeout=30))
        self.assertEqual(self.use("buffered_bytes", transport), 0,
                         changed("dataBuffer, offset, _tempDataLen",
                                 "buffered_bytes"))

    async def test_write_directly(self):
        """
        L{internals.write_directly} hands bytes to the socket at once and
        says how many it took.
        """
        transport, client = await self.connect()
        self.assertTrue(self.use("can_write_directly", transport))
        self.assertFalse(self.use("can_write_directly", StringTransport()))
        self.assertEqual(self.use("write_directly", transport, b"hello"), 5,
                         changed("writeSomeData", "write_directly"))
        self.assertEqual(self.use("buffered_bytes", transport), 0)
        self.assertTrue(await wait_until(lambda: client.length == 5))
        self.assertEqual(b"".join(client.received), b"hello")

    async def test_send_limit(self):
        """
        The connection's own C{SEND_LIMIT} bounds what one
        C{writeSomeData} sends; L{internals.raise_send_limit} only raises
        it, on this connection only.
        """
        transport, client = await self.connect()
        default = type(transport).SEND_LIMIT
        transport.SEND_LIMIT = 10
        self.assertEqual(self.use("write_directly", transport, b"x" * 100), 10,
                         changed("SEND_LIMIT", "raise_send_limit"))
        self.use("raise_send_limit", transport, 1024 * 1024)
        self.assertEqual(transport.SEND_LIMIT, 1024 * 1024)
        self.use("raise_send_limit", transport, 1024)
        self.assertEqual(transport.SEND_LIMIT, 1024 * 1024)
        self.assertEqual(type(transport).SEND_LIMIT, default)
        self.assertTrue(await wait_until(lambda: client.length == 10))


class WrappingTransports(StateTestsMixin, SynchronousTestCase):
    """
    The transports that wrap the TCP connection: TLS, and the
    L{ProtocolWrapper} of fourcut's connection limits.
    """

    def test_protocol_wrapper(self):
        """
        A L{ProtocolWrapper}'s own C{transport} is the one below it.
        """
        below = StringTransport()
        wrapper = ProtocolWrapper(WrappingFactory(protocol.Factory()),
                                  protocol.Protocol())
        wrapper.makeConnection(below)
        self.assertHasState(wrapper, "transport", "transport_below",
                            own=True)
        self.assertIs(self.use("transport_below", wrapper), below)
        self.assertIsNone(self.use("transport_below", below))
        self.assertEqual(self.use("tls_unsent_bytes", wrapper), 0)

    def test_tls_before_the_handshake(self):
        """
        What is written to TLS before its handshake is done waits in its
        buffer, which L{internals.tls_unsent_bytes} counts.
        """
        below = StringTransport()
        clock = task.Clock()
        factory = TLSMemoryBIOFactory(CertificateOptions(), True,
                                      protocol.Factory.forProtocol(
                                          protocol.Protocol), clock=clock)
        tls = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        tls.makeConnection(below)
        self.addCleanup(tls.connectionLost,
                        Failure(Exception("the test is over")))
        self.assertHasState(tls, "_appSendBuffer", "tls_unsent_bytes",
                            own=True)
        self.assertIs(self.use("transport_below", tls), below)
        self.assertEqual(self.use("tls_unsent_bytes", tls), 0)
        tls.write(b"hello")
        tls.write(b" world")
        # Small writes are joined until the reactor's next turn.
        clock.advance(0)
        self.assertEqual(self.use("tls_unsent_bytes", tls), 11,
                         changed("_appSendBuffer", "tls_unsent_bytes"))


# twisted.web -------------------------------------------------------------

class Held(resource.Resource):
    """
    Keeps every request open, for the test to finish.
    """

    isLeaf = True

    def __init__(self):
        resource.Resource.__init__(self)
        self.requests = []

    def render(self, request):
        self.requests.append(request)
        return server.NOT_DONE_YET


REQUEST = b"GET /%d HTTP/1.1\r\nHost: fourcut\r\n\r\n"


class TwistedWeb(StateTestsMixin, SynchronousTestCase):
    """
    The state of twisted.web's L{http.HTTPChannel} and L{http.Request}.
    """

    def setUp(self):
        self.resource = Held()
        site = server.Site(self.resource, reactor=MemoryReactorClock())
        site.protocol = http.HTTPChannel
        self.channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        self.transport = StringTransport()
        self.channel.makeConnection(self.transport)
        self.addCleanup(self.channel.connectionLost,
                        Failure(Exception("the test is over")))

    def test_pipelined_request(self):
        """
        While a request is served, the next one's bytes wait in the
        channel's buffer.
        """
        channel = self.channel
        self.assertHasState(channel, "_handlingRequest", "handling_request")
        self.assertHasState(channel, "_dataBuffer", "pipelined_data")
        self.assertFalse(self.use("handling_request", channel))
        self.assertFalse(self.use("pipelined_data", channel))
        channel.dataReceived(REQUEST % 1 + REQUEST % 2)
        self.assertEqual(len(self.resource.requests), 1)
        self.assertTrue(self.use("handling_request", channel),
                        changed("_handlingRequest", "handling_request"))
        self.assertTrue(self.use("pipelined_data", channel),
                        changed("_dataBuffer", "pipelined_data"))
        self.resource.requests[0].finish()
        # The pipelined one is being served now, and nothing waits.
        self.assertEqual(len(self.resource.requests), 2)
        self.assertTrue(self.use("handling_request", channel))
        self.assertFalse(self.use("pipelined_data", channel),
                         changed("_dataBuffer", "pipelined_data"))
        self.resource.requests[1].finish()
        self.assertFalse(self.use("handling_request", channel),
                         changed("_handlingRequest", "handling_request"))

    def test_unparsed_data(self):
        """
        Bytes the line parser has not gone through while it is paused
        (LineReceiver's own C{paused} flag) wait in its buffer.
        """
        channel = self.channel
        self.assertHasState(channel, "_buffer", "unparsed_data")
        self.assertFalse(self.use("unparsed_data", channel))
        channel.paused = True
        channel.dataReceived(REQUEST % 1)
        self.assertEqual(self.resource.requests, [])
        self.assertTrue(self.use("unparsed_data", channel),
                        changed("_buffer", "unparsed_data"))
        channel.paused = False
        channel.dataReceived(b"")
        self.assertEqual(len(self.resource.requests), 1)
        self.assertFalse(self.use("unparsed_data", channel))

    def test_access_log(self):
        """
        twisted.web's access log line for a request, and its log file.
        """
        site = self.channel.site
        written = []

        class File:
            def write(self, line):
                written.append(line)
        for name in ("_logFile", "_logFormatter", "_logDateTime"):
            self.assertHasState(site, name, "access_log_line")
        site._logFile = None
        self.assertIsNone(self.use("access_log_line", site, object()))
        self.use("write_access_log", site, "nothing\n")
        site._logFile = File()
        self.channel.dataReceived(REQUEST % 1)
        self.resource.requests[0].finish()
        line = self.use("access_log_line", site, self.resource.requests[0])
        self.assertIn('"GET /1 HTTP/1.1" 200', line)
        self.assertTrue(line.endswith("\n"))
        self.use("write_access_log", site, line)
        self.assertEqual(written[-1], line)

    def test_response_state(self):
        """
        Whether the response has started, whether it is chunked, and the
        length the access log shows.
        """
        self.channel.dataReceived(REQUEST % 1)
        request = self.resource.requests[0]
        for attribute, reader in [("startedWriting", "response_started"),
                                  ("chunked", "response_chunked"),
                                  ("sentLength", "count_sent")]:
            self.assertHasState(request, attribute, reader)
        self.assertFalse(self.use("response_started", request))
        self.assertFalse(self.use("response_chunked", request))
        request.write(b"abc")
        self.assertTrue(self.use("response_started", request),
                        changed("startedWriting", "response_started"))
        self.assertTrue(self.use("response_chunked", request),
                        changed("chunked", "response_chunked"))
        self.use("count_sent", request, 1000)
        line = http.combinedLogFormatter("-", request)
        self.assertIn(" 200 1003 ", line, changed("sentLength",
                                                  "count_sent"))

    def test_not_chunked(self):
        """
        An HTTP/1.0 response is not chunked.
        """
        self.channel.dataReceived(b"GET / HTTP/1.0\r\n\r\n")
        request = self.resource.requests[0]
        request.write(b"abc")
        self.assertFalse(self.use("response_chunked", request),
                         changed("chunked", "response_chunked"))

    def test_client_gone(self):
        """
        A request knows when its connection is closed.
        """
        self.channel.dataReceived(REQUEST % 1)
        request = self.resource.requests[0]
        self.assertHasState(request, "_disconnected", "client_gone")
        self.assertFalse(self.use("client_gone", request))
        self.channel.connectionLost(Failure(Exception("gone")))
        self.assertTrue(self.use("client_gone", request),
                        changed("_disconnected", "client_gone"))


class StaticFileRanges(StateTestsMixin, SynchronousTestCase):
    """
    How twisted.web's L{static.File} reads a C{Range} header.
    """

    def setUp(self):
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(os.urandom(100))
        self.file = static.File(path)

    def test_ranges(self):
        self.assertHasState(self.file, "_parseRangeHeader", "byte_ranges")
        self.assertHasState(self.file, "_rangeToOffsetAndSize",
                            "range_offset_and_size")
        self.assertEqual(
            self.use("byte_ranges", self.file, b"bytes=0-9,20-29,-5,95-"),
            [(0, 9), (20, 29), (None, 5), (95, None)],
            changed("_parseRangeHeader", "byte_ranges"))
        for (start, end), expected in [((0, 9), (0, 10)),
                                       ((20, 29), (20, 10)),
                                       ((None, 5), (95, 5)),
                                       ((95, None), (95, 5)),
                                       ((90, 500), (90, 10)),
                                       ((200, 300), (0, 0))]:
            self.assertEqual(
                self.use("range_offset_and_size", self.file, start, end),
                expected, changed("_rangeToOffsetAndSize",
                                  "range_offset_and_size"))

    def test_not_a_range(self):
        with self.assertRaises(ValueError, msg=changed(
                "_parseRangeHeader", "byte_ranges")):
            self.use("byte_ranges", self.file, b"lines=1-2")


# Autobahn --------------------------------------------------------------

class Server(WebSocketServerProtocol):
    def onOpen(self):
        self.factory.opened.callback(self)

    def onClose(self, wasClean, code, reason):
        self.closed = (wasClean, code, reason)
        if self.factory.ended is not None:
            self.factory.ended.callback(self.closed)
            self.factory.ended = None


class Client(WebSocketClientProtocol):
    def onOpen(self):
        self.messages = []
        self.factory.opened.callback(self)

    def onMessage(self, payload, isBinary):
        self.messages.append(payload)

    def onClose(self, wasClean, code, reason):
        self.closed = (wasClean, code, reason)
        if self.factory.ended is not None:
            self.factory.ended.callback(self.closed)
            self.factory.ended = None


def accept_deflate(offers):
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer)
    return None


def deflate_accepted(response):
    if isinstance(response, PerMessageDeflateResponse):
        return PerMessageDeflateResponseAccept(response)
    return None


class AutobahnProtocol(StateTestsMixin, TestCase):
    """
    The state of Autobahn's WebSocket protocol, over a real connection.
    """

    async def connect(self, deflate=False, **options):
        """
        C{(server, client)}: the two ends of an open WebSocket connection,
        with permessage-deflate negotiated if C{deflate}, and C{options}
        for the server.
        """
        server_factory = WebSocketServerFactory()
        server_factory.protocol = Server
        server_factory.opened = defer.Deferred()
        server_factory.ended = defer.Deferred()
        server_factory.setProtocolOptions(autoPingInterval=0, **options)
        port = reactor.listenTCP(0, server_factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        url = "ws://127.0.0.1:%d" % (port.getHost().port,)
        client_factory = WebSocketClientFactory(url)
        client_factory.protocol = Client
        client_factory.opened = defer.Deferred()
        client_factory.ended = defer.Deferred()
        if deflate:
            server_factory.setProtocolOptions(
                perMessageCompressionAccept=accept_deflate)
            client_factory.setProtocolOptions(
                perMessageCompressionOffers=[PerMessageDeflateOffer()],
                perMessageCompressionAccept=deflate_accepted)
        reactor.connectTCP("127.0.0.1", port.getHost().port, client_factory)
        server = await server_factory.opened
        client = await client_factory.opened
        self.server_ended = server_factory.ended
        self.client_ended = client_factory.ended
        self.addCleanup(self.close, server)
        return server, client

    async def close(self, server):
        """
        End the connection, if it is open, and wait for both ends.
        """
        if server.state == server.STATE_OPEN:
            server.sendClose()
        await self.server_ended
        await self.client_ended

    def test_prepared_payload(self):
        """
        A prepared message's frame, as RFC 6455 sends it.
        """
        factory = WebSocketServerFactory()
        message = factory.prepareMessage(b"hi", isBinary=True,
                                         doNotCompress=True)
        self.assertHasState(message, "payloadHybi", "prepared_payload")
        self.assertEqual(self.use("prepared_payload", message),
                         b"\x82\x02hi", changed("payloadHybi",
                                                "prepared_payload"))

    async def test_sends_verbatim(self):
        """
        Without permessage-deflate, a prepared frame may be written as it
        is, except while Autobahn's queue holds chopped writes.
        """
        server, client = await self.connect()
        self.assertHasState(server, "_perMessageCompress", "sends_verbatim")
        self.assertHasState(server, "send_queue", "sends_verbatim")
        self.assertTrue(self.use("sends_verbatim", server),
                        changed("_perMessageCompress, send_queue",
                                "sends_verbatim"))
        frame = self.use("prepared_payload", server.factory.prepareMessage(
            b"x" * 100, isBinary=True, doNotCompress=True))
        server.sendData(frame, chopsize=10)
        self.assertFalse(self.use("sends_verbatim", server),
                         changed("send_queue", "sends_verbatim"))
        self.assertTrue(await wait_until(lambda: client.messages))
        self.assertEqual(client.messages, [b"x" * 100])
        self.assertTrue(await wait_until(
            lambda: self.use("sends_verbatim", server)),
            changed("send_queue", "sends_verbatim"))

    async def test_deflate(self):
        """
        With permessage-deflate, Autobahn frames each message itself.
        """
        server, client = await self.connect(deflate=True)
        self.assertFalse(self.use("sends_verbatim", server),
                         changed("_perMessageCompress", "sends_verbatim"))

    async def test_count_sent_octets(self):
        """
        The wire-level count Autobahn keeps of what it sends, which
        fourcut adds its own writes to.
        """
        server, client = await self.connect()
        self.assertHasState(server, "trafficStats", "count_sent_octets")
        stats = server.trafficStats
        self.assertHasState(stats, "outgoingOctetsWireLevel",
                            "count_sent_octets")
        before = stats.outgoingOctetsWireLevel
        frame = self.use("prepared_payload", server.factory.prepareMessage(
            b"hello", isBinary=True, doNotCompress=True))
        server.sendData(frame)
        self.assertEqual(stats.outgoingOctetsWireLevel, before + len(frame),
                         changed("trafficStats.outgoingOctetsWireLevel",
                                 "count_sent_octets"))
        self.use("count_sent_octets", server, 7)
        self.assertEqual(stats.outgoingOctetsWireLevel,
                         before + len(frame) + 7)

    async def test_send_close_frame(self):
        """
        Any close code, RFC 6455's own among them, reaches the client.
        """
        server, client = await self.connect()
        self.use("send_close_frame", server, 1008, "too many requests")
        wasClean, code, reason = await self.client_ended
        self.assertEqual((code, reason), (1008, "too many requests"),
                         changed("sendCloseFrame", "send_close_frame"))

    async def test_mark_unclean(self):
        """
        A connection dropped by the server after L{internals.mark_unclean}
        is reported unclean, for the reason given.
        """
        server, client = await self.connect()
        self.assertHasState(server, "wasClean", "mark_unclean")
        self.assertHasState(server, "wasNotCleanReason", "mark_unclean")
        self.use("mark_unclean", server, "sends but does not read")
        server.dropConnection(abort=True)
        wasClean, code, reason = await self.server_ended
        self.assertFalse(wasClean, changed("wasClean", "mark_unclean"))
        self.assertIn("sends but does not read", reason,
                      changed("wasNotCleanReason", "mark_unclean"))
        await self.client_ended

    async def test_outgoing_size_unlimited(self):
        """
        Autobahn's C{maxMessagePayloadSize} bounds what the server sends,
        except within L{internals.outgoing_size_unlimited}.
        """
        server, client = await self.connect(maxMessagePayloadSize=10)
        self.assertHasState(server, "maxMessagePayloadSize",
                            "outgoing_size_unlimited", own=True)
        self.assertRaises(PayloadExceededError, server.sendMessage,
                          b"x" * 100, True)
        with internals.outgoing_size_unlimited(server):
            server.sendMessage(b"x" * 100, True)
        self.assertEqual(server.maxMessagePayloadSize, 10)
        self.assertTrue(await wait_until(lambda: client.messages),
                        changed("maxMessagePayloadSize",
                                "outgoing_size_unlimited"))
        self.assertEqual(client.messages, [b"x" * 100])
