"""
The virtual camera as a USB camera: fourcut's port library
(C{fourcut/virtualcam/iolib/fourcut_usb.so}, built by C{./dev build_iolib})
loaded by the real gphoto2 CLI and the real python-gphoto2, and the camera
side of its Unix socket (L{fourcut.virtualcam.usb}).

Nothing here is skipped: without gphoto2, python-gphoto2 or the built
library these tests fail.
"""

import json
import os
import shutil
import struct
import sys
import tempfile

from twisted.internet import defer, reactor
from twisted.internet.endpoints import UNIXClientEndpoint, UNIXServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fourcut.camera import processes
from fourcut.errors import classify
from fourcut.stream.jpeg import JPEGSplitter
from fourcut.virtualcam import ptp, usbport, usbwire
from fourcut.virtualcam.device import Reply
from fourcut.virtualcam.usbport import MissingLibrary
from fourcut.virtualcam.usb import (DEFAULT_USB_IDS, DEVICE_RESET_REQUEST,
                                    GET_DEVICE_STATUS, VirtualUSBFactory)

from tests.support import USBGPhoto2Runner, jpeg_size, start_usb_camera
from tests.support.time import sleep

CAMERA_FRAME_TYPES = frozenset([
    usbwire.IDENT, usbwire.CLAIMED, usbwire.BUSY, usbwire.CONTROL_REPLY,
    usbwire.RESET_DONE, usbwire.HALT_CLEARED, usbwire.BULK_IN,
    usbwire.INTERRUPT])

CLAIM_ERROR = b"Could not claim the USB device"



async def until(predicate, timeout=10.0, why="condition"):
    deadline = reactor.seconds() + timeout
    while not predicate():
        if reactor.seconds() > deadline:
            raise AssertionError("timed out waiting for " + why)
        await sleep(0.01)


def command(code, tid, *params):
    return usbwire.container(usbwire.COMMAND_BLOCK, code, tid,
                             usbwire.params_payload(params))


def bulk_out(data):
    return usbwire.frame(usbwire.BULK_OUT, data)


def claim_frame(pid=4242):
    return usbwire.frame(usbwire.CLAIM, struct.pack("<I", pid))


def control_frame(request_type, request, value=0, index=0, length=0,
                  data=b""):
    return usbwire.frame(usbwire.CONTROL, usbwire.SETUP.pack(
        request_type, request, value, index, length) + data)


class Children:
    """
    Every child a test starts, ended by PID (SIGKILL) when the test ends.
    """

    def __init__(self, testcase):
        self.transports = []
        testcase.addCleanup(self.end_all)

    def started(self, transport):
        self.transports.append(transport)

    def end_all(self):
        for transport in self.transports:
            if transport.pid is not None:
                try:
                    transport.signalProcess("KILL")
                except Exception:
                    pass


# A host speaking the socket protocol by hand ---------------------------------

class RawUSBHost(Protocol):
    """
    Records the frames the camera sends and when it hangs up.
    """

    def __init__(self):
        self.reader = usbwire.FrameReader(allowed_types=CAMERA_FRAME_TYPES)
        self.frames = []
        self.closed = defer.Deferred()
        self.gone = False

    def dataReceived(self, data):
        self.frames += self.reader.feed(data)

    def connectionLost(self, reason):
        self.gone = True
        self.closed.callback(None)

    async def next_frame(self, timeout=5.0):
        await until(lambda: self.frames or self.gone, timeout, "a frame")
        if not self.frames:
            raise AssertionError("the camera hung up")
        return self.frames.pop(0)

    async def transfer(self):
        """
        The next whole device-to-host transfer (interrupts are skipped).
        """
        data = b""
        while True:
            kind, payload = await self.next_frame()
            if kind == usbwire.INTERRUPT:
                continue
            assert kind == usbwire.BULK_IN, kind
            data += payload[1:]
            if payload[0] & 1:
                return data

    def send(self, data):
        self.transport.write(data)


class FakeDevice:
    """
    A device that answers from a table and records what it was asked.
    """

    def __init__(self):
        self.requests = []
        self.replies = {}
        self.session_open = False
        self.sessions_ended = 0
        self.send_event = None
        self.pending = None

    def handle(self, request, data=None):
        self.requests.append((request, data))
        if request.code == ptp.OC_OpenSession:
            self.session_open = True
        if request.code == 0x9999:      # never answered
            self.pending = defer.Deferred()
            return self.pending
        return defer.succeed(self.replies.get(request.code, Reply()))

    def end_session(self):
        self.session_open = False
        self.sessions_ended += 1


