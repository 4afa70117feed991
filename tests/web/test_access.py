"""
What the access guard (L{fourcut.web.access}) decides, over the whole site
in memory (L{tests.support.memory.MemorySite}): which requests need the
token, what a refusal says, live view public or private, the query token,
and nothing logged holding the token.
"""

import io
import json

from twisted.internet import defer
from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web import resource, server
from twisted.web.test.test_web import DummyChannel
from twisted.web.test.requesthelper import DummyRequest

from fourcut.web import access
from fourcut.web.access import AccessPolicy

from tests.support import jpeg_size
from tests.support.access import TOKEN, WRONG, bearer, check_refused
from tests.support.fakes import small_jpeg
from tests.support.logged import Logged
from tests.support.memory import MemorySite
from tests.support.service import parse_multipart

#: Requests that need the token, as (method, path).
PROTECTED = [
    ("GET", "/capture"),
    ("GET", "/reset"),
    ("GET", "/cmd?arg=--version"),
    ("POST", "/camera/restart"),
    ("GET", "/camera/info"),
    ("GET", "/photos"),
    ("GET", "/photos/guest.jpg"),
    ("GET", "/status"),
    ("GET", "/metrics"),
    # No such path: fail closed, 401 rather than 404.
    ("GET", "/nosuch"),
    # The segment the resource tree sees, decoded, and below a leaf.
    ("GET", "/%63apture"),
    ("GET", "/capture/x"),
    ("HEAD", "/capture"),
    ("DELETE", "/status"),
    # The token in the query counts only for live view.
    ("GET", "/capture?token=" + TOKEN),
    ("GET", "/metrics?token=" + TOKEN),
]

#: Protected requests with the token, and their answers.
WITH_TOKEN = [
    ("GET", "/status", 200),
    ("GET", "/camera/info", 200),
    ("GET", "/cmd?arg=--version", 200),
    ("GET", "/photos", 200),
    ("GET", "/capture", 200),
    ("POST", "/camera/restart", 200),
    ("GET", "/reset", 200),
    ("GET", "/metrics", 200),
]

