# -*- test-case-name: tests.integration.test_ws -*-
"""
Seed 001's WebSocket protocol at C{/ws}, by job:

  - L{fourcut.web.ws.endpoint}: the C{/ws} resource, which hands the
    handshake to Autobahn;
  - L{fourcut.web.ws.factory}: the WebSocket side of the service (its
    clients, the camera's state announced to them, frames encoded once);
  - L{fourcut.web.ws.protocol}: one client, its messages dispatched to the
    requests it may make;
  - L{fourcut.web.ws.auth}: who may connect, and what a client may ask
    before it proves the token (origin, token, deadline);
  - L{fourcut.web.ws.flowcontrol}: what a client may cost (frames skipped,
    bytes left unread, requests a second).

The site (L{fourcut.web.site}) mounts L{WebSocketEndpoint} with a
L{CameraServerFactory}.
"""

from fourcut.web.ws.endpoint import WebSocketEndpoint
from fourcut.web.ws.factory import CameraServerFactory

__all__ = ["CameraServerFactory", "WebSocketEndpoint"]
