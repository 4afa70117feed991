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

import io
import json
import os

import treq
from PIL import Image
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
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

from fourcut import policy
from fourcut.camera.commands import NO_CAMERA
from fourcut.errors import CameraError, classify
from fourcut.errors import SettingError
from fourcut.config import parse_config
from fourcut.metrics import CaptureMetrics
from fourcut.photos import PhotoStore
from fourcut.stream.broadcast import Broadcaster
from fourcut.booth import service as booth_service
from fourcut.web import site as site_module

__all__ = ["BAD_PARAMETERS", "FakeSession", "GPHOTO2_VERSION", "ISO_CONFIG",
           "MemoryReactor", "MemorySite", "NO_CAMERA_TEXT", "NO_FOCUS",
           "RawConnection", "SynchronousThreadPool", "small_jpeg"]


#: What the gphoto2 CLI (libgphoto2 2.5.30) writes to stderr when no
#: camera answers (unplugged, or none there): the texts the integration
#: tests see through the whole chain.
NO_CAMERA_TEXT = (
    "\n*** Error ***              \nAn error occurred in the io-library "
    "('Could not detect any camera'): Could not detect any camera\n"
    "*** Error (-105: 'Unknown model') ***       \n")

#: What a Canon EOS's driver says to C{--get-config=nosuch} or
#: C{--set-config-index=iso=999}.
BAD_PARAMETERS = "*** Error (-2: 'Bad parameters') ***       \n"

#: What gphoto2 says of an EOS that could not focus.
NO_FOCUS = "\n*** Error ***              \nPerhaps no focus?\n"

#: The first lines of C{gphoto2 --version}.
GPHOTO2_VERSION = (b"gphoto2         2.5.30\n\nCopyright (c) 2000-2023 "
                   b"Marcus Meissner and others\n")

#: C{gphoto2 --get-config=iso} on the virtual 700D.
ISO_CONFIG = (b"Label: ISO Speed\nReadonly: 0\nType: RADIO\nCurrent: 100\n"
              b"Choice: 0 Auto\nChoice: 1 100\nChoice: 2 200\nEND\n")


def small_jpeg(size=(96, 64), colour=(200, 120, 40)):
    """
    A real JPEG of C{size}, for live view frames and captures.
    """
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=80)
    return out.getvalue()


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


class FakeDriver:
    """
    The held driver as C{/status} shows it.
    """

    name = "held"
    holds_session = True

    def status(self):
        return {"driver": self.name, "worker_pid": None,
                "workers_started": 0, "released": True}


class FakeGPhoto2:
    """
    What the status reads of L{fourcut.camera.gphoto2.GPhoto2}.
    """

    model = None
    port = None
    resettable = True


