"""
Issue 25's attacks, in memory: clients that pipeline and never read, a
WebSocket message that never ends, busy strangers holding every slot,
multi-range requests on the booth's files, token guessing, anonymous
clients taking every downscaled size, the timing of C{/share}, and the
small 500s and leaks. The same shapes against the real server on the
virtual camera, with live view measured beside them, are in
L{tests.integration.test_hostile}.
"""

import json
import os

from twisted.internet import _producer_helpers
from twisted.internet.abstract import FileDescriptor
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import (Certificate, PrivateCertificate,
                                  optionsForClientTLS)
from twisted.internet.task import Cooperator
from twisted.internet.testing import StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.trial.unittest import SynchronousTestCase

from fourcut.booth import links
from fourcut.booth.strip import METADATA_READ
from fourcut.camera.gphoto2 import HOME_NAME, keep_home
from fourcut.services import GPhoto2HomeService
from fourcut.camera.gphoto2 import GPhoto2
from fourcut.stream.broadcast import Broadcaster
from fourcut.stream.scaled import ScaledStreams, SizeError
from fourcut.web.access import AccessPolicy, RateLimitedLog
from fourcut.web.cors import CORSPolicy
from fourcut.web.guesses import CAP, GuessThrottle
from fourcut.web.limits import EVICT_AFTER
from fourcut.web.ws.flowcontrol import MAX_FRAGMENTS

from tests.support.tls import make_certificate
from tests.support.access import TOKEN, WRONG
from tests.support.memory import MemorySite
from tests.support.wsmemory import WebSocketSite

#: WebSocket opcodes.
TEXT, CONTINUATION = 0x1, 0x0

HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


def capture_logs(testcase):
    events = []
    globalLogPublisher.addObserver(events.append)
    testcase.addCleanup(globalLogPublisher.removeObserver, events.append)
    return events


def texts(events):
    return [formatEvent(event) or "" for event in events]


class _Socket(FileDescriptor):
    """
    What L{fourcut.stream.sockets.unsent_bytes} finds under a
    L{FullTransport}: a Twisted socket whose buffer is what the client
    has not read.
    """

    offset = 0
    _tempDataLen = 0

    def __init__(self, above):
        # Not FileDescriptor's: it would set a buffer of its own.
        self.above = above

    @property
    def dataBuffer(self):
        return self.above.value()


class FullTransport(StringTransport):
    """
    A transport that, like Twisted's TCP one, tells its producer to pause
    once more than C{bound} bytes wait unsent, and to resume when the
    client has read them (L{drain}).
    """

    bound = 4096

    def __init__(self):
        StringTransport.__init__(
            self, hostAddress=IPv4Address("TCP", "127.0.0.1", 8080),
            peerAddress=IPv4Address("TCP", "192.0.2.9", 40000))
        self.full = False
        self.transport = _Socket(self)

    def setTcpNoDelay(self, enabled):
        # TLS over this says it is TCP.
        pass

    def write(self, data):
        StringTransport.write(self, data)
        if (not self.full and self.producer is not None
                and len(self.value()) > self.bound):
            self.full = True
            self.producer.pauseProducing()

    def drain(self):
        read = self.value()
        self.clear()
        if self.full:
            self.full = False
            self.producer.resumeProducing()
        return read


