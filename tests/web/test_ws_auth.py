"""
Who may talk to fourcut's WebSocket side (L{fourcut.web.ws}), in memory:
the token in the handshake or in an C{auth} message, what a client may do
before it has proved it, the authentication timeout, C{max_clients} for
authenticated clients only, and the C{Origin} check
(L{tests.support.wsmemory}).
"""

import json
import re

from autobahn.twisted import util as autobahn_util
from autobahn.twisted import websocket as autobahn_websocket
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.testing import StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from fourcut.web.access import AccessPolicy
from fourcut.web.cors import CORSPolicy
from fourcut.web.guesses import CAP, GuessThrottle
from fourcut.web.ws.auth import (MAX_AUTH_FAILURES, handshake_token,
                                 own_origins)
from fourcut.web.ws.hub import AUTH_TIMEOUT

from tests.support.access import PROTECTED_TYPES, TOKEN, WRONG
from tests.support.wsmemory import WebSocketSite

#: Requests that need the token, whatever C{preview.public} says.
PROTECTED = PROTECTED_TYPES + [{"type": "capture_sequence"}]


class AccessTestCase(SynchronousTestCase):
    """
    A L{WebSocketSite} with the token L{TOKEN} and live view public, or
    not (L{preview_public}).
    """

    preview_public = True
    options = {}

    def setUp(self):
        self.server = WebSocketSite(
            self, access=AccessPolicy(TOKEN, self.preview_public),
            **self.options)
        self.session = self.server.session
        self.hub = self.server.hub
        self.clock = self.server.clock

    def open(self, path="/ws", headers=None):
        return self.server.open(path, headers)

    def assertRefused(self, client, status, text):
        self.assertEqual(client.status, status, client.head)
        self.assertEqual(json.loads(client.body),
                         {"error": text, "status": status})
        self.assertTrue(client.lost)
        self.assertNotIn(client.protocol, self.hub.clients)


