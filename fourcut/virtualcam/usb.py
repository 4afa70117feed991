# -*- test-case-name: tests.virtualcam.test_usb_transport -*-
"""
The USB side of the virtual camera: the device end of the virtual USB cable
that fourcut's port library (C{iolib/fourcut_usb.c}) plugs into libgphoto2.

The port library connects to a Unix socket; L{VirtualUSBFactory} serves it
for one camera device (anything with L{CameraDevice}'s interface: C{handle},
C{end_session}, C{session_open} and a C{send_event} attribute it sets). The
frames are described in L{fourcut.virtualcam.usbwire}. What the camera does
with them is what a PTP still-image-class USB device does:

  - a connection asks who is there (HELLO, answered with the USB ids) and
    may then claim the interface (CLAIM); one claim at a time, like a USB
    interface that one process has claimed;
  - bulk OUT bytes are PTP containers: a command, and for operations that
    send data to the camera, the data container after it;
  - each answer goes back as device-to-host transfers: the data container
    (if any), then the response container; events go out as interrupt
    transfers;
  - class requests 0x64-0x67 (cancel, extended event data, device reset,
    device status), port reset and clear-halt are answered;
  - L{VirtualUSBFactory.unplug} drops every connection and refuses new
    ones, so the listing probe finds nothing and libgphoto2 sees no camera.

Bytes that break the protocol close only the connection that sent them.
"""

import collections
import struct

from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from fourcut.virtualcam import ptp, usbwire
from fourcut.virtualcam.ptpip import OperationRequest

__all__ = ["VirtualUSBFactory", "VirtualUSBConnection", "DEFAULT_USB_IDS",
           "HOST_TO_DEVICE_OPERATIONS"]

#: USB ids of a device no libgphoto2 model claims (the pid.codes test
#: id), so a generic camera is found by its interface class, as a "USB PTP
#: Class Camera". A device with a C{usb_ids} attribute gives its own, e.g.
#: C{(0x04a9, 0x3272)} for a Canon EOS 700D.
DEFAULT_USB_IDS = (0x1209, 0x0001)

#: Interface class, subclass and protocol: still image, PTP.
PTP_INTERFACE = (6, 1, 1)

#: Operations whose command container is followed by a host-to-device data
#: container. USB, unlike PTP/IP, does not say so in the request: a device
#: knows its operations. A device may add its own with a
#: C{usb_host_data_operations} attribute.
HOST_TO_DEVICE_OPERATIONS = frozenset([
    0x100C,  # SendObjectInfo
    0x100D,  # SendObject
    0x1016,  # SetDevicePropValue
    0x9006,  # Canon GetObjectHandleByName
    0x9110,  # Canon EOS SetDevicePropValueEx
    0x9804,  # MTP SetObjectPropValue
    0x9806,  # MTP SetObjectPropList
    0x9808,  # MTP SendObjectPropList
    0x9811,  # MTP SetObjectReferences
])

#: Class-specific requests of the still image class.
CANCEL_REQUEST = 0x64
GET_EXTENDED_EVENT_DATA = 0x65
DEVICE_RESET_REQUEST = 0x66
GET_DEVICE_STATUS = 0x67
#: Standard GET_STATUS.
GET_STATUS = 0x00

#: Operations a host may queue behind the one in progress.
MAX_QUEUED_OPERATIONS = 4

#: HELLOs one connection may send: a probe asks once or twice.
MAX_HELLOS = 8

#: The host sends these before (and, HELLO, after) its claim.
_PRE_CLAIM = frozenset([usbwire.HELLO, usbwire.CLAIM])


