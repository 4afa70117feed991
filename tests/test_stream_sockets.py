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


class Sink(protocol.Protocol):
    def connectionMade(self):
        self.factory.connected.callback(self)


class Wrapped(TestCase):
    """
    A real loopback connection accepted through a L{WrappingFactory}, as
    fourcut's connection limits wrap every connection.
    """

    async def connect(self):
        inner = protocol.Factory.forProtocol(Sink)
        inner.connected = defer.Deferred()
        port = reactor.listenTCP(0, WrappingFactory(inner),
                                 interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client = await protocol.ClientCreator(
            reactor, protocol.Protocol).connectTCP(
                "127.0.0.1", port.getHost().port)
        self.addCleanup(client.transport.loseConnection)
        server = await inner.connected
        self.addCleanup(server.transport.loseConnection)
        return server.transport

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