class PublicPreviewTests(AccessTestCase):
    def test_connected_without_token(self):
        """
        C{connected} says what the client must do; no C{camera_info} for
        a client that may not read it.
        """
        client = self.open()
        self.assertEqual(client.messages, [{
            "type": "connected", "version": client.messages[0]["version"],
            "server": "fourcut", "auth_required": True,
            "authenticated": False, "preview_public": True}])

    def test_protected_types_before_auth(self):
        client = self.open()
        for n, message in enumerate(PROTECTED):
            reply = client.reply(dict(message, requestId=n))
            self.assertEqual(reply, {"type": "error",
                                     "error": "authentication required",
                                     "code": 401, "requestId": n})
        self.assertEqual(self.session.calls, [])

    def test_start_preview_public(self):
        client = self.open()
        reply = client.reply({"type": "start_preview", "requestId": 1,
                              "format": "binary"})
        self.assertEqual(reply["type"], "preview_started")
        self.server.publish(b"frame")
        self.assertEqual(client.frames, [b"frame"])
        reply = client.reply({"type": "stop_preview", "requestId": 2})
        self.assertEqual(reply["type"], "preview_stopped")

    def test_auth_message(self):
        client = self.open()
        reply = client.reply({"type": "auth", "token": TOKEN,
                              "requestId": "a"})
        self.assertEqual(reply, {"type": "authenticated", "requestId": "a"})
        self.assertEqual(client.messages[-1]["type"], "camera_info")
        self.session.answers.update(get_setting={"value": "100"},
                                    set_setting={"value": "800"},
                                    capture=("a.jpg", "/a.jpg", b"a"))
        for n, message in enumerate(PROTECTED_TYPES):
            reply = client.reply(dict(message, requestId=n))
            self.assertNotEqual(reply["type"], "error", reply)

    def test_wrong_auth_message(self):
        client = self.open()
        for n, token in enumerate([WRONG, "", 5]):
            reply = client.reply({"type": "auth", "token": token,
                                  "requestId": n})
            self.assertEqual(reply["code"], 401)
            if n == 2:
                break
        self.assertEqual(client.find(0)["error"], "the token is wrong")
        self.assertEqual(client.find(1)["error"],
                         "'token' must be a non-empty string")

    def test_wrong_then_right(self):
        client = self.open()
        client.reply({"type": "auth", "token": WRONG, "requestId": 0})
        reply = client.reply({"type": "get_camera_info", "requestId": "i"})
        self.assertEqual(reply["error"], "authentication required")
        reply = client.reply({"type": "auth", "token": TOKEN,
                              "requestId": "ok"})
        self.assertEqual(reply["type"], "authenticated")

    def test_three_failures_close(self):
        client = self.open()
        for n in range(MAX_AUTH_FAILURES):
            client.send({"type": "auth", "token": WRONG, "requestId": n})
        self.assertEqual(client.close_code, 3000)
        self.assertIn("authentication", client.close_reason)
        self.assertEqual([m["requestId"] for m in client.of_type("error")],
                         [0, 1, 2])
        self.assertTrue(client.lost)
        self.assertEqual(self.hub.clients, set())

    def test_token_in_url(self):
        client = self.open("/ws?token=" + TOKEN)
        connected, info = client.messages
        self.assertTrue(connected["authenticated"])
        self.assertEqual(info["type"], "camera_info")
        self.assertEqual(client.reply({"type": "get_camera_info",
                                       "requestId": 1})["type"],
                         "camera_info")

    def test_last_token_in_url_counts(self):
        client = self.open("/ws?token=" + WRONG + "&token=" + TOKEN)
        self.assertTrue(client.messages[0]["authenticated"])

    def test_wrong_token_in_url(self):
        for path in ("/ws?token=" + WRONG, "/ws?token=" + TOKEN[:-1]):
            self.assertRefused(self.server.connect(path), 401,
                               "the token is wrong")

    def test_token_in_header(self):
        client = self.open(headers={"Authorization": "Bearer " + TOKEN})
        self.assertTrue(client.messages[0]["authenticated"])
        self.assertRefused(
            self.server.connect(headers={"Authorization": "Bearer " + WRONG}),
            401, "the token is wrong")

    def test_other_scheme_is_no_token(self):
        client = self.open(headers={"Authorization": "Basic Zm86YmFy"})
        self.assertFalse(client.messages[0]["authenticated"])

    def test_token_never_logged(self):
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        self.server.connect("/ws?token=" + WRONG)
        client = self.open()
        client.reply({"type": "auth", "token": WRONG, "requestId": 1})
        texts = [formatEvent(event) or "" for event in events]
        everything = texts + [repr(event) for event in events]
        for secret in (TOKEN, WRONG, TOKEN[:12], WRONG[:12]):
            self.assertEqual([t for t in everything if secret in t], [],
                             secret)
        self.assertEqual(len([t for t in texts if "WebSocket" in t
                              and "wrong token" in t]), 2)

    def test_camera_status_reaches_viewers(self):
        """
        With public live view, a viewer without the token hears the
        camera's state as the owner does, and the owner's capture is
        answered.
        """
        viewer = self.open()
        owner = self.open("/ws?token=" + TOKEN)
        self.session.answers["capture"] = ("a.jpg", "/photos/a.jpg", b"J")
        owner.send({"type": "capture_photo", "requestId": 1})
        self.hub.state_changed("capturing", None)
        status = {"type": "camera_status", "state": "capturing",
                  "error": None}
        self.assertEqual(viewer.of_type("camera_status"), [status])
        self.assertEqual(owner.of_type("camera_status"), [status])
        self.assertEqual(owner.find(1)["type"], "photo_captured")
        self.hub.state_changed("error", "no camera")
        self.assertEqual(viewer.messages[-1], {
            "type": "camera_status", "state": "error",
            "error": "no camera"})

    def test_auth_timeout_unless_watching(self):
        """
        With public live view, a client that neither authenticates nor
        watches is closed after C{auth_timeout}; one that watches is not,
        until it stops watching for that long.
        """
        idle, watcher = self.open(), self.open()
        watcher.reply({"type": "start_preview", "requestId": 1})
        self.clock.advance(AUTH_TIMEOUT)
        self.assertEqual(idle.close_code, 3008)
        self.assertIsNone(watcher.close_code)
        self.clock.advance(AUTH_TIMEOUT * 3)
        self.assertIsNone(watcher.close_code)
        watcher.reply({"type": "stop_preview", "requestId": 2})
        self.clock.advance(AUTH_TIMEOUT - 0.5)
        self.assertIsNone(watcher.close_code)
        self.clock.advance(0.5)
        self.assertEqual(watcher.close_code, 3008)


