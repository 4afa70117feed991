# -*- test-case-name: tests.integration.test_booth_ws -*-
"""
A booth sequence's events on the WebSocket: every screen that has the
token sees the same countdown, flash and strip (a second monitor shows
what the touch screen shows), and the client that asked gets its copies
with its C{requestId}.

The client that asked gets the end of its sequence as the reply to its
C{capture_sequence} (C{strip_ready}, or an C{error} saying which shot
failed); the others get C{strip_ready} or C{sequence_failed}. Each
C{strip_ready} carries C{share_url} and C{qr} for the address that screen
reached fourcut at (see L{fourcut.booth.links}).

Sequence events go only to authenticated clients: they name photos, and
photos need the token.
"""

from twisted.internet import defer
from twisted.logger import Logger

__all__ = ["WebSocketOrigin", "WebSocketScreens", "client_host"]

log = Logger()

#: Events that end a sequence: the client that asked hears of them in
#: its reply.
TERMINAL = frozenset(["strip_ready", "sequence_failed"])


class WebSocketOrigin:
    """
    The WebSocket client that started a sequence, and its request's
    C{requestId}.
    """

    def __init__(self, client, request_id):
        self.client = client
        self.request_id = request_id


def client_host(client):
    """
    The C{Host} a WebSocket client's handshake named, or L{None}.
    """
    headers = getattr(client, "http_headers", None) or {}
    return headers.get("host")


class WebSocketScreens:
    """
    A L{fourcut.booth.sequence.SequenceRunner} listener that sends each
    event to the open, authenticated clients of C{hub} (a
    L{fourcut.web.ws.WebSocketHub}).

    @param links: the L{fourcut.booth.links.ShareLinks} that give each
        screen its guest link and QR code.
    """

    def __init__(self, hub, links):
        self.hub = hub
        self.links = links

    def __call__(self, event, origin):
        asker = origin.client if isinstance(origin, WebSocketOrigin) else None
        for client in list(self.hub.clients):
            if not client.authenticated:
                continue
            message = dict(event)
            if client is asker:
                if event["type"] in TERMINAL:
                    continue
                if origin.request_id is not None:
                    message["requestId"] = origin.request_id
            if event["type"] == "strip_ready":
                d = defer.ensureDeferred(
                    self.links.decorate(message, client_host(client)))
                d.addCallback(client.send)
                d.addErrback(lambda f: log.failure("strip_ready for a "
                                                   "screen", f))
            else:
                client.send(message)
