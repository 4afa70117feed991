"""
Access control (the shared token over HTTP and WebSocket), request limits
and TLS, over a real listening fourcut with the virtual Canon EOS 700D on
USB behind it, as a booth runs it.
"""

import datetime
import ipaddress
import json
import os

import treq
from twisted.internet import reactor
from twisted.internet.ssl import Certificate, optionsForClientTLS
from twisted.logger import formatEvent, globalLogPublisher
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS

from fourcut.web.access import LINGER
from fourcut.virtualcam import eospack as eos

from tests.support import EOS_USB, ISO_100, jpeg_size
from tests.support.access import PROTECTED_TYPES, TOKEN, WRONG, bearer
from tests.support.clients import connect_raw
from tests.support.service import ServiceTestCase, parse_multipart
from tests.support.time import sleep
from tests.support.wsclient import connect

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
    # No such path: fail closed, 401 rather than 404.
    ("GET", "/nosuch"),
    # The segment the resource tree sees, decoded, and below a leaf.
    ("GET", "/%63apture"),
    ("GET", "/capture/x"),
    ("HEAD", "/capture"),
    ("DELETE", "/status"),
    # The token in the query counts only for live view.
    ("GET", "/capture?token=" + TOKEN),
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
]

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
        self.assertEqual(response.code, 401, what)
        [challenge] = response.headers.getRawHeaders("www-authenticate")
        if wrong:
            self.assertEqual(challenge, 'Bearer realm="fourcut", '
                             'error="invalid_token"', what)
        else:
            self.assertEqual(challenge, 'Bearer realm="fourcut"', what)
        path = response.request.absoluteURI.split(b"/", 3)[3]
        json_path = path.split(b"?")[0].split(b"/")[0] in (
            b"status", b"camera", b"photos", b"health", b"metrics") or (
            path == b"" and b"application/json" in (
                response.request.headers.getRawHeaders(b"accept")
                or [b""])[0])
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["application/json" if json_path
                          else "text/plain; charset=utf-8"], what)
        body = await response.content()
        if response.request.method != b"HEAD":
            self.assertIn(b"the token is wrong" if wrong
                          else b"a token is required", body, what)
            if json_path:
                self.assertEqual(json.loads(body)["status"], 401)
        self.assertNotIn(TOKEN.encode(), body)

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


class ProtectedHTTPTests(AccessTestCase):
    async def test_without_token(self):
        for method, path in PROTECTED:
            response = await self.request(method, path)
            await self.assertRefused(response, what=(method, path))
        # Another scheme is no token either.
        response = await self.request(
            "GET", "/capture", headers={"Authorization": ["Basic Zm86YmFy"]})
        await self.assertRefused(response)
        self.assertNothingHappened()

    async def test_wrong_token(self):
        for method, path in PROTECTED:
            response = await self.request(method, path, token=WRONG)
            await self.assertRefused(response, wrong=True,
                                     what=(method, path))
        # A prefix of the right token, or the right one with more after it.
        for token in (TOKEN[:-1], TOKEN + "x"):
            response = await self.request("GET", "/status", token=token)
            await self.assertRefused(response, wrong=True)
        self.assertNothingHappened()

    async def test_right_token(self):
        for method, path, code in WITH_TOKEN:
            response = await self.request(method, path, token=TOKEN)
            self.assertEqual(response.code, code, (method, path))
            await response.content()
        self.assertEqual(self.session.captures, 1)
        self.assertEqual(len(os.listdir(self.photos)), 1)
        # The scheme is case-insensitive, as HTTP says.
        response = await self.request(
            "GET", "/status", headers={"Authorization": ["bearer " + TOKEN]})
        self.assertEqual(response.code, 200)
        self.assertEqual(json.loads(await response.content())["service"],
                         "fourcut")

    async def test_right_token_still_404_and_405(self):
        for method, path, code in [("GET", "/nosuch", 404),
                                   ("GET", "/camera/nosuch", 404),
                                   ("GET", "/camera/restart", 405),
                                   ("POST", "/capture", 405)]:
            response = await self.request(method, path, token=TOKEN)
            self.assertEqual(response.code, code, (method, path))
            await response.content()

    async def test_status_as_page_needs_token(self):
        """
        C{GET /} asked for JSON is C{/status}: protected, though the page
        itself is public.
        """
        json_accept = {"Accept": ["application/json"]}
        response = await self.request("GET", "/", headers=json_accept)
        await self.assertRefused(response)
        response = await self.request("GET", "/", headers=json_accept,
                                      token=TOKEN)
        self.assertEqual(response.code, 200)
        self.assertEqual(json.loads(await response.content())["service"],
                         "fourcut")
        response = await self.request("GET", "/")
        self.assertEqual(response.code, 200)
        self.assertIn(b'<img src="/preview"', await response.content())