class ProtectedPreviewTests(AccessTestCase):
    preview_public = False

    def test_start_preview_needs_token(self):
        client = self.open()
        self.assertFalse(client.messages[0]["preview_public"])
        for kind in ("start_preview", "stop_preview"):
            reply = client.reply({"type": kind, "requestId": kind})
            self.assertEqual(reply["code"], 401)
        self.assertEqual(self.server.broadcaster.demand, 0)
        client.reply({"type": "auth", "token": TOKEN, "requestId": 1})
        reply = client.reply({"type": "start_preview", "requestId": 2,
                              "format": "binary"})
        self.assertEqual(reply["type"], "preview_started")

    def test_no_camera_status_before_auth(self):
        anonymous = self.open()
        owner = self.open("/ws?token=" + TOKEN)
        self.hub.state_changed("capturing", None)
        self.assertEqual(owner.messages[-1]["type"], "camera_status")
        self.assertEqual(anonymous.types, ["connected"])

    def test_auth_timeout(self):
        """
        A client that has not authenticated within C{auth_timeout} is
        closed (3008); those that did, by the URL or by a message, stay.
        """
        anonymous = self.open()
        owner = self.open("/ws?token=" + TOKEN)
        late = self.open()
        self.clock.advance(AUTH_TIMEOUT - 1)
        late.reply({"type": "auth", "token": TOKEN, "requestId": 1})
        self.clock.advance(1)
        self.assertEqual(anonymous.close_code, 3008)
        self.assertEqual(anonymous.close_reason, "authentication timeout")
        self.assertTrue(anonymous.lost)
        self.clock.advance(AUTH_TIMEOUT)
        for client in (owner, late):
            self.assertIsNone(client.close_code)
            self.assertEqual(client.reply({"type": "get_camera_info",
                                           "requestId": "still"})["type"],
                             "camera_info")


class ClientLimitTests(AccessTestCase):
    options = {"max_clients": 1}

    def test_only_authenticated_clients_count(self):
        """
        C{max_clients} bounds authenticated clients: anonymous ones still
        connect, but one that authenticates when the place is taken is
        refused (503) and closed with 1013, "try again later".
        """
        self.open("/ws?token=" + TOKEN)
        self.assertRefused(self.server.connect("/ws?token=" + TOKEN), 503,
                           "too many WebSocket clients (the limit is 1)")
        anonymous = self.open()
        reply = anonymous.reply({"type": "auth", "token": TOKEN,
                                 "requestId": 1})
        self.assertEqual(reply["code"], 503)
        self.assertEqual(anonymous.close_code, 1013)
        self.assertEqual(self.hub.authenticated_clients(), 1)


class NoTokenTests(SynchronousTestCase):
    def test_everything_open(self):
        server = WebSocketSite(self)
        client = server.open("/ws?token=anything")
        connected = client.messages[0]
        self.assertFalse(connected["auth_required"])
        self.assertTrue(connected["authenticated"])
        reply = client.reply({"type": "auth", "token": "x", "requestId": 1})
        self.assertEqual(reply["type"], "authenticated")
        server.clock.advance(AUTH_TIMEOUT * 2)
        self.assertIsNone(client.close_code)