class UnreadAnswersTests(SynchronousTestCase):
    """
    A client that pipelines requests and never reads the answers.
    """

    #: server.max_unsent_bytes: the smallest allowed, far over the
    #: transport's own buffer.
    budget = 65536

    def setUp(self):
        # Pipelined requests served as fast as they come (their rate is
        # PipelineRateTests').
        self.site = MemorySite(self, {"server": {
            "unread_timeout": 20.0, "commands_per_second": 1e9,
            "max_unsent_bytes": self.budget}})
        self.transport = FullTransport()
        self.connection = self.site.factory.buildProtocol(
            self.transport.getPeer())
        self.connection.makeConnection(self.transport)
        self.channel = self.connection.wrappedProtocol

    def test_reading_stops_while_answers_wait(self):
        """
        Once more than C{server.max_unsent_bytes} wait unread, not one
        more pipelined request is parsed and the socket is not read, even
        in the middle of a request; once the client reads, the rest are
        answered in order.
        """
        self.connection.dataReceived(HEALTH * 1000)
        # One request a turn of the reactor.
        answer = self.transport.value()
        self.assertEqual(answer.count(b"HTTP/1.1 200 OK"), 1)
        self.assertEqual(self.transport.producerState, "paused")
        self.turns(2000)
        answers = self.transport.value().count(b"HTTP/1.1 200 OK")
        self.assertTrue(self.transport.full)
        # The budget's worth of answers, past the transport's own buffer
        # (where twisted.web stopped between requests): not a thousand.
        unread = len(self.transport.value())
        self.assertGreater(unread, self.budget)
        self.assertLessEqual(unread, self.budget + len(answer))
        self.assertLess(answers, 1000)
        self.assertEqual(self.transport.producerState, "paused")
        # More bytes that arrive anyway wait unparsed.
        self.connection.dataReceived(HEALTH * 100)
        self.turns(100)
        self.assertEqual(self.transport.value().count(b"HTTP/1.1 200 OK"),
                         answers)
        total = 0
        for _ in range(5000):
            total += self.transport.drain().count(b"HTTP/1.1 200 OK")
            if total >= 1100:
                break
            self.turns(1)
        self.assertEqual(total, 1100)
        self.assertEqual(self.transport.producerState, "producing")
        self.assertFalse(self.transport.disconnecting)
        # And the connection goes on: the next request is answered.
        self.connection.dataReceived(HEALTH)
        self.turns(1)
        self.assertTrue(self.transport.drain().startswith(
            b"HTTP/1.1 200 OK"))

    def turns(self, count):
        for _ in range(count):
            self.site.clock.advance(0)

    def test_photo_larger_than_the_budget(self):
        """
        The budget is about answers waiting beyond the one in flight: a
        photo several times larger reaches a client that reads, whole,
        and the requests pipelined behind it are answered after it.
        """
        # static.File's producer is pulled by a cooperator: on the
        # site's clock here.
        cooperator = Cooperator(
            scheduler=lambda work: self.site.clock.callLater(0, work))
        self.patch(_producer_helpers, "cooperate", cooperator.cooperate)
        photo = os.urandom(5 * self.budget)
        with open(os.path.join(self.site.photos, "big.jpg"), "wb") as f:
            f.write(photo)
        self.connection.dataReceived(
            b"GET /photos/big.jpg HTTP/1.1\r\nHost: x\r\nAuthorization: "
            b"Bearer " + TOKEN.encode() + b"\r\n\r\n" + HEALTH * 3)
        received = []
        for _ in range(1000):
            self.turns(1)
            received.append(self.transport.drain())
            if b"".join(received).count(b"HTTP/1.1 200 OK") == 4:
                break
            # Never more than one answer's budget waits at once.
            self.assertLessEqual(len(self.transport.value()),
                                 self.budget + 4096)
        data = b"".join(received)
        self.assertTrue(photo in data, data[:300])
        self.assertEqual(data.count(b"HTTP/1.1 200 OK"), 4)
        self.assertGreater(data.rindex(b"HTTP/1.1 200 OK"),
                           data.index(photo))
        self.assertFalse(self.transport.disconnecting)

    def test_dropped_after_the_unread_timeout(self):
        """
        Once answers wait unread, the client has C{unread_timeout}, not
        the request deadline, even for bytes it still sends.
        """
        events = capture_logs(self)
        self.connection.dataReceived(HEALTH * 1000)
        self.turns(100)
        self.connection.dataReceived(b"GET /health HTTP/1.1\r\n")
        self.site.clock.advance(19)
        self.assertFalse(self.transport.disconnecting)
        self.site.clock.advance(1.5)
        self.assertTrue(self.transport.disconnecting)
        self.assertTrue([t for t in texts(events) if "192.0.2.9" in t
                         and "left unread for 20" in t])

    def test_reading_again_forgives(self):
        """
        A slow client that reads in the end is not dropped, and its
        pipelined request after that gets the request deadline again.
        """
        self.connection.dataReceived(HEALTH * 1000)
        self.turns(100)
        self.site.clock.advance(15)
        while self.transport.full:
            self.transport.drain()
        self.site.clock.advance(15)
        self.assertFalse(self.transport.disconnecting)


class ChannelBackPressureTests(SynchronousTestCase):
    """
    What the transport's pause and resume (its buffer full, then read)
    do to the reading of a connection, request by request.
    """

    def connect(self, server=None):
        config = {"access": {"token": TOKEN},
                  "server": dict({"max_unsent_bytes": 65536}, **(server or {}))}
        self.site = MemorySite(self, config)
        self.transport = FullTransport()
        connection = self.site.factory.buildProtocol(
            self.transport.getPeer())
        connection.makeConnection(self.transport)
        return connection, connection.wrappedProtocol

    def test_between_requests_under_the_budget(self):
        """
        Paused between requests with less than the budget unsent, the
        connection is still read (twisted.web alone would stop at its
        64 KiB).
        """
        connection, channel = self.connect()
        connection.dataReceived(HEALTH)
        self.assertIn(b"HTTP/1.1 200 OK", self.transport.value())
        channel.pauseProducing()
        self.assertEqual(self.transport.producerState, "producing")

    def test_exactly_the_budget(self):
        """
        Reading stops once more than the budget waits unsent: the budget
        itself may wait.
        """
        connection, channel = self.connect()
        connection.dataReceived(HEALTH)
        self.transport.drain()
        self.transport.write(b"x" * 65536)
        channel.pauseProducing()
        self.assertEqual(self.transport.producerState, "producing")
        self.transport.write(b"x")
        channel.pauseProducing()
        self.assertEqual(self.transport.producerState, "paused")
        # What arrives anyway waits unparsed.
        connection.dataReceived(HEALTH)
        self.assertNotIn(b"200 OK", self.transport.value())
        self.transport.drain()
        self.assertEqual(self.transport.producerState, "producing")

    def test_turn_pending(self):
        """
        Waiting for its turn at the rate, a pipelined request's
        connection is not read, pause or not.
        """
        connection, channel = self.connect({"commands_per_second": 1})
        connection.dataReceived(HEALTH * 3)
        self.assertEqual(self.transport.value().count(b"200 OK"), 1)
        self.assertEqual(self.transport.producerState, "paused")
        channel.pauseProducing()
        self.assertEqual(self.transport.producerState, "paused")
        self.site.clock.advance(0)
        self.assertEqual(self.transport.value().count(b"200 OK"), 2)

    def test_held_while_answering(self):
        """
        While an answer is being made (a wrong token's waits), a client
        that sends more than twisted.web's small read-ahead is not read,
        however the transport pauses and resumes meanwhile; it is once
        the answer is out.
        """
        connection, channel = self.connect({"commands_per_second": 1e9})
        connection.dataReceived(b"GET /status HTTP/1.1\r\nHost: x\r\n"
                                b"Authorization: Bearer "
                                + WRONG.encode() + b"\r\n\r\n")
        self.assertEqual(self.transport.value(), b"")
        connection.dataReceived(HEALTH * 1000)
        self.assertEqual(self.transport.producerState, "paused")
        channel.pauseProducing()
        self.assertEqual(self.transport.producerState, "paused")
        channel.resumeProducing()
        self.assertEqual(self.transport.producerState, "paused")
        self.site.clock.advance(0.1)
        for _ in range(2000):
            self.transport.drain()
            self.site.clock.advance(0)
        self.assertEqual(self.transport.producerState, "producing")