class VirtualUSBConnection(Protocol):
    """
    One connection from the port library: a listing probe, a detection
    query, or (after CLAIM) an open port.
    """

    log = Logger()

    def __init__(self):
        self.claimed = False
        self.pid = None
        self._frames = usbwire.FrameReader()
        self._containers = None
        self._pending_data = None   # a command waiting for its data
        self._queue = collections.deque()
        self._in_progress = False
        # Bumped by reset and cancel: answers of older operations are
        # dropped.
        self._generation = 0
        self._idle_timeout = None
        self._hellos = 0
        self._inbox = collections.deque()   # frames read, not yet acted on
        self._paused = False
        self._closing = False

    # Connection life ------------------------------------------------------

    def connectionMade(self):
        factory = self.factory
        factory.connections_made += 1
        if factory.unplugged:
            self.transport.abortConnection()
            return
        factory.connections.add(self)
        # Stop reading from a host that does not read what we send it.
        self.transport.registerProducer(self, True)
        self._idle_timeout = factory.reactor.callLater(
            factory.claim_timeout, self._violation, "no claim in time")

    def pauseProducing(self):
        self._paused = True
        self.transport.pauseProducing()

    def resumeProducing(self):
        self._paused = False
        self.transport.resumeProducing()
        self._process()

    def stopProducing(self):
        pass

    def connectionLost(self, reason):
        self._closing = True
        factory = self.factory
        factory.connections.discard(self)
        if self._idle_timeout is not None and self._idle_timeout.active():
            self._idle_timeout.cancel()
        if self.claimed:
            factory.release(self)

    def _violation(self, why):
        self._closing = True
        self.log.warn("closing virtual USB connection: {why}", why=why)
        self.factory.violations += 1
        self.transport.abortConnection()

    def _write(self, data):
        if not self._closing and not self.factory.unplugged:
            self.transport.write(data)

    # Frames ---------------------------------------------------------------

    def dataReceived(self, data):
        try:
            self._inbox.extend(self._frames.feed(data))
        except usbwire.ProtocolError as e:
            self._violation(str(e))
            return
        self._process()

    def _process(self):
        """
        Act on the frames read so far, stopping while the host does not
        read our answers (what one read brought stays in the inbox).
        """
        try:
            while self._inbox and not self._paused and not self._closing:
                self._frame(*self._inbox.popleft())
        except usbwire.ProtocolError as e:
            self._violation(str(e))

    def _frame(self, frame_type, payload):
        factory = self.factory
        if frame_type == usbwire.HELLO:
            self._hellos += 1
            if self._hellos > MAX_HELLOS:
                raise usbwire.ProtocolError("too many HELLOs")
            vendor, product = factory.usb_ids
            self._write(usbwire.ident(vendor, product, *PTP_INTERFACE,
                                      claimed=factory.claimed_by_anyone))
        elif frame_type == usbwire.CLAIM:
            self._claim(payload)
        elif not self.claimed:
            raise usbwire.ProtocolError(
                "frame type 0x%02x before a claim" % (frame_type,))
        elif frame_type == usbwire.BULK_OUT:
            for found in self._containers.feed(payload):
                self._container(found)
        elif frame_type == usbwire.CONTROL:
            self._control(*usbwire.parse_setup(payload))
        elif frame_type == usbwire.RESET:
            self._reset()
            self._write(usbwire.frame(usbwire.RESET_DONE))
        elif frame_type == usbwire.CLEAR_HALT:
            if len(payload) != 1 or payload[0] > 2:
                raise usbwire.ProtocolError("bad CLEAR_HALT")
            factory.halts_cleared += 1
            self._write(usbwire.frame(usbwire.HALT_CLEARED))

    def _claim(self, payload):
        if self.claimed:
            raise usbwire.ProtocolError("second CLAIM")
        if len(payload) != 4:
            raise usbwire.ProtocolError("CLAIM must carry a u32 pid")
        self.pid = struct.unpack("<I", payload)[0]
        if self._idle_timeout.active():
            self._idle_timeout.cancel()
        if not self.factory.claim(self):
            self.log.info("refusing pid {pid}: the interface is claimed",
                          pid=self.pid)
            self._write(usbwire.frame(usbwire.BUSY))
            self._closing = True
            self.transport.loseConnection()
            return
        self.claimed = True
        self._containers = usbwire.ContainerReader(self.factory.max_data)
        self.log.info("claimed by pid {pid}", pid=self.pid)
        self._write(usbwire.frame(usbwire.CLAIMED))

    # PTP containers -------------------------------------------------------

    def _container(self, found):
        pending = self._pending_data
        if found.type == usbwire.COMMAND_BLOCK:
            if pending is not None:
                raise usbwire.ProtocolError(
                    "command 0x%04x while 0x%04x waits for its data"
                    % (found.code, pending.code))
            if found.code in self.factory.host_data_operations:
                self._pending_data = OperationRequest(
                    2, found.code, found.transaction_id, found.params)
            else:
                self._enqueue(OperationRequest(
                    1, found.code, found.transaction_id, found.params), None)
            return
        # A data container: the data phase of the waiting command.
        if pending is None:
            raise usbwire.ProtocolError("data container without a command")
        if (found.code != pending.code
                or found.transaction_id != pending.transaction_id):
            raise usbwire.ProtocolError(
                "data container 0x%04x/%d does not match 0x%04x/%d"
                % (found.code, found.transaction_id, pending.code,
                   pending.transaction_id))
        self._pending_data = None
        self._enqueue(pending, found.payload)

    def _enqueue(self, request, data):
        if len(self._queue) >= MAX_QUEUED_OPERATIONS:
            raise usbwire.ProtocolError("too many operations queued")
        self._queue.append((request, data))
        self._next_operation()

    def _next_operation(self):
        if self._in_progress or not self._queue:
            return
        request, data = self._queue.popleft()
        self._in_progress = True
        generation = self._generation
        d = self.factory.device.handle(request, data)
        d.addCallback(self._reply, request, generation)
        d.addErrback(lambda f: self.log.failure("sending reply", f))

    def _reply(self, reply, request, generation):
        if generation != self._generation:
            return      # reset or cancelled: the host no longer waits
        self._in_progress = False
        if self._closing or self.factory.unplugged:
            return
        tid = request.transaction_id
        out = []
        if reply.data is not None and reply.code == ptp.RC_OK:
            out += usbwire.bulk_in_transfer(usbwire.container(
                usbwire.DATA_BLOCK, request.code, tid, reply.data))
        out += usbwire.bulk_in_transfer(usbwire.container(
            usbwire.RESPONSE_BLOCK, reply.code, tid,
            usbwire.params_payload(reply.params[:5])))
        self.transport.writeSequence(out)
        self._next_operation()

    def _forget_operations(self):
        self._generation += 1
        self._in_progress = False
        self._pending_data = None
        self._queue.clear()
        self._containers = usbwire.ContainerReader(self.factory.max_data)

    def _reset(self):
        """
        A device reset: the PTP session and anything in flight are gone;
        the claim stays (libusb keeps the handle across a reset).
        """
        self.factory.resets += 1
        self._forget_operations()
        self.factory.device.end_session()
        self.log.info("device reset by pid {pid}", pid=self.pid)

    # Control requests -----------------------------------------------------

    def _control(self, request_type, request, value, index, length, data):
        kind = request_type & usbwire.REQUEST_TYPE_MASK
        factory = self.factory
        factory.control_requests.append((request_type, request))
        del factory.control_requests[:-64]
        reply = None
        if kind == usbwire.REQUEST_CLASS:
            if request == CANCEL_REQUEST and len(data) == 6:
                self.log.info("transaction {tid} cancelled",
                              tid=struct.unpack_from("<I", data, 2)[0])
                self._forget_operations()
                reply = b""
            elif request == DEVICE_RESET_REQUEST:
                factory.device_reset_requests += 1
                self._forget_operations()
                factory.device.end_session()
                reply = b""
            elif request == GET_DEVICE_STATUS:
                busy = self._in_progress or self._pending_data is not None
                reply = struct.pack("<HH", 4, ptp.RC_DeviceBusy if busy
                                    else ptp.RC_OK)
        elif kind == usbwire.REQUEST_STANDARD and request == GET_STATUS:
            reply = b"\x00\x00"
        if reply is None:
            self._write(usbwire.control_reply(stall=True))
            return
        self._write(usbwire.control_reply(reply[:length]))

    # Events ---------------------------------------------------------------

    def send_event(self, code, transaction_id, params):
        self._write(usbwire.interrupt(code, transaction_id, params))


