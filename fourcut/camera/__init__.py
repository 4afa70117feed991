# -*- test-case-name: tests.camera.test_process -*-
"""
Everything that touches the camera device.
"""

__all__ = []
