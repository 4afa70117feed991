"""
Hostile bytes from a host close that connection and leave the camera
serving others.
"""

import struct

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import TestCase

from fourcut.virtualcam import ptpip

from tests.support import GPhoto2Runner, start_camera
from tests.support.time import sleep


class RawHost(Protocol):
    """
    A TCP client that records what the camera sends and when it hangs up.
    """

    def __init__(self):
        self.received = b""
        self.closed = defer.Deferred()

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.closed.callback(self.received)


def init_command_request():
    return ptpip.packet(ptpip.INIT_COMMAND_REQUEST,
                        b"G" * 16 + "host\0".encode("utf-16-le")
                        + struct.pack("<HH", 0, 1))


class HostileHostTests(TestCase):
    async def setUp(self):
        self.camera = await start_camera(self)
        self.gphoto2 = GPhoto2Runner(self, self.camera.port)
        address = self.camera._listening.getHost()
        self.endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1",
                                           address.port)

    async def connect(self):
        host = await self.endpoint.connect(Factory.forProtocol(RawHost))
        self.addCleanup(host.transport.abortConnection)
        return host

    async def assertClosedAfter(self, payload, host=None):
        """
        Send C{payload}; the camera must hang up, and still serve gphoto2.
        """
        if host is None:
            host = await self.connect()
        host.transport.write(payload)
        received = await host.closed
        result = await self.gphoto2.run("--summary")
        self.assertTrue(result.ok, result)
        self.assertEqual(self.camera.factory.connections, set())
        return received

    async def test_length_under_eight(self):
        await self.assertClosedAfter(struct.pack("<II", 4, 1))

    async def test_length_zero(self):
        await self.assertClosedAfter(struct.pack("<II", 0, 1))

    async def test_gigabyte_length(self):
        """
        A header announcing gigabytes is refused at once, before the camera
        buffers anything.
        """
        await self.assertClosedAfter(struct.pack("<II", 0xFFFFFFF0, 1))

    async def test_unknown_packet_type(self):
        await self.assertClosedAfter(struct.pack("<II", 8, 99))

    async def test_request_before_init(self):
        request = ptpip.packet(ptpip.OPERATION_REQUEST,
                               struct.pack("<IHI", 1, 0x1001, 0))
        await self.assertClosedAfter(request)

    async def test_garbage_after_init(self):
        """
        A host that starts properly and then sends junk loses its session,
        which frees the camera for the next host.
        """
        host = await self.connect()
        host.transport.write(init_command_request())
        while len(host.received) < 8:
            await sleep(0.01)
        self.assertEqual(struct.unpack_from("<I", host.received, 4)[0],
                         ptpip.INIT_COMMAND_ACK)
        self.assertTrue(self.camera.session_open)
        await self.assertClosedAfter(b"\x00" * 3 + b"\xff" * 64, host)

    async def test_oversized_host_data_phase(self):
        """
        A data phase announcing more than the camera accepts is refused.
        """
        request = ptpip.packet(ptpip.OPERATION_REQUEST,
                               struct.pack("<IHII", 2, 0x1016, 1, 0x500F))
        start = ptpip.packet(ptpip.START_DATA,
                             struct.pack("<IQ", 1, 1 << 40))
        await self.assertClosedAfter(init_command_request() + request + start)

    async def test_idle_connection_closed(self):
        """
        A connection that never initialises is closed after the init
        timeout, so idle sockets cannot pile up.
        """
        self.camera.factory.init_timeout = 0.2
        host = await self.connect()
        await host.closed
        self.assertEqual(self.camera.factory.connections, set())

    async def test_hostile_host_does_not_disturb_session(self):
        """
        While a hostile host is connected (and refused), a gphoto2 session
        runs normally.
        """
        movie = self.gphoto2.run("--capture-movie=1s", "--stdout")
        while not self.camera.session_open:
            await sleep(0.02)
        host = await self.connect()
        host.transport.write(init_command_request())
        received = await host.closed
        result = await movie
        self.assertTrue(result.ok, result)
        self.assertEqual(struct.unpack_from("<II", received),
                         (12, ptpip.INIT_FAIL))