class CameraSideTests(TestCase):
    """
    L{VirtualUSBFactory} spoken to by hand: the framing, containers,
    claims, events, control requests and faults the port library relies on.
    """

    async def setUp(self):
        self.device = FakeDevice()
        self.factory = VirtualUSBFactory(reactor, self.device)
        self.directory = tempfile.mkdtemp(prefix="fourcut-test-vusb-")
        self.addCleanup(shutil.rmtree, self.directory, True)
        self.path = os.path.join(self.directory, "camera.sock")
        listening = await UNIXServerEndpoint(reactor, self.path).listen(
            self.factory)
        self.addCleanup(listening.stopListening)

    async def connect(self):
        host = await UNIXClientEndpoint(reactor, self.path).connect(
            Factory.forProtocol(RawUSBHost))
        self.addCleanup(lambda: host.transport.abortConnection()
                        if not host.gone else None)
        return host

    async def claimed_host(self):
        host = await self.connect()
        host.send(claim_frame())
        self.assertEqual(await host.next_frame(), (usbwire.CLAIMED, b""))
        return host

    async def test_ident_default_ids(self):
        """
        HELLO is answered with ids no libgphoto2 model has, and the still
        image class, so the camera is detected by class.
        """
        host = await self.connect()
        host.send(usbwire.frame(usbwire.HELLO))
        kind, payload = await host.next_frame()
        self.assertEqual(kind, usbwire.IDENT)
        self.assertEqual(usbwire.IDENT_PAYLOAD.unpack(payload),
                         DEFAULT_USB_IDS + (6, 1, 1, 0))

    async def test_ident_device_ids(self):
        self.device.usb_ids = (0x04A9, 0x3272)
        host = await self.connect()
        host.send(usbwire.frame(usbwire.HELLO))
        kind, payload = await host.next_frame()
        self.assertEqual(usbwire.IDENT_PAYLOAD.unpack(payload)[:2],
                         (0x04A9, 0x3272))

    async def test_one_claim_at_a_time(self):
        """
        A second claim is refused (BUSY, then the camera hangs up) and the
        ident says claimed; when the first host goes, its session goes too
        and the next claim succeeds.
        """
        first = await self.claimed_host()
        self.assertTrue(self.factory.session_open)
        second = await self.connect()
        second.send(usbwire.frame(usbwire.HELLO))
        kind, payload = await second.next_frame()
        self.assertEqual(usbwire.IDENT_PAYLOAD.unpack(payload)[-1], 1)
        second.send(claim_frame())
        self.assertEqual(await second.next_frame(), (usbwire.BUSY, b""))
        await second.closed
        first.transport.loseConnection()
        await first.closed
        await until(lambda: not self.factory.session_open)
        self.assertEqual(self.device.sessions_ended, 1)
        await self.claimed_host()
        self.assertEqual(self.factory.claims, 2)

    async def test_operation_with_data(self):
        """
        A command gets a data transfer (the data container) and then a
        response transfer, each flagged as the end of its transfer.
        """
        self.device.replies[ptp.OC_GetDeviceInfo] = Reply(
            data=b"info", params=[7])
        host = await self.claimed_host()
        host.send(bulk_out(command(ptp.OC_GetDeviceInfo, 3)))
        data = await host.transfer()
        self.assertEqual(data, usbwire.container(
            usbwire.DATA_BLOCK, ptp.OC_GetDeviceInfo, 3, b"info"))
        response = await host.transfer()
        self.assertEqual(response, usbwire.container(
            usbwire.RESPONSE_BLOCK, ptp.RC_OK, 3, struct.pack("<I", 7)))
        [(request, sent)] = self.device.requests
        self.assertEqual((request.code, request.transaction_id,
                          request.data_phase, sent),
                         (ptp.OC_GetDeviceInfo, 3, 1, None))

    async def test_zero_length_packet(self):
        """
        A data container of exactly 512 bytes is followed by a zero-length
        transfer, as a USB device ends a transfer of whole packets.
        """
        self.device.replies[ptp.OC_GetObject] = Reply(data=b"x" * 500)
        host = await self.claimed_host()
        host.send(bulk_out(command(ptp.OC_GetObject, 1, 5)))
        self.assertEqual(len(await host.transfer()), 512)
        self.assertEqual(await host.next_frame(), (usbwire.BULK_IN, b"\x01"))
        response = await host.transfer()
        self.assertEqual(len(response), 12)

    async def test_large_transfer_in_pieces(self):
        """
        A transfer bigger than a frame arrives in pieces; only the last is
        flagged.
        """
        blob = os.urandom(3 * usbwire.BULK_IN_CHUNK + 100)
        self.device.replies[ptp.OC_GetObject] = Reply(data=blob)
        host = await self.claimed_host()
        host.send(bulk_out(command(ptp.OC_GetObject, 1, 5)))
        flags = []
        data = b""
        while not flags or not flags[-1]:
            kind, payload = await host.next_frame()
            flags.append(payload[0] & 1)
            data += payload[1:]
        self.assertEqual(flags, [0, 0, 0, 1])
        self.assertEqual(data[12:], blob)

    async def test_host_data_phase(self):
        """
        SetDevicePropValue's data container, written in pieces and followed
        by a zero-length write, reaches the device with its command.
        """
        host = await self.claimed_host()
        data = usbwire.container(usbwire.DATA_BLOCK,
                                 ptp.OC_SetDevicePropValue, 9,
                                 struct.pack("<H", 800))
        host.send(bulk_out(command(ptp.OC_SetDevicePropValue, 9, 0x500F)))
        host.send(bulk_out(data[:5]))
        host.send(bulk_out(data[5:]))
        host.send(bulk_out(b""))
        response = await host.transfer()
        self.assertEqual(struct.unpack_from("<HH", response, 4),
                         (usbwire.RESPONSE_BLOCK, ptp.RC_OK))
        [(request, sent)] = self.device.requests
        self.assertEqual((request.data_phase, request.params, sent),
                         (2, (0x500F,), struct.pack("<H", 800)))

    async def test_events_on_the_interrupt_channel(self):
        """
        Events go to the claiming host as interrupt transfers, at most
        three parameters; nobody gets them while nothing is claimed.
        """
        self.device.send_event(ptp.EC_ObjectAdded, 4, [1])
        host = await self.claimed_host()
        self.device.send_event(ptp.EC_ObjectAdded, 5, [2, 3, 4, 5])
        kind, payload = await host.next_frame()
        self.assertEqual(kind, usbwire.INTERRUPT)
        self.assertEqual(payload, usbwire.container(
            usbwire.EVENT_BLOCK, ptp.EC_ObjectAdded, 5,
            struct.pack("<III", 2, 3, 4)))
        self.assertEqual(host.frames, [])

    async def test_reset(self):
        """
        A port reset ends the device's session and forgets an operation
        in flight; the claim stays.
        """
        host = await self.claimed_host()
        host.send(bulk_out(command(ptp.OC_OpenSession, 0, 1)))
        await host.transfer()
        self.assertTrue(self.device.session_open)
        host.send(bulk_out(command(0x9999, 1)))
        await until(lambda: self.device.pending is not None)
        host.send(usbwire.frame(usbwire.RESET))
        self.assertEqual(await host.next_frame(), (usbwire.RESET_DONE, b""))
        self.assertFalse(self.device.session_open)
        self.assertEqual(self.factory.resets, 1)
        self.device.pending.callback(Reply())     # too late: dropped
        host.send(bulk_out(command(ptp.OC_OpenSession, 0, 1)))
        response = await host.transfer()
        self.assertEqual(struct.unpack_from("<I", response, 8)[0], 0)
        self.assertTrue(self.factory.session_open)

    async def test_control_requests(self):
        """
        The still image class requests: device status (busy while an
        operation is in flight), device reset; anything else stalls.
        """
        host = await self.claimed_host()
        host.send(control_frame(0xA1, GET_DEVICE_STATUS, length=4))
        self.assertEqual(await host.next_frame(),
                         (usbwire.CONTROL_REPLY,
                          b"\x00" + struct.pack("<HH", 4, ptp.RC_OK)))
        host.send(bulk_out(command(0x9999, 1)))
        await until(lambda: self.device.pending is not None)
        host.send(control_frame(0xA1, GET_DEVICE_STATUS, length=4))
        self.assertEqual(await host.next_frame(),
                         (usbwire.CONTROL_REPLY, b"\x00" + struct.pack(
                             "<HH", 4, ptp.RC_DeviceBusy)))
        host.send(control_frame(0x21, DEVICE_RESET_REQUEST))
        self.assertEqual(await host.next_frame(),
                         (usbwire.CONTROL_REPLY, b"\x00"))
        self.assertEqual(self.factory.device_reset_requests, 1)
        self.assertEqual(self.device.sessions_ended, 1)
        host.send(control_frame(0xC0, 0x42, length=8))
        self.assertEqual(await host.next_frame(),
                         (usbwire.CONTROL_REPLY, b"\x01"))
        host.send(usbwire.frame(usbwire.CLEAR_HALT, b"\x00"))
        self.assertEqual(await host.next_frame(),
                         (usbwire.HALT_CLEARED, b""))

    async def test_unplug(self):
        """
        Unplugging drops the claimed host at once and refuses newcomers
        (the listing probe gets no answer) until the replug.
        """
        host = await self.claimed_host()
        self.factory.unplug()
        await host.closed
        self.assertFalse(self.factory.session_open)
        probe = await self.connect()
        probe.send(usbwire.frame(usbwire.HELLO))
        await probe.closed
        self.assertEqual(probe.frames, [])
        self.factory.replug()
        await self.claimed_host()

    async def test_claim_by_other(self):
        self.factory.claim_by_other()
        host = await self.connect()
        host.send(usbwire.frame(usbwire.HELLO) + claim_frame())
        kind, payload = await host.next_frame()
        self.assertEqual(usbwire.IDENT_PAYLOAD.unpack(payload)[-1], 1)
        self.assertEqual(await host.next_frame(), (usbwire.BUSY, b""))
        self.factory.claim_by_other(False)
        await self.claimed_host()

    async def assertClosedAlone(self, payload, claim=False):
        """
        C{payload} makes the camera hang up on its sender only: another
        claimed host still gets answers.
        """
        if claim:
            keeper = await self.connect()
            bad = await self.claimed_host()
        else:
            keeper = await self.claimed_host()
            bad = await self.connect()
        bad.send(payload)
        await bad.closed
        self.assertEqual(self.factory.violations, 1)
        if claim:
            await until(lambda: not self.factory.session_open)
            keeper.send(claim_frame())
            self.assertEqual(await keeper.next_frame(),
                             (usbwire.CLAIMED, b""))
        keeper.send(bulk_out(command(ptp.OC_GetDeviceInfo, 0)))
        response = await keeper.transfer()
        self.assertEqual(struct.unpack_from("<H", response, 6)[0],
                         ptp.RC_OK)

    def test_huge_frame(self):
        return defer.ensureDeferred(self.assertClosedAlone(
            struct.pack("<IB", 0xFFFFFFF0, usbwire.BULK_OUT)))

    def test_unknown_frame_type(self):
        return defer.ensureDeferred(self.assertClosedAlone(
            struct.pack("<IB", 0, 0x77)))

    def test_bulk_before_claim(self):
        return defer.ensureDeferred(self.assertClosedAlone(
            bulk_out(command(ptp.OC_GetDeviceInfo, 0))))

    def test_short_command_container(self):
        return defer.ensureDeferred(self.assertClosedAlone(
            bulk_out(struct.pack("<IHHIB", 13, 1, 0x1001, 0, 0)), claim=True))

    def test_gigabyte_data_container(self):
        return defer.ensureDeferred(self.assertClosedAlone(
            bulk_out(command(ptp.OC_SetDevicePropValue, 1, 0x500F)
                     + struct.pack("<IHHI", 1 << 30, 2, 0x1016, 1)),
            claim=True))

    def test_data_without_command(self):
        return defer.ensureDeferred(self.assertClosedAlone(
            bulk_out(usbwire.container(usbwire.DATA_BLOCK, 0x1016, 1, b"1")),
            claim=True))

    def test_response_container_from_host(self):
        return defer.ensureDeferred(self.assertClosedAlone(
            bulk_out(usbwire.container(usbwire.RESPONSE_BLOCK, 0x2001, 1)),
            claim=True))

    def test_bad_setup_packet(self):
        return defer.ensureDeferred(self.assertClosedAlone(
            usbwire.frame(usbwire.CONTROL, b"\x80"), claim=True))

    def test_garbage_after_claim(self):
        return defer.ensureDeferred(self.assertClosedAlone(
            b"\x00" * 3 + b"\xff" * 64, claim=True))

    def test_hello_flood(self):
        return defer.ensureDeferred(self.assertClosedAlone(
            usbwire.frame(usbwire.HELLO) * 100))

    async def test_host_that_does_not_read(self):
        """
        A claimed host that writes requests but never reads the answers is
        no longer read from once the camera's send buffer is full, so the
        camera buffers boundedly.
        """
        self.device.replies[ptp.OC_GetObject] = Reply(data=b"z" * 300000)
        host = await self.claimed_host()
        host.transport.pauseProducing()
        request = bulk_out(command(ptp.OC_GetObject, 1, 5))
        for _ in range(200):
            host.send(request)
        await sleep(0.3)
        self.assertLess(len(self.device.requests), 50)
        host.transport.resumeProducing()
        await until(lambda: len(self.device.requests) == 200,
                    why="all requests")

    async def test_idle_connection_closed(self):
        """
        A connection that never claims is closed after the claim timeout,
        so idle sockets cannot pile up.
        """
        self.factory.claim_timeout = 0.2
        host = await self.connect()
        await host.closed
        self.assertEqual(self.factory.connections, set())


