"""
How fourcut runs the gphoto2 CLI for its one camera, and how it reads
gphoto2's failures.
"""

import os


class CameraError(Exception):
    """
    gphoto2 could not do what was asked.

    @ivar status: the HTTP status the seed API gives this failure (503 when
        the camera is busy or cannot be claimed, 504 when there is none).
    @ivar text: gphoto2's own stderr, for the client.
    """

    #: The text when there is none: an error answer is never empty.
    NO_TEXT = "fourcut: the camera operation failed without a message\n"

    def __init__(self, status, text):
        if not text.strip():
            text = self.NO_TEXT
        Exception.__init__(self, status, text)
        self.status = status
        self.text = text

    def __str__(self):
        return "%d: %s" % (self.status, self.text.strip()[-500:])


#: stderr fragments that mean no camera is there at all.
_ABSENT = (
    "No camera found",
    "Could not detect any camera",
    "Connection refused",
    "Unknown model",
)


def classify(stderr, absent_status=504):
    """
    The HTTP status for a gphoto2 failure: C{absent_status} when gphoto2
    found no camera, 503 for every other camera trouble (busy, claimed by
    another program, unplugged mid-way, timed out).
    """
    if any(fragment in stderr for fragment in _ABSENT):
        return absent_status
    return 503


class GPhoto2:
    """
    The command line for one camera: the executable, and the C{--port}
    and C{--camera} options when configured (without them gphoto2
    auto-detects a USB camera).
    """

    def __init__(self, port=None, model=None, executable="gphoto2"):
        self.port = port
        self.model = model
        self.executable = executable

    def argv(self, *args):
        argv = [self.executable]
        if self.model:
            argv += ["--camera", self.model]
        if self.port:
            argv += ["--port", self.port]
        return argv + list(args)

    @staticmethod
    def env():
        """
        English messages whatever the locale: fourcut reads them.
        """
        return dict(os.environ, LANG="C", LC_ALL="C", LANGUAGE="C")

    @property
    def resettable(self):
        """
        C{gphoto2 --reset} resets a USB port; other ports (PTP/IP) have
        nothing to reset.
        """
        return self.port is None or self.port.startswith("usb:")
