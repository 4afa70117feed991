# -*- test-case-name: tests.stream.test_pacing -*-
"""
Pace live view by what has actually left for each client.

The latest-frame rule of L{fourcut.stream.broadcast} skips frames only once
Twisted's transport has paused the producer, and Twisted pauses it only
when the kernel will not take more bytes. On a slow link the kernel takes
plenty: bytes already handed to TCP sit unacknowledged in flight and in the
bottleneck's queue (a Wi-Fi access point, a router), where
C{TCP_NOTSENT_LOWAT}, which bounds only the I{unsent} bytes, cannot reach
them. A 4 Mbit/s client was shown frames 0.75 s old where 0.37 s was
possible, a 2 Mbit/s one 1.6 s where 0.71 s was (issue 13). The cure is to
ask the kernel how much it still holds for the socket, sent or not, and to
write the next frame only once the previous one has essentially been
delivered.

The parts, from the kernel up:

 - L{KernelQueue} and the functions under it read what the kernel still
   holds for one socket: C{SIOCOUTQ} (Linux; the same number as
   C{TIOCOUTQ}: bytes written and not yet acknowledged by the peer, unsent
   and in flight), C{SIOCOUTQNSD} (the unsent part alone), and
   C{TCP_INFO} (C{tcpi_notsent_bytes} plus the bytes in flight, from
   C{tcpi_bytes_sent - tcpi_bytes_retrans - tcpi_bytes_acked}, or
   C{tcpi_unacked} segments times C{tcpi_snd_mss} on kernels before 4.19)
   as a fallback. Each returns L{None} where the platform or the socket
   cannot say (not Linux, not TCP, a listening socket, a closed one).
 - L{FramePacer}, one per client, decides from the bytes still queued
   whether the next frame may go now, and if not, how long to wait before
   asking again. It is pure: the caller passes the time and the queue.
 - L{TransportPacing} joins the two for one Twisted transport (the
   kernel's queue plus what Twisted itself still buffers) and the reactor's
   clock; L{fourcut.stream.broadcast.LatestFrameProducer} asks it before every
   frame it writes, on C{/preview} and on C{/ws} alike.

The rule: the next frame may go once what is still held of the previous
ones is at most C{max(floor, fraction * last_size, peak * budget)} bytes
(defaults 8 KiB, 5% and 30 ms), where C{peak} is the fastest the client
has taken bytes over the last L{FramePacer.window} seconds (10), each
rate measured over at least C{min_sample} (20 ms; acknowledgements come
in bursts). A frame that goes out then waits behind at most about
C{budget} of the link's time, so it arrives at most one transmission, one
budget and one frame interval old.

Why the peak and not the last drain: a fast reader that stalls for a
moment (a browser busy painting, a loaded machine) stops draining, and a
pacer that trusted the last drain would take it for a slow link and hold
its frames back, so that it lost frames today's server still delivers (1
of 100 clients lost 0.7% of its frames that way in a first trial). A
stalled reader does not lower its peak: what it took at its best within
the budget may stay queued, a frame or more, and a reader that caught up
after a stall has shown a higher peak still. A slow link never shows
more than its rate. A link that gets slower (a guest walking away from
the access point) is believed at its old speed until its peak leaves the
window.

Why not the kernel's own estimate (C{tcpi_delivery_rate}): it measures
the path, not the reader. A client whose receive buffer is small and
whose reader is slow (a phone busy decoding) was estimated at 105 MB/s
from the burst that first filled its buffer, then 0.2 to 1.6 MB/s while
it read 0.3 MB/s; the pacer's own measure, bytes delivered over time, is
what the reader actually takes, and so paces a slow reader as well as a
slow link.

A fast client (loopback, a LAN) has drained long before the next frame is
made, so it loses nothing; a slow one is sent fewer frames, each as fresh
as the link allows. Where the kernel cannot say (not Linux, not a TCP
socket), L{TransportPacing.method} is L{None} with a reason in
L{TransportPacing.why}, and the client keeps the latest-frame rule alone:
C{/status} says so. Behind a reverse proxy the queue measured is the
proxy's, on a fast link: pacing then changes nothing, as if it were off.

A first rule (the last drain's rate rather than the peak), tried in a
copy of the benchmark's minimal relay, gave frame ages at p90 of the
ideal plus 18 to 60 ms on links shaped to 2, 4 and 8 Mbit/s, at 95% of
the frames the link can carry, against 0.9 to 3.5 s without pacing;
docs/benchmarks.rst has the runs of fourcut itself.
"""

import collections
import errno
import fcntl
import socket
import struct
import sys

