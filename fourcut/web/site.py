# -*- test-case-name: tests.integration.test_service -*-
"""
The whole web site in one place: every path fourcut answers on its one
port, the guards in front of them, and what listens.

L{build} mounts each resource on L{Root} (nothing is mounted or wired
from anywhere else), puts the access guard and the request body limit
around the tree (L{fourcut.web.access}), gives every request a deadline
and wraps the site in the connection limits (L{fourcut.web.limits}).

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
C{/ws}                 L{fourcut.web.ws.WebSocketEndpoint}
C{/booth} ...          the booth's pages C{/booth} and C{/gallery},
                       C{POST /sequence}, C{/share} and C{/thumbnails}
                       (L{fourcut.booth.resources}, which
                       L{fourcut.booth.service.Booth.mount} mounts here)
=====================  ===================================================

Every request is a L{fourcut.web.replies.Request}, so every answer, the
errors of twisted.web and of the guards included, is in fourcut's formats.
"""

from dataclasses import dataclass

from twisted.web import resource, server

from fourcut.web import rest
from fourcut.web.access import AccessPolicy, guard_site
from fourcut.web.cors import CORSPolicy
from fourcut.web.actions import Capture, Command, Reset
from fourcut.web.gallery import Photos
from fourcut.booth import service as booth_service
from fourcut.metrics import Metrics
from fourcut.web.limits import ConnectionLimits, DescriptorBudget, limit_requests
from fourcut.web.live import Page, Preview, Snapshot
from fourcut.web.replies import NotFound, Request, hide_path
from fourcut.stream.scaled import ScaledStreams
from fourcut.web.ws import CameraServerFactory, WebSocketEndpoint

__all__ = ["Root", "Web", "build"]


class Root(resource.Resource):
    """
    C{/} is the page; the API lives beside it.
    """

    def __init__(self, page):
        resource.Resource.__init__(self)
        self.page = page

    def getChild(self, name, request):
        if name == b"":
            return self.page
        return NotFound()


@dataclass
class Web:
    """
    What L{build} made.

    @ivar site: the L{server.Site}, its root the access guard.
    @ivar factory: what listens: the site wrapped in the connection limits.
    @ivar access: the L{AccessPolicy}.
    @ivar websocket: the L{CameraServerFactory} behind C{/ws}.
    @ivar metrics: the L{Metrics} behind C{/metrics}.
    @ivar booth: the L{fourcut.booth.service.Booth}.
    @ivar scaled: the L{ScaledStreams}: live view at the sizes asked for,
        shared by C{/preview}, C{/snapshot} and C{/ws}.
    """

    site: server.Site
    factory: ConnectionLimits
    access: AccessPolicy
    websocket: CameraServerFactory
    metrics: Metrics
    booth: object
    scaled: ScaledStreams


def build(config, reactor, session, broadcaster, status, trimmer=None,
          captures=None):
    """
    The web site for C{config} (a L{fourcut.config.Config}) over the camera
    C{session}, its live view C{broadcaster} and its C{status}.

    @param trimmer: a L{fourcut.memory.Trimmer} for the WebSocket side.
    @param captures: the L{fourcut.metrics.CaptureMetrics} the session
        reports its captures to, shown on C{/metrics}.
    @return: a L{Web}.
    """
    server_config = config.server
    access = AccessPolicy(config.access.token, config.preview.public,
                          open_paths=booth_service.open_paths(config))
    cors = CORSPolicy(server_config.cors_origins)
    scaled = ScaledStreams(reactor, broadcaster,
                           max_sizes=config.preview.max_sizes)
    websocket = CameraServerFactory(
        session, broadcaster, status, reactor,
        max_clients=server_config.max_ws_clients,
        max_message_bytes=server_config.max_message_bytes,
        commands_per_second=server_config.commands_per_second,
        access=access, auth_timeout=server_config.auth_timeout,
        max_unsent_bytes=server_config.max_unsent_bytes,
        trimmer=trimmer, cors=cors, scaled=scaled,
        pacing=config.preview.pacing)
    status.websockets = websocket.client_count
    status.sizes = scaled.describe
    session.subscribe(websocket.state_changed)
    preview = Preview(broadcaster, session, reactor, scaled,
                      pacing=config.preview.pacing)
    status.live_clients = lambda: (
        [stream.figures() for stream in preview.streams]
        + [client.figures() for client in websocket.clients
           if client.preview_format is not None])
    metrics = Metrics(
        session, broadcaster,
        transports={"http": preview.frame_counts,
                    "websocket": websocket.frame_counts},
        clients={"http": lambda: len(preview.streams),
                 "websocket": websocket.client_count},
        directory=config.paths.photos, captures=captures)
    status_view = rest.Status(status)
    page = Page()
    page.json_view = status_view

    root = Root(page)
    root.putChild(b"preview", preview)
    root.putChild(b"snapshot", Snapshot(broadcaster, session, reactor,
                                        config.preview.snapshot_timeout,
                                        scaled))
    root.putChild(b"capture", Capture(session))
    root.putChild(b"reset", Reset(session))
    root.putChild(b"cmd", Command(session))
    root.putChild(b"status", status_view)
    root.putChild(b"health", rest.Health(status,
                                         detailed=access.authenticated))
    root.putChild(b"camera", rest.camera_resource(status))
    photos = Photos(config.paths.photos, reactor)
    root.putChild(b"photos", photos)
    root.putChild(b"metrics", rest.MetricsView(metrics, reactor))
    root.putChild(b"ws", WebSocketEndpoint(websocket))
    # The booth (its pages /booth and /gallery, POST /sequence, /share and
    # /thumbnails, strips marked in the /photos listing, and the
    # WebSocket's capture_sequence).
    booth = booth_service.make_booth(
        reactor, config, session, access,
        scheme="https" if server_config.listen.startswith("ssl:")
        else "http")
    booth.mount(root, photos)
    booth.listen_websocket(websocket)
    # Error answers never show where the photos are kept.
    hide_path(config.paths.photos)

    site = server.Site(root, requestFactory=Request)
    site.displayTracebacks = False
    # Read by every request (the CORS headers) and by OPTIONS.
    site.cors = cors
    # The API takes no request bodies: the WebSocket message limit bounds
    # them too.
    guard_site(site, access, max_body=server_config.max_message_bytes)
    limit_requests(site, server_config.header_timeout)
    limits = ConnectionLimits(
        site, reactor, max_unauthenticated=server_config.max_unauthenticated,
        max_per_address=server_config.max_unauthenticated_per_address,
        budget=DescriptorBudget(server_config.fd_reserve))
    return Web(site=site, factory=limits, access=access, websocket=websocket,
               metrics=metrics, booth=booth, scaled=scaled)
