"""
C{server.cors_origins} (L{fourcut.web.cors}) over a real listening fourcut:
the WebSocket's C{Origin} check following the list. Preflights and the
CORS headers are tested in memory (L{tests.web.test_cors}).
"""

from tests.support.access import TOKEN
from tests.support.service import ServiceTestCase
from tests.support.wsclient import connect

LISTED = "http://localhost:3000"
UNLISTED = "http://evil.example"


class CORSTestCase(ServiceTestCase):
    config = {"server": {"cors_origins": [LISTED, "null"]},
              "access": {"token": TOKEN}}


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
        """
        (Over HTTP: L{tests.web.test_cors.DefaultTests}.)
        """
        for origin in (LISTED, "null"):
            with self.assertRaises(ConnectionError) as caught:
                await connect(self, self.port, headers={"Origin": origin})
            self.assertIn("server.cors_origins", str(caught.exception))
        client = await connect(self, self.port)
        await client.wait_for(lambda: client.messages)
        self.assertEqual(client.messages[0]["type"], "connected")