# The port library driven through libgphoto2_port's API ----------------------

class ScriptedCamera(Protocol):
    """
    A camera that claims like the real one and answers each bulk write
    with frames the test scripts: C{factory.script[written bytes]} is a
    list of raw byte strings to send, or the string "hang up".
    """

    def connectionMade(self):
        self.reader = usbwire.FrameReader()

    def dataReceived(self, data):
        for kind, payload in self.reader.feed(data):
            if kind == usbwire.HELLO:
                self.transport.write(usbwire.ident(*DEFAULT_USB_IDS))
            elif kind == usbwire.CLAIM:
                self.transport.write(usbwire.frame(usbwire.CLAIMED))
            elif kind == usbwire.BULK_OUT and payload:
                for piece in self.factory.script[payload]:
                    if piece == "hang up":
                        self.transport.abortConnection()
                        return
                    self.transport.write(piece)


def bulk_in(data, last=True):
    return usbwire.frame(usbwire.BULK_IN, (b"\x01" if last else b"\x00")
                         + data)


class PortLibraryTests(TestCase):
    """
    fourcut_usb.so under libgphoto2_port's own API (in a child, with
    ctypes): USB read semantics, timeouts, a camera that vanishes, and the
    ids, class, status and reset calls libgphoto2's PTP driver makes.
    """

    def setUp(self):
        self.children = Children(self)
        self.directory = tempfile.mkdtemp(prefix="fourcut-test-vusb-")
        self.addCleanup(shutil.rmtree, self.directory, True)
        self.path = os.path.join(self.directory, "camera.sock")

    async def scripted(self, script):
        factory = Factory.forProtocol(ScriptedCamera)
        factory.script = script
        listening = await UNIXServerEndpoint(reactor, self.path).listen(
            factory)
        self.addCleanup(listening.stopListening)

    async def run_steps(self, *steps, env=None):
        env = dict(usbport.child_env(self.path) if env is None else env,
                   PYTHONPATH=os.pathsep.join(sys.path))
        result = await processes.run(
            reactor, [sys.executable, "-m", "tests.support.usbport_client",
                      json.dumps(steps)], 30, env=env,
            on_start=self.children.started)
        self.assertTrue(result.ok, result)
        return json.loads(result.stdout)

    async def test_reads_follow_transfers(self):
        """
        A read returns at most the rest of the current transfer, joining
        the frames of one transfer and never two transfers; a zero-length
        transfer reads as 0 bytes; interrupts do not disturb bulk reads.
        """
        event = usbwire.interrupt(ptp.EC_ObjectAdded, 1, [9])
        await self.scripted({b"go": [
            bulk_in(b"a" * 60, last=False), event, bulk_in(b"b" * 40),
            bulk_in(b"c" * 512), bulk_in(b""), bulk_in(b"d" * 20),
            bulk_in(b"e" * 100)]})
        results = await self.run_steps(
            ["open"], ["write", b"go".hex()], ["read", 30], ["read", 4096],
            ["check_int", 24], ["read", 512], ["read", 512], ["read", 10],
            ["read", 4096], ["read", 50], ["read", 4096], ["close"])
        self.assertEqual([r["rc"] for r in results],
                         [0, 2, 30, 70, 16, 512, 0, 10, 10, 50, 50, 0])
        self.assertEqual(bytes.fromhex(results[3]["data"]),
                         b"a" * 30 + b"b" * 40)
        self.assertEqual(bytes.fromhex(results[4]["data"]), event[5:])
        self.assertEqual(bytes.fromhex(results[8]["data"]), b"d" * 10)

    async def test_timeouts(self):
        """
        A read or an interrupt check with nothing to come times out after
        the port's timeout; an interrupt check with timeout 0 does not wait.
        """
        await self.scripted({})
        results = await self.run_steps(
            ["open"], ["timeout", 300], ["read", 512], ["check_int", 24],
            ["timeout", 0], ["check_int", 24])
        self.assertEqual([r["rc"] for r in results[2:]], [-10, -10, 0, -10])
        for result in results[2:4]:
            self.assertGreaterEqual(result["ms"], 290)
            self.assertLess(result["ms"], 1500)
        self.assertLess(results[5]["ms"], 100)

    async def test_camera_vanishes_mid_transfer(self):
        """
        A camera that hangs up in the middle of a transfer fails the read
        at once with an I/O error, and later writes too (no SIGPIPE).
        """
        await self.scripted({b"go": [bulk_in(b"x" * 100, last=False),
                                     "hang up"]})
        results = await self.run_steps(
            ["open"], ["timeout", 10000], ["write", b"go".hex()],
            ["read", 4096], ["error"], ["write", b"more".hex()],
            ["read", 512], ["check_int", 24])
        self.assertEqual([r["rc"] for r in results[3:]],
                         [-34, 0, -35, -34, -34])
        self.assertLess(results[3]["ms"], 1000)
        self.assertIn("closed the connection", results[4]["text"])

    async def test_oversized_frame_from_camera(self):
        await self.scripted({b"go": [struct.pack("<IB", 5 << 20,
                                                 usbwire.BULK_IN)]})
        results = await self.run_steps(["open"], ["write", b"go".hex()],
                                       ["read", 512], ["error"])
        self.assertEqual(results[2]["rc"], -34)
        self.assertIn("oversized", results[3]["text"])

    async def test_ids_class_status_reset(self):
        """
        Against the real camera side: the port is listed only while the
        camera answers; find_device matches its ids and fills in the
        endpoints; class matching; device status; clear-halt; reset.
        """
        camera = await start_usb_camera(self)
        self.path = camera.socket_path
        results = await self.run_steps(
            ["list"], ["find_device", 0x04A9, 0x3272],
            ["find_device", *DEFAULT_USB_IDS], ["find_class", 666, -1, -1],
            ["find_class", 6, 1, 1], ["open"],
            ["class_read", GET_DEVICE_STATUS, 0, 0, 4],
            ["clear_halt", 0], ["reset"], ["close"])
        self.assertIn(usbport.PORT, results[0]["paths"])
        self.assertEqual([r["rc"] for r in results[1:]],
                         [-52, 0, -52, 0, 0, 4, 0, 0, 0])
        self.assertEqual(results[2]["usb"], {
            "inep": 0x81, "outep": 0x02, "intep": 0x83, "config": 1,
            "interface": 0, "altsetting": 0, "maxpacketsize": 512})
        self.assertEqual(bytes.fromhex(results[6]["data"]),
                         struct.pack("<HH", 4, ptp.RC_OK))
        self.assertEqual((camera.factory.halts_cleared,
                          camera.factory.resets), (1, 1))

    async def test_claim_refused_and_camera_gone(self):
        """
        open fails with GP_ERROR_IO_USB_CLAIM while the camera is claimed
        elsewhere, and with GP_ERROR_IO_USB_FIND once it has gone; with no
        socket configured nothing is listed.
        """
        camera = await start_usb_camera(self)
        self.path = camera.socket_path
        camera.claim_by_other()
        claimed = await self.run_steps(["open"], ["error"])
        self.assertEqual(claimed[0]["rc"], -53)
        self.assertIn("Device or resource busy", claimed[1]["text"])
        camera.claim_by_other(False)
        gone = await self.run_steps(["open"], ["list"], ["open"])
        self.assertEqual(gone[0]["rc"], 0)
        self.assertEqual(gone[1]["paths"].count(usbport.PORT), 1)
        await camera.stop()
        after = await self.run_steps(["list"])
        self.assertNotIn(usbport.PORT, after[0]["paths"])
        env = usbport.child_env(self.path)
        del env[usbport.SOCKET_ENV]
        unset = await self.run_steps(["list"], env=env)
        self.assertNotIn(usbport.PORT, unset[0]["paths"])