class OriginTests(SynchronousTestCase):
    """
    A browser page of another site may connect only if
    C{server.cors_origins} lists it. (Same origin over TLS, C{wss://},
    is L{tests.integration.test_access}'s: Autobahn asks a TLS transport
    for its channel binding.)
    """

    def setUp(self):
        self.server = WebSocketSite(
            self, cors=CORSPolicy(["https://booth.example"]))

    def test_no_origin(self):
        """
        No C{Origin}: no browser.
        """
        self.server.open()

    def test_same_origin(self):
        self.server.open(headers={"Origin": "http://127.0.0.1:8080"})

    def test_listed(self):
        self.server.open(headers={"Origin": "https://booth.example"})

    def test_refused(self):
        for origin in ("https://evil.example", "null",
                       "http://127.0.0.1:8081", "http://booth.example"):
            client = self.server.connect(headers={"Origin": origin})
            self.assertEqual(client.status, 403, origin)
            self.assertEqual(json.loads(client.body), {
                "error": "origin %s is not allowed: add it to "
                         "server.cors_origins in the config file" % (origin,),
                "status": 403})
        self.assertEqual(self.server.hub.clients, set())

    def test_default_refuses_every_other_origin(self):
        server = WebSocketSite(self)
        self.assertEqual(server.connect(
            headers={"Origin": "https://booth.example"}).status, 403)
        server.open(headers={"Origin": "http://127.0.0.1:8080"})


class OwnOriginsTests(SynchronousTestCase):
    """
    The origins of the pages fourcut served over a connection, by the
    address it came in on.
    """

    def test_addresses(self):
        for address, secure, origins in [
                (IPv4Address("TCP", "192.0.2.1", 8080), False,
                 {"http://192.0.2.1:8080"}),
                (IPv4Address("TCP", "192.0.2.1", 8443), True,
                 {"https://192.0.2.1:8443"}),
                (IPv4Address("TCP", "127.0.0.1", 8080), False,
                 {"http://127.0.0.1:8080", "http://localhost:8080"}),
                (IPv6Address("TCP", "::1", 8080), False,
                 {"http://[::1]:8080", "http://localhost:8080"}),
                (IPv6Address("TCP", "2001:db8::1", 8080), True,
                 {"https://[2001:db8::1]:8080"}),
                (UNIXAddress(b"/run/fourcut.sock"), False, set())]:
            self.assertEqual(own_origins(address, secure), origins, address)


@implementer(ISSLTransport)
class TLSTransport(StringTransport):
    """
    The server's end of a C{wss://} connection, as far as the origin check
    asks.
    """

    def setTcpNoDelay(self, enabled):
        pass

    def getPeerCertificate(self):
        return None

    def get_channel_binding(self, cb_type="tls-unique"):
        return None


class SecureOriginTests(SynchronousTestCase):
    """
    Over TLS, a page fourcut served has an C{https} origin. (Autobahn
    asks a real TLS connection for its channel binding, which is not what
    is checked here: none, on this one.)
    """

    def setUp(self):
        for module in (autobahn_util, autobahn_websocket):
            self.patch(module, "transport_channel_id",
                       lambda transport, is_server, channel_id_type=None:
                       None)

    def transport(self):
        return TLSTransport(
            hostAddress=IPv4Address("TCP", "127.0.0.1", 8443),
            peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))

    def test_without_token(self):
        server = WebSocketSite(self)
        server.open(headers={"Origin": "https://127.0.0.1:8443",
                             "Host": "127.0.0.1:8443"},
                    transport=self.transport())
        client = server.connect(headers={"Origin": "http://127.0.0.1:8443",
                                         "Host": "127.0.0.1:8443"},
                                transport=self.transport())
        self.assertEqual(client.status, 403)

    def test_with_token(self):
        """
        With a token, the page's host is the C{Host} it asked for.
        """
        server = WebSocketSite(self, access=AccessPolicy(TOKEN))
        server.open("/ws?token=" + TOKEN,
                    headers={"Origin": "https://booth.local:8443",
                             "Host": "booth.local:8443"},
                    transport=self.transport())
        for origin in ("http://booth.local:8443", "https://other:8443"):
            client = server.connect(
                "/ws?token=" + TOKEN,
                headers={"Origin": origin, "Host": "booth.local:8443"},
                transport=self.transport())
            self.assertEqual(client.status, 403, origin)

    def test_plain_with_token(self):
        server = WebSocketSite(self, access=AccessPolicy(TOKEN))
        server.open("/ws?token=" + TOKEN,
                    headers={"Origin": "http://booth.local:8080",
                             "Host": "booth.local:8080"})

    def test_long_origin_shown_short(self):
        server = WebSocketSite(self)
        origin = "https://" + "a" * 200 + ".example"
        client = server.connect(headers={"Origin": origin})
        self.assertEqual(client.status, 403)
        self.assertEqual(json.loads(client.body)["error"],
                         "origin %s is not allowed: add it to "
                         "server.cors_origins in the config file"
                         % (origin[:100],))


