# -*- test-case-name: tests.camera.test_errors,tests.integration.test_errors -*-
"""
What went wrong, and the HTTP status that says so: one mapping for every
transport (the HTTP API, the REST paths, the WebSocket's C{code} and the
booth's C{sequence_failed}).

fourcut's failures come in three kinds: L{CameraError} (gphoto2 could not
do it: the camera is busy, claimed, unplugged or absent: 503 or 504, the
seed's statuses), L{SettingError} (the camera is fine, the request was
wrong: 400) and L{OSError} (a photo could not be saved: 507 for a full
disk, else 500). Anything else is fourcut's own bug: 500.

gphoto2 and python-gphoto2 say what went wrong in words, and those words
are read here only: L{classify} tells an absent camera (504) from one in
other trouble (503); L{client_mistake} tells a request gphoto2 refused as
wrong from camera trouble. The gphoto2 CLI reports a client's mistake the
way it reports camera trouble: a failed run and a few lines on stderr.
C{/cmd?arg=--set-config=iso=12345} (a value the camera does not offer) or
C{--get-config=nosuch} is the client's fault, and retrying will not help:
L{http_status} makes them a 400 with gphoto2's text, unless the same text
also shows camera trouble.

This module imports no feature module: the camera, the web side, the
booth and the camera's child programs (which run without Twisted) all
import it.
"""

import errno

__all__ = ["ABSENT", "CAMERA_TROUBLE", "CLAIMED", "CLIENT_MISTAKES",
           "CameraError", "NOT_DETECTED", "NOT_FOUND", "RequestRefused",
           "SEED_BODIES", "SEED_CAPTURE", "SEED_CLAIMED_MOVIE",
           "SEED_INTERNAL_ERROR", "SEED_NOT_DETECTED", "SEED_NO_CAMERA",
           "SEED_PREVIEW", "SettingError", "classify", "client_mistake",
           "http_status", "is_client_mistake", "seed_error", "trouble"]


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


class SettingError(ValueError):
    """
    The camera is fine but the request was wrong: an unknown section,
    option or setting name, or a value the setting (or the camera) refuses.

    @ivar message: a sentence for the client, listing what is allowed.
    @ivar details: the rest of the child's answer: C{reason}
        (C{unknown-section}, C{unknown-option}, C{read-only}, C{bad-value},
        C{camera-refused}) and, where they apply, C{choices}, C{range},
        C{sections}, C{options}, C{current}, C{section}, C{option}.
    """

    def __init__(self, message, details=None):
        ValueError.__init__(self, message)
        self.message = message
        self.details = dict(details or {})

    def __str__(self):
        return self.message


class RequestRefused(Exception):
    """
    A request a feature refused or could not carry out, with what its reply
    says: C{str()} the message, C{code} the HTTP status, C{details} the
    extra fields of a WebSocket C{error} reply. The booth's sequences fail
    with one (L{fourcut.booth.sequence.SequenceError}); a transport answers
    it without knowing the feature.
    """

    def __init__(self, text, code=400, **details):
        Exception.__init__(self, text)
        self.code = code
        self.details = details


#: What the gphoto2 CLI says when it finds no camera (C{--capture-movie},
#: C{--summary} and the like without C{--port}).
NOT_FOUND = "No camera found"

#: What the gphoto2 CLI says when auto-detection finds nothing; the camera
#: worker and the settings child say it too, so that their answers read
#: as the CLI's (seed 000's texts).
NOT_DETECTED = "Could not detect any camera"

#: Fragments (in libgphoto2's messages, English under C{LANG=C}) that mean
#: no camera is there at all: none found, a PTP/IP port that refuses the
#: connection, a C{--camera} model libgphoto2 does not know.
ABSENT = (
    NOT_FOUND,
    NOT_DETECTED,
    "Connection refused",
    "Unknown model",
)

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
    NOT_FOUND.lower(),
    NOT_DETECTED.lower(),
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


def classify(text, absent_status=504):
    """
    The status of a L{CameraError} for a gphoto2 failure that said
    C{text}: C{absent_status} when gphoto2 found no camera (L{ABSENT}),
    503 for every other camera trouble (busy, claimed by another program,
    unplugged mid-way, timed out).
    """
    if any(fragment in text for fragment in ABSENT):
        return absent_status
    return 503


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


