# -*- test-case-name: tests.booth.test_sequence,tests.booth.test_strip,tests.integration.test_booth_ws,tests.integration.test_booth_http,tests.integration.test_booth_browser -*-
"""
The photo booth that runs by itself on a touch screen, and the API any
front-end can reuse.

Data flow, in the order a guest meets it:

- L{fourcut.booth.sequence}: one request starts a sequence of shots; the
  server keeps the countdown's time and tells every screen (WebSocket
  C{capture_sequence}, HTTP C{POST /sequence}).
- L{fourcut.booth.layout} and L{fourcut.booth.strip}: the shots composed
  into one strip with Pillow, in a thread, saved beside the photos with
  the names of its shots and a guest key inside it.
- L{fourcut.booth.qr}: the QR code that takes the strip home.
- L{fourcut.booth.resources}: C{/booth}, C{/gallery}, C{/sequence},
  C{/share/KEY/NAME} and C{/thumbnails/NAME}; L{fourcut.booth.screens}
  sends the sequence's events to WebSocket clients.
- C{static/}: the pages' HTML, CSS and JavaScript, served as files.
"""

__all__ = []