class GuessedTokenTests(SynchronousTestCase):
    """
    Wrong tokens over the WebSocket wait as over HTTP (L{GuessThrottle}),
    counted by the client's address and logged as the WebSocket's.
    """

    def setUp(self):
        self.throttle = GuessThrottle(None)
        self.server = WebSocketSite(self, access=AccessPolicy(TOKEN),
                                    guesses=self.throttle)
        self.throttle.clock = self.server.clock
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver,
                        self.events.append)

    def said(self):
        return [formatEvent(e) for e in self.events
                if e.get("log_namespace") == "fourcut.web.guesses"]

    def test_handshake(self):
        client = self.server.connect("/ws?token=" + WRONG)
        self.assertIsNone(client.status)
        self.server.clock.advance(CAP)
        self.assertEqual(client.status, 401)
        self.assertEqual(self.said(), [
            "WebSocket: wrong token from 127.0.0.1; further wrong tokens "
            "from it are answered ever more slowly (up to %g s) and "
            "summarised when they stop" % (CAP,)])
        self.assertEqual(self.throttle.failures("127.0.0.1"), 1)

    def test_auth_message(self):
        client = self.server.open()
        client.send({"type": "auth", "token": WRONG, "requestId": 1})
        self.server.clock.advance(CAP)
        self.assertEqual(client.find(1)["error"], "the token is wrong")
        self.assertEqual(self.said(), [
            "WebSocket: wrong token from 127.0.0.1; further wrong tokens "
            "from it are answered ever more slowly (up to %g s) and "
            "summarised when they stop" % (CAP,)])

    def test_unix_peer(self):
        """
        A client on a Unix socket has no host: its wrong tokens are
        counted together.
        """
        def transport():
            return StringTransport(
                hostAddress=UNIXAddress(b"/run/fourcut.sock"),
                peerAddress=UNIXAddress(b""))
        client = self.server.connect("/ws?token=" + WRONG,
                                     transport=transport())
        self.server.clock.advance(CAP)
        self.assertEqual(client.status, 401)
        client = self.server.open(transport=transport())
        client.send({"type": "auth", "token": WRONG, "requestId": 1})
        self.server.clock.advance(CAP)
        self.assertEqual(client.find(1)["error"], "the token is wrong")
        self.assertEqual(self.throttle.failures(None), 2)


