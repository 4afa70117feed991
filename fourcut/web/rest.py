# -*- test-case-name: tests.integration.test_rest -*-
"""
The REST status endpoints of seed 001: C{GET /status}, C{GET /health},
C{GET /camera/info} and C{POST /camera/restart}, all JSON, errors too
(L{fourcut.web.replies}).
"""

from twisted.internet import threads
from twisted.logger import Logger
from twisted.web import server

from fourcut.metrics import free_bytes
from fourcut.web.replies import (NO_CACHE_HEADERS, NotFound, Reply, Resource,
                      json_body, send_json)

__all__ = ["CameraInfo", "Health", "MetricsView", "Restart", "Status",
           "StatusView", "camera_resource"]

log = Logger()


class StatusView(Resource):
    """
    A JSON view of the service, read from a
    L{fourcut.status.ServiceStatus}.
    """

    isLeaf = True

    def __init__(self, status):
        Resource.__init__(self)
        self.status = status


class Status(StatusView):
    """
    The service's status (also C{GET /} with C{Accept: application/json}).
    """

    def render_GET(self, request):
        request.setHeader(b"content-type", b"application/json")
        for name, value in NO_CACHE_HEADERS:
            request.setHeader(name, value)
        return json_body(self.status.status())


class Health(StatusView):
    """
    200 when the camera answers, 503 with the reason when it does not.

    @param detailed: called with each request, says whether its answer
        may carry the details (the reason, which is gphoto2's text, and the
        frame age), or only C{status} and C{state}: C{/health} is public
        for monitors even when a token guards the rest. By default every
        answer is detailed.
    """

    def __init__(self, status, detailed=None):
        StatusView.__init__(self, status)
        self.detailed = detailed if detailed is not None else (
            lambda request: True)

    def render_GET(self, request):
        reply = Reply(request)
        detailed = self.detailed(request)

        def answer(result):
            healthy, details = result
            state = self.status.session.state
            if healthy:
                body = dict(details, status="ok")
                if not detailed:
                    body = {"status": "ok", "state": body.get("state", state)}
                send_json(reply, 200, body)
            else:
                body = {"status": "unhealthy", "state": state}
                if detailed:
                    body["reason"] = details
                send_json(reply, 503, body)

        self.status.health().addCallbacks(answer, reply.fail,
                                          errbackArgs=("health",))
        return server.NOT_DONE_YET


class CameraInfo(StatusView):
    """
    The data of the WebSocket C{camera_info} message.
    """

    def render_GET(self, request):
        reply = Reply(request)
        self.status.session.refresh_info().addCallbacks(
            lambda _: send_json(reply, 200, self.status.camera_info()),
            reply.fail, errbackArgs=("camera info",))
        return server.NOT_DONE_YET


class Restart(StatusView):
    """
    C{POST} ends every gphoto2 child and starts live view again for the
    clients still watching. Only C{POST}: a link or a prefetching browser
    must not restart the camera (C{GET} is a 405).
    """

    methods = (b"POST",)

    def render_POST(self, request):
        reply = Reply(request)
        self.status.session.restart().addCallbacks(
            lambda _: send_json(reply, 200, {
                "status": "restarted",
                "camera": self.status.camera_info()}),
            reply.fail, errbackArgs=("restart",))
        return server.NOT_DONE_YET


class MetricsView(Resource):
    """
    C{GET /metrics}: L{fourcut.metrics.Metrics} in the Prometheus text
    format. The photos directory's free space is read in a thread (a
    C{statvfs} on a network file system can hang); if it cannot be read,
    the last value stands.
    """

    isLeaf = True

    def __init__(self, metrics, reactor):
        Resource.__init__(self)
        self.metrics = metrics
        self._reactor = reactor

    def render_GET(self, request):
        reply = Reply(request)

        def answer(free):
            reply.send(self.metrics.content_type, self.metrics.render(free),
                       NO_CACHE_HEADERS)

        def unreadable(failure):
            failure.trap(OSError)
            log.warn("free space of {directory} unknown: {error}",
                     directory=self.metrics.directory, error=failure.value)
            return None

        d = threads.deferToThreadPool(self._reactor,
                                      self._reactor.getThreadPool(),
                                      free_bytes, self.metrics.directory)
        d.addErrback(unreadable)
        d.addCallback(answer)
        d.addErrback(reply.fail, "metrics")
        return server.NOT_DONE_YET


class _Nothing(NotFound):
    """
    A path that is only a folder for others: a 404 itself, and for any
    child it does not have.
    """

    isLeaf = False

    def getChild(self, name, request):
        return NotFound()


def camera_resource(status):
    """
    C{/camera}, with C{info} and C{restart} below it.
    """
    camera = _Nothing()
    camera.putChild(b"info", CameraInfo(status))
    camera.putChild(b"restart", Restart(status))
    return camera