class Received(Protocol):
    def __init__(self):
        self.data = b""

    def dataReceived(self, data):
        self.data += data


class UnreadOverTLSTests(UnreadAnswersTests):
    """
    The same budget over TLS: what TLS holds and what its transport holds
    below it are counted (L{fourcut.stream.sockets.unsent_bytes}), and
    TLS's own back-pressure pauses the channel.
    """

    def setUp(self):
        self.site = MemorySite(self, {"server": {
            "unread_timeout": 20.0, "commands_per_second": 1e9,
            "max_unsent_bytes": self.budget}})
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        key_path, cert_path, pem = make_certificate(directory)
        with open(key_path, "rb") as key, open(cert_path, "rb") as cert:
            server = PrivateCertificate.loadPEM(key.read() + cert.read())
        self.transport = FullTransport()
        self.tls = TLSMemoryBIOFactory(
            server.options(), False, self.site.factory,
            clock=self.site.clock).buildProtocol(
                self.transport.getPeer())
        self.tls.makeConnection(self.transport)
        self.client = Received()
        self.client_tls = TLSMemoryBIOFactory(
            optionsForClientTLS("127.0.0.1",
                                trustRoot=Certificate.loadPEM(pem)),
            True, Factory.forProtocol(lambda: self.client),
            clock=self.site.clock).buildProtocol(
                self.transport.getHost())
        self.client_wire = StringTransport()
        self.client_tls.makeConnection(self.client_wire)
        # The handshake, both ways.
        for _ in range(10):
            self.pump()
            self.read()
        self.assertIsNotNone(self.client_tls.getPeerCertificate())
        self.connection = self.tls.wrappedProtocol
        self.channel = self.connection.wrappedProtocol
        self.client.data = b""

    def read(self):
        """
        The client reads what waits for it.
        """
        self.site.clock.advance(0)
        data = self.transport.drain()
        if data:
            self.client_tls.dataReceived(data)

    def pump(self):
        # TLS gathers small writes until the next turn of the reactor.
        self.site.clock.advance(0)
        data = self.client_wire.value()
        self.client_wire.clear()
        if data:
            self.tls.dataReceived(data)

    def test_reading_stops_while_answers_wait(self):
        """
        Past the budget (ciphertext waiting in the transport) no more
        pipelined requests are parsed; once the client reads, every one
        is answered.
        """
        self.client_tls.write(HEALTH * 1000)
        self.pump()
        self.turns(3000)
        self.assertTrue(self.transport.full, (
            len(self.transport.value()), self.client_wire.value()[:50],
            self.channel.requests))
        unread = len(self.transport.value())
        self.assertGreater(unread, self.budget)
        self.assertLess(unread, self.budget + 4096)
        self.assertTrue(self.channel._output_paused)
        total = 0
        for _ in range(5000):
            self.read()
            total = self.client.data.count(b"HTTP/1.1 200 OK")
            if total >= 1000:
                break
            self.turns(1)
        self.assertEqual(total, 1000)
        self.assertFalse(self.transport.disconnecting)

    def test_photo_larger_than_the_budget(self):
        """
        A photo several times the budget reaches a TLS client that reads.
        """
        cooperator = Cooperator(
            scheduler=lambda work: self.site.clock.callLater(0, work))
        self.patch(_producer_helpers, "cooperate", cooperator.cooperate)
        photo = os.urandom(5 * self.budget)
        with open(os.path.join(self.site.photos, "big.jpg"), "wb") as f:
            f.write(photo)
        self.client_tls.write(
            b"GET /photos/big.jpg HTTP/1.1\r\nHost: x\r\nAuthorization: "
            b"Bearer " + TOKEN.encode() + b"\r\n\r\n" + HEALTH)
        self.pump()
        for _ in range(1000):
            self.turns(1)
            self.assertLessEqual(len(self.transport.value()),
                                 self.budget + 8192)
            self.read()
            if self.client.data.count(b"HTTP/1.1 200 OK") == 2:
                break
        self.assertTrue(photo in self.client.data, len(self.client.data))
        self.assertEqual(self.client.data.count(b"HTTP/1.1 200 OK"), 2)

    def test_dropped_after_the_unread_timeout(self):
        self.client_tls.write(HEALTH * 1000)
        self.pump()
        self.turns(3000)
        self.site.clock.advance(19)
        self.assertFalse(self.transport.disconnecting)
        self.site.clock.advance(1.5)
        self.assertTrue(self.transport.disconnecting)

    def test_reading_again_forgives(self):
        self.client_tls.write(HEALTH * 1000)
        self.pump()
        self.turns(100)
        self.site.clock.advance(15)
        while self.transport.full:
            self.transport.drain()
            self.turns(1)
        self.site.clock.advance(15)
        self.assertFalse(self.transport.disconnecting)