class PublicPreviewTests(AccessTestCase):
    async def test_preview_without_token(self):
        await self.preview(1.0)
        response = await self.request("GET", "/snapshot")
        self.assertEqual(response.code, 200)
        self.assertEqual(jpeg_size(await response.content()), (960, 640))

    async def test_wrong_token_refused_even_where_none_is_needed(self):
        for path in ("/preview?token=" + WRONG, "/snapshot?token=" + WRONG,
                     "/health?token=ignored-here"):
            response = await self.request("GET", path)
            if "health" in path:
                # Only live view reads the query.
                self.assertEqual(response.code, 200)
                await response.content()
            else:
                await self.assertRefused(response, wrong=True, what=path)
        for path in ("/preview", "/snapshot", "/health", "/"):
            response = await self.request("GET", path, token=WRONG)
            await self.assertRefused(response, wrong=True, what=path)

    async def test_health_public_without_details(self):
        response = await self.request("GET", "/health")
        self.assertEqual(response.code, 200)
        self.assertEqual(json.loads(await response.content()),
                         {"status": "ok", "state": "idle"})
        self.camera.unplug()
        self.service.status.probe_interval = 0
        response = await self.request("GET", "/health")
        self.assertEqual(response.code, 503)
        health = json.loads(await response.content())
        self.assertEqual(set(health), {"status", "state"})
        self.assertEqual(health["status"], "unhealthy")
        response = await self.request("GET", "/health", token=TOKEN)
        self.assertEqual(response.code, 503)
        health = json.loads(await response.content())
        self.assertIn("Could not detect any camera", health["reason"])


