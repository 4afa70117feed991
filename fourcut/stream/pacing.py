# -*- test-case-name: tests.test_pacing -*-
"""
Pace live view by what has actually left for each client.

The latest-frame rule of L{fourcut.broadcast} skips frames only once
Twisted's transport has paused the producer, and Twisted pauses it only
when the kernel will not take more bytes. On a slow link the kernel takes
plenty: bytes already handed to TCP sit unacknowledged in flight and in the
bottleneck's queue (a Wi-Fi access point, a router), where
C{TCP_NOTSENT_LOWAT}, which bounds only the I{unsent} bytes, cannot reach
them. A 4 Mbit/s client was shown frames 1.8 s old where 0.4 s was
possible (issue 13). The cure is to ask the kernel how much it still holds
for the socket, sent or not, and to write the next frame only once the
previous one has essentially been delivered.

This module has the two halves, both free of Twisted:

 - L{KernelQueue} and the functions under it read what the kernel still
   holds for one socket: C{SIOCOUTQ} (Linux; the same number as
   C{TIOCOUTQ}: bytes written and not yet acknowledged by the peer, unsent
   and in flight), C{SIOCOUTQNSD} (the unsent part alone), and
   C{TCP_INFO} (C{tcpi_notsent_bytes} plus the bytes in flight, from
   C{tcpi_bytes_sent - tcpi_bytes_retrans - tcpi_bytes_acked}, or
   C{tcpi_unacked} segments times C{tcpi_snd_mss} on kernels before 4.19)
   as a fallback. Each returns L{None} where the platform or the socket
   cannot say (not Linux, not TCP, a listening socket, a closed one).
 - L{FramePacer}, one per client, decides from the bytes still queued and
   the size of the last frame whether the next frame may go now, and if
   not, how long to wait before asking again. It is pure: the caller
   passes the time and the queue.

How the server will use it (the HTTP multipart writer of C{/preview} and
the WebSocket writer of C{/ws}; not wired in yet):

 1. When a client's stream starts, make one C{KernelQueue(handle)} from
    C{transport.getHandle()} and one L{FramePacer}. C{KernelQueue.method}
    says which source works (C{"SIOCOUTQ"}, C{"TCP_INFO"}) or L{None}:
    then the client keeps today's behaviour (write whenever Twisted's
    transport is not paused) and C{/status} says C{"pacing": "off"} with
    C{KernelQueue.why}.
 2. A frame offered to the client's L{fourcut.broadcast.LatestFrameProducer}
    goes into its one pending slot, as today (a newer one replaces it and
    counts as skipped). Before writing the pending frame the writer asks
    C{pacer.wait(now, queued)}, with C{queued} = C{KernelQueue.read()} plus
    the bytes still in Twisted's own buffer for the transport (and, for
    TLS, OpenSSL's). C{0.0}: write it, then call C{pacer.sent(now,
    len(part))}. A positive delay: keep it pending and look again after
    that delay with C{clock.callLater} (one timer per client, cancelled by
    the next write or when the client goes): the kernel sends no wake-up
    when acknowledgements come in, so the writer has to ask. A frame
    offered meanwhile replaces the pending one, so what goes out next is
    the newest frame.
 3. A fast client (loopback, a LAN) has drained long before the next frame
    is made, so L{wait} says 0 and it loses nothing; a slow one is sent
    fewer frames, each as fresh as the link allows: one frame's
    transmission time plus at most one frame interval old.
 4. C{/status} per client: the method, frames sent and skipped, the age of
    the last frame sent; L{FramePacer.held} counts the checks that had to
    wait.

Frame size and threshold: the next frame may go once at most
C{max(floor, fraction * last_size, rate * horizon)} bytes of the previous
are still held (defaults 8 KiB, 5% and 10 ms: 8.5 KB of a 170 KB frame on
a slow link; what the link drains in 10 ms on a fast one). A little left
in flight keeps the link busy while the next write is made; more would
make every frame wait behind the rest of the last one.

Tried in a copy of the benchmark's minimal relay (not in fourcut) on
links shaped to 2, 4 and 8 Mbit/s (the slowlink scenario's setup, BBR):
frame age p90 was the ideal plus 18 to 60 ms, at 95% of the frames the
link can carry, against a p90 of 0.9 s (8 Mbit/s) to 3.5 s (2 Mbit/s)
without pacing. With 100 clients on loopback it cost 1 to 3 ms of the
p99 from relay to client and no CPU, but on a busy machine (about one
core of other load) one client of 100 once lost 0.7% of its frames: a
reader that stalls for a frame interval looks like a slow link. The
wiring should tell the two apart with a steadier rate than the last
drain (a moving average, or C{tcpi_delivery_rate}, which a stalled reader
does not lower) before the fast-client targets can be met on a loaded
machine; see docs/benchmarks.rst.
"""