class PortEnvironmentTests(TestCase):
    """
    The IOLIBS directories the children get.
    """

    def test_directories(self):
        """
        One directory per libgphoto2: fourcut's library and the stock
        non-USB libraries of that libgphoto2, never usb1.so.
        """
        for flavour in (usbport.CLI, usbport.PYTHON):
            directory = usbport.iolibs_dir(flavour)
            names = sorted(os.listdir(directory))
            self.assertEqual(names, sorted(
                ["fourcut_usb.so", "disk.so", "ptpip.so", "serial.so",
                 "usbdiskdirect.so", "usbscsi.so"]), flavour)
            stock = usbport.stock_iolibs(flavour)
            self.assertEqual(os.path.realpath(os.path.join(directory,
                                                           "ptpip.so")),
                             os.path.realpath(os.path.join(stock,
                                                           "ptpip.so")))
            self.assertTrue(os.path.exists(os.path.join(stock, "usb1.so")))
        self.assertNotEqual(usbport.iolibs_dir(usbport.CLI),
                            usbport.iolibs_dir(usbport.PYTHON))

    def test_names_carry_the_pid(self):
        """
        The directories' names carry the process's PID, so that another
        process can tell when they are abandoned.
        """
        for flavour in (usbport.CLI, usbport.PYTHON):
            self.assertTrue(os.path.basename(usbport.iolibs_dir(
                flavour)).startswith("fourcut-iolibs-%s-%d-"
                                     % (flavour, os.getpid())))

    def test_abandoned_removed(self):
        """
        Directories of a process that is gone (killed outright, so it
        removed nothing) are removed; those of a living process, and
        anything else in the temporary directory, stay.
        """
        import subprocess
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        temp = self.mktemp()
        os.mkdir(temp)
        names = {
            "abandoned cli": "fourcut-iolibs-cli-%d-abcd" % (gone.pid,),
            "abandoned python": "fourcut-iolibs-python-%d-efgh" % (gone.pid,),
            "alive": "fourcut-iolibs-cli-%d-ijkl" % (os.getpid(),),
            "old style": "fourcut-iolibs-cli-mnop",
            "other": "fourcut-bench-%d-qrst" % (gone.pid,),
        }
        for name in names.values():
            os.mkdir(os.path.join(temp, name))
            os.symlink("/nowhere", os.path.join(temp, name, "ptpip.so"))
        removed = usbport.remove_abandoned_iolibs(temp)
        self.assertEqual(sorted(removed), sorted(
            os.path.join(temp, names[key])
            for key in ("abandoned cli", "abandoned python")))
        self.assertEqual(sorted(os.listdir(temp)), sorted(
            names[key] for key in ("alive", "old style", "other")))

    def test_child_env(self):
        env = usbport.child_env("camera.sock", usbport.PYTHON, base={"A": "1"})
        self.assertEqual(env["A"], "1")
        self.assertEqual(env["IOLIBS"], usbport.iolibs_dir(usbport.PYTHON))
        self.assertEqual(env["FOURCUT_IOLIBS"], env["IOLIBS"])
        self.assertEqual(env[usbport.SOCKET_ENV],
                         os.path.abspath("camera.sock"))

    def test_library_built(self):
        """
        ./dev builds the library into the package; without it the helpers
        say how to build it.
        """
        self.assertTrue(os.path.isfile(usbport.library_path()))
        self.patch(os, "environ", dict(os.environ,
                                       FOURCUT_VUSB_LIBRARY="/nonexistent"))
        error = self.assertRaises(usbport.MissingLibrary,
                                  usbport.library_path)
        self.assertIn("./dev build_iolib", str(error))


