# -*- test-case-name: tests.web.test_access,tests.web.test_rest -*-
"""
fourcut's whole web site in memory: L{fourcut.web.site.build} over a real
L{fourcut.config.Config}, a real L{Broadcaster} and L{ServiceStatus}, and
a L{FakeSession} in place of the camera, on a L{MemoryReactor}; requests
reach it through C{twisted.test.iosim}, with treq's client on one side and
the site's own listening factory (the connection limits, the request
factory, the guard, every resource) on the other. Nothing listens, no
process starts, and time moves only when a test advances it.

This is the one place the tests under C{tests/web} build the site, the
session and the status: when their constructors change, only this module
changes.

    site = MemorySite(self, {"access": {"token": TOKEN}})
    response = site.get("/status", headers={"Authorization": [...]})
    self.assertEqual(response.code, 200)
    body = site.content(response)
"""

import json
import os

import treq
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.test import iosim
from twisted.web.client import Agent
from twisted.web.http import parse_qs
from twisted.web.resource import getChildForRequest
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest
from twisted.web.iweb import IAgentEndpointFactory, IBodyProducer
from zope.interface import implementer

from fourcut.config import parse_config
from fourcut.metrics import CaptureMetrics
from fourcut.photos import PhotoStore
from fourcut.stream.broadcast import Broadcaster
from fourcut.web.guesses import CAP
from fourcut.admin.errors import RecentErrors
from fourcut.admin.resources import OPEN_PATHS as ADMIN_OPEN_PATHS
from fourcut.admin.resources import AdminResource
from fourcut.booth.choice import BoothChoice, choice_file
from fourcut.booth import service as booth_service
from fourcut.printing.metrics import PrintCollector
from fourcut.printing.service import make_printing
from fourcut.status import CameraSummary
from fourcut.web import site as site_module

from tests.support.clients import http_response
from tests.support.fakes import FakeSession
from tests.support.printing import FakeCups

__all__ = ["Body", "MemoryReactor", "MemorySite", "RawConnection",
           "SynchronousThreadPool"]


@implementer(IBodyProducer)
class Body:
    """
    A request body written at once (treq's own producer for bytes would
    wait on the global reactor's cooperator): C{data=Body(b"...")}.
    """

    def __init__(self, data):
        self.data = data
        self.length = len(data)

    def startProducing(self, consumer):
        consumer.write(self.data)
        return defer.succeed(None)

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        pass


class SynchronousThreadPool:
    """
    Runs what is handed to a thread at once, in the caller's thread: a
    scan of the photos directory or a C{statvfs} answers before the
    request returns.
    """

    def callInThreadWithCallback(self, on_result, function, *args,
                                 **kwargs):
        try:
            result = function(*args, **kwargs)
        except BaseException:
            on_result(False, Failure())
        else:
            on_result(True, result)

    def callInThread(self, function, *args, **kwargs):
        function(*args, **kwargs)


class MemoryReactor(MemoryReactorClock):
    """
    A L{MemoryReactorClock} whose thread pool runs everything at once
    (L{SynchronousThreadPool}).
    """

    def __init__(self):
        MemoryReactorClock.__init__(self)
        self._pool = SynchronousThreadPool()

    def getThreadPool(self):
        return self._pool

    def callFromThread(self, function, *args, **kwargs):
        function(*args, **kwargs)

    def callInThread(self, function, *args, **kwargs):
        function(*args, **kwargs)


@implementer(IAgentEndpointFactory)
class _Endpoints:
    """
    Every URI is a TCP endpoint on the client's memory reactor, which
    L{MemorySite} connects to the site (cf. C{treq.testing}).
    """

    def __init__(self, reactor):
        self.reactor = reactor

    def endpointForURI(self, uri):
        return TCP4ClientEndpoint(self.reactor, "127.0.0.1", uri.port or 80)


class RawConnection(Protocol):
    """
    A bare client connection to the site: sends bytes as given, keeps
    what the server answers.

    @ivar data: everything received.
    @ivar lost: whether the connection is closed.
    """

    def __init__(self):
        self.data = b""
        self.lost = False

    def dataReceived(self, data):
        self.data += data

    def connectionLost(self, reason):
        self.lost = True

    def response(self):
        """
        C{(status line, headers, body)} once a whole response with a
        C{Content-Length} is in, else L{None}.
        """
        return http_response(self.data)


