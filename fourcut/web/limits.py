# -*- test-case-name: tests.integration.test_limits -*-
"""
Connection limits that keep strangers on the venue network from using up
what the booth's own front-end needs: connection slots, file descriptors
and time.

A connection is I{unauthenticated} from the moment it is accepted until a
request on it proves the access token (an C{Authorization: Bearer} header,
C{?token=} on live view or on C{/ws}, or a WebSocket C{auth} message; with
no token configured, until its first complete request). L{ConnectionLimits}
wraps the site's factory and keeps those connections few:

  - at most C{max_unauthenticated} of them at once on the server, and at
    most C{max_per_address} from one peer address. A connection accepted
    over either bound closes the oldest I{idle} unauthenticated connection
    in that scope, idle for at least L{EVICT_AFTER} seconds: one still
    waiting for its first request, waiting between requests, or a
    WebSocket client that is neither authenticated nor watching. The
    newcomer, which may well be the front-end, is never the one refused. If
    nothing there is idle (a burst of new connections, anonymous live view
    filling the bound), the newcomer is kept I{on probation}: its first
    request must prove the token, or it is answered 503 and closed;
  - a reserve of file descriptors (C{fd_reserve}): when fewer than that are
    free under C{RLIMIT_NOFILE}, a new connection closes the oldest idle
    unauthenticated one, or is closed itself at once if there is none, so
    that gphoto2, photo files and the clients already in never meet
    C{EMFILE}.

L{DeadlineChannel} gives every request a deadline for all of it (request
line, headers and body, C{header_timeout}) counted from its first byte, or
from the connection for the first request: twisted.web's idle timeout
restarts with every byte, so a client that drips one header line every 20
seconds would otherwise hold its connection for ever.
"""

import collections
import errno
import os
import resource

from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.web import http

from fourcut.stream.internals import handling_request, pipelined_data

__all__ = [
    "ConnectionLimits", "DeadlineChannel", "DescriptorBudget",
    "LimitedConnection", "connection_of", "deadline_channel",
    "open_descriptors",
]

log = Logger()

#: Seconds an unauthenticated connection may be idle before a newcomer
#: over the bound may close it: time for a client that has just connected
#: (a browser opens several at once) to send its request.
EVICT_AFTER = 1.0

#: Where the kernel lists this process's open descriptors.
FD_DIRECTORIES = ("/proc/self/fd", "/dev/fd")


def open_descriptors():
    """
    How many file descriptors this process has open, or L{None} where the
    platform does not say.

    @raise OSError: C{EMFILE} or C{ENFILE}: none is free even to count
        them with.
    """
    for directory in FD_DIRECTORIES:
        try:
            # listdir's own descriptor for the directory is in the list.
            return len(os.listdir(directory)) - 1
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE):
                raise
            continue
    return None


class DescriptorBudget:
    """
    How many descriptors are free under the soft C{RLIMIT_NOFILE}, and
    whether that is below the reserve.

    @param reserve: descriptors kept for the camera (each gphoto2 child
        takes pipes), photo files and the clients already connected.
    @param count: returns the number of open descriptors (or L{None}).
    @param limit: returns the soft limit.
    """

    def __init__(self, reserve, count=open_descriptors, limit=None):
        self.reserve = reserve
        self._count = count
        self._limit = limit if limit is not None else (
            lambda: resource.getrlimit(resource.RLIMIT_NOFILE)[0])

    def free(self):
        """
        Free descriptors, or L{None} if unknown (no limit, or no count).
        """
        limit = self._limit()
        if limit == resource.RLIM_INFINITY or limit < 0:
            return None
        try:
            count = self._count()
        except OSError:
            # Not one left to count them with.
            return 0
        if count is None:
            return None
        return limit - count

    def short(self):
        """
        Whether fewer than the reserve are free.
        """
        if self.reserve <= 0:
            return False
        free = self.free()
        return free is not None and free < self.reserve