# The real gphoto2 CLI --------------------------------------------------------

class GPhoto2USBTests(TestCase):
    """
    What a booth operator does with gphoto2 and a USB camera, against the
    virtual camera through fourcut's port library. gphoto2 auto-detects,
    as with the one camera of a booth.
    """

    async def setUp(self):
        self.camera = await start_usb_camera(self)
        self.gphoto2 = USBGPhoto2Runner(self, self.camera)

    async def get_config(self, name):
        result = await self.gphoto2.run("--get-config", name)
        self.assertTrue(result.ok, result)
        lines = result.stdout.decode().splitlines()
        return [line.split(": ", 1)[1] for line in lines
                if line.startswith("Current: ")][0]

    def detected(self, result):
        lines = result.stdout.decode().splitlines()[2:]
        return [line.split() for line in lines if line.strip()]

    async def test_auto_detect(self):
        result = await self.gphoto2.run("--auto-detect")
        self.assertTrue(result.ok, result)
        self.assertEqual(self.detected(result),
                         [["USB", "PTP", "Class", "Camera", "usb:001,007"]])
        ports = await self.gphoto2.run("--list-ports")
        self.assertIn(b"usb:001,007                      Universal Serial Bus",
                      ports.stdout)

    async def test_summary(self):
        result = await self.gphoto2.run("--summary")
        self.assertTrue(result.ok, result)
        text = result.stdout.decode()
        self.assertIn("Model: Virtual DSLR", text)
        self.assertIn("store_00010001", text)
        self.assertFalse(self.camera.session_open)

    async def test_explicit_port_and_model(self):
        result = await USBGPhoto2Runner(
            self, self.camera, "usb:001,007", "USB PTP Class Camera").run(
                "--summary")
        self.assertTrue(result.ok, result)
        generic = await USBGPhoto2Runner(self, self.camera, "usb:").run(
            "--summary")
        self.assertTrue(generic.ok, generic)
        wrong = await USBGPhoto2Runner(self, self.camera, "usb:001,008").run(
            "--summary")
        self.assertNotEqual(wrong.exit_code, 0, wrong)

    async def test_iso_round_trip(self):
        self.assertEqual(await self.get_config("iso"), "400")
        result = await self.gphoto2.run("--set-config", "iso=800")
        self.assertTrue(result.ok, result)
        self.assertEqual(await self.get_config("iso"), "800")
        self.assertEqual(
            self.camera.device.properties[ptp.DPC_ExposureIndex].value, 800)

    async def test_capture_image_and_download(self):
        """
        A full-size JPEG on stdout. (Afterwards gphoto2 drains events for
        twice 3 s, as it does with any generic USB PTP camera: libgphoto2
        reads the interrupt endpoint twice with a 3 s timeout.)
        """
        result = await self.gphoto2.run("--capture-image-and-download",
                                        "--stdout")
        self.assertTrue(result.ok, result)
        self.assertEqual(jpeg_size(result.stdout), (2592, 1728))
        self.assertEqual(self.camera.device.objects, {})

    async def test_capture_movie(self):
        result = await self.gphoto2.run("--capture-movie=2s", "--stdout")
        self.assertTrue(result.ok, result)
        splitter = JPEGSplitter()
        frames = splitter.feed(result.stdout)
        self.assertEqual(splitter.skipped, 0)
        self.assertEqual(sum(map(len, frames)), len(result.stdout))
        self.assertGreater(len(frames), 20)
        for frame in frames[:3] + frames[-3:]:
            self.assertEqual(jpeg_size(frame), (960, 640))

    async def test_second_opener_refused(self):
        """
        While one gphoto2 holds the camera, another gets libgphoto2's claim
        error, which fourcut reads as busy (503), not absent.
        """
        movie = self.gphoto2.run("--capture-movie=3s", "--stdout")
        await until(lambda: self.camera.session_open, why="the claim")
        second = await self.gphoto2.run("--summary")
        self.assertNotEqual(second.exit_code, 0, second)
        self.assertIn(b"An error occurred in the io-library ('Could not "
                      b"claim the USB device'): Could not claim interface 0 "
                      b"(Device or resource busy).", second.stderr)
        self.assertEqual(classify(second.stderr.decode()), 503)
        first = await movie
        self.assertTrue(first.ok, first)

    async def test_claimed_by_other(self):
        """
        The claim fault refuses gphoto2 as another process would. (gphoto2
        2.5.28 exits 0 from a failed --capture-movie: the failure is only
        in its stderr, as in the booth logs.)
        """
        self.camera.claim_by_other()
        refused = await self.gphoto2.run("--capture-movie=1s", "--stdout")
        self.assertIn(CLAIM_ERROR, refused.stderr)
        self.assertIn(b"Movie capture error", refused.stderr)
        self.assertEqual(refused.stdout, b"")
        summary = await self.gphoto2.run("--summary")
        self.assertEqual(summary.exit_code, 1, summary)
        self.assertIn(CLAIM_ERROR, summary.stderr)
        self.camera.claim_by_other(False)
        result = await self.gphoto2.run("--summary")
        self.assertTrue(result.ok, result)

    async def assertNoCamera(self):
        detect = await self.gphoto2.run("--auto-detect")
        self.assertTrue(detect.ok, detect)
        self.assertEqual(self.detected(detect), [])
        summary = await self.gphoto2.run("--summary")
        self.assertNotEqual(summary.exit_code, 0, summary)
        self.assertIn(b"Could not detect any camera", summary.stderr)
        self.assertEqual(classify(summary.stderr.decode()), 504)

    async def test_camera_stopped(self):
        await self.camera.stop()
        await self.assertNoCamera()

    async def test_no_socket_configured(self):
        env = self.gphoto2.env()
        del env[usbport.SOCKET_ENV]
        result = await self.gphoto2.run("--auto-detect", env=env)
        self.assertEqual(self.detected(result), [])

    async def test_unplugged_and_replugged(self):
        self.camera.unplug()
        await self.assertNoCamera()
        self.camera.replug()
        result = await self.gphoto2.run("--summary")
        self.assertTrue(result.ok, result)

    async def test_unplug_during_movie(self):
        """
        Pulling the cable during live view ends gphoto2's movie within a
        moment, with its movie error (gphoto2 still exits 0, see
        L{test_claimed_by_other}); after a replug the camera works again.
        """
        movie = self.gphoto2.run("--capture-movie=20s", "--stdout")
        await until(lambda: self.camera.device.frames_served >= 5,
                    why="live view")
        unplugged_at = reactor.seconds()
        self.camera.unplug()
        result = await movie
        self.assertLess(reactor.seconds() - unplugged_at, 3.0)
        self.assertFalse(result.timed_out)
        self.assertIn(b"ERROR: Movie capture error... Exiting.",
                      result.stderr)
        self.assertGreater(len(JPEGSplitter().feed(result.stdout)), 2)
        self.camera.replug()
        replugged = await self.gphoto2.run("--summary")
        self.assertTrue(replugged.ok, replugged)

    async def test_reset(self):
        """
        gphoto2 --reset (auto-detected, or with the port) resets the
        device; the camera still works after it.
        """
        result = await self.gphoto2.run("--reset")
        self.assertTrue(result.ok, result)
        self.assertEqual(self.camera.factory.resets, 1)
        result = await USBGPhoto2Runner(self, self.camera,
                                        "usb:001,007").run("--reset")
        self.assertTrue(result.ok, result)
        self.assertEqual(self.camera.factory.resets, 2)
        summary = await self.gphoto2.run("--summary")
        self.assertTrue(summary.ok, summary)

    async def test_canon_ids_detected_as_700d(self):
        """
        The USB ids alone make libgphoto2 name the model.
        """
        self.camera.device.usb_ids = (0x04A9, 0x3272)
        result = await self.gphoto2.run("--auto-detect")
        self.assertEqual(self.detected(result),
                         [["Canon", "EOS", "700D", "usb:001,007"]])

    async def test_hostile_connection_during_movie(self):
        """
        Junk on the socket while gphoto2 streams closes only the junk's
        connection.
        """
        movie = self.gphoto2.run("--capture-movie=2s", "--stdout")
        await until(lambda: self.camera.session_open, why="the claim")
        host = await UNIXClientEndpoint(
            reactor, self.camera.socket_path).connect(
                Factory.forProtocol(RawUSBHost))
        host.send(b"\xff" * 64)
        await host.closed
        result = await movie
        self.assertTrue(result.ok, result)
        self.assertEqual(self.camera.factory.violations, 1)


