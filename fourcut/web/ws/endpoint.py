# -*- test-case-name: tests.integration.test_ws,tests.web.test_ws_lazy -*-
"""
C{/ws} on the web site: the handshake, handed to Autobahn's resource,
which is made (and Autobahn imported) when the first client asks.

Autobahn brings the C{cryptography} package, CBOR and txaio with it:
several megabytes resident, and a good part of the server's start-up
imports, that a booth whose screens use only HTTP never needs (issue 23).
"""

from twisted.web import server

from fourcut.web.replies import Resource, error

__all__ = ["WebSocketEndpoint"]


class WebSocketEndpoint(Resource):
    """
    C{/ws}: the WebSocket handshake, handed to Autobahn's resource. A
    C{GET} that is not a WebSocket upgrade is a 426 in fourcut's format
    (Autobahn answers it with an HTML status page); other methods a 405.
    Neither loads Autobahn: only the first upgrade does, which makes
    Autobahn's factory and resource over C{hub}, kept for every later one.

    @param hub: the L{fourcut.web.ws.hub.WebSocketHub} every client
        shares.
    """

    isLeaf = True
    methods = (b"GET",)

    def __init__(self, hub):
        Resource.__init__(self)
        self.hub = hub
        self._websocket = None

    def render_GET(self, request):
        upgrade = (request.getHeader(b"upgrade") or b"").lower()
        if upgrade != b"websocket":
            error(request, 426, "fourcut: /ws is a WebSocket; connect with "
                  "a WebSocket client (ws://HOST:PORT/ws)",
                  headers=[(b"upgrade", b"websocket")])
            return server.NOT_DONE_YET
        return self._resource().render(request)

    def _resource(self):
        """
        Autobahn's C{WebSocketResource} with fourcut's factory, made on
        the first call.
        """
        if self._websocket is None:
            # Here rather than at the top: these imports load Autobahn.
            from autobahn.twisted.resource import WebSocketResource

            from fourcut.web.ws.factory import CameraServerFactory
            self._websocket = WebSocketResource(CameraServerFactory(self.hub))
        return self._websocket