class PipelineRateTests(SynchronousTestCase):
    def test_pipelined_requests_at_the_rate(self):
        """
        A connection's pipelined requests are served one a turn of the
        reactor, at most C{commands_per_second} a second after a burst
        of as many: a 64 KiB read of C{GET /health} is no longer 1,800
        answers at once.
        """
        site = MemorySite(self, {"server": {"commands_per_second": 10}})
        client = site.raw(HEALTH * 1000, host="192.0.2.3")
        answered = client.data.count(b"HTTP/1.1 200 OK")
        self.assertLessEqual(answered, 11)
        for _ in range(20):
            site.advance(0.1)
        answered = client.data.count(b"HTTP/1.1 200 OK")
        self.assertGreaterEqual(answered, 25)
        self.assertLessEqual(answered, 32)
        # Another connection is not held up by it.
        other = site.raw(HEALTH, host="192.0.2.4")
        self.assertTrue(other.data.startswith(b"HTTP/1.1 200 OK"))


    def test_rate_kept_after_answers_waited(self):
        """
        A client that left its answers unread and then read them all gets
        its next pipelined request answered when its turn at the rate
        comes, not at once.
        """
        site = MemorySite(self, {"server": {
            "unread_timeout": 20.0, "commands_per_second": 100,
            "max_unsent_bytes": 65536}})
        transport = FullTransport()
        connection = site.factory.buildProtocol(transport.getPeer())
        connection.makeConnection(transport)
        connection.dataReceived(HEALTH * 1000)
        # A burst of a hundred, then one each 10 ms, until more than the
        # budget waits unread.
        for _ in range(1000):
            if len(transport.value()) > 65536:
                break
            site.clock.advance(0.004)
        self.assertLess(transport.value().count(b"HTTP/1.1 200 OK"), 1000)
        # Read at once: the next is not due yet.
        transport.drain()
        self.assertEqual(transport.value(), b"")
        for _ in range(3):
            site.clock.advance(0.004)
        self.assertEqual(transport.value().count(b"HTTP/1.1 200 OK"), 1)


class AccessLogRateTests(SynchronousTestCase):
    def test_summarised(self):
        """
        Over the rate, lines are counted, and a line a second says how
        many and for which address most.
        """
        site = MemorySite(self, {"server": {"access_log_rate": 5}})
        events = capture_logs(self)
        for _ in range(40):
            client = site.raw(HEALTH, host="192.0.2.4")
            self.assertIsNotNone(client.response())
        site.advance(1.1)
        lines = [t for t in texts(events) if '"GET /health' in t]
        self.assertLessEqual(len(lines), 6)
        summaries = [t for t in texts(events) if "not logged" in t]
        self.assertEqual(len(summaries), 1, summaries)
        self.assertIn("192.0.2.4", summaries[0])
        self.assertIn("%d more requests" % (40 - len(lines)), summaries[0])

    def test_rate(self):
        from twisted.internet.task import Clock
        clock = Clock()
        written = []
        limited = RateLimitedLog(clock, 10, written.append)
        for second in range(5):
            for _ in range(100):
                limited.line("x\n", "h")
            clock.advance(1.0)
        lines = [w for w in written if w == "x\n"]
        # A second's burst, then the rate: about 10 a second.
        self.assertLessEqual(len(lines), 10 * 5 + 1)
        self.assertGreaterEqual(len(lines), 10 * 4)
        self.assertEqual(len([w for w in written if "not logged" in w]), 5)

    def test_slow_rate_words(self):
        """
        Under one line a second: a burst of one line (never more), what
        each call answers, and the summary word for word, naming the
        address that lost most.
        """
        from twisted.internet.task import Clock
        clock = Clock()
        written = []
        limited = RateLimitedLog(clock, 0.5, written.append)
        self.assertEqual([limited.line(t, h) for t, h in [
            ("a\n", "h1"), ("b\n", "h1"), ("c\n", "h2"), ("d\n", "h2")]],
            [True, False, False, False])
        self.assertEqual(written, ["a\n"])
        clock.advance(1.0)
        self.assertEqual(written[1:], [
            "fourcut: 3 more requests not logged (over "
            "server.access_log_rate, 0.5 lines a second); 2 of them from "
            "h2\n"])
        # A long quiet spell saves up no more than the burst: one line.
        clock.advance(60)
        del written[:]
        self.assertEqual([limited.line("e\n", "h3"),
                          limited.line("f\n", "h3")], [True, False])
        self.assertEqual(written, ["e\n"])
        limited.stop()
        self.assertEqual(clock.getDelayedCalls(), [])


