# -*- test-case-name: tests.camera.test_capture,tests.camera.test_camera_session,tests.camera.test_policy -*-
"""
A photo as a driver gives it, before fourcut saves it: what the C{held}
driver (L{fourcut.camera.held}) and the C{cli} driver
(L{fourcut.camera.cli}) both answer a capture with, and what
L{fourcut.camera.capture.PhotoTaker} reads, so that a capture on either
path imports neither driver's module but its own.
"""

__all__ = ["Shot", "on_card"]


class Shot:
    """
    A photo as the camera gave it.

    @ivar data: the JPEG bytes.
    @ivar location: where it is on the camera (C{/store_.../IMG_0001.JPG}
        on the card, C{/capt0000.jpg} in an EOS's RAM), or L{None} when
        gphoto2 did not say.
    @ivar mode_errors: the capture mode's settings the camera refused
        (text), which never stop a photo.
    """

    def __init__(self, data, location=None, mode_errors=()):
        self.data = data
        self.location = location
        self.mode_errors = list(mode_errors)


def on_card(location):
    """
    Whether a capture's C{location} is on the camera's card (a storage
    folder such as C{/store_00010001/...}) rather than in its memory: a
    Canon EOS capturing to "Internal RAM" answers C{/capt0000.jpg}, and
    nothing of it stays on the camera after the download.
    """
    return location.startswith("/store_")
