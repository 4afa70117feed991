# -*- test-case-name: tests.integration.test_service -*-
"""
The whole web site in one place: every path fourcut answers on its one
port, the guards in front of them, and what listens.

L{build} makes every object of the web side in data-flow order, each
given what it needs when it is made, mounts each resource on L{Root}
(nothing is mounted or wired from anywhere else), puts the access guard
around the tree and builds the L{Site} with the request body limit and
the access log that masks tokens (L{fourcut.web.access}) and the request
deadline (L{fourcut.web.limits}), and wraps it in the connection limits.
The web side imports no feature built on it: the booth's resources,
open paths, strip index and sequence runner are handed to L{build}.

=====================  ===================================================
Path                   Resource
=====================  ===================================================
C{/}                   L{fourcut.web.live.Page} (the status as JSON when
                       asked for JSON)
C{/preview}            L{fourcut.web.live.Preview}
C{/snapshot}           L{fourcut.web.live.Snapshot}
C{/capture}            L{fourcut.web.actions.Capture}
C{/reset}              L{fourcut.web.actions.Reset}
C{/cmd}                L{fourcut.web.actions.Command}
C{/status}             L{fourcut.web.rest.Status}
C{/health}             L{fourcut.web.rest.Health}
C{/camera/info}        L{fourcut.web.rest.CameraInfo}
C{/camera/restart}     L{fourcut.web.rest.Restart}
C{/photos}             L{fourcut.web.gallery.Photos}
C{/metrics}            L{fourcut.web.rest.MetricsView}
C{/ws}                 L{fourcut.web.ws.WebSocketEndpoint} (Autobahn is
                       imported at its first client)
C{/booth} ...          the booth's pages C{/booth} and C{/gallery},
                       C{POST /sequence}, C{/share} and C{/thumbnails}
                       (L{fourcut.booth.resources}: the C{mounts}
                       L{fourcut.booth.service.Booth.resources} gives),
                       with printing's C{/booth/printer} and
                       C{/booth/print} (L{fourcut.printing.resources})
C{/admin}              the operator page (L{fourcut.admin.resources}, a
                       mount the tap gives)
=====================  ===================================================

Every request is a L{fourcut.web.replies.Request}, so every answer, the
errors of twisted.web and of the guards included, is in fourcut's formats.
"""

from dataclasses import dataclass

from twisted.web import resource, server

from fourcut.metrics import Metrics
from fourcut.status import CameraSummary, ServiceStatus
from fourcut.stream.internals import access_log_line, write_access_log
from fourcut.stream.scaled import ScaledStreams
from fourcut.web import rest
from fourcut.web.access import (AccessPolicy, Guard, RateLimitedLog,
                                limit_bodies, redacting_log_formatter)
from fourcut.web.actions import Capture, Command, Reset
from fourcut.web.cors import CORSPolicy
from fourcut.web.gallery import Photos
from fourcut.web.guesses import GuessThrottle
from fourcut.web.limits import (ConnectionLimits, DescriptorBudget,
                                deadline_channel)
from fourcut.web.live import Page, Preview, Snapshot
from fourcut.web.replies import NotFound, Request, hide_path
from fourcut.web.ws import WebSocketEndpoint, WebSocketHub

__all__ = ["Root", "Site", "Web", "build"]


class Root(resource.Resource):
    """
    C{/} is the page; the API lives beside it.

    @param children: C{(first path segment, resource)} pairs mounted here.
    """

    def __init__(self, page, children=()):
        resource.Resource.__init__(self)
        self.page = page
        for name, child in children:
            self.putChild(name, child)

    def getChild(self, name, request):
        if name == b"":
            return self.page
        return NotFound()


class Site(server.Site):
    """
    twisted.web's site, given in its constructor everything fourcut's
    requests and channels read from it.

    @ivar cors: the L{CORSPolicy} every request's headers and C{OPTIONS}
        answer read (L{fourcut.web.replies.cors_of}).
    @ivar protocol: the channel class (L{deadline_channel}).
    @ivar redact: masks the token in a path or header for fourcut's own
        log lines (L{fourcut.web.access.AccessPolicy.redact}), as the
        access log does.
    @ivar log_rate: access log lines a second, at most
        (L{RateLimitedLog}).
    """

    displayTracebacks = False
    _limited = None

    def __init__(self, resource, cors, protocol, reactor, requestFactory,
                 logFormatter, redact=None, log_rate=None):
        server.Site.__init__(self, resource, requestFactory=requestFactory,
                             logFormatter=logFormatter, reactor=reactor)
        self.cors = cors
        self.protocol = protocol
        self.redact = redact if redact is not None else (lambda text: text)
        self.log_rate = log_rate

    def startFactory(self):
        server.Site.startFactory(self)
        if self.log_rate is not None:
            self._limited = RateLimitedLog(self.reactor, self.log_rate,
                                           self._write_log_line)

    def stopFactory(self):
        if self._limited is not None:
            self._limited.stop()
            self._limited = None
        server.Site.stopFactory(self)

    def _write_log_line(self, line):
        write_access_log(self, line)

    def log(self, request):
        if self._limited is None:
            return server.Site.log(self, request)
        address = request.getClientAddress()
        # Decided before the line is made: formatting it is most of the
        # cost.
        if self._limited.admit(getattr(address, "host", None)):
            line = access_log_line(self, request)
            if line is not None:
                self._limited.write(line)