class LimitedConnection(ProtocolWrapper):
    """
    One accepted connection as L{ConnectionLimits} sees it; the transport
    of the HTTP channel and, after an upgrade, of the WebSocket protocol
    (Autobahn's resource hands this wrapper over to it).

    @ivar host: the peer's address (L{None} for non-IP transports).
    @ivar authenticated: a request proved the token.
    @ivar busy: a response is being served (or a WebSocket client watches
        live view): not to be closed to make room.
    @ivar probation: accepted over the bound with nothing idle to close;
        its first request must prove the token.
    """

    authenticated = False
    busy = False
    probation = False
    requests = 0

    def __init__(self, factory, wrapped, host, now):
        ProtocolWrapper.__init__(self, factory, wrapped)
        self.host = host
        self.idle_since = now

    def trust(self):
        """
        A request on this connection proved the token: it no longer counts
        against the bounds for unauthenticated connections.
        """
        if not self.authenticated:
            self.authenticated = True
            self.probation = False
            self.factory.trusted(self)

    def set_busy(self, busy):
        if self.busy and not busy:
            self.idle_since = self.factory.clock.seconds()
        self.busy = busy

    def request_started(self, authenticated):
        """
        A request arrived (and is about to be served). Returns whether it
        may go on: an unauthenticated first request on a connection on
        probation may not.
        """
        self.requests += 1
        if authenticated:
            self.trust()
            return True
        return not (self.probation and self.requests == 1)

    def evict(self, why):
        log.info("closing an idle unauthenticated connection from {host} "
                 "({why})", host=self.host, why=why)
        self.factory.forget(self)
        self.transport.abortConnection()


class _Refused(Protocol):
    """
    A connection refused at once (the descriptor reserve is reached): the
    socket is closed before anything is read. Used instead of returning
    L{None} from C{buildProtocol}, which a TLS factory wrapping ours would
    not survive.
    """

    def connectionMade(self):
        self.transport.abortConnection()


class ConnectionLimits(WrappingFactory):
    """
    Wraps the site's factory (listen on this instead) and enforces the
    bounds of the module docstring.

    @ivar unauthenticated: the unauthenticated connections, oldest first.
    @ivar refused: connections closed at once for the descriptor reserve.
    @ivar evicted: idle unauthenticated connections closed to make room.
    """

    protocol = LimitedConnection

    def __init__(self, wrapped, clock, max_unauthenticated=32,
                 max_per_address=8, budget=None):
        WrappingFactory.__init__(self, wrapped)
        self.clock = clock
        self.max_unauthenticated = max_unauthenticated
        self.max_per_address = max_per_address
        self.budget = budget if budget is not None else DescriptorBudget(0)
        self.unauthenticated = collections.OrderedDict()
        self._by_host = collections.defaultdict(collections.OrderedDict)
        self.refused = 0
        self.evicted = 0

    def logPrefix(self):
        # "Site starting on 8080", as without the limits (scripts, the
        # benchmark among them, wait for that line).
        return self.wrappedFactory.logPrefix()

    def unauthenticated_from(self, host):
        return len(self._by_host.get(host, ()))

    def buildProtocol(self, addr):
        host = getattr(addr, "host", None)
        if self.budget.short() and not self._evict(
                self.unauthenticated, "descriptor reserve"):
            self.refused += 1
            log.warn("refused a connection from {host}: fewer than {reserve} "
                     "file descriptors free", host=host,
                     reserve=self.budget.reserve)
            return _Refused()
        probation = False
        if len(self._by_host.get(host, ())) >= self.max_per_address:
            probation = not self._evict(self._by_host[host],
                                        "too many from %s" % (host,))
        if len(self.unauthenticated) >= self.max_unauthenticated:
            probation = not self._evict(self.unauthenticated,
                                        "too many unauthenticated") \
                or probation
        wrapped = self.wrappedFactory.buildProtocol(addr)
        if wrapped is None:
            return None
        connection = self.protocol(self, wrapped, host, self.clock.seconds())
        connection.probation = probation
        self.unauthenticated[connection] = None
        self._by_host[host][connection] = None
        return connection

    def _evict(self, scope, why):
        """
        Close the oldest idle unauthenticated connection in C{scope}, if
        one has been idle long enough; say whether there was one.
        """
        settled = self.clock.seconds() - EVICT_AFTER
        for connection in scope:
            if not connection.busy and connection.idle_since <= settled:
                self.evicted += 1
                connection.evict(why)
                return True
        return False

    def forget(self, connection):
        self.unauthenticated.pop(connection, None)
        by_host = self._by_host.get(connection.host)
        if by_host is not None:
            by_host.pop(connection, None)
            if not by_host:
                del self._by_host[connection.host]

    def trusted(self, connection):
        self.forget(connection)

    def unregisterProtocol(self, connection):
        WrappingFactory.unregisterProtocol(self, connection)
        self.forget(connection)


