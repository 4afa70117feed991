"""
Access control over the WebSocket, and TLS, over a real listening fourcut
with the virtual Canon EOS 700D on USB behind it, as a booth runs it. What
the guard decides for HTTP requests, and the request limits, are tested in
memory (L{tests.web.test_access}, L{tests.web.test_limits}).
"""

import json
import os

import treq
from OpenSSL import SSL
from twisted.internet import reactor
from twisted.internet.ssl import Certificate, optionsForClientTLS
from twisted.logger import formatEvent, globalLogPublisher
from twisted.web.client import (Agent, BrowserLikePolicyForHTTPS,
                                ResponseNeverReceived)

from fourcut.virtualcam import eospack as eos

from tests.support import EOS_USB, ISO_100, jpeg_size
from tests.support.access import (PROTECTED_TYPES, TOKEN, WRONG, bearer,
                                  check_refused)
from tests.support.service import ServiceTestCase
from tests.support.tls import make_certificate
from tests.support.time import sleep
from tests.support.wsclient import connect

class AccessTestCase(ServiceTestCase):
    config = {"access": {"token": TOKEN}}
    virtual = EOS_USB

    def request(self, method, path, token=None, headers=None, **kwargs):
        headers = dict(headers or {})
        if token is not None:
            headers.update(bearer(token))
        return treq.request(method, self.base + path, headers=headers,
                            **dict(self.http_options(), **kwargs))

    async def assertRefused(self, response, wrong=False, what=""):
        check_refused(self, response, await response.content(), wrong, what)

    def assertNothingHappened(self):
        self.assertEqual(self.session.captures, 0)
        self.assertEqual(self.camera.device.captures, 0)
        self.assertEqual(self.camera.device.objects, {})
        self.assertFalse(os.path.exists(self.photos)
                         and os.listdir(self.photos))

    async def ws(self, path="/ws", count=1, **options):
        client = await connect(self, self.port, path, **options)
        await client.wait_for(lambda: len(client.messages) >= count)
        return client


