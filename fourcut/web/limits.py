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
    WebSocket client that is neither authenticated nor watching. A
    request that is arriving is not idle: each of its bytes starts the
    idle time again (a phone on the venue Wi-Fi sending its request in
    pieces keeps its connection; one that stops sending for a second is
    idle, and the request's deadline bounds the whole of it); failing
    that, the oldest one that has held its slot for C{max_hold} seconds,
    whatever it is doing (a request being answered, anonymous live view):
    a stranger cannot keep a slot by staying busy. The newcomer, which may
    well be the front-end, is never the one refused. If nothing there may
    be closed (a burst of new connections), the newcomer is kept I{on
    probation}: its first request must prove the token, or it is answered
    503 and closed, I{unless} it asks for a path the booth's own screens
    and guests use without the token (C{priority}: the booth's pages, its
    WebSocket, a guest's share link), which closes the oldest
    unauthenticated connection in its scope, whatever it is doing, and
    goes on: the booth reconnects and a guest's link downloads however
    many strangers hold on;
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

It also bounds what the server produces for a client that does not read
its answers. twisted.web stops reading a connection whose transport holds
more than its buffer (64 KiB) unsent only between requests: a client that
pipelines C{GET /health} and never reads had every answer made and queued
in memory (issue 25: 113 -> 496 MB in 130 s). The budget is
C{max_unread_bytes} (C{server.max_unsent_bytes}, a WebSocket client's
too, over TCP and TLS alike: L{unsent_bytes} counts TLS's own buffer):
once more than that waits unsent, the channel parses no more of what has
arrived and reads nothing more from the socket, even in the middle of a
request, until the client has taken what is waiting. The answer in flight
is not cut: a photo larger than the budget streams under the transport's
own back-pressure (its producer paused past 64 KiB, resumed once that is
read), so a client that reads gets it whole. A connection whose answers
stall (the transport full, nothing read) for C{unread_timeout} seconds is
dropped (a WebSocket client gets the same time:
L{fourcut.web.ws.flowcontrol}). And a connection's pipelined
requests are served one a turn of the reactor, at most C{pipeline_rate}
(C{commands_per_second}, a WebSocket client's budget) a second: a 64 KiB
read of pipelined C{GET /health} was 1,800 answers made in one go, while
every live view screen waited.
"""

import collections
import errno
import os
import resource

from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.web import http

from fourcut.stream.internals import (handling_request, pipelined_data,
                                      unparsed_data)
from fourcut.stream.sockets import unsent_bytes

__all__ = [
    "ConnectionLimits", "DeadlineChannel", "DescriptorBudget",
    "LimitedConnection", "MAX_HOLD", "MAX_UNREAD_BYTES", "UNREAD_TIMEOUT",
    "connection_of",
    "deadline_channel", "open_descriptors",
]

log = Logger()

#: Seconds an unauthenticated connection may be idle before a newcomer
#: over the bound may close it: time for a client that has just connected
#: (a browser opens several at once) to send its request.
EVICT_AFTER = 1.0

#: Seconds an unauthenticated connection may hold its slot, whatever it
#: does, before a newcomer over the bound may close it
#: (C{server.max_unauthenticated_hold}).
MAX_HOLD = 30.0

#: Seconds a connection may leave its answers unread (its transport full)
#: before it is dropped (C{server.unread_timeout}).
UNREAD_TIMEOUT = 30.0

#: Bytes of answers a client may leave unread before the server reads and
#: answers no more of its requests (C{server.max_unsent_bytes}, the same
#: budget as a WebSocket client's).
MAX_UNREAD_BYTES = 1048576

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
        if limit == resource.RLIM_INFINITY:
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

    def __init__(self, factory, wrapped, host, now):
        ProtocolWrapper.__init__(self, factory, wrapped)
        self.host = host
        self.idle_since = now
        self.accepted = now

    def trust(self):
        """
        A request on this connection proved the token: it no longer counts
        against the bounds for unauthenticated connections.
        """
        if not self.authenticated:
            # Trusted: probation ends too, or the connection's next
            # request without the token (a public page after an API
            # call) would be refused.
            self.authenticated = True
            self.probation = False
            self.factory.trusted(self)

    def set_busy(self, busy):
        if self.busy and not busy:
            self.idle_since = self.factory.clock.seconds()
        self.busy = busy

    def request_arriving(self):
        """
        Bytes of a request arrived: the connection is not idle, its idle
        time starts again. (Its idle time used to count from its
        accepting, or its last answer, until the request was whole: a
        request sent slowly, in pieces, could be closed unanswered as
        idle for a newcomer.)
        """
        if not self.busy:
            self.idle_since = self.factory.clock.seconds()

    def request_started(self, authenticated, priority=False):
        """
        A request arrived (and is about to be served). Returns whether it
        may go on: an unauthenticated first request on a connection on
        probation may not, unless it is for a C{priority} path (the
        booth's screens, a guest's link): that one makes room by closing
        the oldest unauthenticated connection in its scope, whatever it is
        doing.
        """
        if authenticated:
            self.trust()
            return True
        # Only a first request finds probation on: it ends it (here or
        # in trust()), or its refusal closes the connection.
        if not self.probation:
            return True
        if priority:
            self.factory.make_room(self)
            self.probation = False
            return True
        return False

    def evict(self, why):
        log.info("closing an unauthenticated connection from {host} "
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
                 max_per_address=8, budget=None, max_hold=MAX_HOLD):
        WrappingFactory.__init__(self, wrapped)
        self.clock = clock
        self.max_hold = max_hold
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
        one has been idle long enough, else the oldest that has held its
        slot for C{max_hold} seconds whatever it does; say whether there
        was one.
        """
        now = self.clock.seconds()
        settled = now - EVICT_AFTER
        for connection in scope:
            if not connection.busy and connection.idle_since <= settled:
                self.evicted += 1
                connection.evict(why)
                return True
        held = now - self.max_hold
        for connection in scope:
            if connection.accepted <= held:
                self.evicted += 1
                connection.evict(why + ", held for %g s" % self.max_hold)
                return True
        return False

    def make_room(self, newcomer):
        """
        Close the oldest unauthenticated connection other than
        C{newcomer} in each scope it is over, whatever it is doing: a
        connection on probation asked for a path the booth's own screens
        and guests use (L{LimitedConnection.request_started}).
        """
        scopes = [(self._by_host.get(newcomer.host, {}),
                   self.max_per_address, "too many from %s"
                   % (newcomer.host,)),
                  (self.unauthenticated, self.max_unauthenticated,
                   "too many unauthenticated")]
        for scope, bound, why in scopes:
            if len(scope) <= bound:
                continue
            for connection in list(scope):
                if connection is not newcomer:
                    self.evicted += 1
                    connection.evict(why + ", to let the booth or a guest "
                                     "in")
                    break

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
    connection's L{LimitedConnection} when a request is arriving (it is
    not idle) and when it is being served.

    What it produces for a client is bounded (see the module docstring):
    while more than C{max_unread_bytes} wait unsent nothing more is read
    or parsed; once the transport says it is full (L{pauseProducing}) and
    does not drain for C{unread_timeout} seconds the connection is
    dropped; pipelined requests are served one a turn of the reactor, at
    most C{pipeline_rate} a second.
    """

    header_timeout = 10.0
    unread_timeout = UNREAD_TIMEOUT
    max_unread_bytes = MAX_UNREAD_BYTES
    _deadline = None
    _unread = None
    _next = None
    _bucket = None
    _output_paused = False
    pipeline_rate = 20.0

    def connectionMade(self):
        super().connectionMade()
        self._start_deadline()

    def pauseProducing(self):
        # The transport holds more than its buffer (64 KiB) unsent.
        # twisted.web pauses the answer being made (a photo streams under
        # that back-pressure) and, between requests, the reading; but it
        # went on answering what was already in.
        super().pauseProducing()
        if self.transport is None:
            return
        if self.unread_timeout and self._unread is None:
            self._unread = self.callLater(self.unread_timeout,
                                          self._unread_timed_out)
        if not self._check_unread() and not handling_request(self) \
                and self._next is None:
            # Under the budget: pipelined requests may go on (their turn
            # comes from requestDone's _next_request).
            self.transport.resumeProducing()

    def _check_unread(self):
        """
        Stop parsing and reading if more than C{max_unread_bytes} of
        answers wait unsent; say whether reading is stopped.
        """
        if self._output_paused:
            return True
        if self.transport is None or (unsent_bytes(self.transport)
                                      <= self.max_unread_bytes):
            return False
        self._output_paused = True
        # LineReceiver's own flag: parse no more of what has arrived.
        self.paused = True
        self.transport.pauseProducing()
        # The client's time now is unread_timeout, not the deadline.
        self._cancel_deadline()
        return True

    def resumeProducing(self):
        # The transport has sent all it held.
        was_paused = self._output_paused
        self._output_paused = False
        if self._unread is not None:
            # Still pending: _unread_timed_out forgets it as it runs.
            self._unread.cancel()
        self._unread = None
        super().resumeProducing()
        if was_paused and self.transport is not None and self._next is None:
            self.paused = False
            if handling_request(self):
                self.transport.resumeProducing()
            elif unparsed_data(self):
                # Pipelined requests that waited: on with them (this
                # starts the next one's deadline).
                self.dataReceived(b"")

    def _unread_timed_out(self):
        self._unread = None
        transport = self.transport
        if transport is None:
            return
        peer = transport.getPeer()
        log.info("dropping a connection from {host}: its answers were "
                 "left unread for {timeout} s", host=getattr(peer, "host",
                                                              peer),
                 timeout=self.unread_timeout)
        transport.abortConnection()

    def dataReceived(self, data):
        if not handling_request(self) and self._deadline is None:
            self._start_deadline()
        if data:
            connection = connection_of(self.transport)
            if connection is not None:
                connection.request_arriving()
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
        self._check_unread()
        more = pipelined_data(self)
        waiting = more or unparsed_data(self)
        if waiting:
            # Parse the next pipelined request on the next turn of the
            # reactor, not now: a connection's pipeline is served one
            # request a turn, beside everything else (live view frames),
            # instead of a whole read of them (a 64 KiB read is 1,800
            # GET /health) at once.
            self.paused = True
        # (A pipelined request that had begun gets its deadline as
        # twisted.web hands its bytes back to dataReceived.)
        super().requestDone(request)
        if waiting and self.transport is not None and self.persistent:
            if self._next is None:
                # And read no more meanwhile.
                self.transport.pauseProducing()
                self._next = self.callLater(self._pipeline_wait(),
                                            self._next_request)
        # Otherwise the connection is closing (not persistent): it
        # parses nothing more, paused or not.

    def _pipeline_wait(self):
        """
        Seconds until the next pipelined request may be served: at most
        C{pipeline_rate} a second after a burst of as many (a token
        bucket), as a WebSocket client's requests are counted.
        """
        if not self.pipeline_rate:
            return 0
        clock = getattr(self.factory, "reactor", None)
        if clock is None:
            return 0
        now = clock.seconds()
        burst = max(1.0, self.pipeline_rate)
        if self._bucket is None:
            self._bucket = [burst, now]
        tokens, last = self._bucket
        tokens = min(burst, tokens + (now - last) * self.pipeline_rate)
        wait = 0 if tokens >= 1 else (1 - tokens) / self.pipeline_rate
        self._bucket = [tokens - 1, now]
        return wait

    def _next_request(self):
        self._next = None
        if self.transport is None or self._check_unread():
            # resumeProducing goes on once the client has read.
            return
        self.paused = False
        self.transport.resumeProducing()
        if unparsed_data(self):
            self.dataReceived(b"")

    def connectionLost(self, reason):
        self._cancel_deadline()
        for call in (self._unread, self._next):
            if call is not None and call.active():
                call.cancel()
        self._unread = self._next = None
        super().connectionLost(reason)

    def _start_deadline(self):
        if self.header_timeout and not self._output_paused:
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


def deadline_channel(header_timeout, unread_timeout=UNREAD_TIMEOUT,
                     pipeline_rate=20.0, max_unread_bytes=MAX_UNREAD_BYTES):
    """
    The channel class of a site whose requests have C{header_timeout}
    seconds to arrive, whose clients may leave answers unread for
    C{unread_timeout} and no more than C{max_unread_bytes} of them, and
    whose pipelined requests are served at most C{pipeline_rate} a second
    per connection: a L{DeadlineChannel}.

    (twisted.web's default factory wraps each channel in a proxy that could
    switch to HTTP/2 after TLS negotiation; fourcut speaks HTTP/1.1 only,
    so the channel is used directly.)
    """
    return type("DeadlineHTTPChannel", (DeadlineChannel, http.HTTPChannel),
                {"header_timeout": header_timeout,
                 "unread_timeout": unread_timeout,
                 "pipeline_rate": pipeline_rate,
                 "max_unread_bytes": max_unread_bytes})