def connection_of(transport):
    """
    The L{LimitedConnection} C{transport} is (a request's channel's
    transport, or what Autobahn hands a WebSocket protocol), or L{None}
    without limits.
    """
    return transport if isinstance(transport, LimitedConnection) else None


#: Sent when a request does not arrive in full within its deadline.
TIMEOUT_BODY = b"fourcut: the request did not arrive in time\n"


class DeadlineChannel:
    """
    A mixin for L{twisted.web.http.HTTPChannel}: each request must arrive
    whole (request line, headers and body) within C{header_timeout}
    seconds of its first byte (of the connection, for the first one), or it
    is answered 408 and the connection closed. It also tells the
    connection's L{LimitedConnection} when a request is being served.
    """

    header_timeout = 10.0
    _deadline = None

    def connectionMade(self):
        super().connectionMade()
        self._start_deadline()

    def dataReceived(self, data):
        if not handling_request(self) and self._deadline is None:
            self._start_deadline()
        super().dataReceived(data)

    def allContentReceived(self):
        self._cancel_deadline()
        connection = connection_of(self.transport)
        if connection is not None:
            connection.set_busy(True)
        super().allContentReceived()

    def requestDone(self, request):
        connection = connection_of(self.transport)
        if connection is not None:
            connection.set_busy(False)
        more = pipelined_data(self)
        super().requestDone(request)
        if (more and not handling_request(self) and self._deadline is None
                and self.transport is not None and self.persistent):
            # A pipelined request had begun.
            self._start_deadline()

    def connectionLost(self, reason):
        self._cancel_deadline()
        super().connectionLost(reason)

    def _start_deadline(self):
        if self.header_timeout:
            self._deadline = self.callLater(self.header_timeout,
                                            self._request_timed_out)

    def _cancel_deadline(self):
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _request_timed_out(self):
        self._deadline = None
        transport = self.transport
        if transport is None:
            return
        peer = transport.getPeer()
        log.info("closing a connection from {host}: no whole request within "
                 "{timeout} s", host=getattr(peer, "host", peer),
                 timeout=self.header_timeout)

        def drop(*args):
            pass

        self.dataReceived = drop
        self.lineReceived = drop
        self.rawDataReceived = drop
        transport.write(b"".join([
            b"HTTP/1.1 408 ", http.RESPONSES[408], b"\r\n",
            b"Content-Type: text/plain; charset=utf-8\r\n",
            b"Content-Length: %d\r\n" % len(TIMEOUT_BODY),
            b"Connection: close\r\n\r\n", TIMEOUT_BODY]))
        # twisted.web's own timeout: close, and abort if that hangs.
        self.timeoutConnection()


def deadline_channel(header_timeout):
    """
    The channel class of a site whose requests have C{header_timeout}
    seconds to arrive: a L{DeadlineChannel}.

    (twisted.web's default factory wraps each channel in a proxy that could
    switch to HTTP/2 after TLS negotiation; fourcut speaks HTTP/1.1 only,
    so the channel is used directly.)
    """
    return type("DeadlineHTTPChannel", (DeadlineChannel, http.HTTPChannel),
                {"header_timeout": header_timeout})