class TokenLogTests(AccessTestCase):
    config = {"access": {"token": TOKEN}, "preview": {"public": False}}

    async def test_token_never_logged(self):
        """
        A WebSocket's wrong token (in the URL or in an C{auth} message) is
        logged as refused, and nothing logged holds it. (The HTTP side:
        L{tests.web.test_access.ProtectedPreviewTests.
        test_token_never_logged}.)
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        with self.assertRaises(ConnectionError):
            await connect(self, self.port, "/ws?token=" + WRONG)
        client = await self.ws()
        await client.reply({"type": "auth", "token": WRONG,
                            "requestId": 1})
        await sleep(0.1)
        texts = [formatEvent(event) or "" for event in events]
        everything = texts + [repr(event) for event in events]
        for secret in (TOKEN, WRONG, TOKEN[:12], WRONG[:12]):
            leaks = [text for text in everything if secret in text]
            self.assertEqual(leaks, [], secret)
        # Not vacuous: the refusals were seen.
        self.assertTrue([t for t in texts if "WebSocket" in t
                         and "wrong token" in t])


class WebSocketPublicPreviewTests(AccessTestCase):
    async def test_connected_without_token(self):
        client = await self.ws()
        connected = client.messages[0]
        self.assertEqual(connected["type"], "connected")
        self.assertTrue(connected["auth_required"])
        self.assertFalse(connected["authenticated"])
        self.assertTrue(connected["preview_public"])
        # No camera_info for a client that may not read it.
        await sleep(0.3)
        self.assertEqual([m["type"] for m in client.messages], ["connected"])

    async def test_protected_types_before_auth(self):
        client = await self.ws()
        for n, message in enumerate(PROTECTED_TYPES):
            reply = await client.reply(dict(message, requestId=n))
            self.assertEqual(reply, {"type": "error",
                                     "error": "authentication required",
                                     "code": 401, "requestId": n})
        self.assertNothingHappened()
        self.assertEqual(self.camera.device.value(eos.DPC_EOS_ISOSpeed),
                         ISO_100)

    async def test_start_preview_public(self):
        client = await self.ws()
        reply = await client.reply({"type": "start_preview", "requestId": 1,
                                    "format": "binary"})
        self.assertEqual(reply["type"], "preview_started")
        await client.wait_for(lambda: len(client.frames) >= 5)
        reply = await client.reply({"type": "stop_preview", "requestId": 2})
        self.assertEqual(reply["type"], "preview_stopped")

    async def test_auth_message(self):
        client = await self.ws()
        reply = await client.reply({"type": "auth", "token": TOKEN,
                                    "requestId": "a"})
        self.assertEqual(reply, {"type": "authenticated", "requestId": "a"})
        await client.wait_for(lambda: client.of_type("camera_info"))
        for n, message in enumerate(PROTECTED_TYPES[1:]):
            reply = await client.reply(dict(message, requestId=n))
            self.assertNotEqual(reply["type"], "error", reply)

    async def test_wrong_auth_message(self):
        client = await self.ws()
        for n, token in enumerate([WRONG, ""]):
            reply = await client.reply({"type": "auth", "token": token,
                                        "requestId": n})
            self.assertEqual(reply["type"], "error")
            self.assertEqual(reply["code"], 401)
        self.assertIn("wrong", client.find(0)["error"])
        # Still open, still not authenticated.
        reply = await client.reply({"type": "get_camera_info",
                                    "requestId": "i"})
        self.assertEqual(reply["error"], "authentication required")
        reply = await client.reply({"type": "auth", "token": TOKEN,
                                    "requestId": "ok"})
        self.assertEqual(reply["type"], "authenticated")

    async def test_three_failures_close(self):
        client = await self.ws()
        for n in range(3):
            client.request({"type": "auth", "token": WRONG, "requestId": n})
        clean, code, reason = await client.closed.addTimeout(10, reactor)
        self.assertEqual(code, 3000)
        self.assertIn("authentication", reason)
        self.assertEqual([m["requestId"] for m in client.of_type("error")],
                         [0, 1, 2])
        self.assertEqual(self.service.websocket.clients, set())

    async def test_token_in_url(self):
        client = await self.ws("/ws?token=" + TOKEN, count=2)
        connected, info = client.messages[:2]
        self.assertTrue(connected["authenticated"])
        self.assertEqual(info["type"], "camera_info")
        reply = await client.reply({"type": "get_camera_info",
                                    "requestId": 1})
        self.assertEqual(reply["data"]["model"], "Canon EOS 700D")

    async def test_wrong_token_in_url(self):
        for path in ("/ws?token=" + WRONG, "/ws?token=" + TOKEN[:-1]):
            with self.assertRaises(ConnectionError) as caught:
                await connect(self, self.port, path)
            self.assertIn("[401]", str(caught.exception))
        self.assertEqual(self.service.websocket.clients, set())

    async def test_token_in_header(self):
        client = await self.ws(count=2, headers={
            "Authorization": "Bearer " + TOKEN})
        self.assertTrue(client.messages[0]["authenticated"])
        with self.assertRaises(ConnectionError) as caught:
            await connect(self, self.port,
                          headers={"Authorization": "Bearer " + WRONG})
        self.assertIn("[401]", str(caught.exception))

    async def test_camera_status_reaches_viewers(self):
        viewer = await self.ws()
        owner = await self.ws("/ws?token=" + TOKEN, count=2)
        reply = await owner.reply({"type": "capture_photo", "requestId": 1},
                                  timeout=30)
        self.assertEqual(reply["type"], "photo_captured", reply)
        self.assertTrue(reply["filename"].endswith(".jpg"), reply)
        await viewer.wait_for(lambda: viewer.of_type("camera_status"))
        self.assertIn({"type": "camera_status", "state": "capturing",
                       "error": None}, viewer.of_type("camera_status"))


class WebSocketProtectedPreviewTests(AccessTestCase):
    config = {"access": {"token": TOKEN}, "preview": {"public": False}}

    async def test_start_preview_needs_token(self):
        client = await self.ws()
        self.assertFalse(client.messages[0]["preview_public"])
        for kind in ("start_preview", "stop_preview"):
            reply = await client.reply({"type": kind, "requestId": kind})
            self.assertEqual(reply["code"], 401)
        self.assertEqual(self.broadcaster.demand, 0)
        await client.reply({"type": "auth", "token": TOKEN, "requestId": 1})
        reply = await client.reply({"type": "start_preview",
                                    "requestId": 2, "format": "binary"})
        self.assertEqual(reply["type"], "preview_started")
        await client.wait_for(lambda: len(client.frames) >= 5)

    async def test_no_camera_status_before_auth(self):
        anonymous = await self.ws()
        owner = await self.ws("/ws?token=" + TOKEN, count=2)
        await owner.reply({"type": "capture_photo", "requestId": 1},
                          timeout=30)
        self.assertTrue(owner.of_type("camera_status"))
        self.assertEqual([m["type"] for m in anonymous.messages],
                         ["connected"])

    async def test_auth_timeout(self):
        self.service.websocket.auth_timeout = 0.3
        anonymous = await self.ws()
        owner = await self.ws("/ws?token=" + TOKEN, count=2)
        late = await self.ws()
        await late.reply({"type": "auth", "token": TOKEN, "requestId": 1})
        clean, code, reason = await anonymous.closed.addTimeout(10, reactor)
        self.assertEqual(code, 3008)
        await sleep(0.5)
        for client in (owner, late):
            reply = await client.reply({"type": "get_camera_info",
                                        "requestId": "still"})
            self.assertEqual(reply["type"], "camera_info")


class NoTokenTests(AccessTestCase):
    config = None

    async def test_everything_open(self):
        """
        (Over HTTP: L{tests.web.test_access.NoTokenTests}.)
        """
        client = await self.ws("/ws?token=anything", count=2)
        connected = client.messages[0]
        self.assertFalse(connected["auth_required"])
        self.assertTrue(connected["authenticated"])
        reply = await client.reply({"type": "auth", "token": "x",
                                    "requestId": 1})
        self.assertEqual(reply["type"], "authenticated")


class TLSTests(AccessTestCase):
    """
    fourcut listening on C{ssl:} itself, end to end.
    """

    scheme = "https"

    def listen(self):
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        key_path, cert_path, pem = make_certificate(directory)
        self.authority = Certificate.loadPEM(pem)
        return ("ssl:0:interface=127.0.0.1:privateKey=%s:certKey=%s"
                % (key_path, cert_path))

    async def setUp(self):
        await AccessTestCase.setUp(self)
        self.agent = Agent(reactor, pool=self.pool, contextFactory=(
            BrowserLikePolicyForHTTPS(trustRoot=self.authority)))

    def http_options(self):
        return {"agent": self.agent}

    async def test_https(self):
        response = await self.request("GET", "/status", token=TOKEN)
        self.assertEqual(response.code, 200)
        self.assertEqual(json.loads(await response.content())["service"],
                         "fourcut")
        response = await self.request("GET", "/status")
        await self.assertRefused(response)
        parts = await self.preview(1.0)
        self.assertGreater(len(parts), 5)

    async def test_untrusted_certificate_refused(self):
        """
        The client really checks the certificate (so test_https proves the
        server presents the one it was given).
        """
        with self.assertRaises(ResponseNeverReceived) as caught:
            await treq.get(self.base + "/health", pool=self.pool)
        (reason,) = caught.exception.reasons
        self.assertTrue(reason.check(SSL.Error), reason)
        self.assertIn("certificate verify failed", str(reason.value))

    async def test_wss(self):
        tls = optionsForClientTLS("127.0.0.1", trustRoot=self.authority)
        client = await self.ws("/ws?token=" + TOKEN, count=2, tls=tls)
        connected, info = client.messages[:2]
        self.assertTrue(connected["authenticated"])
        self.assertEqual(info["type"], "camera_info")
        reply = await client.reply({"type": "start_preview", "requestId": 1,
                                    "format": "binary"})
        self.assertEqual(reply["type"], "preview_started")
        await client.wait_for(lambda: len(client.frames) >= 5)
        self.assertEqual(jpeg_size(client.frames[-1]), (960, 640))
        anonymous = await self.ws(tls=tls)
        reply = await anonymous.reply({"type": "get_camera_info",
                                       "requestId": 2})
        self.assertEqual(reply["code"], 401)
