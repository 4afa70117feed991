# -*- test-case-name: tests.booth.test_favicon -*-
"""
C{/favicon.ico} in memory (L{tests.support.memory.MemorySite}): a real
icon, open to all, cacheable.
"""

import io

from PIL import Image
from twisted.trial.unittest import TestCase

from tests.support.access import TOKEN
from tests.support.memory import MemorySite


class FaviconTests(TestCase):

    def test_icon(self):
        """
        Browsers' C{/favicon.ico}: an ICO of 16, 32 and 48 pixels, without
        the token, cached for a day.
        """
        site = MemorySite(self, {"access": {"token": TOKEN}})
        request = site.render("GET", "/favicon.ico")
        self.assertEqual(request.responseCode or 200, 200)
        headers = request.responseHeaders
        self.assertEqual(headers.getRawHeaders(b"content-type"),
                         [b"image/x-icon"])
        self.assertEqual(headers.getRawHeaders(b"cache-control"),
                         [b"public, max-age=86400"])
        icon = Image.open(io.BytesIO(b"".join(request.written)))
        self.assertEqual(icon.format, "ICO")
        self.assertEqual(sorted(icon.info["sizes"]),
                         [(16, 16), (32, 32), (48, 48)])

    def test_nothing_below(self):
        site = MemorySite(self)
        self.assertEqual(
            site.render("GET", "/favicon.ico/x").responseCode, 404)
