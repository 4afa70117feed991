# -*- test-case-name: tests.integration.test_ws -*-
"""
Seed 001's WebSocket protocol at C{/ws}, by job:

  - L{fourcut.web.ws.hub}: what every client shares and the rest of the
    service asks of them (the settings, the clients, the camera's state
    announced to them), with no Autobahn;
  - L{fourcut.web.ws.endpoint}: the C{/ws} resource, which hands the
    handshake to Autobahn, imported at the first one;
  - L{fourcut.web.ws.factory}: Autobahn's factory (protocol options,
    frames encoded once for every client);
  - L{fourcut.web.ws.protocol}: one client, its messages dispatched to the
    requests it may make;
  - L{fourcut.web.ws.auth}: who may connect, and what a client may ask
    before it proves the token (origin, token, deadline);
  - L{fourcut.web.ws.flowcontrol}: what a client may cost (frames skipped,
    bytes left unread, requests a second).

The site (L{fourcut.web.site}) makes a L{WebSocketHub} and mounts a
L{WebSocketEndpoint} over it. This package imports only those two: the
other modules load Autobahn (and the C{cryptography} package with it),
which waits for the first WebSocket client.
"""

from fourcut.web.ws.endpoint import WebSocketEndpoint
from fourcut.web.ws.hub import WebSocketHub

__all__ = ["WebSocketEndpoint", "WebSocketHub"]