class FakeSession:
    """
    The camera session's public side, as the web layer uses it, with no
    camera: every call is recorded in L{calls}, and answers as
    L{fourcut.camera.session.CameraSession} would. A capture is a real
    small JPEG saved through a real L{PhotoStore}; with the camera
    unplugged (L{unplug}) or a fault set (L{fail_next}) operations fail
    with L{CameraError} and gphoto2's own texts.

    @ivar calls: C{(method name, arguments)} of every call.
    @ivar live: whether live view is wanted (the broadcaster's demand).
    """

    #: Its info once asked, as the virtual 700D on USB answers.
    INFO = {"model": "Canon EOS 700D", "manufacturer": "Canon Inc.",
            "battery": "100%", "port": "usb:001,007"}

    def __init__(self, photos, clock):
        self.photos = photos
        self.clock = clock
        self.gphoto2 = FakeGPhoto2()
        self.driver = FakeDriver()
        self.state_listeners = []
        self.info = {"model": None, "manufacturer": None, "battery": None,
                     "port": None}
        self.state = "idle"
        self.last_error = None
        self.captures = 0
        self.failures = 0
        self.restarts = 0
        self.mode_errors = {}
        self.children = {}
        self.camera_in_use = False
        self.live_since = 0.0
        self.demand = 0
        self.calls = []
        self.plugged = True
        self._faults = {}

    # Test controls -------------------------------------------------------

    def unplug(self):
        """
        The camera is gone: every operation fails with gphoto2's text for
        no camera (503 for an operation, 504 where none is found).
        """
        self.plugged = False

    def replug(self):
        self.plugged = True

    def fail_next(self, method, error):
        """
        The next call of C{method} fails with C{error}.
        """
        self._faults[method] = error

    def set_state(self, state, last_error=None):
        """
        The camera is now in C{state}, as the session would tell its
        listeners.
        """
        self.state = state
        if last_error is not None:
            self.last_error = last_error
        for listener in list(self.state_listeners):
            listener(state, self.last_error)

    def subscribe(self, listener):
        """
        As L{fourcut.camera.session.CameraSession.subscribe}: C{listener}
        is told of every state; the callable returned ends that.
        """
        self.state_listeners.append(listener)
        return lambda: self.state_listeners.remove(listener)

    def _fault(self, method, status=503):
        error = self._faults.pop(method, None)
        if error is not None:
            return error
        if not self.plugged:
            return CameraError(classify(NO_CAMERA_TEXT, status),
                               NO_CAMERA_TEXT)
        return None

    def _call(self, method, *args):
        self.calls.append((method, args))

    # What the web layer calls --------------------------------------------

    def demand_changed(self, count):
        self._call("demand_changed", count)
        self.demand = count
        if count == 0 and self.state == "previewing":
            self.set_state("idle")

    def live_view_ready(self):
        self._call("live_view_ready")
        error = self._fault("live_view_ready", 504)
        if error is not None:
            return defer.fail(error)
        if self.state == "idle":
            self.live_since = self.clock.seconds()
            self.set_state("previewing")
        return defer.succeed(None)

    def capture(self, settings=(), name=None):
        self._call("capture", settings, name)
        for setting, _ in settings:
            refused = policy.name_refusal(setting)
            if refused is not None:
                return defer.fail(SettingError(
                    refused, {"reason": "not-allowed"}))
        error = self._fault("capture", 503)
        if error is not None:
            if isinstance(error, CameraError):
                self.last_error = error.text.strip()
            return defer.fail(error)
        data = small_jpeg((300, 200))
        try:
            name, path = self.photos.save(data, name)
        except (OSError, ValueError):
            return defer.fail()
        self.captures += 1
        return defer.succeed((name, path, data))

    def command(self, args):
        self._call("command", args)
        error = self._fault("command", 503)
        if error is not None:
            return defer.fail(error)
        if list(args) == ["--version"]:
            return defer.succeed(GPHOTO2_VERSION)
        if not self.plugged and list(args)[0] not in NO_CAMERA:
            return defer.fail(CameraError(503, NO_CAMERA_TEXT))
        if list(args) == ["--get-config=iso"]:
            return defer.succeed(ISO_CONFIG)
        if any(arg.startswith("--get-config=") for arg in args):
            return defer.fail(CameraError(503, BAD_PARAMETERS))
        return defer.succeed(b"")

    def reset(self):
        self._call("reset")
        error = self._fault("reset")
        if error is not None:
            return defer.fail(error)
        self.last_error = None
        return defer.succeed(None)

    def restart(self):
        self._call("restart")
        error = self._fault("restart")
        if error is not None:
            return defer.fail(error)
        self.last_error = None
        return defer.succeed(None)

    def refresh_info(self, max_age=None):
        self._call("refresh_info", max_age)
        error = self._fault("refresh_info", 504)
        if error is not None:
            return defer.fail(error)
        self.info.update(self.INFO)
        return defer.succeed(self.info)

    def get_setting(self, section, option):
        self._call("get_setting", section, option)
        error = self._fault("get_setting")
        if error is not None:
            return defer.fail(error)
        return defer.succeed({"value": "100", "type": "radio",
                              "choices": ["Auto", "100", "200"]})

    def set_setting(self, section, option, value):
        self._call("set_setting", section, option, value)
        error = self._fault("set_setting")
        if error is not None:
            return defer.fail(error)
        return defer.succeed({"value": str(value)})

    def called(self, method):
        """
        The arguments of every call of C{method}.
        """
        return [args for name, args in self.calls if name == method]


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
        head, found, body = self.data.partition(b"\r\n\r\n")
        if not found:
            return None
        lines = head.split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get(b"content-length", b"0"))
        if len(body) < length:
            return None
        return lines[0], headers, body[:length]


class MemorySite:
    """
    The site L{fourcut.web.site.build} makes for C{config}, in memory, for
    C{testcase}.

    @ivar config: the L{fourcut.config.Config}.
    @ivar clock: the site's L{MemoryReactor}.
    @ivar session: the L{FakeSession}.
    @ivar broadcaster: the real L{Broadcaster}, its demand going to the
        session.
    @ivar status: the real L{ServiceStatus}.
    @ivar web: what L{fourcut.web.site.build} returned.
    @ivar photos: the photos directory (a temporary one).
    @ivar client: treq's API (C{request}, C{get}, C{content} ...) whose
        requests reach the site.
    """

    def __init__(self, testcase, config=None):
        self.testcase = testcase
        self.photos = os.path.abspath(testcase.mktemp())
        os.makedirs(self.photos)
        mapping = {section: dict(values)
                   for section, values in (config or {}).items()}
        mapping.setdefault("paths", {}).setdefault("photos", self.photos)
        self.config = parse_config(mapping)
        self.clock = MemoryReactor()
        self.session = FakeSession(PhotoStore(self.photos), self.clock)
        self.broadcaster = Broadcaster(
            on_demand_changed=self.session.demand_changed)
        # As twistd fourcut builds it (fourcut.tap): the booth's pages
        # mounted beside the API.
        self.booth = booth_service.make_booth(self.clock, self.config,
                                              self.session, scheme="http")
        self.captures = CaptureMetrics()
        self.web = site_module.build(
            self.config, self.clock, self.session, self.broadcaster,
            self.captures,
            mounts=self.booth.resources(),
            open_paths=booth_service.open_paths(self.config),
            annotate=self.booth.index.annotate, booth=self.booth)
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
        Move every byte written so far, both ways.
        """
        for pump in list(self._pumps):
            pump.flush()
            if pump.clientIO.disconnected and pump.serverIO.disconnected:
                self._pumps.remove(pump)

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