class PythonGPhoto2USBTests(TestCase):
    """
    python-gphoto2 (the wheel, its own libgphoto2) in a child process finds
    and drives the USB camera once the child puts IOLIBS back after
    C{import gphoto2}.
    """

    async def setUp(self):
        self.camera = await start_usb_camera(self)
        self.children = Children(self)
        self.outdir = self.mktemp()
        os.makedirs(self.outdir)

    async def client(self, action, port="usb:001,007",
                     model="USB PTP Class Camera"):
        home = self.mktemp()
        os.makedirs(home)
        env = self.camera.env(usbport.PYTHON)
        env.update(HOME=home, PYTHONPATH=os.pathsep.join(sys.path))
        result = await processes.run(
            reactor, [sys.executable, "-m", "tests.support.pygphoto2_client", port,
                      model, action, self.outdir], 60, env=env,
            on_start=self.children.started)
        self.assertTrue(result.ok, result)
        return json.loads(result.stdout)

    async def test_detect_and_read_iso(self):
        result = await self.client("detect")
        self.assertEqual(result, {
            "detected": [["USB PTP Class Camera", "usb:001,007"]],
            "iso": "400"})

    async def test_config_round_trip(self):
        result = await self.client("config")
        self.assertEqual(result["before"], "400")
        self.assertEqual(result["after"], "1600")

    async def test_capture_and_preview(self):
        result = await self.client("capture")
        self.assertEqual(result["name"], "IMG_0001.JPG")
        with open(os.path.join(self.outdir, "capture.jpg"), "rb") as f:
            self.assertEqual(jpeg_size(f.read()), (2592, 1728))
        preview = await self.client("preview")
        self.assertEqual(preview["mime_types"], ["image/jpeg"] * 3)


