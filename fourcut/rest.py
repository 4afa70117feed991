"""
The REST status endpoints of seed 001: C{GET /status}, C{GET /health},
C{GET /camera/info} and C{POST /camera/restart}, all JSON.
"""

import json

from twisted.logger import Logger
from twisted.web import resource, server

from .web import NO_CACHE_HEADERS, Reply

log = Logger()


def json_body(value):
    return json.dumps(value, indent=1, sort_keys=True).encode("utf-8") + b"\n"


def send_json(reply, status, value):
    if not reply.gone:
        reply.request.setResponseCode(status)
    reply.send(b"application/json", json_body(value), NO_CACHE_HEADERS)


class Status(resource.Resource):
    """
    The service's status (also C{GET /} with C{Accept: application/json}).
    """

    isLeaf = True

    def __init__(self, status):
        resource.Resource.__init__(self)
        self.status = status

    def render_GET(self, request):
        request.setHeader(b"content-type", b"application/json")
        for name, value in NO_CACHE_HEADERS:
            request.setHeader(name, value)
        return json_body(self.status.status())


class Health(resource.Resource):
    """
    200 when the camera answers, 503 with the reason when it does not.
    """

    isLeaf = True

    def __init__(self, status):
        resource.Resource.__init__(self)
        self.status = status

    def render_GET(self, request):
        reply = Reply(request)

        def answer(result):
            healthy, details = result
            if healthy:
                send_json(reply, 200, dict(details, status="ok"))
            else:
                send_json(reply, 503, {"status": "unhealthy",
                                       "state": self.status.session.state,
                                       "reason": details})

        self.status.health().addCallbacks(answer, reply.fail,
                                          errbackArgs=("health",))
        return server.NOT_DONE_YET


class CameraInfo(resource.Resource):
    """
    The data of the WebSocket C{camera_info} message.
    """

    isLeaf = True

    def __init__(self, status):
        resource.Resource.__init__(self)
        self.status = status

    def render_GET(self, request):
        reply = Reply(request)
        self.status.session.refresh_info().addCallbacks(
            lambda _: send_json(reply, 200, self.status.camera_info()),
            reply.fail, errbackArgs=("camera info",))
        return server.NOT_DONE_YET


class Restart(resource.Resource):
    """
    C{POST} ends every gphoto2 child and starts live view again for the
    clients still watching. Only C{POST}: a link or a prefetching browser
    must not restart the camera (C{GET} is a 405).
    """

    isLeaf = True

    def __init__(self, status):
        resource.Resource.__init__(self)
        self.status = status

    def render_POST(self, request):
        reply = Reply(request)
        self.status.session.restart().addCallbacks(
            lambda _: send_json(reply, 200, {
                "status": "restarted",
                "camera": self.status.camera_info()}),
            reply.fail, errbackArgs=("restart",))
        return server.NOT_DONE_YET


def camera_resource(status):
    """
    C{/camera}, with C{info} and C{restart} below it.
    """
    camera = resource.Resource()
    camera.putChild(b"info", CameraInfo(status))
    camera.putChild(b"restart", Restart(status))
    return camera