class ProtectedPreviewTests(AccessTestCase):
    config = {"access": {"token": TOKEN}, "preview": {"public": False}}

    async def test_without_token(self):
        for path in ("/preview?timeout=1", "/snapshot", "/",
                     # The query token is for GET /preview and /snapshot.
                     "/?token=" + TOKEN):
            response = await self.request("GET", path)
            await self.assertRefused(response, what=path)
        response = await self.request("POST", "/snapshot?token=" + TOKEN)
        await self.assertRefused(response)
        response = await self.request("GET", "/preview?token=" + WRONG)
        await self.assertRefused(response, wrong=True)
        self.assertEqual(self.broadcaster.demand, 0)
        self.assertEqual(self.session.children, {})

    async def test_token_in_query(self):
        response = await self.request(
            "GET", "/preview?timeout=1&token=" + TOKEN)
        self.assertEqual(response.code, 200)
        parts, closed = parse_multipart(await response.content())
        self.assertTrue(closed)
        self.assertGreater(len(parts), 5)
        self.assertEqual(jpeg_size(parts[-1][1]), (960, 640))
        # Decoded as twisted.web decodes the other parameters.
        for query in ("token=" + TOKEN, "%74oken=" + TOKEN):
            response = await self.request("GET", "/snapshot?" + query)
            self.assertEqual(response.code, 200, query)
            self.assertEqual(jpeg_size(await response.content()), (960, 640))

    async def test_token_in_header(self):
        response = await self.request("GET", "/preview?timeout=1",
                                      token=TOKEN)
        self.assertEqual(response.code, 200)
        parts, closed = parse_multipart(await response.content())
        self.assertGreater(len(parts), 5)
        response = await self.request("GET", "/", token=TOKEN)
        self.assertEqual(response.code, 200)
        await response.content()

    async def test_health_stays_public(self):
        response = await self.request("GET", "/health")
        self.assertEqual(response.code, 200)
        self.assertEqual(json.loads(await response.content())["status"],
                         "ok")

    async def test_token_never_logged(self):
        """
        Failed attempts are logged with the peer and the path, and nothing
        logged (the access log included) holds the token or a value tried.
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        for path, token, code in [
                ("/capture", WRONG, 401),
                ("/status", TOKEN + "x", 401),
                ("/preview?token=" + WRONG, None, 401),
                ("/snapshot?token=" + TOKEN, None, 200),
                ("/snapshot?a=1&%74oken=" + TOKEN + ";b=2", None, 200)]:
            response = await self.request("GET", path, token=token)
            self.assertEqual(response.code, code, path)
            await response.content()
        with self.assertRaises(ConnectionError):
            await connect(self, self.port, "/ws?token=" + WRONG)
        client = await self.ws()
        await client.reply({"type": "auth", "token": WRONG,
                            "requestId": 1})
        await sleep(0.1)
        texts = [formatEvent(event) or "" for event in events]
        everything = texts + [repr(event) for event in events]
        for secret in (TOKEN, WRONG, TOKEN + "x", TOKEN[:12], WRONG[:12]):
            leaks = [text for text in everything if secret in text]
            self.assertEqual(leaks, [], secret)
        # Not vacuous: the refusals and the access log were seen.
        self.assertTrue([t for t in texts if "/capture" in t
                         and "127.0.0.1" in t and "wrong token" in t])
        self.assertTrue([t for t in texts if "WebSocket" in t
                         and "wrong token" in t])
        self.assertEqual(len([t for t in texts if "GET /snapshot?" in t
                              and "oken=***" in t]), 2)


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
        await owner.reply({"type": "capture_photo", "requestId": 1},
                          timeout=30)
        await viewer.wait_for(lambda: viewer.of_type("camera_status"))


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
        response = await self.request("GET", "/status", token=WRONG)
        self.assertEqual(response.code, 200)
        await response.content()
        client = await self.ws("/ws?token=anything", count=2)
        connected = client.messages[0]
        self.assertFalse(connected["auth_required"])
        self.assertTrue(connected["authenticated"])
        reply = await client.reply({"type": "auth", "token": "x",
                                    "requestId": 1})
        self.assertEqual(reply["type"], "authenticated")


class LimitTests(AccessTestCase):
    config = {"server": {"max_message_bytes": 2048}}

    def raw(self, data=b""):
        return connect_raw(self, self.port, data=data)

    async def response(self, client, timeout=10.0):
        for _ in range(int(timeout / 0.05)):
            answer = client.response()
            if answer is not None:
                return answer
            await sleep(0.05)
        self.fail("no response: %r" % (client.data[:200],))

    async def assertTooLarge(self, client):
        status, headers, body = await self.response(client)
        self.assertEqual(status, b"HTTP/1.1 413 Request Entity Too Large")
        self.assertEqual(headers[b"connection"], b"close")
        self.assertIn(b"the limit is 2048 bytes", body)
        # One answer, nothing after it.
        self.assertTrue(client.data.endswith(body))
        # The server closes the connection after its linger.
        await client.lost.addTimeout(LINGER + 3, reactor)
        await sleep(0.3)
        self.assertNothingHappened()
        self.assertEqual(self.session.children, {})

    async def test_content_length_over_limit(self):
        client = await self.raw(b"GET /capture HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Length: 1000000000\r\n\r\n")
        await self.assertTooLarge(client)

    async def test_content_length_over_limit_with_body(self):
        """
        The whole body arrives with the headers: the request is still
        never processed.
        """
        client = await self.raw(b"GET /capture HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Length: 3000\r\n\r\n" + b"x" * 3000)
        await self.assertTooLarge(client)

    async def test_expect_continue(self):
        client = await self.raw(b"GET /capture HTTP/1.1\r\nHost: x\r\n"
                                b"Expect: 100-continue\r\n"
                                b"Content-Length: 1000000\r\n\r\n")
        await self.assertTooLarge(client)
        self.assertTrue(client.data.startswith(b"HTTP/1.1 413"))

    async def test_chunked_over_limit(self):
        chunk = b"3e8\r\n" + b"x" * 1000 + b"\r\n"
        client = await self.raw(b"GET /capture HTTP/1.1\r\nHost: x\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n"
                                + chunk * 3 + b"0\r\n\r\n")
        await self.assertTooLarge(client)

    async def test_chunked_over_limit_slowly(self):
        """
        A chunked body is refused when its total passes the limit, before
        it ends; what the client sends after that is dropped.
        """
        chunk = b"3e8\r\n" + b"x" * 1000 + b"\r\n"
        client = await self.raw(b"GET /capture HTTP/1.1\r\nHost: x\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n")
        for _ in range(3):
            await sleep(0.05)
            client.transport.write(chunk)
        await self.response(client)
        for _ in range(5):
            client.transport.write(chunk * 50)
            await sleep(0.05)
        client.transport.write(b"0\r\n\r\n")
        await self.assertTooLarge(client)

    async def test_small_bodies_accepted(self):
        client = await self.raw(b"POST /camera/restart HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Length: 2048\r\n\r\n" + b"x" * 2048)
        status, headers, body = await self.response(client)
        self.assertEqual(status, b"HTTP/1.1 200 OK")
        self.assertIn(b"restarted", body)
        client = await self.raw(b"GET /cmd?arg=--version HTTP/1.1\r\n"
                                b"Host: x\r\nTransfer-Encoding: chunked\r\n"
                                b"\r\n3e8\r\n" + b"x" * 1000 + b"\r\n0\r\n\r\n")
        status, headers, body = await self.response(client)
        self.assertEqual(status, b"HTTP/1.1 200 OK")
        self.assertIn(b"gphoto2", body)

    async def test_404_and_405(self):
        for method, path, code in [("GET", "/nosuch", 404),
                                   ("GET", "/camera/nosuch", 404),
                                   ("GET", "/camera/restart", 405),
                                   ("POST", "/capture", 405),
                                   ("POST", "/status", 405),
                                   ("PUT", "/preview", 405),
                                   ("DELETE", "/capture", 405),
                                   ("PATCH", "/camera/info", 405)]:
            response = await self.request(method, path)
            self.assertEqual(response.code, code, (method, path))
            await response.content()
        response = await self.request("GET", "/camera/restart")
        [allow] = response.headers.getRawHeaders("allow")
        self.assertIn("POST", allow)
        self.assertNotIn("GET", allow)
        await response.content()
        self.assertNothingHappened()

    async def test_oversized_headers(self):
        """
        twisted.web's own limits: 16 KiB of request line and headers (a
        400), 16 KiB for one line (the connection is closed).
        """
        headers = b"".join(b"X-%d: %s\r\n" % (n, b"a" * 2000)
                           for n in range(9))
        client = await self.raw(b"GET /status HTTP/1.1\r\nHost: x\r\n"
                                + headers + b"\r\n")
        self.assertEqual(await client.lost.addTimeout(5, reactor),
                         b"HTTP/1.1 400 Bad Request\r\n\r\n")
        client = await self.raw(b"GET /status HTTP/1.1\r\nX: "
                                + b"a" * 20000 + b"\r\n\r\n")
        self.assertEqual(await client.lost.addTimeout(5, reactor), b"")


def make_certificate(directory):
    """
    Write a self-signed certificate for 127.0.0.1 and its key into
    C{directory}; return the key's path, the certificate's path and the
    certificate as PEM.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                       critical=True)
        .sign(key, hashes.SHA256()))
    key_path = os.path.join(directory, "key.pem")
    cert_path = os.path.join(directory, "cert.pem")
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    with open(cert_path, "wb") as f:
        f.write(pem)
    return key_path, cert_path, pem


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
        with self.assertRaises(Exception):
            await treq.get(self.base + "/health", pool=self.pool)

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