class AccessLogTests(AccessTestCase):
    """
    What the log says of each refusal and timeout, word for word: the
    operator's only view of who was turned away and why.
    """

    options = {"max_clients": 1}

    def setUp(self):
        AccessTestCase.setUp(self)
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver,
                        self.events.append)

    def said(self):
        """
        The fourcut WebSocket lines logged since the last call, with the
        peer's address as PEER.
        """
        lines = []
        for event in self.events:
            text = formatEvent(event)
            if event.get("log_namespace", "").startswith("fourcut.") \
                    and "WebSocket" in text:
                lines.append((event["log_level"].name,
                              re.sub(r"tcp4?:127\.0\.0\.1:\d+", "PEER",
                                     text)))
        self.events.clear()
        return lines

    def test_handshake_refusals(self):
        self.server.connect("/ws?token=" + WRONG)
        self.assertEqual(self.said(), [
            ("warn", "refused a WebSocket client from PEER: wrong token")])
        self.open("/ws?token=" + TOKEN)
        refused = self.server.connect("/ws?token=" + TOKEN)
        self.assertEqual(refused.status, 503)
        self.assertEqual(self.said(), [
            ("warn", "refused a WebSocket client from PEER: 1 connected "
             "already")])
        self.server.connect(headers={"Origin": "https://evil.example"})
        self.assertEqual(self.said(), [
            ("warn", "refused a WebSocket client from PEER: origin "
             "https://evil.example is not allowed: add it to "
             "server.cors_origins in the config file")])

    def test_auth_message_refusals(self):
        """
        A wrong token, no token, and the right one when the place is
        taken: the replies, the log lines, and the close that follows.
        """
        client = self.open()
        reply = client.reply({"type": "auth", "token": WRONG,
                              "requestId": 1})
        self.assertEqual(reply, {"type": "error", "requestId": 1,
                                 "code": 401,
                                 "error": "the token is wrong"})
        for token in (None, 3):
            reply = client.reply({"type": "auth", "token": token,
                                  "requestId": 2})
            self.assertEqual(reply["error"],
                             "'token' must be a non-empty string")
            client.messages.clear()
        self.assertEqual(self.said(), [
            ("warn", "WebSocket client PEER: wrong token (1 of 3)"),
            ("warn", "WebSocket client PEER: no token (2 of 3)"),
            ("warn", "WebSocket client PEER: no token (3 of 3)")])
        self.assertEqual(client.close_code, 3000)
        self.assertEqual(client.close_reason,
                         "too many failed authentication attempts")
        self.assertEqual(client.protocol.auth_failures, 3)

        self.open("/ws?token=" + TOKEN)
        late = self.open()
        late.send({"type": "start_preview", "requestId": "p"})
        self.assertEqual(self.server.broadcaster.demand, 1)
        reply = late.reply({"type": "auth", "token": TOKEN,
                            "requestId": 9})
        self.assertEqual(reply, {"type": "error", "requestId": 9,
                                 "code": 503, "error": "too many WebSocket "
                                 "clients (the limit is 1)"})
        self.assertEqual(late.close_code, 1013)
        self.assertEqual(late.close_reason, "too many clients")
        self.assertEqual(self.server.broadcaster.demand, 0)
        self.assertFalse(late.protocol.authenticated)
        self.assertEqual(self.said(), [
            ("warn", "WebSocket client PEER: authenticated, but 1 clients "
             "are already")])

    def test_authenticated(self):
        """
        The right token: C{authenticated}, then the camera's info.
        """
        client = self.open()
        reply = client.reply({"type": "auth", "token": TOKEN,
                              "requestId": 4})
        self.assertEqual(reply, {"type": "authenticated", "requestId": 4})
        self.assertEqual(client.messages[-1], {
            "type": "camera_info",
            "data": self.server.status.camera_info()})
        self.assertTrue(client.protocol.authenticated)
        self.assertEqual(self.said(), [])

    def test_timeout_logged(self):
        client = self.open()
        self.clock.advance(AUTH_TIMEOUT)
        self.assertEqual(client.close_code, 3008)
        self.assertEqual(self.said(), [
            ("info", "WebSocket client PEER: no authentication within "
             "%s s" % (AUTH_TIMEOUT,))])


class HandshakeTokenTests(SynchronousTestCase):
    def test_bearer_with_a_space(self):
        """
        C{Authorization: Bearer a b} presents C{a b} (a wrong token), not
        no token.
        """
        class Request:
            params = {}
            headers = {"authorization": "Bearer a b"}

        self.assertEqual(handshake_token(Request()), "a b")
        Request.headers = {"authorization": "Basic a"}
        self.assertIsNone(handshake_token(Request()))
        Request.params = {"token": ["x", ""]}
        self.assertIsNone(handshake_token(Request()))
        Request.params = {"token": ["", "y"]}
        self.assertEqual(handshake_token(Request()), "y")