class VirtualUSBFactory(Factory):
    """
    Serves the virtual USB cable for one camera device and lets one host
    claim it at a time.

    @ivar unplugged: while true every connection is dropped at once and the
        listing probe finds no camera.
    @ivar claimed_by_other: fault: while true every claim is refused, as if
        another process held the interface.
    @ivar connections: the connections now open.
    @ivar connections_made: every connection ever accepted (probes too).
    @ivar claims, resets, device_reset_requests, halts_cleared, violations:
        counters for tests.
    """

    protocol = VirtualUSBConnection
    log = Logger()

    def __init__(self, reactor, device, max_data=usbwire.MAX_PAYLOAD,
                 claim_timeout=10.0):
        self.reactor = reactor
        self.device = device
        device.send_event = self.send_event
        self.max_data = max_data
        self.claim_timeout = claim_timeout
        self.unplugged = False
        self.claimed_by_other = False
        self.claimer = None
        self.connections = set()
        self.connections_made = 0
        self.claims = 0
        self.resets = 0
        self.device_reset_requests = 0
        self.halts_cleared = 0
        self.violations = 0
        self.control_requests = []

    @property
    def usb_ids(self):
        return tuple(getattr(self.device, "usb_ids", DEFAULT_USB_IDS))

    @property
    def host_data_operations(self):
        extra = getattr(self.device, "usb_host_data_operations", ())
        return HOST_TO_DEVICE_OPERATIONS | frozenset(extra)

    @property
    def claimed_by_anyone(self):
        return self.claimer is not None or self.claimed_by_other

    def claim(self, connection):
        if self.claimed_by_anyone or self.unplugged:
            return False
        self.claimer = connection
        self.claims += 1
        return True

    def release(self, connection):
        """
        The claiming host went away (closed the port, exited or died): its
        session goes with it.
        """
        if connection is self.claimer:
            self.claimer = None
            self.device.end_session()
            self.log.info("released by pid {pid}", pid=connection.pid)

    def send_event(self, code, transaction_id, params):
        if self.claimer is not None and not self.unplugged:
            self.claimer.send_event(code, transaction_id, params)

    # Faults ---------------------------------------------------------------

    def unplug(self):
        """
        Pull the cable: drop every connection mid-whatever and refuse new
        ones until L{replug}; the port vanishes from libgphoto2's list.
        """
        self.unplugged = True
        for connection in list(self.connections):
            connection.transport.abortConnection()

    def replug(self):
        self.unplugged = False

    def claim_by_other(self, on=True):
        """
        Fault: refuse claims as if another process held the interface.
        """
        self.claimed_by_other = on

    @property
    def session_open(self):
        """
        True while a host holds the claim.
        """
        return self.claimer is not None
