"""
The one map from gphoto2's words to a status (L{fourcut.errors}), in
memory; what each transport answers with it is in
L{tests.integration.test_errors}.
"""

import errno

from twisted.trial.unittest import SynchronousTestCase

from fourcut.errors import (NOT_DETECTED, NOT_FOUND, SEED_CAPTURE,
                            SEED_CLAIMED_MOVIE, SEED_NO_CAMERA,
                            SEED_NOT_DETECTED, SEED_PREVIEW, CameraError,
                            RequestRefused, SettingError, classify,
                            client_mistake, http_status, seed_error, trouble)


class ClassifyTests(SynchronousTestCase):
    def test_absent(self):
        for text in (NOT_FOUND, NOT_DETECTED, "Connection refused",
                     "Unknown model 'Nikon'"):
            self.assertEqual(classify("*** Error: %s ***\n" % (text,)), 504)
            self.assertEqual(classify(text, absent_status=503), 503)

    def test_other_trouble(self):
        self.assertEqual(classify("Could not claim the USB device"), 503)

    def test_no_camera_is_not_a_client_mistake(self):
        self.assertFalse(client_mistake(
            NOT_DETECTED + "; not found in configuration tree"))


class HTTPStatusTests(SynchronousTestCase):
    def test_statuses(self):
        self.assertEqual(http_status(CameraError(504, NOT_FOUND)), 504)
        self.assertEqual(http_status(CameraError(
            503, "iso not found in configuration tree.")), 400)
        self.assertEqual(http_status(SettingError("no")), 400)
        self.assertEqual(http_status(OSError(errno.ENOSPC, "full")), 507)
        self.assertEqual(http_status(OSError(errno.EACCES, "no")), 500)
        self.assertEqual(http_status(KeyError("bug")), 500)

    def test_empty_text(self):
        self.assertEqual(CameraError(503, " \n").text, CameraError.NO_TEXT)


class SeedErrorTests(SynchronousTestCase):
    """
    L{seed_error}: the camera trouble seed 000 shows answers the seed's
    body and status whatever words the driver said it in; the rest keeps
    its own.
    """

    #: What each driver says, by kind of trouble.
    ABSENT = [
        # The held worker (python-gphoto2), live view and capture.
        "[-105] Unknown model: Could not detect any camera; The port has "
        "not yet been initialized",
        "capture: Could not detect any camera ([-105] Unknown model)",
        # The gphoto2 CLI.
        "\n*** Error ***              \nCould not detect any camera\n"
        "*** Error (-105: 'Unknown model') ***       \n",
        "*** Error: No camera found. ***\n",
        # PTP/IP with nothing listening.
        "Could not connect: Connection refused",
    ]
    CLAIMED = [
        "[-53] Could not claim the USB device",
        "Capturing preview frames as movie to stdout. Press Ctrl-C to "
        "abort.\n\n*** Error ***\nAn error occurred in the io-library "
        "('Could not claim the USB device'): Could not claim interface 0 "
        "(Device or resource busy). Make sure no other program (another "
        "gphoto2) is using the device\nERROR: Movie capture error... "
        "Exiting.\nMovie capture finished (0 frames)\n",
    ]

    def assertSeeded(self, operation, text, status, body):
        error = seed_error(operation, CameraError(503, text))
        self.assertEqual((error.status, error.text), (status, body))
        self.assertEqual(error.said, text)

    def test_absent(self):
        for text in self.ABSENT:
            self.assertSeeded(SEED_PREVIEW, text, 504, SEED_NO_CAMERA)
            self.assertSeeded(SEED_CAPTURE, text, 503, SEED_NOT_DETECTED)
        self.assertEqual(http_status(seed_error(
            SEED_PREVIEW, CameraError(503, self.ABSENT[0]))), 504)

    def test_claimed(self):
        for text in self.CLAIMED:
            self.assertSeeded(SEED_PREVIEW, text, 503, SEED_CLAIMED_MOVIE)
            # The seed shows no capture of a claimed camera.
            error = CameraError(503, text)
            self.assertIs(seed_error(SEED_CAPTURE, error), error)

    def test_own_words_kept(self):
        for text in ("[-110] I/O in progress", "Movie capture error",
                     "camera worker (pid 12) ended (signal 9) before it "
                     "answered capture"):
            for operation in (SEED_PREVIEW, SEED_CAPTURE):
                error = CameraError(503, text)
                self.assertIs(seed_error(operation, error), error)
        other = SettingError("no such setting")
        self.assertIs(seed_error(SEED_CAPTURE, other), other)

    def test_trouble(self):
        self.assertEqual([trouble(t) for t in self.ABSENT],
                         ["absent"] * len(self.ABSENT))
        self.assertEqual([trouble(t) for t in self.CLAIMED],
                         ["claimed"] * len(self.CLAIMED))
        self.assertIsNone(trouble("[-7] I/O problem"))

    def test_seed_texts(self):
        """
        The bodies are the seed's, line for line.
        """
        self.assertEqual(SEED_NOT_DETECTED.splitlines(), [
            "*** Error ***", "Could not detect any camera",
            "*** Error (-105: 'Unknown model') ***"])
        lines = SEED_CLAIMED_MOVIE.splitlines()
        self.assertEqual(lines[0], "Capturing preview frames as movie to "
                         "stdout. Press Ctrl-C to abort.")
        self.assertEqual(lines[-2:], ["ERROR: Movie capture error... "
                                      "Exiting.",
                                      "Movie capture finished (0 frames)"])


class WordsTests(SynchronousTestCase):
    def test_no_space_without_errno(self):
        """
        A full disk said only in words (a child's OSError text) is a 507.
        """
        self.assertEqual(http_status(OSError("No space left on device")),
                         507)
        self.assertEqual(http_status(OSError("no such file")), 500)

    def test_camera_error_text(self):
        error = CameraError(503, "  busy \n")
        self.assertEqual(str(error), "503: busy")
        self.assertEqual(str(CameraError(504, "x" * 600 + "end\n")),
                         "504: " + ("x" * 600 + "end")[-500:])
        self.assertEqual(CameraError(503, " \n").text, CameraError.NO_TEXT)
        self.assertEqual(error.args, (503, "  busy \n"))

    def test_request_refused(self):
        refused = RequestRefused("no", reason="x")
        self.assertEqual((str(refused), refused.code, refused.details),
                         ("no", 400, {"reason": "x"}))
        self.assertEqual(RequestRefused("busy", 409).code, 409)

    def test_setting_error(self):
        details = {"reason": "bad-value"}
        error = SettingError("refused", details)
        details["reason"] = "changed"
        self.assertEqual((str(error), error.message, error.details),
                         ("refused", "refused", {"reason": "bad-value"}))
        self.assertEqual(SettingError("x").details, {})
        # The message is the exception's argument too: a logged
        # traceback or repr names what was refused.
        self.assertEqual(error.args, ("refused",))
        self.assertEqual(repr(error), "SettingError('refused')")
