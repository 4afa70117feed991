# -*- test-case-name: tests.camera.test_policy, tests.integration.test_install -*-
"""
fourcut: a camera server for photo booths.

A DSLR drives through gphoto2; booth front-ends get live preview, capture,
settings and a safe command channel over HTTP and WebSocket.
"""

__all__ = []

__version__ = "0.1.0"