class LibraryPathTests(SynchronousTestCase):
    """
    Where C{fourcut_usb.so} is not, L{usbport.library_path} and
    L{usbport.check} say what is missing and the way out: the note
    C{setup.py} leaves when it could not build the library, else how to
    build it.
    """

    def setUp(self):
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        self.built = os.path.join(directory, usbport.LIBRARY_NAME)
        self.note = os.path.join(directory, "fourcut_usb.missing")
        self.patch(usbport, "BUILT", self.built)
        self.patch(usbport, "NOTE", self.note)
        environ = dict(os.environ)
        environ.pop(usbport.LIBRARY_ENV, None)
        self.patch(os, "environ", environ)

    def test_built(self):
        with open(self.built, "wb"):
            pass
        self.assertEqual(usbport.library_path(), self.built)
        usbport.check()

    def test_not_built_in_a_checkout(self):
        error = self.assertRaises(MissingLibrary, usbport.check)
        self.assertEqual(
            str(error),
            "%s is missing: build it with ./dev build_iolib, or reinstall "
            "fourcut with gcc and libgphoto2's headers present (Debian: gcc, "
            "libgphoto2-dev), or use camera.virtual_transport: ptpip, which "
            "needs no library" % (self.built,))

    def test_not_built_by_pip(self):
        with open(self.note, "w") as f:
            f.write("C compiler (x86_64-linux-gnu-gcc; Debian: gcc)\n")
        error = self.assertRaises(MissingLibrary, usbport.library_path)
        self.assertEqual(
            str(error),
            "fourcut's USB port library (fourcut_usb.so) was not built when "
            "fourcut was installed: no C compiler (x86_64-linux-gnu-gcc; "
            "Debian: gcc); install it and reinstall fourcut, or use "
            "camera.virtual_transport: ptpip, which needs no library")

    def test_stock_libraries_missing(self):
        with open(self.built, "wb"):
            pass

        def stock(flavour):
            raise MissingLibrary("no %s port libraries" % (flavour,))

        self.patch(usbport, "stock_iolibs", stock)
        error = self.assertRaises(MissingLibrary, usbport.check)
        self.assertEqual(str(error), "no cli port libraries")