class EndlessMessageTests(SynchronousTestCase):
    """
    A WebSocket message that never ends.
    """

    def setUp(self):
        self.server = WebSocketSite(self, commands_per_second=20.0)

    def test_empty_continuation_frames(self):
        """
        Issue 25's client: a text message started, then empty
        continuation frames, pings answered. Each counts against the
        rate: it is dropped after the burst.
        """
        client = self.server.open()
        client.send_frame(TEXT, b"{", fin=False)
        sent = 0
        while not client.lost and sent < 10000:
            client.send_frame(CONTINUATION, b"", fin=False)
            sent += 1
        self.assertTrue(client.lost)
        self.assertLess(sent, MAX_FRAGMENTS + 1)
        self.assertEqual(self.server.hub.clients, set())

    def test_variants(self):
        """
        A binary message, pings in between, an anonymous client with
        protected live view (which reconnected after each auth timeout):
        dropped the same way.
        """
        for server in (self.server, WebSocketSite(
                self, access=AccessPolicy(TOKEN, preview_public=False))):
            client = server.open()
            client.send_frame(0x2, b"\0", fin=False)
            sent = 0
            while not client.lost and sent < 10000:
                client.send_frame(CONTINUATION, b"", fin=False)
                client.send_frame(0x9, b"p")
                sent += 1
            self.assertTrue(client.lost)
            self.assertLess(sent, MAX_FRAGMENTS + 1)

    def test_fragments_bounded_within_the_rate(self):
        """
        Slowly, within the rate: still at most L{MAX_FRAGMENTS} frames.
        """
        client = self.server.open()
        client.send_frame(TEXT, b"{", fin=False)
        sent = 1
        while not client.lost and sent < 1000:
            self.server.clock.advance(0.1)
            client.send_frame(CONTINUATION, b" ", fin=False)
            sent += 1
        self.assertTrue(client.lost)
        self.assertEqual(sent, MAX_FRAGMENTS + 1)

    def test_message_open_too_long(self):
        """
        A message with few frames that stays open past the message
        timeout (the request deadline) is dropped.
        """
        client = self.server.open()
        client.send_frame(TEXT, b"{", fin=False)
        for _ in range(3):
            self.server.clock.advance(3)
            client.send_frame(CONTINUATION, b" ", fin=False)
        self.assertFalse(client.lost)
        self.server.clock.advance(2)
        self.assertTrue(client.lost)

    def test_fragmented_messages_still_work(self):
        client = self.server.open()
        for _ in range(3):
            client.send_frame(TEXT, b'{"type": ', fin=False)
            client.send_frame(CONTINUATION, b'"get_camera_info"', fin=False)
            client.send_frame(CONTINUATION, b', "requestId": 7}', fin=True)
            self.server.clock.advance(1)
        self.assertFalse(client.lost)
        self.assertEqual(len([m for m in client.messages
                              if m.get("requestId") == 7]), 3)


class BusyStrangersTests(SynchronousTestCase):
    """
    Every unauthenticated slot held by strangers that keep busy: the
    booth's page, its WebSocket and a guest's share link still get in.
    """

    config = {"access": {"token": TOKEN},
              "booth": {"guest_links": True},
              "server": {"max_unauthenticated": 6,
                         "max_unauthenticated_per_address": 6,
                         "max_unauthenticated_hold": 30.0}}

    def setUp(self):
        self.site = MemorySite(self, self.config)
        self.limits = self.site.factory

    def strangers(self, count=6):
        """
        C{count} anonymous live view streams (public): busy connections.
        """
        clients = [self.site.raw(b"GET /preview HTTP/1.1\r\nHost: x\r\n\r\n",
                                 host="192.0.2.66") for _ in range(count)]
        self.assertTrue(all(c.data.startswith(b"HTTP/1.1 200") for c in
                            clients))
        self.assertTrue(all(c.busy for c in self.limits.unauthenticated))
        return clients

    def test_booth_page_and_share_link_get_in(self):
        clients = self.strangers()
        # A stranger's newcomer on probation gets the 503.
        refused = self.site.raw(HEALTH, host="192.0.2.66")
        self.assertTrue(refused.data.startswith(b"HTTP/1.1 503"))
        # The booth's page, its WebSocket handshake and a share link:
        # each closes the oldest stranger and goes on.
        page = self.site.raw(b"GET /booth HTTP/1.1\r\nHost: x\r\n\r\n",
                             host="192.0.2.10")
        self.assertTrue(page.data.startswith(b"HTTP/1.1 200"), page.data[:80])
        share = self.site.raw(b"GET /share/" + b"k" * 22 + b"/strip-x.jpg "
                              b"HTTP/1.1\r\nHost: x\r\n\r\n",
                              host="192.0.2.11")
        self.assertTrue(share.data.startswith(b"HTTP/1.1 404"),
                        share.data[:80])
        ws = self.site.raw(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                           b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           b"Sec-WebSocket-Version: 13\r\n\r\n",
                           host="192.0.2.10")
        self.assertTrue(ws.data.startswith(b"HTTP/1.1 101"), ws.data[:80])
        self.site.flush()
        self.assertEqual(sum(c.lost for c in clients), 3)
        self.assertEqual(self.limits.unauthenticated_from("192.0.2.66"), 3)
        self.assertEqual(len(self.limits.unauthenticated), 6)

    def test_busy_past_the_hold_is_evictable(self):
        clients = self.strangers()
        self.site.advance(EVICT_AFTER + 1)
        refused = self.site.raw(HEALTH, host="192.0.2.66")
        self.assertTrue(refused.data.startswith(b"HTTP/1.1 503"))
        self.site.advance(30)
        served = self.site.raw(HEALTH, host="192.0.2.12")
        self.assertTrue(served.data.startswith(b"HTTP/1.1 200"))
        self.assertEqual(sum(c.lost for c in clients), 1)

    def test_multi_range_is_not_a_way_to_be_busy(self):
        """
        Issue 25 hung a slot with a thousand C{0-0} ranges on a booth
        file: answered at once, as one range. (Rendered without a
        connection: twisted.web's file producer runs on the global
        reactor's cooperator.)
        """
        request = self.site.render("GET", "/booth/static/booth.css", {
            b"range": [b"bytes=" + b",".join([b"0-0"] * 1000)]})
        self.assertEqual(request.responseCode, 206)
        self.assertEqual(request.responseHeaders.getRawHeaders(
            b"content-range")[0].split(b"/")[0], b"bytes 0-0")
        self.assertEqual(b"".join(request.written), open(os.path.join(
            os.path.dirname(links.__file__), "static", "booth.css"),
            "rb").read(1))


