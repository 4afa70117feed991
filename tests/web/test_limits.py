"""
Request limits over the whole site in memory, on its memory clock: request
bodies (L{fourcut.web.access.BodyLimit}), twisted.web's own header limits,
the whole-request deadline (L{fourcut.web.limits.DeadlineChannel}) and the
bounds on unauthenticated connections
(L{fourcut.web.limits.ConnectionLimits}); and the descriptor budget.
"""

import errno
import json
import os
import resource

from twisted.internet import task
from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from fourcut.web.access import LINGER
from fourcut.stream.sockets import unsent_bytes
from fourcut.web import limits
from fourcut.web.limits import (EVICT_AFTER, TIMEOUT_BODY, ConnectionLimits,
                                DescriptorBudget, LimitedConnection,
                                deadline_channel, open_descriptors)

from tests.support.logged import Logged
from tests.support.memory import MemorySite
from tests.support.access import TOKEN, WRONG, bearer

HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


class LimitTestCase(SynchronousTestCase):
    config = None

    def setUp(self):
        self.site = MemorySite(self, self.config)
        self.session = self.site.session

    @property
    def limits(self):
        return self.site.web.factory


class BodyLimitTests(LimitTestCase):
    config = {"server": {"max_message_bytes": 2048}}

    def setUp(self):
        LimitTestCase.setUp(self)
        self.logged = Logged(self)

    def assertTooLarge(self, client, size="1000000000 bytes"):
        status, headers, body = client.response()
        self.assertEqual(client.data, (
            b"HTTP/1.1 413 Request Entity Too Large\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: 92\r\nConnection: close\r\n\r\n"
            b"fourcut: request body too large: the limit is 2048 bytes (this "
            b"API takes no request bodies)\n"))
        self.assertEqual([line for line in self.logged.lines()
                          if "refused" in line[1]], [
            ("warn", "refused a request body of %s from PEER: the limit is "
             "2048 bytes" % (size,))])
        # One answer, nothing after it.
        self.assertTrue(client.data.endswith(body))
        # The server closes the connection after its linger.
        self.assertFalse(client.lost)
        self.site.advance(LINGER)
        self.assertTrue(client.lost)
        self.assertEqual(self.session.calls, [])

    def test_content_length_over_limit(self):
        client = self.site.raw(b"GET /capture HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: 1000000000\r\n\r\n")
        self.assertTooLarge(client)

    def test_content_length_over_limit_with_body(self):
        """
        The whole body arrives with the headers: the request is still
        never processed.
        """
        client = self.site.raw(b"GET /capture HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: 3000\r\n\r\n" + b"x" * 3000)
        self.assertTooLarge(client, "3000 bytes")

    def test_expect_continue(self):
        client = self.site.raw(b"GET /capture HTTP/1.1\r\nHost: x\r\n"
                               b"Expect: 100-continue\r\n"
                               b"Content-Length: 1000000\r\n\r\n")
        self.assertTrue(client.data.startswith(b"HTTP/1.1 413"))
        self.assertTooLarge(client, "1000000 bytes")

    def test_chunked_over_limit(self):
        chunk = b"3e8\r\n" + b"x" * 1000 + b"\r\n"
        client = self.site.raw(b"GET /capture HTTP/1.1\r\nHost: x\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n"
                               + chunk * 3 + b"0\r\n\r\n")
        self.assertTooLarge(client, "more than 2048 bytes (chunked)")

    def test_chunked_over_limit_slowly(self):
        """
        A chunked body is refused when its total passes the limit, before
        it ends; what the client sends after that is dropped.
        """
        chunk = b"3e8\r\n" + b"x" * 1000 + b"\r\n"
        client = self.site.raw(b"GET /capture HTTP/1.1\r\nHost: x\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n")
        for n in range(3):
            self.assertIsNone(client.response(), n)
            self.site.send(client, chunk)
        self.assertIsNotNone(client.response())
        answer = client.data
        for _ in range(5):
            self.site.send(client, chunk * 50)
        self.site.send(client, b"0\r\n\r\n")
        self.assertEqual(client.data, answer)
        self.assertTooLarge(client, "more than 2048 bytes (chunked)")

    def test_small_bodies_accepted(self):
        client = self.site.raw(b"POST /camera/restart HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: 2048\r\n\r\n" + b"x" * 2048)
        status, headers, body = client.response()
        self.assertEqual(status, b"HTTP/1.1 200 OK")
        self.assertIn(b"restarted", body)
        client = self.site.raw(b"GET /cmd?arg=--version HTTP/1.1\r\n"
                               b"Host: x\r\nTransfer-Encoding: chunked\r\n"
                               b"\r\n3e8\r\n" + b"x" * 1000
                               + b"\r\n0\r\n\r\n")
        status, headers, body = client.response()
        self.assertEqual(status, b"HTTP/1.1 200 OK")
        self.assertIn(b"gphoto2", body)

    def test_unparseable_content_type(self):
        """
        A Content-Type that twisted.web's parser (the email package) splits
        into lines, a vertical tab or a form feed in it, is ignored: the
        request is answered as one without it, never dropped unanswered
        with an unhandled error (found by the fuzz test).
        """
        for junk in (b"\x0bu\xf5b", b"text/plain\x0c", b"a\x85b",
                     b"\x1c"):
            client = self.site.raw(
                b"POST /camera/restart HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: " + junk + b"\r\nContent-Length: 4\r\n"
                b"\r\na=b&")
            status, headers, body = client.response()
            self.assertEqual(status, b"HTTP/1.1 200 OK", junk)
            self.assertIn(b"restarted", body)
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_oversized_headers(self):
        """
        twisted.web's own limits: 16 KiB of request line and headers (a
        400), 16 KiB for one line (the connection is closed).
        """
        headers = b"".join(b"X-%d: %s\r\n" % (n, b"a" * 2000)
                           for n in range(9))
        client = self.site.raw(b"GET /status HTTP/1.1\r\nHost: x\r\n"
                               + headers + b"\r\n")
        self.assertTrue(client.lost)
        self.assertEqual(client.data, b"HTTP/1.1 400 Bad Request\r\n\r\n")
        client = self.site.raw(b"GET /status HTTP/1.1\r\nX: "
                               + b"a" * 20000 + b"\r\n\r\n")
        self.assertTrue(client.lost)
        self.assertEqual(client.data, b"")


