# -*- test-case-name: tests.integration.test_errors -*-
"""
What went wrong, and the HTTP status that says so: one mapping for every
transport (the HTTP API, the REST paths and the WebSocket's C{code}).

fourcut's failures come in three kinds: L{CameraError} (gphoto2 could not
do it: the camera is busy, claimed, unplugged or absent: 503 or 504, the
seed's statuses), L{SettingError} (the camera is fine, the request was
wrong: 400) and L{OSError} (a photo could not be saved: 507 for a full
disk, else 500). Anything else is fourcut's own bug: 500.

The gphoto2 CLI reports a client's mistake the way it reports camera
trouble: a failed run and a few lines on stderr. C{/cmd?arg=--set-config=
iso=12345} (a value the camera does not offer) or C{--get-config=nosuch}
is the client's fault, and retrying will not help: L{client_mistake}
recognises gphoto2's words for those, and L{http_status} makes them a 400
with gphoto2's text, unless the same text also shows camera trouble.

L{CameraError} stays in L{fourcut.camera.gphoto2} and L{SettingError} in
L{fourcut.camera.settings}, where they are raised; they are re-exported here for
the transports.
"""

import errno

from fourcut.camera.gphoto2 import CameraError
from fourcut.camera.settings import SettingError

__all__ = ["CAMERA_TROUBLE", "CLIENT_MISTAKES", "CameraError",
           "SettingError", "client_mistake", "http_status"]

#: gphoto2's words for a request it refused as wrong (lower case): a value
#: that is not among a setting's choices (C{--set-config-index=iso=999}:
#: "Choice 999 not found within list of choices."), one it cannot parse
#: ("Parsing the value of widget 'ISO Speed' / 0xd103 failed with -1."), a
#: value the camera refused to take ("Failed to set new configuration
#: value 12345 for configuration entry iso."), a setting it does not
#: know ("nosuch not found in configuration tree."), and libgphoto2's
#: GP_ERROR_BAD_PARAMETERS, all a Canon EOS's driver says for the last two
#: ("*** Error (-2: 'Bad parameters') ***").
CLIENT_MISTAKES = (
    "not found within list of choices",
    "parsing the value of widget",
    "failed to set new configuration value",
    "not found in configuration tree",
    "(-2: 'bad parameters')",
)

#: Words that mean the camera itself is in trouble (lower case), which win
#: over L{CLIENT_MISTAKES}: a setting that failed because the camera was
#: busy or went away is worth retrying.
CAMERA_TROUBLE = (
    "no camera found",
    "could not detect any camera",
    "could not claim",
    "device or resource busy",
    "camera is busy",
    "i/o in progress",
    "connection reset",
    "timeout",
    "timed out",
    "overran its",
    "without a message",
    "unplugged",
)


def client_mistake(text):
    """
    Whether gphoto2's C{text} (its stderr) says the request was wrong
    rather than the camera in trouble.
    """
    lowered = text.lower()
    if any(words in lowered for words in CAMERA_TROUBLE):
        return False
    return any(words in lowered for words in CLIENT_MISTAKES)


def http_status(error):
    """
    The HTTP status for C{error}, an exception a camera operation failed
    with.
    """
    if isinstance(error, CameraError):
        return 400 if client_mistake(error.text) else error.status
    if isinstance(error, SettingError):
        return 400
    if isinstance(error, OSError):
        if error.errno == errno.ENOSPC or "No space" in str(error):
            return 507
        return 500
    return 500