from fourcut.stream.internals import buffered_bytes
from fourcut.stream.sockets import socket_transport

__all__ = [
    "SIOCOUTQ", "SIOCOUTQNSD", "outq", "notsent", "tcp_info",
    "queued_from_tcp_info", "KernelQueue", "FramePacer",
    "TransportPacing",
]

try:
    import termios
    #: C{SIOCOUTQ}, equal to C{TIOCOUTQ} on Linux (0x5411 on x86 and ARM;
    #: other values on some architectures, hence termios).
    SIOCOUTQ = termios.TIOCOUTQ
except (ImportError, AttributeError):        # pragma: no cover
    SIOCOUTQ = 0x5411
#: C{SIOCOUTQNSD} (linux/sockios.h): TCP bytes not yet sent at all.
SIOCOUTQNSD = 0x894B

#: C{TCP_INFO}: 11 on Linux (socket.TCP_INFO where Python has it).
TCP_INFO = getattr(socket, "TCP_INFO", 11)

#: Fields of struct tcp_info (linux/tcp.h) read here: name -> (offset,
#: struct format). A field past what the running kernel returns is None.
_TCP_INFO_FIELDS = {
    "state": (0, "B"),
    "snd_mss": (16, "I"),
    "unacked": (24, "I"),
    "rtt_us": (68, "I"),
    "snd_cwnd": (80, "I"),
    "bytes_acked": (120, "Q"),
    "notsent_bytes": (144, "I"),
    "delivery_rate": (160, "Q"),
    "bytes_sent": (200, "Q"),
    "bytes_retrans": (208, "Q"),
}
_TCP_INFO_SIZE = 232
#: tcpi_state values of a socket with no peer to send to: TCP_CLOSE (7)
#: and TCP_LISTEN (10), where SIOCOUTQ is EINVAL.
_NOT_CONNECTED = {7, 10}

