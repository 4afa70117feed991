"""
The one map from gphoto2's words to a status (L{fourcut.errors}), in
memory; what each transport answers with it is in
L{tests.integration.test_errors}.
"""

import errno

from twisted.trial.unittest import SynchronousTestCase

from fourcut.errors import (NOT_DETECTED, NOT_FOUND, CameraError,
                            SettingError, classify, client_mistake,
                            http_status)


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