def is_client_mistake(error):
    """
    Whether C{error}, an exception an operation failed with, is the
    client's own mistake (a 400: a refused setting value or name), which
    retrying will not mend and no operator need hear of, rather than
    camera trouble or a bug.
    """
    return http_status(error) == 400


# Seed 000's error bodies ---------------------------------------------------

#: What libgphoto2's USB port library says (part of its message, whatever
#: follows it) when another program holds the camera's interface.
CLAIMED = "Could not claim the USB device"

#: The operations seed 000 shows error bodies for: C{GET /preview} (the
#: gphoto2 CLI's C{--capture-movie}) and C{GET /capture}
#: (C{--capture-image-and-download}).
SEED_PREVIEW = "preview"
SEED_CAPTURE = "capture"

#: Seed 000's 504 for C{/preview} with no camera: what gphoto2
#: C{--capture-movie} says when no camera is found.
SEED_NO_CAMERA = "*** Error: No camera found. ***\n"

#: Seed 000's 503 for C{/capture} with no camera: what gphoto2
#: C{--capture-image-and-download} says when auto-detection finds nothing
#: (gphoto2 pads its C{*** Error} lines with blanks; the seed shows none).
SEED_NOT_DETECTED = ("*** Error ***\n" + NOT_DETECTED + "\n"
                     "*** Error (-105: 'Unknown model') ***\n")

#: Seed 000's 503 for C{/preview} while another program holds the camera:
#: gphoto2's C{--capture-movie} transcript. The io-library's words are
#: libgphoto2's libusb1 port's, which names the same programs and kernel
#: modules whoever holds the camera. (The seed's page quotes the first
#: parenthesis as C{('...")}, a slip of its author: gphoto2 prints, and
#: this is, C{('...')}.)
SEED_CLAIMED_MOVIE = (
    "Capturing preview frames as movie to stdout. Press Ctrl-C to abort.\n"
    "\n"
    "*** Error ***\n"
    "An error occurred in the io-library ('" + CLAIMED + "'): Could not "
    "claim interface 0 (Device or resource busy). Make sure no other "
    "program (gvfs-gphoto2-volume-monitor) or kernel module (such as "
    "sdc2xx, stv680, spca50x) is using the device and you have read/write "
    "access to the device.\n"
    "ERROR: Movie capture error... Exiting.\n"
    "Movie capture finished (0 frames)\n")

#: Seed 000's 500 for C{/preview} and C{/capture} (a bug in the server):
#: Flask's page, as text/html.
SEED_INTERNAL_ERROR = (
    "<!doctype html>\n"
    "<html lang=en>\n"
    "<title>500 Internal Server Error</title>\n"
    "<h1>Internal Server Error</h1>\n"
    "<p>The server encountered an internal error and was unable to "
    "complete your request. Either the server is overloaded or there is "
    "an error in the application.</p>\n")

#: C{(operation, trouble)}: C{(status, body)}, every camera failure seed
#: 000 shows; L{trouble} names the kind of a failure.
SEED_BODIES = {
    (SEED_PREVIEW, "absent"): (504, SEED_NO_CAMERA),
    (SEED_PREVIEW, "claimed"): (503, SEED_CLAIMED_MOVIE),
    (SEED_CAPTURE, "absent"): (503, SEED_NOT_DETECTED),
}


def trouble(text):
    """
    The kind of camera trouble gphoto2's or python-gphoto2's C{text}
    says: C{"claimed"} (another program holds the camera), C{"absent"}
    (no camera at all, L{ABSENT}), or L{None} (anything else).
    """
    if CLAIMED.lower() in text.lower():
        return "claimed"
    if any(fragment in text for fragment in ABSENT):
        return "absent"
    return None


def seed_error(operation, error):
    """
    The error to answer for C{error}, a failed seed-000 C{operation}
    (L{SEED_PREVIEW}, L{SEED_CAPTURE}): a L{CameraError} with seed 000's
    whole body and status where the seed shows one for that trouble,
    whichever driver (the gphoto2 CLI or the held python-gphoto2 worker)
    said it and in whatever words; C{error} itself otherwise, its own
    words kept.
    """
    if not isinstance(error, CameraError):
        return error
    found = SEED_BODIES.get((operation, trouble(error.text)))
    if found is None:
        return error
    seeded = CameraError(*found)
    seeded.said = error.text
    return seeded
