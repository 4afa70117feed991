"""
The one map from gphoto2's words to a status (L{fourcut.errors}), in
memory; what each transport answers with it is in
L{tests.integration.test_errors}.
"""

import errno

from twisted.trial.unittest import SynchronousTestCase

from fourcut.errors import (NOT_DETECTED, NOT_FOUND, CameraError,
                            RequestRefused, SettingError, classify,
                            client_mistake, http_status)


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
