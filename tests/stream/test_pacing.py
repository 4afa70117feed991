"""
Tests of L{fourcut.stream.pacing}: reading what the kernel still holds for
a socket (on real loopback TCP sockets whose peer stops reading, and on
descriptors that cannot say), the pure rule deciding when the next
frame may go, and L{pacing.TransportPacing}, which counts Twisted's own
buffer with the kernel's queue.
"""

import fcntl
import os
import socket
import struct
import termios
import time

from twisted.internet import task
from twisted.internet.abstract import FileDescriptor
from twisted.internet.testing import MemoryReactor, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from fourcut.stream import pacing
from fourcut.stream.internals import buffered_bytes
from fourcut.stream.pacing import FramePacer, KernelQueue, TransportPacing


def inq(sock):
    """
    Bytes waiting in C{sock}'s receive queue (FIONREAD).
    """
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD,
                                          b"\0\0\0\0"))[0]


def eventually(check, timeout=5.0):
    """
    Poll C{check()} until it returns something true, or C{timeout}: the
    last value.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.005)


class LoopbackPair:
    """
    A connected TCP pair on 127.0.0.1 whose receiving end has a small
    receive buffer and does not read: what a stalled screen looks like to
    the server.
    """

    def __init__(self, testcase, rcvbuf=4096):
        listener = socket.socket()
        testcase.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        self.receiver = socket.socket()
        testcase.addCleanup(self.receiver.close)
        # Before connecting, so that the window it offers is small.
        self.receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.receiver.connect(listener.getsockname())
        self.sender, _ = listener.accept()
        testcase.addCleanup(self.sender.close)
        self.sender.setblocking(False)
        self.written = 0

    def fill(self):
        """
        Write until the kernel takes no more.
        """
        chunk = b"\x55" * 65536
        while True:
            try:
                self.written += self.sender.send(chunk)
            except BlockingIOError:
                return self.written

    def drain(self, timeout=5.0):
        """
        Read everything written so far.
        """
        self.receiver.settimeout(timeout)
        got = 0
        while got < self.written:
            data = self.receiver.recv(1 << 20)
            if not data:
                break
            got += len(data)
        return got


class KernelQueueTests(SynchronousTestCase):
    """
    What the kernel holds, read from real sockets.
    """

    def test_stalled_peer(self):
        """
        While the peer does not read, SIOCOUTQ counts every byte written
        that the peer has not taken into its receive queue: unsent and
        unacknowledged. TCP_INFO's fallback gives the same number, and the
        unsent part (SIOCOUTQNSD) is no more than that.
        """
        pair = LoopbackPair(self)
        written = pair.fill()
        self.assertGreater(written, 65536)
        settled = eventually(lambda: pacing.outq(pair.sender)
                             == written - inq(pair.receiver))
        queued = pacing.outq(pair.sender)
        self.assertTrue(settled, (written, queued, inq(pair.receiver)))
        self.assertGreater(queued, 65536)
        self.assertLessEqual(pacing.notsent(pair.sender), queued)
        self.assertGreater(pacing.notsent(pair.sender), 0)
        info = pacing.tcp_info(pair.sender)
        self.assertEqual(info["state"], 1)           # TCP_ESTABLISHED
        self.assertEqual(pacing.queued_from_tcp_info(info), queued)
        # A descriptor is as good as the socket.
        self.assertEqual(pacing.outq(pair.sender.fileno()), queued)
        self.assertEqual(pacing.queued_from_tcp_info(
            pacing.tcp_info(pair.sender.fileno())), queued)

        kernel = KernelQueue(pair.sender)
        self.assertEqual(kernel.method, "SIOCOUTQ")
        self.assertIsNone(kernel.why)
        self.assertEqual(kernel.read(), queued)

    def test_drained(self):
        """
        Once the peer has read everything, nothing is held.
        """
        pair = LoopbackPair(self)
        pair.fill()
        kernel = KernelQueue(pair.sender)
        self.assertGreater(kernel.read(), 0)
        self.assertEqual(pair.drain(), pair.written)
        self.assertEqual(eventually(lambda: kernel.read() == 0), True)
        self.assertEqual(pacing.queued_from_tcp_info(
            pacing.tcp_info(pair.sender)), 0)
        self.assertEqual(pacing.notsent(pair.sender), 0)

    def test_tcp_info_method(self):
        """
        The TCP_INFO source reads the same queue as SIOCOUTQ.
        """
        pair = LoopbackPair(self)
        pair.fill()
        kernel = KernelQueue(pair.sender)
        kernel.method = "TCP_INFO"
        self.assertTrue(eventually(
            lambda: kernel.read() == pacing.outq(pair.sender)))
        self.assertGreater(kernel.read(), 65536)

    def test_listening_socket(self):
        """
        A listening socket has no peer: no queue to speak of.
        """
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        self.assertIsNone(pacing.outq(listener))
        self.assertIsNone(pacing.queued_from_tcp_info(
            pacing.tcp_info(listener)))
        kernel = KernelQueue(listener)
        self.assertIsNone(kernel.method)
        self.assertIn("TCP", kernel.why)
        self.assertIsNone(kernel.read())

    def test_not_a_socket(self):
        """
        A pipe answers nothing: None, never an exception.
        """
        read, write = os.pipe()
        self.addCleanup(os.close, read)
        self.addCleanup(os.close, write)
        os.write(write, b"x" * 100)
        self.assertIsNone(pacing.outq(write))
        self.assertIsNone(pacing.notsent(write))
        self.assertIsNone(pacing.tcp_info(write))
        kernel = KernelQueue(write)
        self.assertIsNone(kernel.method)
        self.assertIsNone(kernel.read())

    def test_udp_has_no_tcp_info(self):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(udp.close)
        self.assertIsNone(pacing.tcp_info(udp))

    def test_closed_socket(self):
        """
        After the socket is closed, reading says None.
        """
        pair = LoopbackPair(self)
        kernel = KernelQueue(pair.sender)
        self.assertEqual(kernel.method, "SIOCOUTQ")
        pair.sender.close()
        self.assertIsNone(kernel.read())


class TCPInfoArithmeticTests(SynchronousTestCase):
    def test_counters(self):
        info = {"state": 1, "notsent_bytes": 1000, "bytes_sent": 50000,
                "bytes_retrans": 2000, "bytes_acked": 40000,
                "unacked": 99, "snd_mss": 1448}
        self.assertEqual(pacing.queued_from_tcp_info(info), 9000)

    def test_old_kernel(self):
        """
        Without the byte counters (before Linux 4.19): unacked segments
        times the MSS.
        """
        info = {"state": 1, "notsent_bytes": 1000, "bytes_sent": None,
                "bytes_retrans": None, "bytes_acked": 4, "unacked": 3,
                "snd_mss": 1448}
        self.assertEqual(pacing.queued_from_tcp_info(info), 1000 + 3 * 1448)

    def test_unknown(self):
        self.assertIsNone(pacing.queued_from_tcp_info(None))
        self.assertIsNone(pacing.queued_from_tcp_info(
            {"state": 1, "notsent_bytes": None}))
        self.assertIsNone(pacing.queued_from_tcp_info(
            {"state": 1, "notsent_bytes": 5, "bytes_sent": None,
             "bytes_retrans": None, "bytes_acked": None, "unacked": 2,
             "snd_mss": 0}))
        self.assertIsNone(pacing.queued_from_tcp_info(
            {"state": 10, "notsent_bytes": 0, "bytes_sent": 0,
             "bytes_retrans": 0, "bytes_acked": 0}))


class FramePacerTests(SynchronousTestCase):
    """
    The rule: the next frame goes once at most max(floor, fraction x last
    frame, peak drain rate x budget) bytes are still held.
    """

    def test_threshold(self):
        pacer = FramePacer(fraction=0.05, floor=8192)
        self.assertEqual(pacer.threshold(), 8192)          # no frame yet
        self.assertEqual(pacer.threshold(100000), 8192)
        self.assertEqual(pacer.threshold(170000), 8500)
        pacer.sent(0.0, 400000)
        self.assertEqual(pacer.threshold(), 20000)
        self.assertEqual(pacer.last_size, 400000)
        self.assertEqual(pacer.frames, 1)
        self.assertEqual(pacer.written, 400000)

    def test_may_send(self):
        pacer = FramePacer(fraction=0.05, floor=8192)
        self.assertTrue(pacer.may_send(0))
        self.assertTrue(pacer.may_send(8192))
        self.assertFalse(pacer.may_send(8193))
        self.assertTrue(pacer.may_send(8500, last_size=170000))
        self.assertFalse(pacer.may_send(8501, last_size=170000))

    def test_unknown_queue_sends(self):
        """
        Where the kernel cannot say, the pacer never holds a frame back:
        the writer keeps today's behaviour.
        """
        pacer = FramePacer()
        pacer.sent(0.0, 170000)
        self.assertTrue(pacer.may_send(None))
        self.assertEqual(pacer.wait(1.0, None), 0.0)
        self.assertEqual(pacer.held, 0)

    def test_slow_link(self):
        """
        On a 4 Mbit/s link (500 KB/s) a 170 KB frame drains in 0.34 s: the
        next one waits until at most 30 ms of the link's time (15 KB) is
        left, and the pacer suggests looking again when it should be.
        """
        pacer = FramePacer(budget=0.03, min_sample=0.02, min_wait=0.005,
                           max_wait=0.2)
        pacer.sent(10.0, 170000)
        self.assertAlmostEqual(pacer.wait(10.0, 170000), 0.005)  # no rate
        self.assertIsNone(pacer.peak)
        # 50 000 bytes in 0.1 s; 105 000 more to go would take 0.21 s,
        # more than max_wait.
        self.assertAlmostEqual(pacer.wait(10.1, 120000), 0.2)
        self.assertAlmostEqual(pacer.peak, 500000)
        self.assertEqual(pacer.threshold(), 15000)
        self.assertAlmostEqual(pacer.wait(10.2, 70000),
                               (70000 - 15000) / 500000)
        self.assertAlmostEqual(pacer.wait(10.3, 20000), 0.01)
        self.assertEqual(pacer.wait(10.31, 14000), 0.0)
        self.assertEqual(pacer.held, 4)

    def test_short_samples_are_not_rates(self):
        """
        Readings closer together than min_sample make no rate (bursts of
        acknowledgements would overstate it); the next one far enough
        from the last sample does.
        """
        pacer = FramePacer(min_sample=0.02)
        pacer.sent(0.0, 170000)
        pacer.wait(0.0, 170000)
        pacer.wait(0.005, 100000)          # 14 MB/s over 5 ms: not taken
        self.assertIsNone(pacer.peak)
        pacer.wait(0.02, 160000 - 150000)  # 160 000 bytes in 20 ms
        self.assertAlmostEqual(pacer.peak, 8000000)

    def test_stalled_reader_keeps_its_peak(self):
        """
        A fast reader that stops reading for a moment does not look like a
        slow link: the peak it has shown stands, and what it takes in the
        budget at that rate may stay queued.
        """
        pacer = FramePacer(budget=0.03, window=10.0)
        pacer.sent(0.0, 340000)
        pacer.wait(0.0, 340000)
        pacer.wait(0.02, 0)                     # caught up: 17 MB/s
        for n in range(1, 4):                   # it stops reading
            pacer.sent(n * 0.034, 170000)
            self.assertEqual(pacer.wait(n * 0.034 + 0.021, 170000 * n),
                             0.0, n)
        self.assertAlmostEqual(pacer.peak, 340000 / 0.02)
        self.assertEqual(pacer.held, 1)         # the first, with no rate
        # Past what it drains in the budget at its best: held.
        self.assertGreater(pacer.wait(0.2, 520000), 0)

    def test_app_limited_peak(self):
        """
        Without the kernel's estimate, the pacer's own: a client fed one
        frame an interval shows only that rate, and a stall of more than
        the budget's worth of it holds the next frame.
        """
        pacer = FramePacer(budget=0.03)
        pacer.sent(0.0, 170000)
        pacer.wait(0.0, 170000)
        pacer.wait(0.034, 0)                    # 5 MB/s
        self.assertAlmostEqual(pacer.peak, 170000 / 0.034)
        pacer.sent(0.034, 170000)
        self.assertEqual(pacer.wait(0.040, 140000), 0.0)   # < 150 000
        self.assertGreater(pacer.wait(0.041, 160000), 0.0)

    def test_peak_leaves_the_window(self):
        """
        A link that got slower is believed at its old speed only until
        its fast samples are older than the window.
        """
        pacer = FramePacer(window=10.0, budget=0.03)
        pacer.sent(0.0, 1000000)
        pacer.wait(0.0, 1000000)
        pacer.wait(0.1, 0)                      # 10 MB/s
        self.assertAlmostEqual(pacer.peak, 10000000)
        pacer.sent(5.0, 100000)
        pacer.wait(5.0, 100000)
        pacer.wait(5.2, 0)                      # 500 KB/s
        self.assertAlmostEqual(pacer.peak, 10000000)
        pacer.sent(10.5, 100000)
        pacer.wait(10.5, 100000)
        pacer.wait(10.7, 0)                     # 500 KB/s again
        self.assertAlmostEqual(pacer.peak, 500000)
        self.assertEqual(pacer.threshold(), 15000)

    def test_bytes_not_its_own(self):
        """
        Bytes the pacer did not write (a WebSocket reply) entering the
        queue make no negative rate: the measurement starts again.
        """
        pacer = FramePacer()
        pacer.sent(0.0, 100000)
        pacer.wait(0.0, 100000)
        pacer.wait(0.05, 150000)                # a 50 KB reply queued
        self.assertIsNone(pacer.peak)
        pacer.wait(0.1, 100000)                 # 1 MB/s from there
        self.assertAlmostEqual(pacer.peak, 1000000)

    def test_bad_arguments(self):
        self.assertRaises(ValueError, FramePacer, budget=-1)
        self.assertRaises(ValueError, FramePacer, fraction=-0.1)
        self.assertRaises(ValueError, FramePacer, floor=-1)
        self.assertRaises(ValueError, FramePacer, window=0)
        self.assertRaises(ValueError, FramePacer, min_sample=-1)
        self.assertRaises(ValueError, FramePacer, min_wait=0)
        self.assertRaises(ValueError, FramePacer, min_wait=0.2, max_wait=0.1)

    def test_with_a_stalled_socket(self):
        """
        The two halves together: a peer that stops reading holds the next
        frame back; once it has read, the frame may go.
        """
        pair = LoopbackPair(self)
        kernel = KernelQueue(pair.sender)
        pacer = FramePacer()
        self.assertEqual(pacer.wait(time.monotonic(), kernel.read()), 0.0)
        pacer.sent(time.monotonic(), pair.fill())
        self.assertGreater(pacer.wait(time.monotonic(), kernel.read()), 0)
        pair.drain()
        self.assertTrue(eventually(
            lambda: pacer.wait(time.monotonic(), kernel.read()) == 0.0))


class FramePacerLimitsTests(SynchronousTestCase):
    """
    What L{FramePacer} accepts, and the longest wait it suggests by
    default.
    """

    def test_zeros(self):
        pacer = FramePacer(fraction=0, floor=0, budget=0, min_sample=0,
                           window=0.5, min_wait=0.1, max_wait=0.1)
        self.assertEqual(pacer.threshold(1000), 0)

    def test_refused(self):
        for kwargs in [{"fraction": -1}, {"window": 0},
                       {"min_wait": 0}, {"min_wait": 0.2, "max_wait": 0.1}]:
            error = self.assertRaises(ValueError, FramePacer, **kwargs)
            self.assertEqual(str(error), "fraction, floor, budget and "
                             "min_sample must be >= 0, window > 0, and 0 < "
                             "min_wait <= max_wait")

    def test_peak_window(self):
        """
        A drain rate counts towards the peak for 10 s (the default
        window): after that a slower one is the peak.
        """
        pacer = FramePacer()
        pacer.sent(0.0, 1000000)
        pacer.observe(0.0, 1000000)
        pacer.observe(1.0, 0)
        self.assertEqual(pacer.peak, 1000000)
        # What drains in 30 ms at the peak may stay queued.
        self.assertEqual(pacer.threshold(0), 30000)
        pacer.sent(1.0, 1050)
        pacer.observe(11.5, 0)
        self.assertEqual(pacer.peak, 100)

    def test_longest_wait(self):
        """
        However slow the link, the next look is at most 0.1 s away: a
        link that speeds up is noticed soon.
        """
        pacer = FramePacer()
        pacer.sent(0.0, 2000000)
        pacer.wait(0.0, 1000000)
        self.assertEqual(pacer.wait(1.0, 999000), 0.1)


class Connection(FileDescriptor):
    """
    A Twisted L{FileDescriptor} over a real socket, on a memory reactor:
    what writes to it stay in Twisted's own buffer until C{doWrite}.
    """

    def __init__(self, sock):
        FileDescriptor.__init__(self, MemoryReactor())
        self.sock = sock
        self.connected = True

    def getHandle(self):
        return self.sock

    def writeSomeData(self, data):
        return self.sock.send(data)


class Wrapper:
    """
    A wrapping transport (as TLS or a policy wrapper): its own
    C{transport} below it.
    """

    def __init__(self, transport):
        self.transport = transport


class TransportPacingTests(SynchronousTestCase):
    """
    L{TransportPacing}: what a transport still holds is the kernel's queue
    plus Twisted's own buffer (the bytes the application wrote that the
    kernel has not taken: C{dataBuffer} from C{offset}, and the writes
    queued behind it), so a frame waits behind either.
    """

    def setUp(self):
        self.pair = LoopbackPair(self)
        self.connection = Connection(self.pair.sender)
        self.clock = task.Clock()

    def test_counts_twisteds_buffer(self):
        """
        With the kernel's queue empty, Twisted's buffered writes are what
        is queued; once the kernel has them and the peer has read them,
        nothing is.
        """
        paced = TransportPacing(self.connection, self.clock)
        self.assertEqual((paced.method, paced.why), ("SIOCOUTQ", None))
        self.assertEqual(paced.queued(), 0)
        self.connection.write(b"a" * 5000)
        self.connection.write(b"b" * 3000)
        self.assertEqual(paced.queued(), 8000)
        self.connection.dataBuffer = b"c" * 3000
        self.connection.offset = 1000
        self.assertEqual(paced.queued(), 10000)
        self.connection.dataBuffer, self.connection.offset = b"", 0
        self.connection.doWrite()
        self.assertEqual(buffered_bytes(self.connection), 0)
        self.pair.written = 8000
        self.assertEqual(self.pair.drain(), 8000)
        self.assertTrue(eventually(lambda: paced.queued() == 0))

    def test_kernel_plus_buffer(self):
        """
        A peer that stops reading: the kernel's queue and Twisted's buffer
        add up.
        """
        self.pair.fill()
        kernel = KernelQueue(self.pair.sender)
        self.assertTrue(eventually(lambda: kernel.read() > 65536))
        self.connection.write(b"x" * 7000)
        paced = TransportPacing(Wrapper(Wrapper(self.connection)),
                                self.clock)
        self.assertEqual(paced.queued(), kernel.read() + 7000)

    def test_frame_waits_behind_twisteds_buffer(self):
        """
        The kernel holds nothing, but Twisted still buffers most of the
        last frame: the next one waits; once the buffer is gone, it goes.
        """
        pacer = FramePacer(min_wait=0.01)
        paced = TransportPacing(self.connection, self.clock, pacer)
        self.assertIs(paced.pacer, pacer)
        self.assertEqual(paced.wait(), 0.0)
        self.connection.write(b"f" * 200000)
        paced.sent(200000)
        self.assertEqual((pacer.frames, pacer.written, pacer.last_size),
                         (1, 200000, 200000))
        self.assertEqual(paced.wait(), 0.01)
        self.assertEqual(pacer.held, 1)
        self.assertEqual(paced.describe(), {
            "pacing": "SIOCOUTQ", "held_checks": 1,
            "link_peak_bytes_per_second": None})
        self.connection._tempDataBuffer = []
        self.connection._tempDataLen = 0
        self.assertEqual(paced.wait(), 0.0)

    def test_times_from_its_clock(self):
        """
        Drain rates are measured on the clock it was given.
        """
        pacer = FramePacer()
        paced = TransportPacing(self.connection, self.clock, pacer)
        paced.sent(100000)
        self.connection.write(b"f" * 100000)
        paced.wait()
        self.clock.advance(1.0)
        self.connection._tempDataBuffer = [b"f" * 50000]
        self.connection._tempDataLen = 50000
        paced.wait()
        self.assertEqual(pacer.peak, 50000.0)
        self.assertEqual(paced.describe()["link_peak_bytes_per_second"],
                         50000)

    def test_default_pacer(self):
        paced = TransportPacing(self.connection, self.clock)
        self.assertIsInstance(paced.pacer, FramePacer)
        self.assertEqual(paced.pacer.floor, FramePacer().floor)

    def test_socket_gone(self):
        """
        A socket that can no longer say: the frame goes.
        """
        paced = TransportPacing(self.connection, self.clock)
        self.connection.write(b"x" * 100000)
        self.pair.sender.close()
        self.assertIsNone(paced.queued())
        self.assertEqual(paced.wait(), 0.0)

    def test_not_a_socket(self):
        """
        A transport with no socket under it (a test's, an HTTP/2 stream):
        pacing is off, every frame goes, and C{/status} says why.
        """
        for transport in (StringTransport(), Wrapper(None)):
            paced = TransportPacing(transport, self.clock)
            self.assertIsNone(paced.method)
            self.assertIsNone(paced.queued())
            self.assertEqual(paced.wait(), 0.0)
            why = "not a socket fourcut can ask (%s)" % (
                type(transport).__name__,)
            self.assertEqual(paced.describe(), {"pacing": "off",
                                                "pacing_off_why": why})

    def test_handle_without_fileno(self):
        """
        A descriptor whose handle is no socket, or that raises when asked.
        """
        self.connection.getHandle = lambda: object()
        self.assertIsNone(TransportPacing(self.connection,
                                          self.clock).method)

        def broken():
            raise RuntimeError("no handle")

        self.connection.getHandle = broken
        paced = TransportPacing(self.connection, self.clock)
        self.assertIsNone(paced.method)
        self.assertIn("Connection", paced.why)

    def test_kernel_cannot_say(self):
        """
        A socket that answers neither SIOCOUTQ nor TCP_INFO (a listening
        one): off, with the kernel's reason.
        """
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        paced = TransportPacing(Connection(listener), self.clock)
        self.assertIsNone(paced.method)
        self.assertEqual(paced.why, KernelQueue(listener).why)
        self.assertIn("TCP_INFO", paced.why)
        self.assertEqual(paced.wait(), 0.0)


class ShortInfoSocket:
    """
    A socket whose C{TCP_INFO} is C{size} bytes, as an older kernel's.
    """

    def __init__(self, size):
        self.size = size

    def getsockopt(self, level, option, buflen):
        return bytes(range(self.size))


class EdgeTests(SynchronousTestCase):
    """
    The edges of the kernel readings and of the pacer's arithmetic.
    """

    def test_short_tcp_info(self):
        """
        A field the kernel's answer ends exactly with is read; the ones
        past it are L{None}.
        """
        info = pacing.tcp_info(ShortInfoSocket(28))
        self.assertEqual(info["state"], 0)
        self.assertEqual(info["snd_mss"], struct.unpack("I", bytes(
            range(16, 20)))[0])
        self.assertEqual(info["unacked"], struct.unpack("I", bytes(
            range(24, 28)))[0])
        self.assertIsNone(info["rtt_us"])
        self.assertIsNone(pacing.tcp_info(ShortInfoSocket(27))["unacked"])

    def test_descriptor_zero(self):
        """
        Descriptor 0 can be a client's socket (libgphoto2 closes the
        server's standard input): it is read like any other.
        """
        pair = LoopbackPair(self)
        pair.fill()
        saved = os.dup(0)
        self.addCleanup(os.close, saved)
        os.dup2(pair.sender.fileno(), 0)
        try:
            self.assertGreater(pacing.outq(0), 0)
        finally:
            os.dup2(saved, 0)
        self.assertIsNone(pacing.outq(-1))

    def test_kernel_queue_reasons(self):
        """
        Why the kernel's queue cannot be read, in words for C{/status}.
        """
        pair = LoopbackPair(self)
        self.patch(pacing.sys, "platform", "darwin")
        self.assertEqual(KernelQueue(pair.sender).why,
                         "not Linux (darwin): no SIOCOUTQ or TCP_INFO")
        self.patch(pacing.sys, "platform", "linux")

        def broken(sock):
            raise OSError(5, "I/O error")

        self.patch(pacing, "outq", broken)
        kernel = KernelQueue(pair.sender)
        self.assertEqual((kernel.method, kernel.why),
                         (None, "SIOCOUTQ failed: [Errno 5] I/O error"))
        self.patch(pacing, "outq", lambda sock: None)
        kernel = KernelQueue(pair.sender)
        self.assertEqual((kernel.method, kernel.why), ("TCP_INFO", None))
        self.assertEqual(kernel.read(), 0)
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        self.assertEqual(KernelQueue(listener).why,
                         "neither SIOCOUTQ nor TCP_INFO answers for it (not "
                         "a connected TCP socket?)")

    def test_sent_adds_up(self):
        pacer = FramePacer()
        pacer.sent(0.0, 1000)
        pacer.sent(0.1, 3000)
        self.assertEqual((pacer.frames, pacer.written, pacer.last_size),
                         (2, 4000, 3000))

    def test_threshold_before_a_frame(self):
        self.assertEqual(FramePacer(floor=0, fraction=1.0).threshold(), 0)
        self.assertEqual(FramePacer(floor=0, fraction=1.0).threshold(10), 10)

    def test_rates_over_several_samples(self):
        """
        Each reading at least C{min_sample} after the last gives a rate;
        a reading sooner than that keeps the older mark.
        """
        pacer = FramePacer(min_sample=0.1)
        pacer.sent(0.0, 10000)
        pacer.observe(0.0, 10000)          # the mark: 0 delivered
        pacer.observe(0.05, 10000)         # too soon, nothing delivered
        pacer.observe(1.0, 9000)           # 1000 B in 1 s
        self.assertEqual(pacer.peak, 1000.0)
        pacer.observe(1.5, 7000)           # 2000 B in 0.5 s
        self.assertEqual(pacer.peak, 4000.0)
        pacer.observe(1.52, 7000)
        pacer.observe(2.5, 6000)           # 1000 B in 1 s, not 0.98 s
        self.assertEqual(pacer._rates[-1], (2.5, 1000.0))

    def test_no_zero_or_tiny_rates_lost(self):
        """
        A link that delivered nothing has no rate (its peak stays
        unknown); a slow one's rate, however small, counts.
        """
        pacer = FramePacer(min_sample=0.1)
        pacer.sent(0.0, 1000)
        pacer.observe(0.0, 1000)
        pacer.observe(1.0, 1000)
        self.assertIsNone(pacer.peak)
        pacer.observe(3.0, 999)
        self.assertEqual(pacer.peak, 0.5)

    def test_window_edge(self):
        """
        A rate exactly C{window} old still counts; older ones do not.
        """
        pacer = FramePacer(window=10.0)
        pacer._add_rate(0.0, 500.0)
        pacer._add_rate(10.0, 100.0)
        self.assertEqual(pacer.peak, 500.0)
        pacer._add_rate(10.5, 50.0)
        self.assertEqual(pacer.peak, 100.0)