class StaticRangeTests(SynchronousTestCase):
    def setUp(self):
        self.site = MemorySite(self)
        with open(os.path.join(os.path.dirname(links.__file__), "static",
                               "booth.js"), "rb") as f:
            self.data = f.read()

    def test_overlapping_and_many(self):
        for ranges, start, end in [
                (b"0-0," * 999 + b"0-0", 0, 0),
                (b"0-10,5-20", 0, 20),
                (b"100-200,0-5,-10", 0, len(self.data) - 1),
                (b"5-9,1-2", 1, 9)]:
            request = self.site.render("GET", "/booth/static/booth.js", {
                b"range": [b"bytes=" + ranges]})
            self.assertEqual(request.responseCode, 206, ranges[:20])
            self.assertEqual(b"".join(request.written),
                             self.data[start:end + 1])

    def test_none_in_the_file(self):
        request = self.site.render("GET", "/booth/static/booth.js", {
            b"range": [b"bytes=999999-999999,999990-999991"]})
        self.assertEqual(request.responseCode, 416)

    def test_nul_byte(self):
        """
        C{/booth/static/x%00} was a 500 with a critical traceback.
        """
        events = capture_logs(self)
        client = self.site.raw(b"GET /booth/static/x%00 HTTP/1.1\r\n"
                               b"Host: x\r\n\r\n")
        status, headers, body = client.response()
        self.assertEqual(status, b"HTTP/1.1 400 Bad Request")
        self.assertIn(b"NUL", body)
        self.assertEqual([e for e in events if e.get("log_failure")], [])
        for path in (b"/booth/static/a%2fb", b"/booth/static/%2e%2e"):
            client = self.site.raw(b"GET " + path + b" HTTP/1.1\r\n"
                                   b"Host: x\r\n\r\n")
            self.assertIn(client.response()[0][9:12], (b"400", b"404"),
                          path)


class TokenGuessingTests(SynchronousTestCase):
    config = {"access": {"token": TOKEN}}

    def setUp(self):
        self.site = MemorySite(self, self.config)

    def test_throttle(self):
        from twisted.internet.task import Clock
        clock = Clock()
        events = capture_logs(self)
        throttle = GuessThrottle(clock)
        delays = [throttle.delay_for("192.0.2.1") for _ in range(12)]
        self.assertEqual(delays[:4], [0.05, 0.1, 0.2, 0.4])
        self.assertEqual(delays[-1], CAP)
        self.assertEqual(delays, sorted(delays))
        # Another address starts afresh.
        self.assertEqual(throttle.delay_for("192.0.2.2"), 0.05)
        # One warning per burst, one summary when it stops.
        warnings = [t for t in texts(events) if "192.0.2.1" in t]
        self.assertEqual(len(warnings), 1)
        clock.advance(61)
        warnings = [t for t in texts(events) if "192.0.2.1" in t]
        self.assertEqual(len(warnings), 2)
        self.assertIn("12 wrong tokens from 192.0.2.1", warnings[1])
        self.assertEqual(throttle.failures("192.0.2.1"), 0)

    def test_pipelined_guesses_wait(self):
        """
        Issue 25's shape: wrong tokens pipelined on one connection. Each
        answer waits longer; in 30 s only a handful are answered.
        """
        events = capture_logs(self)
        guess = (b"GET /status HTTP/1.1\r\nHost: x\r\n"
                 b"Authorization: Bearer " + WRONG.encode() + b"\r\n\r\n")
        client = self.site.raw(guess * 200, host="192.0.2.5")
        for _ in range(30):
            self.site.advance(1)
        answered = client.data.count(b"HTTP/1.1 401")
        self.assertGreater(answered, 5)
        self.assertLess(answered, 15)
        # The right token from another address is answered at once.
        right = self.site.raw(b"GET /status HTTP/1.1\r\nHost: x\r\n"
                              b"Authorization: Bearer " + TOKEN.encode()
                              + b"\r\n\r\n", host="192.0.2.6")
        self.assertTrue(right.data.startswith(b"HTTP/1.1 200"))
        # And from the guessing address too: only wrong answers wait.
        right = self.site.raw(b"GET /status HTTP/1.1\r\nHost: x\r\n"
                              b"Authorization: Bearer " + TOKEN.encode()
                              + b"\r\n\r\n", host="192.0.2.5")
        self.assertTrue(right.data.startswith(b"HTTP/1.1 200"))
        # Logged once, not per guess.
        lines = [t for t in texts(events) if "wrong token" in t]
        self.assertEqual(len(lines), 1, lines)

    def test_websocket_handshake(self):
        server = WebSocketSite(self, access=AccessPolicy(TOKEN),
                               guesses=GuessThrottle(None))
        server.hub.guesses.clock = server.clock
        for n in range(4):
            client = server.connect("/ws?token=" + WRONG)
            self.assertIsNone(client.status)
            server.clock.advance(CAP)
            client.read()
            self.assertEqual(client.status, 401)
        server.open("/ws?token=" + TOKEN)

    def test_websocket_auth_messages(self):
        """
        Wrong tokens in C{auth} messages wait as well (the address's
        count goes on from the handshakes'), and close after three.
        """
        throttle = GuessThrottle(None)
        server = WebSocketSite(self, access=AccessPolicy(TOKEN),
                               guesses=throttle)
        throttle.clock = server.clock
        client = server.open()
        for n in range(1, 4):
            client.send({"type": "auth", "token": WRONG, "requestId": n})
            self.assertIsNone(client.find(n))
            # 0.05, 0.1, 0.2 s (within the auth timeout).
            server.clock.advance(0.05 * 2 ** (n - 1))
            self.assertEqual(client.find(n)["code"], 401)
        self.assertEqual(client.close_code, 3000)
        self.assertEqual(throttle.failures("127.0.0.1"), 3)
        client = server.open()
        client.send({"type": "auth", "token": TOKEN, "requestId": 9})
        self.assertEqual(client.find(9)["type"], "authenticated")