class AccessTestCase(SynchronousTestCase):
    """
    The site with C{config}, and checks of its refusals.
    """

    config = {"access": {"token": TOKEN}}

    def setUp(self):
        self.site = MemorySite(self, self.config)
        self.session = self.site.session

    def request(self, method, path, token=None, headers=None):
        headers = dict(headers or {})
        if token is not None:
            headers.update(bearer(token))
        # A wrong token's answer waits (fourcut.web.guesses).
        return self.site.guessed(method, path, headers)

    def assertRefused(self, response, wrong=False, what=""):
        check_refused(self, response, self.site.content(response), wrong, what)

    def assertNothingHappened(self):
        """
        The camera was not asked to do anything.
        """
        self.assertEqual([name for name, args in self.session.calls
                          if name != "demand_changed"], [])
        self.assertEqual(self.site.broadcaster.demand, 0)

    def capture_logs(self):
        """
        Every event logged from now on to the end of the test.
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        return events

    def stream(self, path, token=None, frames=5):
        """
        C{GET path} (a C{/preview} with a timeout of 1 s), C{frames} frames
        published while it runs; its response and its parts.
        """
        response = self.request("GET", path, token=token)
        self.assertEqual(response.code, 200, path)
        body = response.content()
        for n in range(frames):
            self.site.broadcaster.publish(small_jpeg(),
                                          self.site.clock.seconds())
            self.site.advance(0.1)
        self.site.advance(1)
        parts, closed = parse_multipart(self.successResultOf(body))
        self.assertTrue(closed)
        return response, parts

    def snapshot(self, path="/snapshot", token=None):
        """
        C{GET path}, a frame published once it waits; the JPEG's size.
        """
        headers = bearer(token) if token is not None else {}
        d = self.site.request("GET", path, headers)
        self.site.broadcaster.publish(small_jpeg((96, 64)),
                                      self.site.clock.seconds())
        self.site.flush()
        response = self.successResultOf(d)
        self.assertEqual(response.code, 200, path)
        return jpeg_size(self.site.content(response))


#: What a browser asks for: the page.
BROWSER = {"Accept": ["text/html,application/xhtml+xml,application/xml;"
                      "q=0.9,*/*;q=0.8"]}


class ProtectedHTTPTests(AccessTestCase):
    def test_without_token(self):
        for method, path in PROTECTED:
            self.assertRefused(self.request(method, path),
                               what=(method, path))
        # Another scheme is no token either.
        response = self.request(
            "GET", "/capture", headers={"Authorization": ["Basic Zm86YmFy"]})
        self.assertRefused(response)
        self.assertNothingHappened()

    def test_wrong_token(self):
        for method, path in PROTECTED:
            self.assertRefused(self.request(method, path, token=WRONG),
                               wrong=True, what=(method, path))
        # A prefix of the right token, or the right one with more after it.
        for token in (TOKEN[:-1], TOKEN + "x"):
            self.assertRefused(self.request("GET", "/status", token=token),
                               wrong=True)
        self.assertNothingHappened()

    def test_right_token(self):
        for method, path, code in WITH_TOKEN:
            response = self.request(method, path, token=TOKEN)
            self.assertEqual(response.code, code, (method, path))
            self.site.content(response)
        self.assertEqual(self.session.captures, 1)
        self.assertEqual(len(self.session.called("capture")), 1)
        self.assertEqual(self.session.called("command"), [(["--version"],)])
        self.assertEqual(len(self.session.called("reset")), 1)
        self.assertEqual(len(self.session.called("restart")), 1)
        # The scheme is case-insensitive, as HTTP says.
        response = self.request(
            "GET", "/status", headers={"Authorization": ["bearer " + TOKEN]})
        self.assertEqual(response.code, 200)
        self.assertEqual(self.site.json(response)["service"], "fourcut")

    def test_right_token_still_404_and_405(self):
        for method, path, code in [("GET", "/nosuch", 404),
                                   ("GET", "/camera/nosuch", 404),
                                   ("GET", "/camera/restart", 405),
                                   ("POST", "/capture", 405)]:
            response = self.request(method, path, token=TOKEN)
            self.assertEqual(response.code, code, (method, path))
            self.site.content(response)
        self.assertNothingHappened()

    def test_status_as_page_needs_token(self):
        """
        C{GET /} asked for JSON is C{/status}: protected, though the page
        itself is public.
        """
        json_accept = {"Accept": ["application/json"]}
        self.assertRefused(self.request("GET", "/", headers=json_accept))
        response = self.request("GET", "/", headers=json_accept, token=TOKEN)
        self.assertEqual(response.code, 200)
        self.assertEqual(self.site.json(response)["service"], "fourcut")
        # No Accept, or */* (curl, Node's fetch): the status, protected.
        for headers in ({}, {"Accept": ["*/*"]}):
            self.assertRefused(self.request("GET", "/", headers=headers))
        response = self.request("GET", "/", headers=BROWSER)
        self.assertEqual(response.code, 200)
        self.assertIn(b'<img src="/preview"', self.site.content(response))

    def test_options_needs_no_token(self):
        """
        C{OPTIONS} only says which methods a path takes.
        """
        response = self.request("OPTIONS", "/capture")
        self.assertEqual(response.code, 204)
        self.assertEqual(response.headers.getRawHeaders("allow"),
                         ["GET, OPTIONS"])
        self.assertNothingHappened()

    def test_booth_pages_are_open(self):
        for path in ("/booth", "/gallery"):
            response = self.request("GET", path)
            self.assertNotEqual(response.code, 401, path)
            self.site.content(response)


class PublicPreviewTests(AccessTestCase):
    def test_preview_without_token(self):
        response, parts = self.stream("/preview?timeout=1")
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["multipart/x-mixed-replace; boundary=frame"])
        self.assertEqual(len(parts), 5)
        self.assertEqual(jpeg_size(parts[-1][1]), (96, 64))
        self.assertEqual(self.snapshot(), (96, 64))

    def test_wrong_token_refused_even_where_none_is_needed(self):
        for path in ("/preview?token=" + WRONG, "/snapshot?token=" + WRONG):
            self.assertRefused(self.request("GET", path), wrong=True,
                               what=path)
        # Only live view reads the query.
        response = self.request("GET", "/health?token=ignored-here")
        self.assertEqual(response.code, 200)
        self.site.content(response)
        for path in ("/preview", "/snapshot", "/health", "/"):
            self.assertRefused(self.request("GET", path, token=WRONG),
                               wrong=True, what=path)
        self.assertEqual(self.site.broadcaster.demand, 0)

    def test_health_public_without_details(self):
        response = self.request("GET", "/health")
        self.assertEqual(response.code, 200)
        self.assertEqual(self.site.json(response),
                         {"status": "ok", "state": "idle"})
        self.session.unplug()
        self.site.status.probe_interval = 0
        response = self.request("GET", "/health")
        self.assertEqual(response.code, 503)
        health = self.site.json(response)
        self.assertEqual(health, {"status": "unhealthy", "state": "idle"})
        response = self.request("GET", "/health", token=TOKEN)
        self.assertEqual(response.code, 503)
        health = self.site.json(response)
        self.assertIn("Could not detect any camera", health["reason"])


class ProtectedPreviewTests(AccessTestCase):
    config = {"access": {"token": TOKEN}, "preview": {"public": False}}

    def test_without_token(self):
        for path in ("/preview?timeout=1", "/snapshot", "/",
                     # The query token is for GET /preview and /snapshot.
                     "/?token=" + TOKEN):
            self.assertRefused(self.request("GET", path), what=path)
            self.assertRefused(self.request("GET", path, headers=BROWSER),
                               what=path)
        self.assertRefused(self.request("POST", "/snapshot?token=" + TOKEN))
        self.assertRefused(self.request("GET", "/preview?token=" + WRONG),
                           wrong=True)
        self.assertNothingHappened()

    def test_token_in_query(self):
        response, parts = self.stream("/preview?timeout=1&token=" + TOKEN)
        self.assertEqual(len(parts), 5)
        self.assertEqual(jpeg_size(parts[-1][1]), (96, 64))
        # Decoded as twisted.web decodes the other parameters.
        for query in ("token=" + TOKEN, "%74oken=" + TOKEN,
                      "a=1&%74oken=" + TOKEN + ";b=2"):
            self.assertEqual(self.snapshot("/snapshot?" + query), (96, 64))

    def test_token_in_header(self):
        response, parts = self.stream("/preview?timeout=1", token=TOKEN)
        self.assertEqual(len(parts), 5)
        self.assertEqual(self.snapshot(token=TOKEN), (96, 64))
        response = self.request("GET", "/", token=TOKEN, headers=BROWSER)
        self.assertEqual(response.code, 200)
        self.site.content(response)

    def test_health_stays_public(self):
        response = self.request("GET", "/health")
        self.assertEqual(response.code, 200)
        self.assertEqual(self.site.json(response)["status"], "ok")

    def test_token_never_logged(self):
        """
        Failed attempts are logged with the peer and the path, and nothing
        logged (the access log included) holds the token or a value tried.
        """
        events = self.capture_logs()
        for path, token, code in [
                ("/capture", WRONG, 401),
                ("/status", TOKEN + "x", 401),
                ("/preview?token=" + WRONG, None, 401),
                ("/snapshot?token=" + TOKEN, None, 200),
                ("/snapshot?a=1&%74oken=" + TOKEN + ";b=2", None, 200)]:
            if code == 200:
                self.snapshot(path)
            else:
                response = self.request("GET", path, token=token)
                self.assertEqual(response.code, code, path)
                self.site.content(response)
        texts = [formatEvent(event) or "" for event in events]
        everything = texts + [repr(event) for event in events]
        for secret in (TOKEN, WRONG, TOKEN + "x", TOKEN[:12], WRONG[:12]):
            leaks = [text for text in everything if secret in text]
            self.assertEqual(leaks, [], secret)
        # Not vacuous: the refusals (a burst of wrong tokens is logged
        # once, by fourcut.web.guesses) and the access log were seen.
        self.assertTrue([t for t in texts if "127.0.0.1" in t
                         and "wrong token" in t])
        self.assertTrue([t for t in texts if '"GET /capture' in t
                         and '" 401 ' in t])
        self.assertEqual(len([t for t in texts if "GET /snapshot?" in t
                              and "oken=***" in t]), 2)


class RedactionTests(AccessTestCase):
    def test_token_absent_from_every_log(self):
        """
        The token in a path segment (as sent, or percent-encoded), in a
        query parameter of another name, in the Referer (its query or its
        path) and in the User-Agent: nothing logged holds it, the access
        log included.
        """
        events = self.capture_logs()
        encoded = "".join("%%%02X" % ord(c) for c in TOKEN[:6]) + TOKEN[6:]
        cases = [
            ("/photos/" + TOKEN, {}, None),
            ("/" + TOKEN + "/capture", {}, None),
            ("/photos/" + encoded + ".jpg", {}, None),
            ("/health", {"Referer": ["http://booth/preview?token=" + TOKEN
                                     + "&a=1"]}, 200),
            ("/health", {"Referer": ["http://booth/" + TOKEN + "/p"]}, 200),
            ("/health", {"User-Agent": ["kiosk/1 " + TOKEN]}, 200),
            ("/status", {"Referer": ["http://booth/x?%74oken=" + TOKEN]},
             200),
        ]
        for path, headers, code in cases:
            response = self.request("GET", path, headers=headers,
                                    token=TOKEN)
            if code is not None:
                self.assertEqual(response.code, code, path)
            self.site.content(response)
        self.assertEqual(self.snapshot("/snapshot?key=" + TOKEN), (96, 64))
        # And a refusal, which fourcut logs itself with the path.
        response = self.request("GET", "/capture/" + TOKEN)
        self.assertEqual(response.code, 401)
        self.site.content(response)
        texts = [formatEvent(event) or "" for event in events]
        everything = texts + [repr(event) for event in events]
        for secret in (TOKEN, TOKEN[6:], TOKEN[:-4]):
            leaks = [text for text in everything if secret in text]
            self.assertEqual(leaks, [], secret)
        # Not vacuous: each request is in the access log.
        access = [t for t in texts if '"GET /' in t]
        self.assertGreaterEqual(len(access), len(cases) + 2, access)
        self.assertTrue([t for t in access if '"GET /photos/*** ' in t])
        self.assertTrue([t for t in access if '"GET /***/capture ' in t])
        self.assertTrue([t for t in access if '"GET /snapshot?key=*** ' in t])
        self.assertTrue([t for t in access
                         if "http://booth/preview?token=***&a=1" in t])
        self.assertTrue([t for t in access if "http://booth/***/p" in t])
        self.assertTrue([t for t in access if '"kiosk/***"' in t])
        self.assertTrue([t for t in texts if "refused GET /capture/***" in t])


class NoTokenTests(AccessTestCase):
    config = None

    def test_everything_open(self):
        """
        With no token configured, any token sent is accepted.
        """
        for method, path, code in WITH_TOKEN:
            response = self.request(method, path, token=WRONG)
            self.assertEqual(response.code, code, (method, path))
            self.site.content(response)
        response = self.request("GET", "/status")
        self.assertEqual(response.code, 200)
        self.site.content(response)


class RefusalWordsTests(AccessTestCase):
    """
    Each refusal's answer and log line, word for word, with the path as
    the log shows it (no query, the token masked, short and printable).
    """

    def setUp(self):
        AccessTestCase.setUp(self)
        self.logged = Logged(self)

    def test_no_token(self):
        response = self.request("GET", "/capture")
        self.assertEqual(self.site.content(response), b"fourcut: a token is "
                         b"required: send the header 'Authorization: Bearer "
                         b"TOKEN'\n")
        response = self.request("DELETE", "/status?token=")
        self.assertEqual(json.loads(self.site.content(response)), {
            "status": 401, "error": "fourcut: a token is required: send the "
            "header 'Authorization: Bearer TOKEN'"})
        self.assertEqual([line for line in self.logged.lines()
                          if "refused" in line[1]], [
            ("info", "refused GET /capture from PEER: no token"),
            ("info", "refused DELETE /status from PEER: no token")])

    def test_wrong_token(self):
        response = self.request("GET", "/capture/" + TOKEN + "/x",
                                token=WRONG)
        self.assertEqual(self.site.content(response),
                         b"fourcut: the token is wrong\n")
        self.assertEqual(response.headers.getRawHeaders("www-authenticate"),
                         ['Bearer realm="fourcut", error="invalid_token"'])
        # Logged once per burst by the guessing throttle
        # (fourcut.web.guesses), without the path (it may hold a token).
        self.assertEqual([line for line in self.logged.lines()
                          if "wrong token" in line[1]], [
            ("warn", "HTTP: wrong token from 127.0.0.1; further wrong tokens "
             "from it are answered ever more slowly (up to 10 s) and "
             "summarised when they stop")])

    def test_path_shown_short_and_printable(self):
        path = "/a%01b/" + "x" * 300
        response = self.request("GET", path)
        self.site.content(response)
        (level, text), = [line for line in self.logged.lines()
                          if "refused" in line[1]]
        self.assertEqual(text, "refused GET " + ("/a%01b/" + "x" * 300)[:200]
                         + " from PEER: no token")
        # twisted.web refuses such bytes in a request line today; the log
        # would still show them escaped.
        request = DummyRequest([b""])
        request.path = b"/\x01\xff/x"
        self.assertEqual(access._shown_path(request, AccessPolicy(TOKEN)),
                         "/?\\xff/x")


class PeerTests(SynchronousTestCase):
    """
    How the log names a client: C{host:port}, C{host:?} without a port,
    the address itself without a host (a UNIX socket).
    """

    def request(self, address):
        request = DummyRequest([b""])
        request.client = address
        return request

    def test_peer(self):
        self.assertEqual(access._peer(self.request(
            IPv4Address("TCP", "10.1.2.3", 4567))), "10.1.2.3:4567")
        self.assertEqual(access._peer(self.request(
            UNIXAddress("/run/fourcut.sock"))),
            str(UNIXAddress("/run/fourcut.sock")))

        class HostOnly:
            host = "h"

        self.assertEqual(access._peer(self.request(HostOnly())), "h:?")


class TokenParsingTests(SynchronousTestCase):
    """
    Where a request's token is read from, decoded as twisted.web decodes
    a query: the last C{token} parameter (its value may hold C{=}, C{+}
    is a space, percent-escapes are decoded), or C{Authorization: Bearer}.
    """

    def request(self, uri, authorization=None):
        request = DummyRequest([b""])
        request.uri = uri
        if authorization is not None:
            request.requestHeaders.setRawHeaders(b"authorization",
                                                 [authorization])
        return request

    def test_query(self):
        for uri, token in [
                (b"/x?token=a=b", b"a=b"),
                (b"/x?a=1&token=one;token=two", b"two"),
                (b"/x?tok%65n=a+b%2B", b"a b+"),
                (b"/x?to+ken=a&token=b", b"b"),
                (b"/x?token=T&b=?c", b"T"),
                (b"/x?token=", None), (b"/x?token", None), (b"/x", None),
                (b"/x?a=1", None)]:
            self.assertEqual(access.supplied_token(self.request(uri),
                                                   query=True), token, uri)
        self.assertEqual(access._query_values(b"/?to%20ken=1&to+ken=2",
                                              b"to ken"), [b"1", b"2"])
        self.assertIsNone(access.supplied_token(self.request(
            b"/x?token=T")))

    def test_bearer(self):
        for header, token in [
                (b"Bearer abc", b"abc"), (b"bearer  abc ", b"abc"),
                (b"Bearer a b", b"a b"), (b"Basic abc", None),
                (b"Bearerabc", None)]:
            self.assertEqual(access.supplied_token(
                self.request(b"/x?token=q", header)), token, header)
        self.assertEqual(access.supplied_token(
            self.request(b"/x?token=q", b"Basic abc"), query=True), b"q")

    def test_check(self):
        policy = AccessPolicy(TOKEN)
        self.assertTrue(policy.check(TOKEN))
        self.assertTrue(policy.check(TOKEN.encode()))
        for wrong in (None, "", WRONG, "\ud800", TOKEN + "\ud800"):
            self.assertFalse(policy.check(wrong), repr(wrong))
        self.assertTrue(AccessPolicy(None).check(None))


class ReprTests(SynchronousTestCase):
    def test_policy_repr_hides_the_token(self):
        self.assertEqual(repr(AccessPolicy(TOKEN, True)),
                         "<AccessPolicy token=set preview_public=True>")
        self.assertEqual(repr(AccessPolicy(None, False)),
                         "<AccessPolicy token=none preview_public=False>")

    def test_guard_renders_its_root(self):
        """
        The root itself (C{/}, no child) is its wrapped root's answer,
        unguarded: what needs a token is decided per child.
        """
        class Root:
            def render(self, request):
                return b"the page"

        guard = access.Guard(Root(), AccessPolicy(TOKEN))
        self.assertEqual(guard.render(DummyRequest([b""])), b"the page")


class UnitTests(SynchronousTestCase):
    """
    The guard's pieces one at a time (issue 26's mutation run): what the
    whole-site tests above do not reach.
    """

    def test_guard_passes_the_request_on(self):
        """
        An allowed request reaches the root's child and the root's
        C{render} with the request itself.
        """
        seen = []

        class Root:
            def getChildWithDefault(self, name, request):
                seen.append((name, request))
                return "child"

            def render(self, request):
                seen.append((None, request))
                return b"the page"

        guard = access.Guard(Root(), AccessPolicy(TOKEN))
        request = DummyRequest([b"health"])
        request.channel = None
        self.assertEqual(guard.getChildWithDefault(b"health", request),
                         "child")
        self.assertEqual(guard.render(request), b"the page")
        self.assertEqual(seen, [(b"health", request), (None, request)])

    def test_wrong_token_without_throttle(self):
        """
        Without a guessing throttle a wrong token is refused at once and
        logged with its method, path (token masked) and peer.
        """
        logged = Logged(self)
        policy = AccessPolicy(TOKEN)
        request = DummyRequest([b"capture"])
        request.method = b"DELETE"
        request.path = b"/capture/" + TOKEN.encode("ascii")
        request.client = IPv4Address("TCP", "192.0.2.7", 4321)
        refusal = access.Unauthorized(access.WRONG, policy)
        refusal.render(request)
        self.assertEqual(request.responseCode, 401)
        self.assertEqual(
            request.responseHeaders.getRawHeaders(b"www-authenticate"),
            [b'Bearer realm="fourcut", error="invalid_token"'])
        self.assertEqual(b"".join(request.written),
                         b"fourcut: the token is wrong\n")
        self.assertEqual(logged.lines(), [
            ("warn", "refused DELETE /capture/" + "*" * 3 + " from "
             "192.0.2.7:4321: wrong token")])

    def test_shown_header_text(self):
        """
        A text value is shown as its UTF-8 bytes would be, a byte that
        did not decode (a surrogate escape) as that byte.
        """
        policy = AccessPolicy(TOKEN)
        self.assertEqual(access.shown_header("/caf\xe9/\udcff", policy),
                         "/caf\\xc3\\xa9/\\xff")
        self.assertEqual(access.shown_header("a\tb", policy, 2), "a?")

    def test_query_token_by_head_too(self):
        """
        Live view takes the query token on C{HEAD} as on C{GET}; a path
        that is not live view or the WebSocket takes none; without a
        configured token every request proves it.
        """
        policy = AccessPolicy(TOKEN)
        request = DummyRequest([b"preview"])
        request.method = b"HEAD"
        request.uri = b"/preview?token=" + TOKEN.encode("ascii")
        self.assertIsNone(policy.verdict(b"preview", request))
        self.assertTrue(policy.proves(b"preview", request))
        request.uri = b"/status?token=" + TOKEN.encode("ascii")
        request.method = b"GET"
        self.assertFalse(policy.proves(b"status", request))
        self.assertTrue(AccessPolicy(None).proves(b"status", request))

    def test_redact_semicolon_pairs(self):
        """
        A C{;} separates query pairs, as for twisted.web's C{parse_qs}.
        """
        self.assertEqual(access.redact_uri(b"/preview?a=1;token=s3cret&b=2"),
                         b"/preview?a=1;token=***&b=2")

    def test_access_log_line_keeps_its_time(self):
        request = DummyRequest([b"preview"])
        request.uri = b"/preview?token=" + TOKEN.encode("ascii")
        request.client = IPv4Address("TCP", "192.0.2.7", 4321)
        request.code = 200
        request.sentLength = 5
        line = access.redacting_log_formatter(AccessPolicy(TOKEN))(
            "07/Dec/2026:20:15:00 +0000", request)
        self.assertEqual(line, '"192.0.2.7" - - 07/Dec/2026:20:15:00 +0000 '
                         '"GET /preview?token=*** HTTP/1.0" 200 5 "-" "-"')
        self.assertNotIn(TOKEN, line)

    def throttled(self, address):
        waits = []
        cancelled = []

        class Throttle:
            def wait(self, host):
                waits.append(host)
                return defer.Deferred(cancelled.append)

        request = DummyRequest([b"capture"])
        request.client = address
        refusal = access.Unauthorized(access.WRONG, AccessPolicy(TOKEN),
                                      Throttle())
        refusal.render(request)
        return request, waits, cancelled

    def test_throttled_peer_without_host(self):
        """
        A wrong token from a Unix socket peer (no host) is throttled as
        the address C{None}; its answer, when released, is the 401.
        """
        request, waits, cancelled = self.throttled(UNIXAddress(b"/s"))
        self.assertEqual(waits, [None])
        self.assertEqual(request.written, [])

    def test_throttled_answer_dropped_with_its_connection(self):
        """
        A client that goes while its answer is held back cancels the
        wait: nothing is written to it, and no error is left over.
        """
        request, waits, cancelled = self.throttled(
            IPv4Address("TCP", "192.0.2.7", 4321))
        request.processingFailed(Failure(ConnectionDone()))
        self.assertEqual(len(cancelled), 1)
        self.assertEqual(request.written, [])


class BodyLimitUnitTests(SynchronousTestCase):
    """
    L{access.BodyLimit}'s buffering and Content-Type check, on a request
    of its own.
    """

    def request(self, max_body):
        factory = access.limit_bodies(server.Request, max_body)
        channel = DummyChannel()
        channel.site = server.Site(resource.Resource())
        return factory(channel)

    def test_length_at_limit_buffered_as_twisted_would(self):
        """
        A body of exactly the limit is accepted, and buffered as
        twisted.web buffers that length (a file over 100 kB).
        """
        request = self.request(200000)
        request.gotLength(200000)
        self.assertFalse(request._body_refused)
        self.assertNotIsInstance(request.content, io.BytesIO)
        request.content.close()

    def test_refused_length_buffers_nothing(self):
        """
        A refused length gets no temporary file made for it.
        """
        request = self.request(10)
        clock = Clock()
        request.channel.callLater = clock.callLater
        request.gotLength(10 ** 9)
        self.assertTrue(request._body_refused)
        self.assertIsInstance(request.content, io.BytesIO)
        # The connection is closed after the linger, or its loss ends
        # the lingering: no timer is left behind.
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        request.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_unreadable_content_type(self):
        """
        A Content-Type that splits into lines is dropped, and logged; an
        ordinary one stays.
        """
        logged = Logged(self)
        request = self.request(100)
        request.requestHeaders.setRawHeaders(b"content-type",
                                             [b"text/plain"])
        request._drop_unparseable_content_type()
        self.assertEqual(request.requestHeaders.getRawHeaders(
            b"content-type"), [b"text/plain"])
        self.assertEqual(logged.lines(), [])
        request.requestHeaders.setRawHeaders(b"content-type",
                                             [b"text/plain\x0bx"])
        request._drop_unparseable_content_type()
        self.assertFalse(request.requestHeaders.hasHeader(b"content-type"))
        self.assertEqual(logged.lines(peer=r"192\.168\.1\.1:\d+"), [
            ("info", "ignored an unreadable Content-Type from PEER")])

    def test_redact_token_with_a_space(self):
        """
        A token may hold a space, which a query may send as C{+}: that
        is the token too, and masked.
        """
        policy = AccessPolicy("a secret of sixteen+")
        self.assertEqual(policy.redact(b"/photos?q=a+secret+of+sixteen%2B"),
                         b"/photos?q=***")
