# -*- test-case-name: tests.virtualcam.test_eos_device, tests.virtualcam.test_eos_pack, tests.virtualcam.test_hostile -*-
"""
A virtual camera that the real gphoto2 CLI and python-gphoto2 drive: over
loopback PTP/IP (L{camera.VirtualCamera}), or as a USB camera at
usb:001,007 through fourcut's own libgphoto2 port library on a Unix socket
(L{camera.VirtualUSBCamera}, L{usb}, L{usbport}), for tests and for trying
fourcut without a DSLR.
"""

__all__ = []