import errno
import fcntl
import socket
import struct
import sys

__all__ = [
    "SIOCOUTQ", "SIOCOUTQNSD", "outq", "notsent", "tcp_info",
    "queued_from_tcp_info", "KernelQueue", "FramePacer",
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
    value = struct.unpack("i", answer)[0]
    return value if value >= 0 else None


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
                self.why = ("neither SIOCOUTQ nor TCP_INFO answers for it (not a "
                            "connected TCP socket?)")
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
    @ivar held: checks that answered "not yet".
    @ivar rate: the drain rate last estimated, bytes a second, or L{None}.
    """

    def __init__(self, fraction=0.05, floor=8192, horizon=0.01,
                 min_wait=0.002, max_wait=0.1):
        """
        @param fraction: of the last frame's size, the bytes that may still
            be queued when the next frame goes.
        @param floor: bytes that may always still be queued, however small
            the last frame (acknowledgements lag by a round trip).
        @param horizon: seconds: the bytes the link was last seen to drain
            in that long may also still be queued, so that a fast link
            (a LAN, loopback with a busy reader) is not held back for the
            last few kilobytes of a frame it will take in a moment; a slow
            one (4 Mbit/s: 5 KB in 10 ms) is not changed by it.
        @param min_wait: shortest delay L{wait} suggests: the writer's
            timer granularity.
        @param max_wait: longest delay L{wait} suggests, so that a link
            that speeds up is noticed soon.
        """
        if (fraction < 0 or floor < 0 or horizon < 0
                or not 0 < min_wait <= max_wait):
            raise ValueError("fraction, floor and horizon must be >= 0, "
                             "and 0 < min_wait <= max_wait")
        self.fraction = fraction
        self.floor = floor
        self.horizon = horizon
        self.min_wait = min_wait
        self.max_wait = max_wait
        self.last_size = None
        self.frames = 0
        self.held = 0
        self.rate = None
        self._sample = None         # (time, queued) of the last check

    def threshold(self, last_size=None):
        """
        Bytes that may still be queued when the next frame goes, after a
        frame of C{last_size} bytes (default: the last one written):
        C{max(floor, fraction * last_size, rate * horizon)}.
        """
        size = self.last_size if last_size is None else last_size
        limit = max(self.floor, int(self.fraction * (size or 0)))
        if self.rate and self.horizon:
            limit = max(limit, int(self.rate * self.horizon))
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

    def wait(self, now, queued):
        """
        C{0.0} if the next frame may be written now; otherwise the seconds
        to wait before asking again: the time the queue should take to
        drain to the threshold at the rate it drained since the last check
        (or the last write), within C{[min_wait, max_wait]} (C{min_wait}
        before there is a rate).
        """
        if queued is None:
            return 0.0
        previous, self._sample = self._sample, (now, queued)
        if previous is not None and now > previous[0] \
                and previous[1] > queued:
            self.rate = (previous[1] - queued) / (now - previous[0])
        limit = self.threshold()
        if queued <= limit:
            return 0.0
        self.held += 1
        if self.rate is None or previous is None:
            return self.min_wait
        delay = (queued - limit) / self.rate
        return min(self.max_wait, max(self.min_wait, delay))

    def sent(self, now, size, queued=None):
        """
        A frame of C{size} bytes was handed to the transport at C{now};
        C{queued}, if known, is what the kernel holds right after.
        """
        self.last_size = size
        self.frames += 1
        # The queue jumps by the frame: the next drain is measured from
        # here, not from before the write.
        self._sample = None if queued is None else (now, queued)
