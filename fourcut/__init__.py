"""
fourcut: a camera server for photo booths.

A DSLR drives through gphoto2; booth front-ends get live preview, capture,
settings and a safe command channel over HTTP and WebSocket.
"""

__version__ = "0.1.0"
