"""
C{server.cors_origins} (L{fourcut.web.cors}) over a real listening fourcut:
preflights and the CORS headers for a listed and an unlisted origin, and
the WebSocket's C{Origin} check following the same list.
"""

import json

import treq

from fourcut.web.cors import CORSPolicy, normalise_origin, same_origin
from twisted.trial.unittest import SynchronousTestCase

from tests.support.access import TOKEN, bearer
from tests.support.service import ServiceTestCase
from tests.support.wsclient import connect

LISTED = "http://localhost:3000"
UNLISTED = "http://evil.example"


class CORSTestCase(ServiceTestCase):
    config = {"server": {"cors_origins": [LISTED, "null"]},
              "access": {"token": TOKEN}}

    def request(self, method, path, origin=None, token=None, headers=None):
        headers = dict(headers or {})
        if origin is not None:
            headers["Origin"] = [origin]
        if token is not None:
            headers.update(bearer(token))
        return treq.request(method, self.base + path, headers=headers,
                            pool=self.pool)

    def preflight(self, path, origin, method="GET"):
        return self.request("OPTIONS", path, origin, headers={
            "Access-Control-Request-Method": [method],
            "Access-Control-Request-Headers": ["authorization"]})

    def header(self, response, name):
        values = response.headers.getRawHeaders(name)
        return values[0] if values else None


class PreflightTests(CORSTestCase):
    async def test_listed_origin(self):
        """
        A preflight needs no token (browsers send none) and names the
        path's methods and the Authorization header.
        """
        for path, methods in [("/capture", "GET, OPTIONS"),
                              ("/camera/restart", "POST, OPTIONS"),
                              ("/photos", "GET, HEAD, OPTIONS"),
                              ("/status", "GET, HEAD, OPTIONS")]:
            response = await self.preflight(path, LISTED)
            self.assertEqual(response.code, 204, path)
            self.assertEqual(await response.content(), b"")
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
        response = await self.preflight("/capture", "null")
        self.assertEqual(response.code, 204)
        self.assertEqual(self.header(response, "access-control-allow-origin"),
                         "null")
        self.assertEqual(self.session.captures, 0)

    async def test_unlisted_origin(self):
        for path, kind in [("/capture", "text/plain; charset=utf-8"),
                           ("/status", "application/json")]:
            response = await self.preflight(path, UNLISTED)
            body = await response.content()
            self.assertEqual(response.code, 403, path)
            self.assertIsNone(self.header(response,
                                          "access-control-allow-origin"))
            self.assertEqual(self.header(response, "content-type"), kind)
            self.assertIn(b"origin http://evil.example is not allowed: add "
                          b"it to server.cors_origins", body)


class HeaderTests(CORSTestCase):
    async def test_listed_origin_reads_answers(self):
        response = await self.request("GET", "/status", LISTED, TOKEN)
        self.assertEqual(response.code, 200)
        self.assertEqual(json.loads(await response.content())["service"],
                         "fourcut")
        self.assertEqual(self.header(response, "access-control-allow-origin"),
                         LISTED)
        self.assertIn("X-Timestamp", self.header(
            response, "access-control-expose-headers"))
        self.assertEqual(self.header(response, "vary"), "Origin")
        # Errors too: the page can read why it was refused.
        for path in ("/status", "/capture", "/nosuch"):
            response = await self.request("GET", path, LISTED)
            self.assertEqual(response.code, 401, path)
            await response.content()
            self.assertEqual(self.header(response,
                                         "access-control-allow-origin"),
                             LISTED, path)
            self.assertIn("WWW-Authenticate", self.header(
                response, "access-control-expose-headers"))

    async def test_unlisted_origin_gets_no_headers(self):
        response = await self.request("GET", "/status", UNLISTED, TOKEN)
        self.assertEqual(response.code, 200)
        await response.content()
        self.assertIsNone(self.header(response,
                                      "access-control-allow-origin"))
        self.assertEqual(self.header(response, "vary"), "Origin")
        # Nor without an Origin (not a browser's cross-origin request).
        response = await self.request("GET", "/status", token=TOKEN)
        await response.content()
        self.assertIsNone(self.header(response,
                                      "access-control-allow-origin"))


class WebSocketOriginTests(CORSTestCase):
    async def ws(self, origin):
        headers = {} if origin is None else {"Origin": origin}
        client = await connect(self, self.port, "/ws?token=" + TOKEN,
                               headers=headers)
        await client.wait_for(lambda: len(client.messages) >= 2)
        return client

    async def test_accepted(self):
        for origin in (LISTED, "null", None,
                       # A page fourcut served itself.
                       "http://127.0.0.1:%d" % (self.port,)):
            client = await self.ws(origin)
            self.assertEqual(client.messages[0]["type"], "connected", origin)
            self.assertTrue(client.messages[0]["authenticated"])

    async def test_refused(self):
        for origin in (UNLISTED, "http://localhost:3001",
                       "https://localhost:3000"):
            with self.assertRaises(ConnectionError) as caught:
                await self.ws(origin)
            text = str(caught.exception)
            self.assertIn("403", text, origin)
            self.assertIn("add it to server.cors_origins", text, origin)
        self.assertEqual(self.service.websocket.clients, set())


class DefaultTests(CORSTestCase):
    """
    No C{cors_origins}: no other origin, "null" included, and no CORS
    headers at all.
    """

    config = {}

    async def test_no_other_origin(self):
        response = await self.preflight("/capture", LISTED)
        self.assertEqual(response.code, 403)
        await response.content()
        response = await self.request("GET", "/status", LISTED)
        self.assertEqual(response.code, 200)
        await response.content()
        self.assertIsNone(self.header(response,
                                      "access-control-allow-origin"))
        self.assertIsNone(self.header(response, "vary"))
        for origin in (LISTED, "null"):
            with self.assertRaises(ConnectionError) as caught:
                await connect(self, self.port, headers={"Origin": origin})
            self.assertIn("server.cors_origins", str(caught.exception))
        client = await connect(self, self.port)
        await client.wait_for(lambda: client.messages)
        self.assertEqual(client.messages[0]["type"], "connected")


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