#: errno values that mean "this socket or platform cannot say".
_UNSUPPORTED = {errno.ENOTTY, errno.EINVAL, errno.EOPNOTSUPP,
                errno.ENOPROTOOPT, errno.ENOTSOCK, errno.EBADF,
                getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


def _fd(sock):
    return sock if isinstance(sock, int) else sock.fileno()


def _ioctl_int(sock, request):
    if not sys.platform.startswith("linux"):
        return None
    try:
        fd = _fd(sock)
        if fd < 0:
            return None
        answer = fcntl.ioctl(fd, request, b"\0\0\0\0")
    except OSError as e:
        if e.errno in _UNSUPPORTED:
            return None
        raise
    # A count of bytes: never negative.
    return struct.unpack("i", answer)[0]


def outq(sock):
    """
    Bytes the kernel still holds for C{sock} (a socket or a descriptor):
    for TCP, written and not yet acknowledged by the peer, sent or not
    (C{SIOCOUTQ}). L{None} where it cannot say: not Linux, a listening
    socket, something that is not a socket.
    """
    return _ioctl_int(sock, SIOCOUTQ)


def notsent(sock):
    """
    TCP bytes written to C{sock} that the kernel has not sent at all yet
    (C{SIOCOUTQNSD}), or L{None}.
    """
    return _ioctl_int(sock, SIOCOUTQNSD)


def tcp_info(sock):
    """
    A few fields of C{TCP_INFO} for C{sock} as a dict (L{_TCP_INFO_FIELDS};
    a field the kernel does not return is L{None}), or L{None} if the
    socket is not TCP or the platform has no C{TCP_INFO} in this layout.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        if isinstance(sock, int):
            sock = socket.socket(fileno=sock)
            try:
                raw = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO,
                                      _TCP_INFO_SIZE)
            finally:
                sock.detach()
        else:
            raw = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO,
                                  _TCP_INFO_SIZE)
    except OSError as e:
        if e.errno in _UNSUPPORTED:
            return None
        raise
    info = {}
    for name, (offset, form) in _TCP_INFO_FIELDS.items():
        end = offset + struct.calcsize(form)
        info[name] = (struct.unpack_from(form, raw, offset)[0]
                      if len(raw) >= end else None)
    return info


def queued_from_tcp_info(info):
    """
    Unsent plus in-flight bytes from a L{tcp_info} dict, or L{None}.

    In flight is C{bytes_sent - bytes_retrans - bytes_acked} where the
    kernel has those counters (4.19 and later), else C{unacked} segments
    times C{snd_mss}, an estimate (the last segment of a write is usually
    shorter).
    """
    if (info is None or info.get("notsent_bytes") is None
            or info.get("state") in _NOT_CONNECTED):
        return None
    sent, retrans, acked = (info.get("bytes_sent"),
                            info.get("bytes_retrans"),
                            info.get("bytes_acked"))
    if None not in (sent, retrans, acked):
        flight = max(0, sent - retrans - acked)
    elif info.get("unacked") is not None and info.get("snd_mss"):
        flight = info["unacked"] * info["snd_mss"]
    else:
        return None
    return info["notsent_bytes"] + flight


class KernelQueue:
    """
    What the kernel still holds for one connected socket, by the first
    source that works for it: C{SIOCOUTQ}, else C{TCP_INFO}.

    @ivar method: C{"SIOCOUTQ"}, C{"TCP_INFO"} or L{None} (no source: the
        caller falls back to writing whenever it may).
    @ivar why: when C{method} is L{None}, a short reason for C{/status}.
    """

    def __init__(self, sock):
        self.sock = sock
        self.method = None
        self.why = None
        if not sys.platform.startswith("linux"):
            self.why = "not Linux (%s): no SIOCOUTQ or TCP_INFO" % (
                sys.platform,)
            return
        try:
            if outq(sock) is not None:
                self.method = "SIOCOUTQ"
            elif queued_from_tcp_info(tcp_info(sock)) is not None:
                self.method = "TCP_INFO"
            else:
                self.why = ("neither SIOCOUTQ nor TCP_INFO answers for it "
                            "(not a connected TCP socket?)")
        except OSError as e:
            self.why = "SIOCOUTQ failed: %s" % (e,)

    def read(self):
        """
        Bytes still held (unsent and unacknowledged), or L{None} if the
        socket can no longer say (closed, or no method).
        """
        try:
            if self.method == "SIOCOUTQ":
                return outq(self.sock)
            if self.method == "TCP_INFO":
                return queued_from_tcp_info(tcp_info(self.sock))
        except OSError:
            return None
        return None


class FramePacer:
    """
    One client's rule for when the next frame may be written: once what
    the kernel (and the writer's own buffer) still holds of the previous
    frames is at most L{threshold}.

    Pure: the caller passes the time (seconds, any monotonic clock) and
    the bytes queued; nothing here reads a socket or a clock.

    @ivar last_size: bytes of the last frame written, L{None} before one.
    @ivar frames: frames written (L{sent} calls).
    @ivar written: bytes of every frame written.
    @ivar held: checks that answered "not yet".
    """

    def __init__(self, fraction=0.05, floor=8192, budget=0.03, window=10.0,
                 min_sample=0.02, min_wait=0.005, max_wait=0.1):
        """
        @param fraction: of the last frame's size, the bytes that may still
            be queued when the next frame goes.
        @param floor: bytes that may always still be queued, however small
            the last frame (acknowledgements lag by a round trip).
        @param budget: seconds: what the link drains in that long at its
            L{peak} may also still be queued. It is what a frame may wait
            behind the last one, so it adds at most that to a frame's age
            on a slow link; on a fast one it is megabytes, and a reader
            that stalls for a moment keeps every frame.
        @param window: seconds a drain rate counts towards L{peak}.
        @param min_sample: shortest interval a drain rate is measured over
            (acknowledgements come in bursts: shorter ones overstate it).
        @param min_wait: shortest delay L{wait} suggests: the writer's
            timer granularity.
        @param max_wait: longest delay L{wait} suggests, so that a link
            that speeds up is noticed soon.
        """
        if (fraction < 0 or floor < 0 or budget < 0 or window <= 0
                or min_sample < 0 or not 0 < min_wait <= max_wait):
            raise ValueError("fraction, floor, budget and min_sample must "
                             "be >= 0, window > 0, and 0 < min_wait <= "
                             "max_wait")
        self.fraction = fraction
        self.floor = floor
        self.budget = budget
        self.window = window
        self.min_sample = min_sample
        self.min_wait = min_wait
        self.max_wait = max_wait
        self.last_size = None
        self.frames = 0
        self.written = 0
        self.held = 0
        self._mark = None           # (time, bytes delivered) of a sample
        # (time, rate) pairs, rates decreasing: the front is the peak
        # within the window (a monotonic queue).
        self._rates = collections.deque()

    @property
    def peak(self):
        """
        The fastest drain measured within the window, bytes a second, or
        L{None} before one.
        """
        return self._rates[0][1] if self._rates else None

    def threshold(self, last_size=None):
        """
        Bytes that may still be queued when the next frame goes, after a
        frame of C{last_size} bytes (default: the last one written):
        C{max(floor, fraction * last_size, peak * budget)}.
        """
        size = self.last_size if last_size is None else last_size
        limit = max(self.floor, int(self.fraction * (size or 0)))
        peak = self.peak
        if peak:
            limit = max(limit, int(peak * self.budget))
        return limit

    def may_send(self, queued, last_size=None):
        """
        Whether the next frame may be written now, C{queued} bytes still
        being held. L{None} (the kernel cannot say) is always yes: today's
        behaviour, where Twisted's own buffer is the only bound.
        """
        if queued is None:
            return True
        return queued <= self.threshold(last_size)

    def observe(self, now, queued):
        """
        Take one reading of the queue: the bytes delivered since the last
        sample (frames written minus what is still queued), if at least
        C{min_sample} ago, give a drain rate.
        """
        delivered = self.written - queued
        mark = self._mark
        if mark is None or delivered < mark[1]:
            # The first reading, or bytes this pacer did not write (a
            # WebSocket reply) entered the queue: start again from here.
            self._mark = (now, delivered)
            return
        elapsed = now - mark[0]
        if elapsed < self.min_sample:
            return
        self._mark = (now, delivered)
        self._add_rate(now, (delivered - mark[1]) / elapsed)

    def _add_rate(self, now, rate):
        rates = self._rates
        while rates and rates[0][0] < now - self.window:
            rates.popleft()
        if rate <= 0:
            return
        while rates and rates[-1][1] <= rate:
            rates.pop()
        rates.append((now, rate))

    def wait(self, now, queued):
        """
        C{0.0} if the next frame may be written now; otherwise the seconds
        to wait before asking again: the time the queue should take to
        drain to the threshold at the L{peak} rate, within C{[min_wait,
        max_wait]} (C{min_wait} before there is a peak).
        """
        if queued is None:
            return 0.0
        self.observe(now, queued)
        limit = self.threshold()
        if queued <= limit:
            return 0.0
        self.held += 1
        peak = self.peak
        if not peak:
            return self.min_wait
        return min(self.max_wait, max(self.min_wait,
                                      (queued - limit) / peak))

    def sent(self, now, size):
        """
        A frame of C{size} bytes was handed to the transport at C{now}.
        """
        self.last_size = size
        self.frames += 1
        self.written += size


class TransportPacing:
    """
    A L{FramePacer} fed from one Twisted transport: what the kernel holds
    for its socket (L{KernelQueue}) plus what Twisted still buffers above
    it, timed by the reactor's clock. What L{fourcut.stream.broadcast.LatestFrameProducer} asks.

    @ivar method: how the kernel's queue is read (C{"SIOCOUTQ"},
        C{"TCP_INFO"}), or L{None}: pacing is off for this client, and
        L{wait} always says go.
    @ivar why: with C{method} L{None}, why.
    @ivar pacer: the L{FramePacer}.
    """

    def __init__(self, transport, clock, pacer=None):
        self.clock = clock
        self.pacer = pacer if pacer is not None else FramePacer()
        lowest = self._lowest = socket_transport(transport)
        handle = None
        if lowest is not None:
            try:
                handle = lowest.getHandle()
            except Exception:
                handle = None
        if handle is None or not hasattr(handle, "fileno"):
            self.queue = None
            self.method = None
            self.why = "not a socket fourcut can ask (%s)" % (
                type(transport).__name__,)
            return
        self.queue = KernelQueue(handle)
        self.method = self.queue.method
        self.why = self.queue.why

    def queued(self):
        """
        Bytes written and not yet delivered to the peer, or L{None} if the
        kernel cannot say.
        """
        if self.queue is None:
            return None
        held = self.queue.read()
        if held is None:
            return None
        # Twisted's buffer (what TLS would hold above it is there only
        # before its handshake, when no frame flows).
        return held + buffered_bytes(self._lowest)

    def wait(self):
        """
        C{0.0} if the next frame may be written now, else seconds to wait
        before asking again (L{FramePacer.wait}).
        """
        if self.method is None:
            return 0.0
        return self.pacer.wait(self.clock.seconds(), self.queued())

    def sent(self, size):
        """
        A frame of C{size} bytes was written to the transport.
        """
        self.pacer.sent(self.clock.seconds(), size)

    def describe(self):
        """
        For C{/status}: C{{"pacing": method or "off", ...}}.
        """
        if self.method is None:
            return {"pacing": "off", "pacing_off_why": self.why}
        peak = self.pacer.peak
        return {"pacing": self.method,
                "held_checks": self.pacer.held,
                "link_peak_bytes_per_second": (None if peak is None
                                               else int(peak))}
