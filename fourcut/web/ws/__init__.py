# -*- test-case-name: tests.integration.test_ws -*-
"""
Seed 001's WebSocket protocol at C{/ws}.

The site (L{fourcut.web.site}) mounts L{WebSocketEndpoint} with a
L{CameraServerFactory}.
"""

from fourcut.web.ws.protocol import CameraServerFactory, WebSocketEndpoint

__all__ = ["CameraServerFactory", "WebSocketEndpoint"]
