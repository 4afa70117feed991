# -*- test-case-name: tests.integration.test_ws -*-
"""
C{/ws} on the web site: the handshake, handed to Autobahn's resource.
"""

from autobahn.twisted.resource import WebSocketResource
from twisted.web import server

from fourcut.web.replies import Resource, error

__all__ = ["WebSocketEndpoint"]


class WebSocketEndpoint(Resource):
    """
    C{/ws}: the WebSocket handshake, handed to Autobahn's resource. A
    C{GET} that is not a WebSocket upgrade is a 426 in fourcut's format
    (Autobahn answers it with an HTML status page); other methods a 405.
    """

    isLeaf = True
    methods = (b"GET",)

    def __init__(self, factory):
        Resource.__init__(self)
        self.factory = factory
        self._websocket = WebSocketResource(factory)

    def render_GET(self, request):
        upgrade = (request.getHeader(b"upgrade") or b"").lower()
        if upgrade != b"websocket":
            error(request, 426, "fourcut: /ws is a WebSocket; connect with "
                  "a WebSocket client (ws://HOST:PORT/ws)",
                  headers=[(b"upgrade", b"websocket")])
            return server.NOT_DONE_YET
        return self._websocket.render(request)
