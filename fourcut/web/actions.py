# -*- test-case-name: tests.integration.test_service -*-
"""
Seed 000's requests that act on the camera: C{GET /capture}, C{GET /reset}
and C{GET /cmd}, each through the camera session.
"""

from twisted.logger import Logger
from twisted.web import server

from fourcut.errors import SEED_CAPTURE
from fourcut.camera.commands import CommandRefused, parse_cmd_args
from fourcut.web.replies import Reply, Resource, error

__all__ = ["CameraAction", "Capture", "Command", "Reset"]

log = Logger()


class CameraAction(Resource):
    """
    A C{GET} that acts on the camera (capture, reset, command), through
    the camera session.

    Only C{GET}: a C{HEAD} (a link checker, a prefetching proxy) must not
    take a photo or reset the camera, so it is a 405 with C{Allow: GET,
    OPTIONS}, like every other method.
    """

    isLeaf = True
    methods = (b"GET",)

    def __init__(self, session):
        Resource.__init__(self)
        self.session = session


class Capture(CameraAction):
    """
    C{GET /capture}: take, save and answer a photo.
    """

    def render_GET(self, request):
        reply = Reply(request)

        def send(result):
            name, path, data = result
            if reply.gone:
                log.info("{name} saved; its client had gone", name=name)
            reply.send(b"image/jpeg", data, [
                (b"content-disposition",
                 b'inline; filename="%s"' % name.encode())])

        self.session.capture().addCallbacks(
            send, reply.fail, errbackArgs=("capture", SEED_CAPTURE))
        return server.NOT_DONE_YET


class Reset(CameraAction):
    def render_GET(self, request):
        reply = Reply(request)
        self.session.reset().addCallbacks(
            lambda _: reply.send(b"text/html; charset=utf-8",
                                 b"Camera has been reset."),
            reply.fail, errbackArgs=("reset",))
        return server.NOT_DONE_YET


class Command(CameraAction):
    def render_GET(self, request):
        try:
            args = parse_cmd_args(request.args.get(b"arg"))
        except CommandRefused as e:
            # One line, as every error answer: what was refused, then what
            # is allowed.
            error(request, 400, "; ".join(str(e).strip().splitlines()))
            return server.NOT_DONE_YET
        reply = Reply(request)
        self.session.command(args).addCallbacks(
            lambda stdout: reply.plain(200, stdout),
            reply.fail, errbackArgs=("command",))
        return server.NOT_DONE_YET