class MemorySite:
    """
    The site L{fourcut.web.site.build} makes for C{config}, in memory, for
    C{testcase}.

    @ivar config: the L{fourcut.config.Config}.
    @ivar session: the L{FakeSession}.
    @ivar broadcaster: the real L{Broadcaster}, its demand going to the
        session.
    @ivar status: the real L{ServiceStatus}.
    @ivar web: what L{fourcut.web.site.build} returned.
    @ivar photos: the photos directory (a temporary one).
    @ivar client: treq's API (C{request}, C{get}, C{content} ...) whose
        requests reach the site.
    @ivar cups: what printing sends to: C{cups}, or a L{FakeCups}.
    @ivar clock: the site's reactor: a L{MemoryReactor}, or C{reactor}
        if given (the site then listens where a test tells it to).
    @ivar printing: the L{fourcut.printing.service.Printing}.
    @ivar recent_errors: the operator page's
        L{fourcut.admin.errors.RecentErrors} (no log feeds it here).
    """

    def __init__(self, testcase, config=None, cups=None, reactor=None):
        self.testcase = testcase
        self.photos = os.path.abspath(testcase.mktemp())
        os.makedirs(self.photos)
        mapping = {section: dict(values)
                   for section, values in (config or {}).items()}
        mapping.setdefault("paths", {}).setdefault("photos", self.photos)
        self.config = parse_config(mapping)
        # A real reactor for a test that listens (a browser's).
        self.clock = reactor if reactor is not None else MemoryReactor()
        self.session = FakeSession(PhotoStore(self.photos), self.clock)
        self.broadcaster = Broadcaster(
            on_demand_changed=self.session.demand_changed)
        # As twistd fourcut builds it (fourcut.tap): the booth's pages
        # mounted beside the API, printing and the operator page.
        self.recent_errors = RecentErrors(clock=self.clock.seconds)
        self.cups = cups if cups is not None else FakeCups()
        self.printing = make_printing(self.clock, self.config, self.cups)
        self.choice = BoothChoice.load(self.config.booth,
                                       choice_file(self.config.paths.photos))
        self.booth = booth_service.make_booth(self.clock, self.config,
                                              self.session, scheme="http",
                                              printing=self.printing,
                                              choice=self.choice)
        self.admin = AdminResource(
            self.clock, self.config.paths.photos,
            CameraSummary(self.session).camera_info, self.printing,
            self.recent_errors, self.config.booth, self.choice,
            problems=self.booth.problems,
            token=self.config.access.token)
        self.captures = CaptureMetrics()
        self.web = site_module.build(
            self.config, self.clock, self.session, self.broadcaster,
            self.captures,
            mounts=self.booth.resources() + [(b"admin", self.admin)],
            open_paths=booth_service.open_paths(self.config)
            | ADMIN_OPEN_PATHS,
            annotate=self.booth.index.annotate, booth=self.booth,
            status_blocks=[("printer", self.printing.status)],
            collectors=[PrintCollector(self.printing)])
        self.booth.show_on(self.web.websocket)
        self.status = self.web.status
        # As listening does: the access log starts.
        self.factory.doStart()
        self._client_reactor = MemoryReactorClock()
        self._pumps = []
        self.client = treq.client.HTTPClient(Agent.usingEndpointFactory(
            self._client_reactor, _Endpoints(self._client_reactor)))
        self.peer = "127.0.0.1"
        testcase.addCleanup(self.close)

    @property
    def factory(self):
        """
        What listens: the site inside the connection limits.
        """
        return self.web.factory

    def _connect(self, client_protocol, host=None):
        """
        Connect C{client_protocol} to a new server protocol of the site,
        as from C{host} (default L{peer}); return the pump.
        """
        client_address = IPv4Address("TCP", host or self.peer,
                                     40000 + len(self._pumps))
        server_address = IPv4Address("TCP", "127.0.0.1", 8080)
        server = self.factory.buildProtocol(client_address)
        server_transport = iosim.FakeTransport(
            server, isServer=True, hostAddress=server_address,
            peerAddress=client_address)
        client_transport = iosim.FakeTransport(
            client_protocol, isServer=False, hostAddress=client_address,
            peerAddress=server_address)
        pump = iosim.connect(server, server_transport, client_protocol,
                             client_transport)
        self._pumps.append(pump)
        return pump

    def request(self, method, path, headers=None, host=None, **kwargs):
        """
        C{method} C{path} through treq; the L{Deferred} of its response
        (fired already for a resource that answers at once).
        """
        d = self.client.request(method, "http://127.0.0.1:8080" + path,
                                headers=headers or {}, **kwargs)
        while self._client_reactor.tcpClients:
            _, _, factory, _, _ = self._client_reactor.tcpClients.pop()
            self._connect(factory.buildProtocol(None), host)
        self.flush()
        return d

    def response(self, method, path, headers=None, **kwargs):
        """
        The response to C{method} C{path}, which must be there at once.
        """
        return self.testcase.successResultOf(
            self.request(method, path, headers, **kwargs))

    def get(self, path, headers=None, **kwargs):
        return self.response("GET", path, headers, **kwargs)

    def guessed(self, method, path, headers=None, **kwargs):
        """
        The response to C{method} C{path} sent with a wrong (or no) token:
        its answer may wait for the address's guessing delay
        (L{fourcut.web.guesses}), which is let pass.
        """
        d = self.request(method, path, headers, **kwargs)
        answered = []
        d.addBoth(lambda result: answered.append(True) or result)
        if not answered:
            self.advance(CAP)
        return self.testcase.successResultOf(d)

    def content(self, response):
        """
        The whole body of C{response}, which must have arrived.
        """
        d = treq.content(response)
        self.flush()
        return self.testcase.successResultOf(d)

    def json(self, response):
        """
        The body of C{response}, parsed as JSON.
        """
        return json.loads(self.content(response))

    def render(self, method, path, headers=None):
        """
        C{method} C{path} (already split into its decoded segments, as
        twisted.web would) rendered as a C{DummyRequest} through the
        site's resource tree, the guard included, without a connection:
        for answers made by a pull producer (a photo served by
        C{twisted.web.static}), which a connection would drive from the
        global reactor's cooperator.

        @param path: the segments (L{bytes}), then the query, if any.
        @return: the L{DummyRequest}: C{responseCode}, C{responseHeaders},
            C{written} (a list of L{bytes}).
        """
        if isinstance(path, str):
            path = path.encode("utf-8")
        target, _, query = path.partition(b"?")
        request = DummyRequest(target.split(b"/")[1:])
        request.method = method.encode("ascii")
        request.uri = path
        request.path = target
        # No connection: no connection limits.
        request.channel = None
        request.args = parse_qs(query, 1) if query else {}
        for name, values in (headers or {}).items():
            request.requestHeaders.setRawHeaders(name, values)
        resource = getChildForRequest(self.web.site.resource, request)
        result = resource.render(request)
        if result is not NOT_DONE_YET:
            request.write(result)
            request.finish()
        return request

    def raw(self, data=b"", host=None):
        """
        A L{RawConnection} to the site that has sent C{data}.
        """
        client = RawConnection()
        self._connect(client, host)
        if data:
            client.transport.write(data)
        # The connection may have closed others (the connection limits).
        self.flush()
        return client

    def send(self, client, data):
        client.transport.write(data)
        self.flush()

    def flush(self):
        """
        Move every byte written so far, both ways, and run what the site
        has due on the next turn of its reactor (a pipelined request:
        L{fourcut.web.limits.DeadlineChannel}), until nothing moves.
        """
        for _ in range(100000):
            moved = False
            for pump in list(self._pumps):
                moved = pump.flush() or moved
                if pump.clientIO.disconnected and pump.serverIO.disconnected:
                    self._pumps.remove(pump)
            now = self.clock.seconds()
            due = any(call.getTime() <= now
                      for call in self.clock.getDelayedCalls())
            if not (moved or due):
                break
            self.clock.advance(0)

    def advance(self, seconds):
        """
        Let C{seconds} pass on the site's clock, then move the bytes.
        """
        self.clock.advance(seconds)
        self.flush()

    def close(self):
        """
        Close every connection still open.
        """
        for pump in list(self._pumps):
            pump.clientIO.loseConnection()
            pump.serverIO.loseConnection()
            pump.flush()
        self._pumps = []
        self.factory.doStop()
        self.printing.stop()