class HeaderDeadlineTests(LimitTestCase):
    config = {"server": {"header_timeout": 1.0}}

    def assertTimedOut(self, client):
        self.assertTrue(client.data.startswith(b"HTTP/1.1 408 "),
                        client.data[:100])
        self.assertIn(b"did not arrive in time", client.data)
        self.assertTrue(client.lost)

    def test_drip_fed_headers(self):
        """
        One header line every 0.4 s would keep the connection for ever (the
        idle timeout restarts with each): the whole request must arrive
        within header_timeout, or it is answered 408 and closed.
        """
        client = self.site.raw(b"GET /health HTTP/1.1\r\n")
        for n in range(3):
            self.site.advance(0.4)
            if client.lost:
                break
            self.site.send(client, b"X-Drip-%d: %s\r\n" % (n, b"a" * 20))
        self.assertTimedOut(client)
        self.assertEqual(n, 2)
        # Others are served meanwhile and after.
        response = self.site.get("/health")
        self.assertEqual(response.code, 200)
        self.site.content(response)

    def test_silent_connection(self):
        """
        A connection that never sends a byte is closed by the same deadline
        (not by the idle timeout, a minute later).
        """
        client = self.site.raw()
        self.site.advance(0.9)
        self.assertFalse(client.lost)
        self.site.advance(0.1)
        self.assertTimedOut(client)

    def test_second_request_drip_fed(self):
        """
        On a kept-alive connection, the deadline counts from the next
        request's first byte; a whole request that comes in time is
        served.
        """
        client = self.site.raw(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = client.response()
        self.assertEqual(status, b"HTTP/1.1 200 OK")
        client.data = b""
        # Idle between requests: twisted.web's idle timeout, not this one.
        self.site.advance(1.5)
        self.assertFalse(client.lost)
        self.site.send(client, b"GET /health HTTP/1.1\r\n")
        for n in range(10):
            self.site.advance(0.3)
            if client.lost:
                break
            self.site.send(client, b"X-%d: y\r\n" % n)
        self.assertTimedOut(client)
        self.assertEqual(n, 3)


class UnauthenticatedHTTPTests(LimitTestCase):
    def setUp(self):
        LimitTestCase.setUp(self)
        self.logged = Logged(self)

    config = {"access": {"token": TOKEN},
              "server": {"max_unauthenticated": 6,
                         "max_unauthenticated_per_address": 4,
                         "header_timeout": 10.0}}

    def test_silent_connections_make_room(self):
        """
        Connections that send nothing are few: over the bound, a burst of
        newcomers is let in on probation, and once those are idle each new
        connection closes the oldest idle one, so their number does not
        grow; the front-end's requests, on new connections, are served
        throughout.
        """
        first = [self.site.raw() for _ in range(8)]
        self.assertEqual(len(self.limits.unauthenticated), 8)
        self.site.advance(EVICT_AFTER + 0.1)
        second = [self.site.raw() for _ in range(8)]
        self.assertEqual(len(self.limits.unauthenticated), 8)
        self.assertEqual(self.limits.evicted, 8)
        self.assertTrue(all(client.lost for client in first))
        for n in range(5):
            response = self.site.get("/status", headers=bearer(TOKEN))
            self.assertEqual(response.code, 200, n)
            self.site.content(response)
        self.assertEqual(len(self.limits.unauthenticated), 8)
        self.assertFalse(any(client.lost for client in second))

    def test_idle_exactly_long_enough(self):
        """
        A connection idle for exactly C{EVICT_AFTER} may be closed for a
        newcomer; the log says whose and why.
        """
        first = [self.site.raw() for _ in range(4)]
        self.site.advance(EVICT_AFTER)
        self.logged.lines()
        self.site.raw()
        self.assertEqual(self.limits.evicted, 1)
        self.assertEqual(sum(client.lost for client in first), 1)
        (level, text), = [line for line in self.logged.lines()
                          if "closing" in line[1]]
        self.assertEqual((level, text), (
            "info", "closing an unauthenticated connection from "
            "127.0.0.1 (too many from 127.0.0.1)"))

    def test_probation_makes_room_for_the_booth(self):
        """
        A newcomer on probation asking for a path the booth uses (C{/ws})
        closes the oldest unauthenticated connection of its address, and
        the log says why.
        """
        first = [self.site.raw() for _ in range(4)]
        self.logged.lines()
        self.site.raw(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(self.limits.evicted, 1)
        self.assertEqual([client.lost for client in first],
                         [True, False, False, False])
        self.assertEqual([line for line in self.logged.lines()
                          if "closing" in line[1]], [
            ("info", "closing an unauthenticated connection from "
             "127.0.0.1 (too many from 127.0.0.1, to let the booth or a "
             "guest in)")])
        self.site.raw(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(self.limits.evicted, 2)
        self.assertEqual([client.lost for client in first],
                         [True, True, False, False])

    def test_probation_makes_room_over_all_unauthenticated(self):
        """
        A newcomer on probation for the bound on all unauthenticated
        connections, not its address's, asking for C{/ws}: the oldest of
        them all is closed, and the log says why; its own address, at
        exactly its bound, loses none.
        """
        first = [self.site.raw(host="192.0.2.1") for _ in range(3)]
        own = [self.site.raw(host="192.0.2.2") for _ in range(3)]
        self.logged.lines()
        self.site.raw(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n",
                      host="192.0.2.2")
        self.assertEqual(self.limits.evicted, 1)
        self.assertEqual([client.lost for client in first + own],
                         [True, False, False, False, False, False])
        self.assertEqual([line for line in self.logged.lines()
                          if "closing" in line[1]], [
            ("info", "closing an unauthenticated connection from "
             "192.0.2.1 (too many unauthenticated, to let the booth or a "
             "guest in)")])

    def test_probation_makes_room_over_both_bounds(self):
        """
        A newcomer over both bounds at once closes one connection in each:
        the oldest of its address, then the oldest of all.
        """
        first = [self.site.raw(host="192.0.2.1") for _ in range(2)]
        own = [self.site.raw(host="192.0.2.2") for _ in range(4)]
        # On probation, quiet: the seventh.
        other = self.site.raw(host="192.0.2.3")
        self.assertEqual(len(self.limits.unauthenticated), 7)
        self.logged.lines()
        self.site.raw(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n",
                      host="192.0.2.2")
        self.assertEqual(self.limits.evicted, 2)
        self.assertEqual([client.lost for client in first + own + [other]],
                         [True, False, True, False, False, False, False])
        self.assertEqual([line for line in self.logged.lines()
                          if "closing" in line[1]], [
            ("info", "closing an unauthenticated connection from "
             "192.0.2.2 (too many from 192.0.2.2, to let the booth or a "
             "guest in)"),
            ("info", "closing an unauthenticated connection from "
             "192.0.2.1 (too many unauthenticated, to let the booth or a "
             "guest in)")])

    def test_idle_evicted_for_the_bound_on_all(self):
        """
        Over the bound on all unauthenticated connections, a newcomer
        closes the oldest idle one of them, whatever its address, and the
        log says why.
        """
        first = [self.site.raw(host="192.0.2.%d" % (n,)) for n in range(6)]
        self.site.advance(EVICT_AFTER)
        self.logged.lines()
        self.site.raw(host="192.0.2.9")
        self.assertEqual([client.lost for client in first],
                         [True] + [False] * 5)
        self.assertEqual([line for line in self.logged.lines()
                          if "closing" in line[1]], [
            ("info", "closing an unauthenticated connection from "
             "192.0.2.0 (too many unauthenticated)")])

    def test_idle_again_after_an_answer(self):
        """
        A connection whose request has been answered is idle again, from
        the end of the answer: a newcomer may close it once it has been
        idle for C{EVICT_AFTER}.
        """
        first = [self.site.raw() for _ in range(4)]
        self.site.advance(2.0)
        for client in first:
            self.site.send(client, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertTrue(client.data.startswith(b"HTTP/1.1 200 OK"))
        self.site.advance(EVICT_AFTER / 2)
        self.site.raw()
        self.assertEqual(self.limits.evicted, 0)
        self.site.advance(EVICT_AFTER / 2)
        self.site.raw()
        self.assertEqual(self.limits.evicted, 1)
        self.assertEqual([client.lost for client in first],
                         [True, False, False, False])

    def test_request_arriving_in_pieces_not_idle(self):
        """
        A connection whose request is arriving slowly, in pieces (a phone
        on the venue Wi-Fi, a loaded machine), is not idle while its
        bytes keep coming: a newcomer over the bound closes a silent
        connection instead, and the slow request is answered. It was
        idle from its accepting until its request was whole, and was
        closed without an answer (a rare failure of the fuzz test under
        load).
        """
        slow = self.site.raw(b"GET /hea")
        silent = [self.site.raw() for _ in range(3)]
        self.site.advance(EVICT_AFTER * 0.6)
        self.site.send(slow, b"lth HTTP/1.1\r\n")
        self.site.advance(EVICT_AFTER * 0.6)
        self.site.raw()
        self.assertEqual(self.limits.evicted, 1)
        self.assertEqual([client.lost for client in [slow] + silent],
                         [False, True, False, False])
        self.site.send(slow, b"Host: x\r\n\r\n")
        status, headers, body = slow.response()
        self.assertEqual(status, b"HTTP/1.1 200 OK")

    def test_request_arriving_in_pieces_only_while_they_come(self):
        """
        A request that stops arriving is idle from its last byte: once
        that is C{EVICT_AFTER} ago, a newcomer over the bound may close
        it (a stranger cannot keep its slot by sending a few bytes once).
        While every connection's request is still arriving, a newcomer is
        let in on probation.
        """
        slow = [self.site.raw(b"GET /hea") for _ in range(4)]
        self.site.advance(EVICT_AFTER * 0.6)
        for client in slow[1:]:
            self.site.send(client, b"l")
        self.site.advance(EVICT_AFTER * 0.6)
        self.site.raw()
        self.assertFalse(self.newest().probation)
        self.assertEqual(self.limits.evicted, 1)
        self.assertEqual([client.lost for client in slow],
                         [True, False, False, False])
        self.site.raw()
        self.assertTrue(self.newest().probation)
        self.assertEqual(self.limits.evicted, 1)
        self.assertEqual([client.lost for client in slow],
                         [True, False, False, False])

    def newest(self):
        """
        The server's side of the newest unauthenticated connection.
        """
        return list(self.limits.unauthenticated)[-1]

    def test_booth_on_probation_then_more_requests(self):
        """
        A newcomer on probation whose first request is the booth's own is
        no longer on probation: its next requests are served too.
        """
        self.assertAnonymousServedAfter(
            b"GET /booth HTTP/1.1\r\nHost: x\r\n\r\n")

    def test_token_on_probation_then_anonymous_requests(self):
        """
        A newcomer on probation whose first request proves the token is
        trusted: its next requests are served whether they carry the
        token or not (a browser's keep-alive connection fetching a public
        page after an API call).
        """
        self.assertAnonymousServedAfter(
            b"GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + TOKEN.encode() + b"\r\n\r\n")

    def assertAnonymousServedAfter(self, first):
        """
        A newcomer on probation (the slots full) whose C{first} request is
        answered 200 has a request without the token answered 200 next,
        on the same connection.
        """
        [self.site.raw() for _ in range(4)]
        client = self.site.raw(first)
        status, headers, body = client.response()
        self.assertEqual(status, b"HTTP/1.1 200 OK")
        client.data = b""
        self.site.send(client, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = client.response()
        self.assertEqual(status, b"HTTP/1.1 200 OK")
        self.assertFalse(client.lost)

    def test_anonymous_on_probation_refused(self):
        """
        Over the bound with nothing idle to close (a burst), a newcomer must
        prove the token on its first request: without it, a 503 and the
        connection closed; with it, served.
        """
        clients = [self.site.raw() for _ in range(4)]
        client = self.site.raw(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(client.lost)
        status, headers, body = client.response()
        self.assertEqual(status, b"HTTP/1.1 503 Service Unavailable")
        self.assertEqual((headers[b"connection"], headers[b"retry-after"],
                          headers[b"content-type"]),
                         (b"close", b"5", b"application/json"))
        self.assertEqual(json.loads(body), {
            "status": 503, "error": "fourcut: too many connections without "
            "the token; try again later"})
        self.assertIn(("info", "refused GET /health from PEER: too many "
                       "unauthenticated connections"), self.logged.lines())
        client = self.site.raw(b"GET /status HTTP/1.1\r\nHost: x\r\n"
                               b"Authorization: Bearer " + TOKEN.encode()
                               + b"\r\n\r\n")
        status, headers, body = client.response()
        self.assertEqual(status, b"HTTP/1.1 200 OK")
        self.assertFalse(any(c.lost for c in clients))

    def test_probation_refusal_logged_short(self):
        """
        The log names the method (at most 20 characters) and the path
        without its query.
        """
        [self.site.raw() for _ in range(4)]
        self.logged.lines()
        client = self.site.raw(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ /health?token=x "
                               b"HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(client.lost)
        self.assertEqual([line for line in self.logged.lines()
                          if "refused" in line[1]], [
            ("info", "refused ABCDEFGHIJKLMNOPQRST /health from PEER: too "
             "many unauthenticated connections")])

    def test_other_addresses_unaffected(self):
        """
        The bound per address leaves other peers alone.
        """
        for _ in range(4):
            self.site.raw()
        client = self.site.raw(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
                               host="192.0.2.7")
        status, headers, body = client.response()
        self.assertEqual(status, b"HTTP/1.1 200 OK")
        self.assertEqual(self.limits.unauthenticated_from("127.0.0.1"), 4)


class PipelineTests(LimitTestCase):
    """
    Requests pipelined behind a slow answer (a wrong token's, which
    waits): served at the rate, each within its deadline.
    """

    config = {"access": {"token": TOKEN},
              "server": {"commands_per_second": 2, "header_timeout": 1.0}}

    guess = (b"GET /status HTTP/1.1\r\nHost: x\r\n"
             b"Authorization: Bearer " + WRONG.encode() + b"\r\n\r\n")

    def test_at_the_rate(self):
        client = self.site.raw(self.guess)
        self.assertEqual(client.data, b"")
        self.site.send(client, HEALTH * 10)
        self.site.advance(0.1)
        self.assertTrue(client.data.startswith(b"HTTP/1.1 401 "))
        # A burst of two, then one each half second.
        self.assertEqual(client.data.count(b"HTTP/1.1 200 OK"), 2)
        self.site.advance(0.5)
        self.assertEqual(client.data.count(b"HTTP/1.1 200 OK"), 3)

    def test_deadline_from_the_answer_before(self):
        """
        A request that had begun behind the slow answer has
        C{header_timeout} from that answer, however long it then waits
        for its turn at the rate.
        """
        # One a second: the turn after the slow answer is a second away.
        site = MemorySite(self, {"access": {"token": TOKEN}, "server": {
            "commands_per_second": 1, "header_timeout": 1.0}})
        client = site.raw(HEALTH + self.guess)
        site.send(client, b"GET /health HTTP/1.1\r\n")
        site.advance(0.05)
        self.assertIn(b"HTTP/1.1 401 ", client.data)
        site.advance(0.95)
        self.assertFalse(client.lost)
        site.advance(0.1)
        self.assertTrue(client.lost)
        self.assertIn(b"HTTP/1.1 408 ", client.data)

    def test_requests_one_at_a_time_not_counted(self):
        """
        Requests sent one after another's answer use none of the burst
        for pipelined ones.
        """
        client = self.site.raw(HEALTH)
        self.site.advance(0.1)
        client.data = b""
        self.site.send(client, HEALTH)
        self.site.advance(0.1)
        self.site.send(client, HEALTH * 2)
        self.assertEqual(client.data.count(b"HTTP/1.1 200 OK"), 3)

class DescriptorBudgetTests(SynchronousTestCase):
    def test_counts_this_process(self):
        before = open_descriptors()
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

    def test_count_is_what_is_open(self):
        """
        The count is the number of descriptors open, as the kernel answers
        for each.
        """
        def is_open(fd):
            try:
                os.fstat(fd)
            except OSError:
                return False
            return True
        count = open_descriptors()
        self.assertEqual(count, sum(map(is_open, range(4096))))

    def test_first_directory_missing(self):
        """
        A directory that is not there (no /proc) is passed over for the
        next; one that cannot be listed for want of a descriptor is not.
        """
        before = open_descriptors()
        self.patch(limits, "FD_DIRECTORIES",
                   ("/nonexistent/fd", "/proc/self/fd"))
        self.assertEqual(open_descriptors(), before)
        self.patch(limits, "FD_DIRECTORIES", ("/nonexistent/fd",))
        self.assertIsNone(open_descriptors())

        def listdir(path):
            raise OSError(errno.EMFILE, "Too many open files")
        self.patch(limits.os, "listdir", listdir)
        self.assertRaises(OSError, open_descriptors)

    def test_soft_limit(self):
        """
        Free means under the soft limit, the one the kernel enforces.
        """
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE,
                        (soft, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft - 1, hard))
        self.assertEqual(DescriptorBudget(10).free(),
                         soft - 1 - open_descriptors())

    def test_no_reserve_no_count(self):
        """
        With no reserve (C{server.fd_reserve: 0}) a new connection costs
        no count of the descriptors, and nothing is short even past the
        limit.
        """
        counted = []
        budget = DescriptorBudget(0, count=lambda: counted.append(1) or 200,
                                  limit=lambda: 100)
        self.assertFalse(budget.short())
        self.assertEqual(counted, [])

    def test_none_left_to_count_with(self):
        def count():
            raise OSError(24, "Too many open files")
        self.assertTrue(DescriptorBudget(1, count=count,
                                         limit=lambda: 100).short())

    def test_unsent_bytes_of_a_plain_object(self):
        self.assertEqual(unsent_bytes(object()), 0)


class DeadlineChannelTests(SynchronousTestCase):
    """
    L{DeadlineChannel}'s answer, byte for byte, on a C{StringTransport}:
    the 408, the log line naming the address, and nothing read after it.
    """

    def test_timed_out(self):
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        clock = task.Clock()
        channel = deadline_channel(1.5)()
        channel.callLater = clock.callLater
        transport = StringTransport(
            peerAddress=IPv4Address("TCP", "10.0.0.7", 5555))
        channel.makeConnection(transport)
        channel.dataReceived(b"GET /health HTTP/1.1\r\n")
        clock.advance(1.4)
        self.assertEqual(transport.value(), b"")
        clock.advance(0.1)
        self.assertEqual(transport.value(), (
            b"HTTP/1.1 408 Request Time-out\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: 44\r\n"
            b"Connection: close\r\n\r\n"
            b"fourcut: the request did not arrive in time\n"))
        self.assertEqual(len(TIMEOUT_BODY), 44)
        self.assertTrue(transport.disconnecting)
        # The rest of the request, if it comes now, is not read.
        channel.dataReceived(b"Host: x\r\n\r\n")
        channel.lineReceived(b"Host: x")
        channel.rawDataReceived(b"x")
        self.assertEqual(transport.value().count(b"HTTP/1.1"), 1)
        said = [formatEvent(e) for e in events
                if e.get("log_namespace", "").startswith("fourcut.")
                and "Timing out client" not in formatEvent(e)]
        self.assertEqual(said, ["closing a connection from 10.0.0.7: no "
                                "whole request within 1.5 s"])

    def test_unread_timed_out(self):
        """
        Answers left unread for C{unread_timeout}: the connection is
        aborted, and the log names the address and the time.
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        clock = task.Clock()
        channel = deadline_channel(100.0, unread_timeout=7.0)()
        channel.callLater = clock.callLater
        transport = StringTransport(
            peerAddress=IPv4Address("TCP", "10.0.0.7", 5555))
        channel.makeConnection(transport)
        channel.pauseProducing()
        clock.advance(6.9)
        self.assertFalse(transport.disconnecting)
        clock.advance(0.1)
        self.assertTrue(transport.disconnected)
        self.assertIsNone(channel._unread)
        said = [formatEvent(e) for e in events
                if e.get("log_namespace", "").startswith("fourcut.")]
        self.assertEqual(said, ["dropping a connection from 10.0.0.7: its "
                                "answers were left unread for 7.0 s"])

    def test_paused_on_every_write(self):
        """
        TCP tells its producer to pause on every write while its buffer is
        full: a client that then reads all is not dropped later, and the
        time counts from the first pause.
        """
        clock = task.Clock()
        channel = deadline_channel(100.0, unread_timeout=7.0)()
        channel.callLater = clock.callLater
        transport = StringTransport(
            peerAddress=IPv4Address("TCP", "10.0.0.7", 5555))
        channel.makeConnection(transport)
        channel.pauseProducing()
        clock.advance(3.0)
        channel.pauseProducing()
        channel.resumeProducing()
        clock.advance(20.0)
        self.assertFalse(transport.disconnecting)
        channel.pauseProducing()
        clock.advance(3.0)
        channel.pauseProducing()
        clock.advance(3.9)
        self.assertFalse(transport.disconnecting)
        clock.advance(0.1)
        self.assertTrue(transport.disconnected)

    def test_unix_peer_named(self):
        """
        A peer without a host (a Unix socket) is named by its address in
        both timeouts' log lines.
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        peer = UNIXAddress(b"/run/s")
        said = []
        for first in ("request", "unread"):
            clock = task.Clock()
            channel = deadline_channel(
                1.0 if first == "request" else 100.0, unread_timeout=1.0)()
            channel.callLater = clock.callLater
            channel.makeConnection(StringTransport(peerAddress=peer))
            if first == "request":
                channel.dataReceived(b"GET / HTTP/1.1\r\n")
            else:
                channel.pauseProducing()
            clock.advance(1.0)
            said.extend(formatEvent(e) for e in events
                        if e.get("log_namespace", "").startswith("fourcut.")
                        and "Timing out client" not in formatEvent(e))
            del events[:]
        self.assertEqual(said, [
            "closing a connection from %s: no whole request within 1.0 s"
            % (peer,),
            "dropping a connection from %s: its answers were left unread "
            "for 1.0 s" % (peer,)])

    def test_gone_before(self):
        """
        A deadline that fires after the connection went says nothing.
        """
        clock = task.Clock()
        channel = deadline_channel(1.0)()
        channel.callLater = clock.callLater
        channel.makeConnection(StringTransport())
        channel.transport = None
        channel._request_timed_out()
        self.assertIsNone(channel._deadline)


class HeldTooLongTests(SynchronousTestCase):
    """
    L{ConnectionLimits} alone: a connection that has held its slot for
    C{max_hold} seconds, however busy, makes way for a newcomer.
    """

    def setUp(self):
        self.clock = task.Clock()
        self.limits = ConnectionLimits(Factory.forProtocol(Protocol),
                                       self.clock, max_unauthenticated=10,
                                       max_per_address=2, max_hold=5.0)
        self.logged = Logged(self)

    def connect(self):
        connection = self.limits.buildProtocol(
            IPv4Address("TCP", "192.0.2.1", 1234))
        connection.makeConnection(StringTransport())
        connection.set_busy(True)
        return connection

    def test_held_for_max_hold(self):
        first, second = self.connect(), self.connect()
        self.clock.advance(4.9)
        self.assertTrue(self.connect().probation)
        self.assertEqual(self.limits.evicted, 0)
        self.clock.advance(0.1)
        self.logged.lines()
        newcomer = self.connect()
        self.assertFalse(newcomer.probation)
        self.assertEqual(self.limits.evicted, 1)
        self.assertTrue(first.transport.disconnecting
                        or first.transport.disconnected)
        self.assertFalse(second.transport.disconnected)
        self.assertEqual(self.logged.lines(), [
            ("info", "closing an unauthenticated connection from "
             "192.0.2.1 (too many from 192.0.2.1, held for 5 s)")])
        # The second that has held its slot as long goes for the next.
        self.connect()
        self.assertEqual(self.limits.evicted, 2)
        self.assertTrue(second.transport.disconnecting
                        or second.transport.disconnected)

    def test_idle_time_kept(self):
        """
        An idle connection told again that it is idle stays idle since
        it first was; one made busy is not idle.
        """
        connection = self.connect()
        connection.set_busy(False)
        self.clock.advance(3)
        connection.set_busy(False)
        self.assertEqual(connection.idle_since, 0)
        connection.set_busy(True)
        self.assertEqual(connection.idle_since, 0)
        self.clock.advance(1)
        connection.set_busy(False)
        self.assertEqual(connection.idle_since, 4)


class ShortBudget:
    reserve = 50

    def short(self):
        return True


class DescriptorReserveTests(SynchronousTestCase):
    """
    With few descriptors left, an idle unauthenticated connection is
    closed for a newcomer; with none idle the newcomer is refused.
    """

    def setUp(self):
        self.clock = task.Clock()
        self.limits = ConnectionLimits(Factory.forProtocol(Protocol),
                                       self.clock, budget=ShortBudget())
        self.logged = Logged(self)

    def test_idle_closed_for_newcomer(self):
        limits = ConnectionLimits(Factory.forProtocol(Protocol), self.clock)
        idle = limits.buildProtocol(UNIXAddress(b"/s"))
        idle.makeConnection(StringTransport())
        self.assertIsNone(idle.host)
        self.clock.advance(EVICT_AFTER)
        limits.budget = ShortBudget()
        self.logged.lines()
        newcomer = limits.buildProtocol(IPv4Address("TCP", "192.0.2.1", 1))
        self.assertIsInstance(newcomer, LimitedConnection)
        self.assertEqual((limits.evicted, limits.refused), (1, 0))
        self.assertTrue(idle.transport.disconnecting
                        or idle.transport.disconnected)
        self.assertEqual(self.logged.lines(), [
            ("info", "closing an unauthenticated connection from None "
             "(descriptor reserve)")])

    def test_none_idle_refused(self):
        refused = self.limits.buildProtocol(
            IPv4Address("TCP", "192.0.2.1", 1))
        self.assertNotIsInstance(refused, LimitedConnection)
        self.assertEqual((self.limits.evicted, self.limits.refused), (0, 1))
        self.assertEqual(self.logged.lines(), [
            ("warn", "refused a connection from 192.0.2.1: fewer than 50 "
             "file descriptors free")])
        self.limits.buildProtocol(IPv4Address("TCP", "192.0.2.1", 2))
        self.assertEqual((self.limits.evicted, self.limits.refused), (0, 2))


class PipelineWaitTests(SynchronousTestCase):
    """
    L{DeadlineChannel}'s token bucket for pipelined requests, alone.
    """

    def channel(self, rate, factory=True):
        channel = deadline_channel(10.0, pipeline_rate=rate)()
        if factory:
            channel.factory = type("Factory", (), {"reactor": task.Clock()})()
        return channel

    def test_rate(self):
        channel = self.channel(4.0)
        clock = channel.factory.reactor
        # A burst of four at once, then one every quarter second.
        self.assertEqual([channel._pipeline_wait() for _ in range(6)],
                         [0, 0, 0, 0, 0.25, 0.5])
        clock.advance(0.75)
        self.assertEqual(channel._pipeline_wait(), 0)
        self.assertEqual(channel._pipeline_wait(), 0.25)
        # A bucket holding one and a half: no wait (never a negative one).
        clock.advance(0.625)
        self.assertEqual(channel._pipeline_wait(), 0)

    def test_slow_rate(self):
        """
        Under one a second: a burst of one, then one each 1/rate s.
        """
        channel = self.channel(0.5)
        self.assertEqual([channel._pipeline_wait() for _ in range(3)],
                         [0, 2.0, 4.0])

    def test_no_rate_or_clock(self):
        self.assertEqual(self.channel(0)._pipeline_wait(), 0)
        channel = self.channel(4.0, factory=False)
        channel.factory = object()
        self.assertEqual(channel._pipeline_wait(), 0)
