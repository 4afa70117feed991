"""
C{server.cors_origins} (L{fourcut.web.cors}): preflights and the CORS
headers for a listed and an unlisted origin, over the whole site in memory;
and the policy's own rules.
"""

from twisted.trial.unittest import SynchronousTestCase

from fourcut.config import normalise_origin
from fourcut.web.cors import CORSPolicy, same_origin

from tests.support.memory import MemorySite
from tests.support.access import TOKEN, bearer

LISTED = "http://localhost:3000"
UNLISTED = "http://evil.example"


class CORSTestCase(SynchronousTestCase):
    config = {"server": {"cors_origins": [LISTED, "null"]},
              "access": {"token": TOKEN}}

    def setUp(self):
        self.site = MemorySite(self, self.config)

    def request(self, method, path, origin=None, token=None, headers=None):
        headers = dict(headers or {})
        if origin is not None:
            headers["Origin"] = [origin]
        if token is not None:
            headers.update(bearer(token))
        return self.site.response(method, path, headers)

    def preflight(self, path, origin, method="GET"):
        return self.request("OPTIONS", path, origin, headers={
            "Access-Control-Request-Method": [method],
            "Access-Control-Request-Headers": ["authorization"]})

    def header(self, response, name):
        values = response.headers.getRawHeaders(name)
        return values[0] if values else None


class PreflightTests(CORSTestCase):
    def test_listed_origin(self):
        """
        A preflight needs no token (browsers send none) and names the
        path's methods and the Authorization header.
        """
        for path, methods in [("/capture", "GET, OPTIONS"),
                              ("/camera/restart", "POST, OPTIONS"),
                              ("/photos", "GET, HEAD, OPTIONS"),
                              ("/status", "GET, HEAD, OPTIONS")]:
            response = self.preflight(path, LISTED)
            self.assertEqual(response.code, 204, path)
            self.assertEqual(self.site.content(response), b"")
            self.assertEqual(self.header(response,
                                         "access-control-allow-origin"),
                             LISTED, path)
            self.assertEqual(self.header(response,
                                         "access-control-allow-methods"),
                             methods, path)
            self.assertIn("Authorization", self.header(
                response, "access-control-allow-headers"))
            self.assertEqual(self.header(response, "access-control-max-age"),
                             "600")
            self.assertEqual(self.header(response, "vary"), "Origin")
        # A page opened from a file, listed as "null".
        response = self.preflight("/capture", "null")
        self.assertEqual(response.code, 204)
        self.assertEqual(self.header(response, "access-control-allow-origin"),
                         "null")
        self.assertEqual(self.site.session.calls, [])

    def test_unlisted_origin(self):
        for path, kind in [("/capture", "text/plain; charset=utf-8"),
                           ("/status", "application/json")]:
            response = self.preflight(path, UNLISTED)
            body = self.site.content(response)
            self.assertEqual(response.code, 403, path)
            self.assertIsNone(self.header(response,
                                          "access-control-allow-origin"))
            self.assertEqual(self.header(response, "content-type"), kind)
            self.assertIn(b"origin http://evil.example is not allowed: add "
                          b"it to server.cors_origins", body)


class HeaderTests(CORSTestCase):
    def test_listed_origin_reads_answers(self):
        response = self.request("GET", "/status", LISTED, TOKEN)
        self.assertEqual(response.code, 200)
        self.assertEqual(self.site.json(response)["service"], "fourcut")
        self.assertEqual(self.header(response, "access-control-allow-origin"),
                         LISTED)
        self.assertIn("X-Timestamp", self.header(
            response, "access-control-expose-headers"))
        self.assertEqual(self.header(response, "vary"), "Origin")
        # Errors too: the page can read why it was refused.
        for path in ("/status", "/capture", "/nosuch"):
            response = self.request("GET", path, LISTED)
            self.assertEqual(response.code, 401, path)
            self.site.content(response)
            self.assertEqual(self.header(response,
                                         "access-control-allow-origin"),
                             LISTED, path)
            self.assertIn("WWW-Authenticate", self.header(
                response, "access-control-expose-headers"))

    def test_unlisted_origin_gets_no_headers(self):
        response = self.request("GET", "/status", UNLISTED, TOKEN)
        self.assertEqual(response.code, 200)
        self.site.content(response)
        self.assertIsNone(self.header(response,
                                      "access-control-allow-origin"))
        self.assertEqual(self.header(response, "vary"), "Origin")
        # Nor without an Origin (not a browser's cross-origin request).
        response = self.request("GET", "/status", token=TOKEN)
        self.site.content(response)
        self.assertIsNone(self.header(response,
                                      "access-control-allow-origin"))


class DefaultTests(CORSTestCase):
    """
    No C{cors_origins}: no other origin, "null" included, and no CORS
    headers at all.
    """

    config = {}

    def test_no_other_origin(self):
        for origin in (LISTED, "null"):
            response = self.preflight("/capture", origin)
            self.assertEqual(response.code, 403, origin)
            self.site.content(response)
        response = self.request("GET", "/status", LISTED)
        self.assertEqual(response.code, 200)
        self.site.content(response)
        self.assertIsNone(self.header(response,
                                      "access-control-allow-origin"))
        self.assertIsNone(self.header(response, "vary"))


class PolicyTests(SynchronousTestCase):
    def test_normalise(self):
        self.assertEqual(normalise_origin("HTTPS://Booth.Example:443"),
                         "https://booth.example")
        self.assertEqual(normalise_origin("http://[::1]:80"), "http://[::1]")
        for bad in ("booth", "http://", "http://x/y", "http://x?y",
                    "file:///x", "http://u@x"):
            self.assertRaises(ValueError, normalise_origin, bad)

    def test_allows(self):
        policy = CORSPolicy(["http://localhost:3000"])
        self.assertTrue(policy.allows(b"http://LOCALHOST:3000"))
        self.assertFalse(policy.allows("http://localhost:3000.evil"))
        self.assertFalse(policy.allows("null"))
        self.assertFalse(policy.allows(""))
        self.assertFalse(policy.allows("not an origin"))
        self.assertTrue(CORSPolicy(["*"]).allows("http://anything"))

    def test_same_origin(self):
        self.assertTrue(same_origin("http://booth:8080", "booth:8080", False))
        self.assertTrue(same_origin("http://booth", "booth:80", False))
        self.assertTrue(same_origin("https://booth:8443", "booth:8443",
                                    True))
        self.assertFalse(same_origin("http://booth:8443", "booth:8443",
                                     True))
        self.assertFalse(same_origin("http://other:8080", "booth:8080",
                                     False))
        self.assertFalse(same_origin("null", "booth", False))
