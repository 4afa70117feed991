"""
Connection limits (L{fourcut.web.limits}) over a real listening fourcut
with its virtual camera: the bounds that keep unauthenticated WebSocket
clients few and short-lived while the front-end with the token always gets
in. The HTTP side (the whole-request deadline, unauthenticated
connections, the descriptor budget) is tested in memory
(L{tests.web.test_limits}); L{Dripper} and L{LimitTestCase} serve the soak
test.
"""

from twisted.internet import defer, reactor

from tests.integration.test_access import AccessTestCase
from tests.support.access import TOKEN
from tests.support.clients import RawHTTP, connect_raw
from tests.support.time import sleep
from tests.support.wsclient import connect


class Dripper(RawHTTP):
    """
    Sends a request one header line at a time, C{interval} seconds apart,
    for ever: each line restarts twisted.web's idle timeout.
    """

    interval = 0.4

    def connectionMade(self):
        self.sent = 0
        self.transport.write(b"GET /health HTTP/1.1\r\n")
        self._call = reactor.callLater(self.interval, self.drip)

    def drip(self):
        self.sent += 1
        self.transport.write(b"X-Drip-%d: %s\r\n" % (self.sent, b"a" * 20))
        self._call = reactor.callLater(self.interval, self.drip)

    def connectionLost(self, reason):
        if self._call.active():
            self._call.cancel()
        RawHTTP.connectionLost(self, reason)


class LimitTestCase(AccessTestCase):
    def raw(self, client=None, data=b""):
        return connect_raw(self, self.port, client, data)

    async def closed_within(self, client, seconds):
        """
        Wait (at most C{seconds}) for the server to close C{client}'s
        connection; return what it sent.
        """
        try:
            return await client.lost.addTimeout(seconds, reactor)
        except defer.TimeoutError:
            self.fail("the connection was still open after %g s" % seconds)

    @property
    def limits(self):
        return self.service.limits


class UnauthenticatedWebSocketTests(LimitTestCase):
    config = {"access": {"token": TOKEN}, "preview": {"public": False},
              "server": {"max_ws_clients": 3, "max_unauthenticated": 6,
                         "max_unauthenticated_per_address": 4,
                         "auth_timeout": 1.5}}

    async def anonymous(self, count):
        """
        Connect C{count} anonymous WebSocket clients (Autobahn's client
        answers the server's pings); return those that got in, and how many
        were refused.
        """
        clients, refused = [], 0
        for _ in range(count):
            try:
                client = await connect(self, self.port)
            except ConnectionError:
                refused += 1
                continue
            clients.append(client)
        return clients, refused

    async def test_front_end_gets_a_slot(self):
        """
        Anonymous WebSocket clients never take the front-end's slots: they
        are few (oldest idle ones closed to make room, newcomers over the
        bound refused), closed when they have not authenticated in time,
        and the front-end with the token connects every time while they
        are there. (Before, max_ws_clients anonymous clients answering
        pings made the front-end's handshake a 503.)
        """
        anonymous, refused = await self.anonymous(10)
        self.assertLessEqual(len(self.limits.unauthenticated), 6)
        self.assertLessEqual(self.limits.unauthenticated_from("127.0.0.1"),
                             5)
        # The ones let in.
        self.assertTrue(anonymous)
        await sleep(1.1)
        # More of them, now that the first are idle: they close those.
        more, _ = await self.anonymous(4)
        front = []
        for n in range(3):
            client = await connect(self, self.port, "/ws?token=" + TOKEN)
            await client.wait_for(lambda: len(client.messages) >= 2)
            self.assertEqual(client.messages[1]["type"], "camera_info")
            front.append(client)
        self.assertEqual(self.service.websocket.authenticated_clients(), 3)
        # Every anonymous one is gone within its deadline.
        for client in anonymous + more:
            clean, code, reason = await client.closed.addTimeout(10, reactor)
            self.assertIn(code, (3008, 1006), reason)
        self.assertEqual(len(self.limits.unauthenticated), 0)
        for client in front:
            reply = await client.reply({"type": "get_camera_info",
                                        "requestId": "still"})
            self.assertEqual(reply["type"], "camera_info")

    async def test_auth_by_message_leaves_the_anonymous_bound(self):
        client = await connect(self, self.port)
        await client.wait_for(lambda: client.messages)
        self.assertEqual(len(self.limits.unauthenticated), 1)
        reply = await client.reply({"type": "auth", "token": TOKEN,
                                    "requestId": 1})
        self.assertEqual(reply["type"], "authenticated")
        self.assertEqual(len(self.limits.unauthenticated), 0)
        await sleep(2)
        self.assertTrue(client.transport.connected)