@dataclass
class Web:
    """
    What L{build} made.

    @ivar site: the L{Site}, its root the access guard.
    @ivar factory: what listens: the site wrapped in the connection limits.
    @ivar access: the L{AccessPolicy}.
    @ivar websocket: the L{WebSocketHub} behind C{/ws}: its clients, and
        what they are told (Autobahn's factory is made over it at the
        first C{/ws} client).
    @ivar status: the L{ServiceStatus} behind C{/status} and C{/health}.
    @ivar scaled: the L{ScaledStreams}: live view at the sizes asked for,
        shared by C{/preview}, C{/snapshot} and C{/ws}.
    @ivar guesses: the L{GuessThrottle} that slows wrong tokens.
    """

    site: server.Site
    factory: ConnectionLimits
    access: AccessPolicy
    websocket: WebSocketHub
    status: ServiceStatus
    scaled: ScaledStreams
    guesses: GuessThrottle


def build(config, reactor, session, broadcaster, captures, trimmer=None,
          mounts=(), open_paths=(), annotate=None, booth=None,
          status_blocks=(), collectors=()):
    """
    The web site for C{config} (a L{fourcut.config.Config}) over the camera
    C{session} and its live view C{broadcaster}.

    @param captures: the L{fourcut.metrics.CaptureMetrics} the session
        reports its captures to, shown on C{/metrics}.
    @param trimmer: a L{fourcut.memory.Trimmer} for the WebSocket side.
    @param mounts: more C{(first path segment, resource)} pairs to serve
        (the booth's, L{fourcut.booth.service.Booth.resources}).
    @param open_paths: first path segments of C{mounts} that never need
        the token (L{fourcut.booth.service.open_paths}).
    @param annotate: what marks entries of the C{/photos} listing (the
        booth's strips, L{fourcut.booth.strips.StripIndex.annotate}), or
        L{None}.
    @param booth: what runs the WebSocket's C{capture_sequence}
        (L{fourcut.booth.service.Booth}), or L{None}.
    @param status_blocks: more C{(name, callable)} blocks of C{/status}
        (printing's C{printer}).
    @param collectors: more collectors for C{/metrics} (printing's).
    @return: a L{Web}.
    """
    server_config = config.server
    access = AccessPolicy(config.access.token, config.preview.public,
                          open_paths=open_paths)
    cors = CORSPolicy(server_config.cors_origins)
    guesses = GuessThrottle(reactor)
    scaled = ScaledStreams(reactor, broadcaster,
                           max_sizes=config.preview.max_sizes)
    camera = CameraSummary(session)
    websocket = WebSocketHub(
        session, broadcaster, camera, reactor,
        max_clients=server_config.max_ws_clients,
        max_message_bytes=server_config.max_message_bytes,
        commands_per_second=server_config.commands_per_second,
        access=access, auth_timeout=server_config.auth_timeout,
        max_unsent_bytes=server_config.max_unsent_bytes,
        trimmer=trimmer, cors=cors, scaled=scaled,
        pacing=config.preview.pacing, booth=booth, guesses=guesses,
        unread_timeout=server_config.unread_timeout,
        message_timeout=server_config.header_timeout)
    session.subscribe(websocket.state_changed)
    preview = Preview(broadcaster, session, reactor, scaled,
                      pacing=config.preview.pacing)

    def live_clients():
        return ([stream.figures() for stream in preview.streams]
                + [client.figures() for client in websocket.clients
                   if client.preview_format is not None])

    metrics = Metrics(
        session, broadcaster,
        transports={"http": preview.frame_counts,
                    "websocket": websocket.frame_counts},
        clients={"http": lambda: len(preview.streams),
                 "websocket": websocket.client_count},
        directory=config.paths.photos, captures=captures,
        collectors=collectors)
    status = ServiceStatus(session, broadcaster, reactor, camera,
                           websockets=websocket.client_count,
                           sizes=scaled.describe, live_clients=live_clients,
                           stall_timeout=config.preview.stall_timeout,
                           wall_clock=reactor.seconds,
                           blocks=status_blocks)
    status_view = rest.Status(status)

    root = Root(Page(json_view=status_view), [
        (b"preview", preview),
        (b"snapshot", Snapshot(broadcaster, session, reactor,
                               config.preview.snapshot_timeout, scaled)),
        (b"capture", Capture(session)),
        (b"reset", Reset(session)),
        (b"cmd", Command(session)),
        (b"status", status_view),
        (b"health", rest.Health(status, detailed=access.authenticated)),
        (b"camera", rest.camera_resource(status)),
        (b"photos", Photos(config.paths.photos, reactor,
                           annotate=annotate)),
        (b"metrics", rest.MetricsView(metrics, reactor)),
        (b"ws", WebSocketEndpoint(websocket)),
    ] + list(mounts))
    # Error answers never show where the photos are kept.
    hide_path(config.paths.photos)

    site = Site(
        Guard(root, access, guesses), cors,
        deadline_channel(server_config.header_timeout,
                         server_config.unread_timeout,
                         server_config.commands_per_second,
                         server_config.max_unsent_bytes), reactor,
        # The API takes no request bodies: the WebSocket message limit
        # bounds them too.
        requestFactory=limit_bodies(Request, server_config.max_message_bytes),
        logFormatter=redacting_log_formatter(access), redact=access.redact,
        log_rate=server_config.access_log_rate)
    limits = ConnectionLimits(
        site, reactor, max_unauthenticated=server_config.max_unauthenticated,
        max_per_address=server_config.max_unauthenticated_per_address,
        budget=DescriptorBudget(server_config.fd_reserve),
        max_hold=server_config.max_unauthenticated_hold)
    return Web(site=site, factory=limits, access=access, websocket=websocket,
               status=status, scaled=scaled, guesses=guesses)
