"""
Connection limits (L{fourcut.web.limits}) over a real listening fourcut with its
virtual camera: the whole-request deadline, and the bounds that keep
unauthenticated connections few and short-lived while the front-end with
the token always gets in.
"""

from twisted.internet import defer, protocol, reactor
from twisted.trial.unittest import SynchronousTestCase

from fourcut.stream.sockets import unsent_bytes
from fourcut.web.limits import DescriptorBudget, open_descriptors

from tests.integration.test_access import TOKEN, AccessTestCase, RawHTTP
from tests.support.service import sleep
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
    async def raw(self, client=None, data=b""):
        client = client if client is not None else RawHTTP()
        await protocol.ClientCreator(reactor, lambda: client).connectTCP(
            "127.0.0.1", self.port)
        self.addCleanup(lambda: client.transport.abortConnection()
                        if client.transport.connected else None)
        if data:
            client.transport.write(data)
        return client

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


class HeaderDeadlineTests(LimitTestCase):
    config = {"server": {"header_timeout": 1.0}}

    async def test_drip_fed_headers(self):
        """
        One header line every 0.4 s would keep the connection for ever (the
        idle timeout restarts with each): the whole request must arrive
        within header_timeout, or it is answered 408 and closed.
        """
        client = await self.raw(Dripper())
        data = await self.closed_within(client, 6)
        self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data[:100])
        self.assertIn(b"did not arrive in time", data)
        self.assertGreater(client.sent, 0)
        # Others are served meanwhile and after.
        response = await self.request("GET", "/health")
        self.assertEqual(response.code, 200)
        await response.content()

    async def test_silent_connection(self):
        """
        A connection that never sends a byte is closed by the same deadline
        (not by the idle timeout, a minute later).
        """
        client = await self.raw()
        data = await self.closed_within(client, 6)
        self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data[:100])

    async def test_second_request_drip_fed(self):
        """
        On a kept-alive connection, the deadline counts from the next
        request's first byte; a whole request that comes in time is
        served.
        """
        client = await self.raw(
            data=b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(50):
            if client.response() is not None:
                break
            await sleep(0.05)
        status, headers, body = client.response()
        self.assertEqual(status, b"HTTP/1.1 200 OK")
        client.data = b""
        # Idle between requests: twisted.web's idle timeout, not this one.
        await sleep(1.5)
        self.assertTrue(client.transport.connected)
        client.transport.write(b"GET /health HTTP/1.1\r\n")
        for n in range(10):
            await sleep(0.3)
            if not client.transport.connected:
                break
            client.transport.write(b"X-%d: y\r\n" % n)
        data = await self.closed_within(client, 5)
        self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data[:100])


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


class UnauthenticatedHTTPTests(LimitTestCase):
    config = {"access": {"token": TOKEN},
              "server": {"max_unauthenticated": 6,
                         "max_unauthenticated_per_address": 4,
                         "header_timeout": 10.0}}

    async def test_silent_connections_make_room(self):
        """
        Connections that send nothing are few: over the bound, a burst of
        newcomers is let in on probation, and once those are idle each new
        connection closes the oldest idle one, so their number does not
        grow; the front-end's requests, on new connections, are served
        throughout.
        """
        first = [await self.raw() for _ in range(8)]
        self.assertEqual(len(self.limits.unauthenticated), 8)
        await sleep(1.1)
        second = [await self.raw() for _ in range(8)]
        self.assertEqual(len(self.limits.unauthenticated), 8)
        self.assertEqual(self.limits.evicted, 8)
        for client in first:
            await self.closed_within(client, 2)
        for n in range(5):
            response = await self.request("GET", "/status", token=TOKEN)
            self.assertEqual(response.code, 200, n)
            await response.content()
        self.assertEqual(len(self.limits.unauthenticated), 8)
        self.assertTrue(all(c.transport.connected for c in second))

    async def test_anonymous_on_probation_refused(self):
        """
        Over the bound with nothing idle to close (a burst), a newcomer must
        prove the token on its first request: without it, a 503 and the
        connection closed; with it, served.
        """
        clients = [await self.raw() for _ in range(4)]
        client = await self.raw(
            data=b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        data = await self.closed_within(client, 5)
        self.assertTrue(data.startswith(b"HTTP/1.1 503 "), data[:100])
        self.assertIn(b"too many connections without the token", data)
        client = await self.raw(data=b"GET /status HTTP/1.1\r\nHost: x\r\n"
                                b"Authorization: Bearer " + TOKEN.encode()
                                + b"\r\n\r\n")
        for _ in range(100):
            if client.response() is not None:
                break
            await sleep(0.05)
        status, headers, body = client.response()
        self.assertEqual(status, b"HTTP/1.1 200 OK")
        self.assertEqual(len(clients), 4)


class DescriptorBudgetTests(SynchronousTestCase):
    def test_counts_this_process(self):
        before = open_descriptors()
        import os
        r, w = os.pipe()
        try:
            self.assertEqual(open_descriptors(), before + 2)
        finally:
            os.close(r)
            os.close(w)

    def test_short(self):
        budget = DescriptorBudget(10, count=lambda: 95, limit=lambda: 100)
        self.assertEqual(budget.free(), 5)
        self.assertTrue(budget.short())
        self.assertFalse(DescriptorBudget(5, count=lambda: 95,
                                          limit=lambda: 100).short())
        self.assertFalse(DescriptorBudget(0, count=lambda: 100,
                                          limit=lambda: 100).short())

    def test_none_left_to_count_with(self):
        def count():
            raise OSError(24, "Too many open files")
        self.assertTrue(DescriptorBudget(1, count=count,
                                         limit=lambda: 100).short())

    def test_unsent_bytes_of_a_plain_object(self):
        self.assertEqual(unsent_bytes(object()), 0)
