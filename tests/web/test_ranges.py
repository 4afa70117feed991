"""
Byte ranges of a photo (C{GET /photos/NAME}, L{fourcut.web.gallery}) over
the whole site in memory: one range back however many are asked, never a
multipart answer many times the photo; and names that would leave the
photos directory.
"""

import os

from twisted.trial.unittest import SynchronousTestCase

from tests.support.memory import MemorySite


class RangeTests(SynchronousTestCase):
    def setUp(self):
        self.site = MemorySite(self)
        self.data = b"\xff\xd8" + os.urandom(4996) + b"\xff\xd9"
        with open(os.path.join(self.site.photos, "guest.jpg"), "wb") as f:
            f.write(self.data)

    def get_range(self, value=None):
        """
        C{GET /photos/guest.jpg} with C{Range: value}; its
        L{DummyRequest} (static.File's pull producer would be driven from
        the global reactor over a connection).
        """
        headers = {"Range": [value]} if value is not None else {}
        request = self.site.render("GET", "/photos/guest.jpg", headers)
        self.assertTrue(request.finished)
        return request

    def header(self, request, name):
        return request.responseHeaders.getRawHeaders(name.encode("ascii"))

    def test_many_overlapping_ranges(self):
        """
        5,000 overlapping ranges: one range back, never a multipart answer
        5,000 times the photo (it was a 206 of 4 GB).
        """
        data = self.data
        request = self.get_range("bytes=" + ",".join(["0-"] * 5000))
        self.assertEqual(request.responseCode, 206)
        self.assertEqual(self.header(request, "content-type"),
                         [b"image/jpeg"])
        self.assertEqual(self.header(request, "content-length"),
                         [b"%d" % len(data)])
        self.assertEqual(self.header(request, "content-range"),
                         [b"bytes 0-%d/%d" % (len(data) - 1, len(data))])
        self.assertEqual(b"".join(request.written), data)

    def test_ranges_coalesced(self):
        data = self.data
        request = self.get_range("bytes=100-199,10-19,4000-")
        self.assertEqual(request.responseCode, 206)
        self.assertEqual(self.header(request, "content-range"),
                         [b"bytes 10-%d/%d" % (len(data) - 1, len(data))])
        self.assertEqual(b"".join(request.written), data[10:])
        # A single range is served as before.
        request = self.get_range("bytes=10-19")
        self.assertEqual(request.responseCode, 206)
        self.assertEqual(b"".join(request.written), data[10:20])

    def test_no_range_satisfiable(self):
        request = self.get_range("bytes=90000-90010,99999-")
        self.assertEqual(request.responseCode, 416)
        self.assertEqual(self.header(request, "content-range"),
                         [b"bytes */%d" % (len(self.data),)])

    def test_whole_photo(self):
        request = self.get_range()
        self.assertEqual(request.responseCode, 200)
        self.assertEqual(b"".join(request.written), self.data)

    def test_guarded(self):
        """
        The guard stands in front of photos rendered this way too.
        """
        site = MemorySite(self, {"access": {"token": "t" * 20}})
        request = site.render("GET", "/photos/guest.jpg")
        self.assertEqual(request.responseCode, 401)

    def test_traversal(self):
        """
        Names that would reach outside the photos directory are no photo,
        and the answer does not say where the photos are.
        """
        outside = os.path.join(os.path.dirname(self.site.photos),
                               "secret.jpg")
        with open(outside, "wb") as f:
            f.write(b"\xff\xd8secret\xff\xd9")
        for path in ("/photos/../secret.jpg", "/photos/../../etc/passwd",
                     "/photos/.guest.jpg", "/photos/guest.jpg/x",
                     "/photos/sub/guest.jpg"):
            request = self.site.render("GET", path)
            self.assertIn(request.responseCode, (400, 403, 404), path)
            body = b"".join(request.written)
            self.assertNotIn(b"secret", body, path)
            self.assertNotIn(self.site.photos.encode(), body, path)
        # Percent-encoded, over a connection, as twisted.web decodes it.
        for path in ("/photos/%2e%2e/secret.jpg", "/photos/..%2fsecret.jpg"):
            response = self.site.get(path)
            self.assertIn(response.code, (400, 403, 404), path)
            body = self.site.content(response)
            self.assertNotIn(b"secret", body, path)
