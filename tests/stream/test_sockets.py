"""
Tests of L{fourcut.stream.sockets}: finding the socket under wrapping
transports, and setting a live view client's connection up for frames.
"""

import socket

from twisted.internet import defer, protocol, reactor
from twisted.internet.abstract import FileDescriptor
from twisted.protocols.policies import WrappingFactory
from twisted.test.proto_helpers import StringTransport
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fourcut.stream import sockets
from fourcut.stream.pacing import TransportPacing

from tests.support.time import sleep


class Sink(protocol.Protocol):
    def connectionMade(self):
        self.factory.connected.callback(self)


class Wrapped(TestCase):
    """
    A real loopback connection accepted through a L{WrappingFactory}, as
    fourcut's connection limits wrap every connection.
    """

    async def connect(self, client_protocol=protocol.Protocol):
        """
        The server side's transport (the wrapper); with C{client_protocol},
        C{(transport, client)}.
        """
        inner = protocol.Factory.forProtocol(Sink)
        inner.connected = defer.Deferred()
        port = reactor.listenTCP(0, WrappingFactory(inner),
                                 interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client = await protocol.ClientCreator(
            reactor, client_protocol).connectTCP(
                "127.0.0.1", port.getHost().port)
        self.addCleanup(client.transport.loseConnection)
        server = await inner.connected
        self.addCleanup(server.transport.loseConnection)
        if client_protocol is protocol.Protocol:
            return server.transport
        return server.transport, client

    async def test_socket_transport(self):
        """
        The wrapper's transport is followed down to Twisted's TCP
        connection.
        """
        wrapper = await self.connect()
        self.assertNotIsInstance(wrapper, FileDescriptor)
        lowest = sockets.socket_transport(wrapper)
        self.assertIsInstance(lowest, FileDescriptor)
        self.assertIs(lowest.getHandle(), wrapper.getHandle())

    async def test_prepare_for_frames(self):
        """
        Whole frames in one send() on this connection only, and the bound
        on unsent bytes.
        """
        wrapper = await self.connect()
        lowest = sockets.socket_transport(wrapper)
        default = type(lowest).SEND_LIMIT
        sockets.prepare_for_frames(wrapper)
        self.assertEqual(lowest.SEND_LIMIT, sockets.SEND_LIMIT)
        self.assertGreater(sockets.SEND_LIMIT, default)
        self.assertEqual(type(lowest).SEND_LIMIT, default)
        self.assertEqual(wrapper.getHandle().getsockopt(
            socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT),
            sockets.NOTSENT_LOWAT)

    async def test_unsent_bytes(self):
        """
        What Twisted buffers for the connection, seen through the wrapper.
        """
        wrapper = await self.connect()
        self.assertEqual(sockets.unsent_bytes(wrapper), 0)
        wrapper.write(b"x" * 1000)
        self.assertEqual(sockets.unsent_bytes(wrapper), 1000)

    async def test_pacing_reads_the_kernel(self):
        """
        A L{TransportPacing} made on the wrapper reads the kernel's queue
        of the socket below, plus Twisted's buffer.
        """
        wrapper = await self.connect()
        pacing = TransportPacing(wrapper, reactor)
        self.assertIn(pacing.method, ("TCP_INFO", "SIOCOUTQ"))
        self.assertEqual(pacing.queued(), 0)
        wrapper.write(b"x" * 1000)
        self.assertEqual(pacing.queued(), 1000)
        self.assertEqual(pacing.wait(), 0.0)
        self.assertEqual(pacing.describe()["pacing"], pacing.method)


class Collect(protocol.Protocol):
    def connectionMade(self):
        self.data = []

    def dataReceived(self, data):
        self.data.append(data)


class FrameWriterTests(Wrapped):
    async def connect_collecting(self):
        return await self.connect(Collect)

    async def received(self, client, size):
        for _ in range(500):
            if sum(map(len, client.data)) >= size:
                break
            await sleep(0.01)
        return b"".join(client.data)

    async def test_straight_to_the_socket(self):
        """
        With nothing buffered, a frame goes to the kernel at once: Twisted
        buffers none of it.
        """
        wrapper, client = await self.connect_collecting()
        writer = sockets.FrameWriter(wrapper)
        writer.write(b"a" * 10000)
        self.assertEqual(writer.direct, 1)
        self.assertEqual(sockets.unsent_bytes(wrapper), 0)
        # More than the kernel takes at once: the rest is buffered, and
        # arrives after.
        writer.write(b"b" * 4000000)
        self.assertEqual(writer.direct, 2)
        self.assertGreater(sockets.unsent_bytes(wrapper), 0)
        self.assertLess(sockets.unsent_bytes(wrapper), 4000000)
        writer.write(b"c")                  # behind the buffered rest
        self.assertEqual(writer.direct, 2)
        self.assertEqual(await self.received(client, 4010001),
                         b"a" * 10000 + b"b" * 4000000 + b"c")

    async def test_behind_what_is_buffered(self):
        """
        With bytes already in Twisted's buffer, the frame goes behind
        them, through the transport: the order never changes.
        """
        wrapper, client = await self.connect_collecting()
        writer = sockets.FrameWriter(wrapper)
        wrapper.write(b"headers;")
        writer.write(b"frame")
        self.assertEqual(writer.direct, 0)
        self.assertEqual(await self.received(client, 13), b"headers;frame")

    def test_not_under_tls(self):
        """
        Under TLS the bytes must be encrypted first: every write goes
        through the transport.
        """
        from twisted.protocols.tls import TLSMemoryBIOFactory, \
            TLSMemoryBIOProtocol
        from twisted.internet.ssl import CertificateOptions
        factory = TLSMemoryBIOFactory(CertificateOptions(), False,
                                      protocol.Factory.forProtocol(
                                          protocol.Protocol))
        tls = TLSMemoryBIOProtocol(factory, protocol.Protocol())
        tls.transport = FileDescriptor()
        self.assertTrue(sockets._under_tls(tls))
        self.assertIsNone(sockets.FrameWriter(tls)._lowest)
        self.assertFalse(sockets._under_tls(FileDescriptor()))


class NoSocketTests(SynchronousTestCase):
    def test_string_transport(self):
        """
        A transport with no socket under it: nothing to set up, and no
        pacing, with a reason.
        """
        transport = StringTransport()
        self.assertIsNone(sockets.socket_transport(transport))
        sockets.prepare_for_frames(transport)
        self.assertEqual(sockets.unsent_bytes(transport), 0)
        pacing = TransportPacing(transport, reactor)
        self.assertIsNone(pacing.method)
        self.assertIn("StringTransport", pacing.why)
        self.assertEqual(pacing.wait(), 0.0)
        self.assertEqual(pacing.describe(), {
            "pacing": "off", "pacing_off_why": pacing.why})

    def test_not_a_transport(self):
        self.assertIsNone(sockets.socket_transport(object()))
        self.assertEqual(sockets.unsent_bytes(object()), 0)
        self.assertIsNone(sockets.socket_transport(None))
