# -*- test-case-name: tests.stream.test_sockets -*-
"""
The socket under a live view client's transport, and how it is set up for
frames.

A client's transport is rarely the TCP connection itself: the connection
limits (L{fourcut.web.limits.LimitedConnection}) wrap it, TLS would wrap
it again, and after a WebSocket upgrade Autobahn writes to whichever of
those twisted.web handed it. L{socket_transport} walks down to the
L{FileDescriptor} that owns the socket; L{unsent_bytes} counts what is
buffered in memory on the way (Twisted's and TLS's buffers), which the
kernel cannot see.

L{prepare_for_frames} sets a client's socket up for a stream of large
writes:

 - C{TCP_NOTSENT_LOWAT}: the kernel tells Twisted the socket is writable
   only while less than L{NOTSENT_LOWAT} of it is unsent, so that a slow
   client's kernel buffer does not fill with many frames before the
   latest-frame rule can skip any (without it, 2.8 MB queued, frames 10 s
   old). It bounds only the I{unsent} bytes; the pacing of
   L{fourcut.stream.pacing} bounds what is in flight too.
 - One C{send()} per frame: Twisted's TCP transport hands the kernel at
   most C{SEND_LIMIT} (128 KiB) per call, so every 170 KB live view frame
   took two calls and two trips round the reactor loop, for every client.
   L{SEND_LIMIT} is raised for these transports, which only ever carry
   frames the kernel takes whole on any link fast enough to keep up.
"""

import socket

from twisted.internet.abstract import FileDescriptor
from twisted.internet.interfaces import ISSLTransport

from fourcut.stream.internals import (buffered_bytes, can_write_directly,
                                      raise_send_limit, tls_unsent_bytes,
                                      transport_below, write_directly)

__all__ = ["FrameWriter", "NOTSENT_LOWAT", "SEND_LIMIT", "bound_unsent",
           "prepare_for_frames", "socket_transport", "unsent_bytes"]

#: Unsent bytes the kernel may hold for a live view client (about one and
#: a half frames). Without a bound it queued about 2.8 MB (17 frames), so
#: a slow client was shown frames 10 s old before the server skipped any
#: for it; with it, 3 to 5 s (the rest is in the client's own receive
#: buffer). It costs more wake-ups: 0.30 -> 0.42 core at 100 clients in
#: the benchmark, p99 latency 20 -> 23 ms (docs/benchmarks.rst).
NOTSENT_LOWAT = 256 * 1024

#: Bytes a live view client's transport hands the kernel in one C{send()}
#: (Twisted's default is 128 KiB): a whole frame, even a large one.
SEND_LIMIT = 1024 * 1024

#: How deep wrappers are followed before giving up (a loop, or something
#: that is not a transport).
_MAX_DEPTH = 8


def _walk(transport):
    """
    C{(file_descriptor, buffered)}: the L{FileDescriptor} under
    C{transport} (or L{None}) and the bytes the wrappers above it hold.
    """
    buffered = 0
    for _ in range(_MAX_DEPTH):
        if transport is None:
            break
        if isinstance(transport, FileDescriptor):
            return transport, buffered
        # TLS, before the handshake is done.
        buffered += tls_unsent_bytes(transport)
        transport = transport_below(transport)
    return None, buffered


def socket_transport(transport):
    """
    The L{FileDescriptor} (Twisted's TCP connection) under C{transport},
    following wrapping transports down; L{None} if there is none (a test's
    C{StringTransport}, an HTTP/2 stream).
    """
    return _walk(transport)[0]


def unsent_bytes(transport):
    """
    Bytes written to C{transport} that the kernel has not taken yet: what
    Twisted buffers in memory for a client that does not read. Wrapping
    transports (TLS, L{fourcut.web.limits.LimitedConnection}) are followed
    down to the socket, counting TLS's own buffer on the way.
    """
    lowest, buffered = _walk(transport)
    if lowest is None:
        return buffered
    return buffered + buffered_bytes(lowest)


def bound_unsent(transport):
    """
    Set C{TCP_NOTSENT_LOWAT} on C{transport}'s socket, where the platform
    has it (Linux); a no-op elsewhere and for non-TCP transports.
    """
    option = getattr(socket, "TCP_NOTSENT_LOWAT", None)
    if option is None:
        return
    try:
        handle = transport.getHandle()
        handle.setsockopt(socket.IPPROTO_TCP, option, NOTSENT_LOWAT)
    except Exception:
        pass


class FrameWriter:
    """
    Writes live view frames to one client's connection: straight to the
    socket when Twisted holds nothing unsent for it, else through the
    transport, behind what is there.

    Twisted's transports never write at once: C{write} appends to a buffer
    and asks the reactor to say when the socket is writable, and the
    next turn of the loop sends it (two C{epoll_ctl} calls and a trip
    through the reactor's dispatch for every frame and every client).
    When nothing is buffered the order of bytes cannot change, so the
    frame is handed to the kernel here with the transport's own
    C{writeSomeData}, and only what the kernel did not take goes through
    the transport. Not under TLS (the bytes must be encrypted first) nor
    where there is no Twisted socket under the transport: there every
    write goes through the transport.

    @ivar direct: frames (or their beginnings) written straight away.
    """

    def __init__(self, transport):
        self.transport = transport
        self.direct = 0
        self._lowest = None
        lowest, _ = _walk(transport)
        if (lowest is not None and not _under_tls(transport)
                and can_write_directly(lowest)):
            self._lowest = lowest

    def write(self, data):
        """
        Write C{data} (L{bytes}) to the connection, in order.
        """
        lowest = self._lowest
        if (lowest is not None and lowest.connected
                and not lowest.disconnecting
                and not buffered_bytes(lowest)):
            sent = write_directly(lowest, data)
            if isinstance(sent, int) and sent > 0:
                self.direct += 1
                if sent == len(data):
                    return
                data = data[sent:]
        self.transport.write(data)


def _under_tls(transport):
    """
    Whether a TLS layer lies between C{transport} and the socket.
    """
    for _ in range(_MAX_DEPTH):
        if transport is None or isinstance(transport, FileDescriptor):
            return False
        if ISSLTransport.providedBy(transport):
            return True
        transport = transport_below(transport)
    return False


def prepare_for_frames(transport):
    """
    Set up a live view client's connection for frames: L{bound_unsent}, and
    whole frames in one C{send()} (L{SEND_LIMIT}) where the transport is
    Twisted's own TCP connection.
    """
    bound_unsent(transport)
    lowest = socket_transport(transport)
    if lowest is not None:
        raise_send_limit(lowest, SEND_LIMIT)
