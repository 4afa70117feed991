# -*- test-case-name: tests.integration.test_camconfig, tests.integration.test_worker -*-
"""
What runs inside the camera worker process: python-gphoto2 and the
wire to the parent, and no Twisted (the parent side is
L{fourcut.camera.workerclient}).
"""

__all__ = []