class ScaledAdmissionTests(SynchronousTestCase):
    def setUp(self):
        from twisted.internet.task import Clock
        self.broadcaster = Broadcaster()
        self.scaled = ScaledStreams(Clock(), self.broadcaster, max_sizes=4)

    def test_anonymous_cannot_take_the_last(self):
        taken = []
        for width in (100, 101, 102):
            stream = self.scaled.acquire(width, trusted=False)
            stream.subscribe(object())
            taken.append(stream)
        error = self.assertRaises(SizeError, self.scaled.acquire, 103,
                                  trusted=False)
        self.assertEqual(error.code, 503)
        self.assertIn("kept for clients with the access token", str(error))
        # A size being served is open to anyone.
        self.assertIs(self.scaled.acquire(101, trusted=False), taken[1])
        self.assertIsNotNone(self.scaled.acquire(480, trusted=True))

    def test_over_http(self):
        """
        Issue 25's shape: four anonymous C{/preview?width=100..103}; the
        token holder's C{?width=480} still gets its size.
        """
        site = MemorySite(self, {"access": {"token": TOKEN}})
        site.broadcaster.offer_jpeg = None
        codes = []
        for width in (100, 101, 102, 103):
            client = site.raw(b"GET /preview?width=%d HTTP/1.1\r\nHost: x"
                              b"\r\n\r\n" % width, host="192.0.2.70")
            codes.append(client.data[9:12])
        self.assertEqual(codes, [b"200", b"200", b"200", b"503"])
        client = site.raw(b"GET /preview?width=480&token=" + TOKEN.encode()
                          + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(client.data[9:12], b"200")


class ShareTimingTests(SynchronousTestCase):
    def test_same_work(self):
        """
        A missing strip's key is looked for in a decoy strip's head, parsed
        the same way; the comparison is always over L{KEY_LENGTH} bytes.
        """
        parsed = []
        real = links.parse_metadata

        def parse(head):
            parsed.append(len(head))
            return real(head)
        self.patch(links, "parse_metadata", parse)
        compared = []
        real_compare = links.hmac.compare_digest
        self.patch(links.hmac, "compare_digest", lambda a, b: (
            compared.append((len(a), len(b))) or real_compare(a, b)))
        directory = self.mktemp()
        os.makedirs(directory)
        key = links.new_key()
        path = os.path.join(directory, "strip.jpg")
        with open(path, "wb") as f:
            f.write(links._DECOY_HEAD.replace(
                b"-" * links.KEY_LENGTH, key.encode()))
        self.assertEqual(links.stored_key(path), key)
        self.assertIsNone(links.stored_key(path + ".missing"))
        self.assertEqual(len(parsed), 2)
        self.assertEqual(parsed[1], METADATA_READ)
        wrong = b"x" * links.KEY_LENGTH
        self.assertTrue(links.key_matches(key, key.encode()))
        self.assertFalse(links.key_matches(key, wrong))
        self.assertFalse(links.key_matches(None, wrong))
        self.assertFalse(links.key_matches(None, b"-" * links.KEY_LENGTH))
        self.assertFalse(links.key_matches("short", wrong))
        self.assertEqual(set(compared), {(links.KEY_LENGTH,
                                          links.KEY_LENGTH)})

    def test_key_shape(self):
        self.assertEqual(len(links.new_key()), links.KEY_LENGTH)
        self.assertTrue(links.valid_key(links.new_key().encode()))
        for bad in (b"a" * 21, b"a" * 23, b"a" * 21 + b"!", b""):
            self.assertFalse(links.valid_key(bad), bad)

    def test_strip_names_carry_no_time_of_day(self):
        names = {links.strip_name_hint(lambda: 1718007010.0)
                 for _ in range(20)}
        self.assertEqual(len(names), 20)
        for name in names:
            self.assertRegex(name, r"\Astrip-20240610-[0-9a-f]{12}\Z")


class SmallFiveHundredsTests(SynchronousTestCase):
    config = {"access": {"token": TOKEN}}

    def setUp(self):
        self.site = MemorySite(self, self.config)

    def test_odd_digits_in_a_sequence(self):
        for count in ("%C2%B2", "%D9%A3", "%EF%BC%94"):
            client = self.site.raw(b"POST /sequence?count=" + count.encode()
                                   + b" HTTP/1.1\r\nHost: x\r\n"
                                   b"Authorization: Bearer " + TOKEN.encode()
                                   + b"\r\nContent-Length: 0\r\n\r\n")
            status, headers, body = client.response()
            self.assertEqual(status, b"HTTP/1.1 400 Bad Request", count)
            self.assertIn(b"count", body)

    def test_odd_digits_over_websocket(self):
        server = WebSocketSite(self, booth=self.site.booth)
        client = server.open()
        client.send({"type": "capture_sequence", "count": "\u00b2",
                     "requestId": 1})
        reply = [m for m in client.messages if m.get("requestId") == 1][0]
        self.assertEqual(reply["type"], "error")
        self.assertEqual(reply["code"], 400)

    def test_failure_log_redacts_the_path(self):
        """
        The log line of a 500 shows the path masked like the access log.
        """
        events = capture_logs(self)
        request_path = "/health/" + TOKEN
        from fourcut.web import rest

        def broken(*args):
            raise RuntimeError("broken")
        self.patch(rest.Health, "render_GET", broken)
        client = self.site.raw(b"GET " + request_path.encode()
                               + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIsNotNone(client.data)
        everything = texts(events) + [repr(e) for e in events]
        self.assertEqual([t for t in everything if TOKEN in t], [])
        self.assertTrue([t for t in texts(events) if "/health/***" in t])


class OriginTests(SynchronousTestCase):
    """
    The WebSocket's C{Origin}: DNS rebinding with no token, and what is
    logged and answered of a refused one.
    """

    def test_rebinding_without_a_token(self):
        server = WebSocketSite(self)
        client = server.connect(headers={"Origin": "http://evil.example",
                                         "Host": "evil.example"})
        self.assertEqual(client.status, 403)
        for origin in ("http://127.0.0.1:8080", "http://localhost:8080"):
            server.open(headers={"Origin": origin})
        # The Host a rebound name sends does not help.
        self.assertEqual(server.connect(headers={
            "Origin": "http://booth.local:8080"}).status, 403)
        listed = WebSocketSite(self, cors=CORSPolicy(
            ["http://booth.local:8080"]))
        listed.open(headers={"Origin": "http://booth.local:8080"})

    def test_with_a_token_the_host_is_enough(self):
        server = WebSocketSite(self, access=AccessPolicy(TOKEN))
        client = server.connect(headers={"Origin": "http://booth.local"})
        self.assertEqual(client.status, 403)

    def test_refused_origin_redacted(self):
        events = capture_logs(self)
        server = WebSocketSite(self, access=AccessPolicy(TOKEN))
        origin = "http://x.example/" + TOKEN
        client = server.connect(headers={"Origin": origin})
        self.assertEqual(client.status, 403)
        self.assertNotIn(TOKEN, client.head + client.body.decode())
        self.assertNotIn(TOKEN, json.dumps(texts(events)))
        self.assertIn("***", json.loads(client.body)["error"])


class SettingsHomeTests(SynchronousTestCase):
    def test_kept_across_stops(self):
        state = os.path.abspath(self.mktemp())
        gphoto2 = GPhoto2()
        home_service = GPhoto2HomeService(gphoto2, state)
        home_service.startService()
        home = gphoto2.home
        self.assertEqual(home, os.path.join(state, HOME_NAME))
        settings = os.path.join(home, ".gphoto", "settings")
        with open(settings, "w") as f:
            f.write("gphoto2=port=usb:001,007\nptp2=capturetarget=card\n"
                    "gphoto2=model=Canon EOS 700D\n")
        home_service.stopService()
        self.assertIsNone(gphoto2.home)
        self.assertTrue(os.path.exists(settings))
        GPhoto2HomeService(gphoto2, state).startService()
        self.assertEqual(gphoto2.home, home)
        with open(settings) as f:
            # The capture target is kept; the CLI's last port is not.
            self.assertEqual(f.read(), "ptp2=capturetarget=card\n")
        self.assertEqual(os.stat(home).st_mode & 0o777, 0o700)

    def test_beside_the_photos(self):
        from fourcut.config import parse_config
        config = parse_config({"paths": {"photos": "/srv/booth/photos"}})
        self.assertEqual(config.paths.state_directory,
                         "/srv/booth/fourcut-state")
        config = parse_config({"paths": {"state_dir": "/var/lib/x"}})
        self.assertEqual(config.paths.state_directory, "/var/lib/x")

    def test_unusable(self):
        from fourcut.services import StartupError
        path = self.mktemp()
        with open(path, "w"):
            pass
        self.assertRaises(OSError, keep_home, os.path.join(path, "x"))
        home_service = GPhoto2HomeService(GPhoto2(), os.path.join(path, "x"))
        error = self.assertRaises(StartupError, home_service.startService)
        self.assertIn("paths.state_dir", str(error))

