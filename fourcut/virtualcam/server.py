# -*- test-case-name: tests.virtualcam.test_ptpip -*-
"""
The PTP/IP side of the virtual camera: connections, sessions and packets.

A PTP/IP host opens two TCP connections to one port: a command connection
(InitCommandRequest) and an event connection (InitEventRequest carrying the
connection number the device handed out). Like a USB camera that one
process has claimed, the camera holds one session at a time: another host
that asks while a session is open gets InitFail.
"""

import collections
import os

from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from fourcut.virtualcam import ptpip
from fourcut.virtualcam.device import CameraDevice

__all__ = ["PTPIPConnection", "PTPIPFactory"]

COMMAND = "command"
EVENT = "event"

#: Operations a host may queue behind the one in progress; a well-behaved
#: host never queues any.
MAX_QUEUED_OPERATIONS = 4


class PTPIPConnection(Protocol):
    """
    One TCP connection from a host; its first packet decides whether it is
    the command or the event connection of a session.
    """

    log = Logger()

    def __init__(self):
        self.role = None
        self.connection_number = None
        self._queue = collections.deque()
        self._in_progress = False
        self._incoming = None       # [request, expected length, chunks, size]
        self._init_timeout = None
        self._ack_call = None

    # Connection life ------------------------------------------------------

    def connectionMade(self):
        factory = self.factory
        if factory.unplugged:
            self.transport.abortConnection()
            return
        self.reader = ptpip.PacketReader(factory.max_packet)
        factory.connections.add(self)
        self._init_timeout = factory.reactor.callLater(
            factory.init_timeout, self._violation, "no Init request in time")

    def connectionLost(self, reason):
        factory = self.factory
        factory.connections.discard(self)
        for call in (self._init_timeout, self._ack_call):
            if call is not None and call.active():
                call.cancel()
        factory.connection_ended(self)

    def _violation(self, why):
        self.log.warn("closing PTP/IP connection from {peer}: {why}",
                      peer=self.transport.getPeer(), why=why)
        self.transport.abortConnection()

    # Packets --------------------------------------------------------------

    def dataReceived(self, data):
        try:
            packets = self.reader.feed(data)
        except ptpip.ProtocolError as e:
            self._violation(str(e))
            return
        for packet_type, payload in packets:
            try:
                self._packet(packet_type, payload)
            except ptpip.ProtocolError as e:
                self._violation(str(e))
                return
            if not self.transport.connected:
                return

    def _packet(self, packet_type, payload):
        if packet_type == ptpip.PROBE_REQUEST:
            self.transport.write(ptpip.packet(ptpip.PROBE_RESPONSE))
            return
        if packet_type == ptpip.PROBE_RESPONSE:
            return
        if self.role is None:
            self._init(packet_type, payload)
        elif self.role == COMMAND:
            self._command_packet(packet_type, payload)
        else:
            raise ptpip.ProtocolError(
                "packet type %d on the event connection" % (packet_type,))

    def _init(self, packet_type, payload):
        if self._init_timeout.active():
            self._init_timeout.cancel()
        factory = self.factory
        if packet_type == ptpip.INIT_COMMAND_REQUEST:
            guid, name = ptpip.parse_init_command_request(payload)
            if not factory.claim(self):
                self.log.info("refusing {name!r}: another host holds the "
                              "session", name=name)
                self.transport.write(ptpip.init_fail(ptpip.FAIL_BUSY))
                self.transport.loseConnection()
                return
            self.role = COMMAND
            self.log.info("session opened by {name!r}", name=name)
            self._ack_call = factory.reactor.callLater(
                factory.startup_delay, self._acknowledge)
        elif packet_type == ptpip.INIT_EVENT_REQUEST:
            number = ptpip.parse_init_event_request(payload)
            if not factory.attach_events(self, number):
                self.transport.write(ptpip.init_fail(ptpip.FAIL_REJECTED_INITIATOR))
                self.transport.loseConnection()
                return
            self.role = EVENT
            self.transport.write(ptpip.init_event_ack())
        else:
            raise ptpip.ProtocolError(
                "packet type %d before initialisation" % (packet_type,))

    def _acknowledge(self):
        self._ack_call = None
        self.transport.write(ptpip.init_command_ack(
            self.connection_number, self.factory.guid,
            self.factory.friendly_name))

    def _command_packet(self, packet_type, payload):
        if packet_type == ptpip.OPERATION_REQUEST:
            if self._incoming is not None:
                raise ptpip.ProtocolError("request during a data phase")
            request = ptpip.parse_operation_request(payload)
            if request.data_phase == 2:
                self._incoming = [request, None, [], 0]
                return
            self._enqueue(request, None)
        elif packet_type == ptpip.START_DATA:
            if self._incoming is None or self._incoming[1] is not None:
                raise ptpip.ProtocolError("unexpected StartData")
            tid, total = ptpip.parse_start_data(payload)
            if total > self.factory.max_packet:
                raise ptpip.ProtocolError("data phase of %d bytes" % (total,))
            self._incoming[1] = total
            if total == 0:
                # libgphoto2 sends no Data/EndData for an empty data phase.
                request = self._incoming[0]
                self._incoming = None
                self._enqueue(request, b"")
        elif packet_type in (ptpip.DATA, ptpip.END_DATA):
            if self._incoming is None or self._incoming[1] is None:
                raise ptpip.ProtocolError("Data without StartData")
            tid, chunk = ptpip.parse_data(payload)
            incoming = self._incoming
            incoming[2].append(chunk)
            incoming[3] += len(chunk)
            if incoming[3] > incoming[1]:
                raise ptpip.ProtocolError("more data than StartData announced")
            if packet_type == ptpip.END_DATA:
                self._incoming = None
                self._enqueue(incoming[0], b"".join(incoming[2]))
        elif packet_type == ptpip.CANCEL:
            pass
        else:
            raise ptpip.ProtocolError(
                "packet type %d on the command connection" % (packet_type,))

    # Operations -----------------------------------------------------------

    def _enqueue(self, request, data):
        if len(self._queue) >= MAX_QUEUED_OPERATIONS:
            raise ptpip.ProtocolError("too many operations queued")
        self._queue.append((request, data))
        self._next_operation()

    def _next_operation(self):
        if self._in_progress or not self._queue:
            return
        if self._ack_call is not None:
            raise ptpip.ProtocolError("operation before InitCommandAck")
        request, data = self._queue.popleft()
        self._in_progress = True
        d = self.factory.device.handle(request, data)
        d.addCallback(self._reply, request)
        d.addErrback(lambda f: self.log.failure("sending reply", f))

    def _reply(self, reply, request):
        self._in_progress = False
        if not self.transport.connected or self.factory.unplugged:
            return
        tid = request.transaction_id
        if reply.data is not None and reply.code == 0x2001:
            self.transport.writeSequence(ptpip.data_packets(tid, reply.data))
        self.transport.write(
            ptpip.operation_response(reply.code, tid, reply.params))
        try:
            self._next_operation()
        except ptpip.ProtocolError as e:
            self._violation(str(e))


class PTPIPFactory(Factory):
    """
    Accepts PTP/IP connections for one L{CameraDevice} and enforces one
    session at a time.

    @ivar unplugged: while true, every connection is dropped at once, as if
        the USB cable were out.
    @ivar startup_delay: seconds between InitCommandRequest and the Ack.
    """

    protocol = PTPIPConnection
    log = Logger()
    friendly_name = "fourcut virtual camera"

    def __init__(self, reactor, device=None, startup_delay=0.0,
                 max_packet=ptpip.DEFAULT_MAX_PACKET, init_timeout=10.0):
        self.reactor = reactor
        self.device = device or CameraDevice(reactor)
        self.device.send_event = self.send_event
        self.startup_delay = startup_delay
        self.max_packet = max_packet
        self.init_timeout = init_timeout
        self.guid = os.urandom(16)
        self.unplugged = False
        self.connections = set()
        self.command = None
        self.events = None
        self._numbers = 0

    def claim(self, connection):
        """
        Give C{connection} the session if nobody holds it.
        """
        if self.command is not None:
            return False
        self._numbers += 1
        connection.connection_number = self._numbers
        self.command = connection
        return True

    def attach_events(self, connection, number):
        if (self.command is None or self.events is not None
                or number != self.command.connection_number):
            return False
        self.events = connection
        return True

    def connection_ended(self, connection):
        """
        Either half of a session going away ends the whole session.
        """
        if connection is self.command or connection is self.events:
            other = self.events if connection is self.command else self.command
            self.command = self.events = None
            self.device.end_session()
            if other is not None:
                other.transport.loseConnection()
            self.log.info("session closed")

    def send_event(self, code, transaction_id, params):
        if self.events is not None and not self.unplugged:
            self.events.transport.write(
                ptpip.event(code, transaction_id, params))

    def unplug(self):
        """
        Drop every connection and refuse new ones until L{replug}.
        """
        self.unplugged = True
        # A reset, not a close: gphoto2 then reports "Connection reset by
        # peer" (and, writing CloseSession to the dead socket, dies of
        # SIGPIPE), which is as abrupt as a pulled USB cable.
        for connection in list(self.connections):
            connection.transport.abortConnection()

    def replug(self):
        self.unplugged = False

    @property
    def session_open(self):
        return self.command is not None

    @property
    def sessions_opened(self):
        """
        PTP/IP sessions opened so far: hosts that were given the session
        (each one a camera initialisation to gphoto2).
        """
        return self._numbers
