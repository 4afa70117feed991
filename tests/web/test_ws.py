"""
What fourcut's WebSocket side (L{fourcut.web.ws}) decides, in memory: the
handshake, message dispatch, JSON validation and error replies, live
view's order and frames, the camera requests' replies, C{camera_status},
and the size and rate limits. Real Autobahn and twisted.web over a
C{StringTransport}, frames as bytes, a fake camera session, one clock
(L{tests.support.wsmemory}); the camera, gphoto2 and sockets are
L{tests.integration.test_ws}'s.
"""

import base64
import json
from datetime import datetime

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from fourcut.booth.sequence import SequenceError
from fourcut.errors import CameraError
from fourcut.errors import SettingError
from fourcut.web.ws.factory import HARD_LIMIT_FACTOR
from fourcut.web.ws.hub import IDLE_SETTLE
from fourcut.web.ws.flowcontrol import FLOOD_BURST

from tests.support.wsmemory import OP_TEXT, WebSocketSite

JPEG = b"\xff\xd8a frame\xff\xd9"


class WebSocketTestCase(SynchronousTestCase):
    """
    A L{WebSocketSite} per test, with the hub's C{options}.
    """

    options = {}

    def setUp(self):
        self.server = WebSocketSite(self, **self.options)
        self.session = self.server.session
        self.broadcaster = self.server.broadcaster
        self.hub = self.server.hub
        self.clock = self.server.clock

    def open(self, **options):
        return self.server.open(**options)


class HandshakeTests(WebSocketTestCase):
    def test_connected_then_camera_info(self):
        client = self.open()
        first, second = client.messages
        self.assertEqual(first, {"type": "connected",
                                 "version": first["version"],
                                 "server": "fourcut", "auth_required": False,
                                 "authenticated": True,
                                 "preview_public": True})
        self.assertEqual(second, {"type": "camera_info",
                                  "data": self.server.status.camera_info()})
        self.assertEqual(self.hub.clients, {client.protocol})
        self.assertIn("Server: fourcut", client.head)

    def test_camera_info_waits_for_the_camera(self):
        """
        A client that connects before the camera first answered gets its
        C{camera_info} once it has, not one of nulls.
        """
        del self.session.answers["first_info"]
        client = self.open()
        self.assertEqual([m["type"] for m in client.messages], ["connected"])
        [pending] = self.session.waiting["first_info"]
        pending.callback(None)
        self.assertEqual(client.messages[-1], {
            "type": "camera_info", "data": self.server.status.camera_info()})

    def test_closed_client_is_forgotten(self):
        client = self.open()
        client.close()
        self.assertEqual(client.close_code, 1000)
        self.assertTrue(client.lost)
        self.assertEqual(self.hub.clients, set())

    def test_plain_get_is_426(self):
        """
        A C{GET /ws} that is no upgrade: fourcut's JSON error, with the
        C{Upgrade} header.
        """
        channel = self.server.site.buildProtocol(None)
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _, body = transport.value().partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 426 Upgrade Required\r\n"),
                        head)
        self.assertIn(b"Upgrade: websocket", head)
        self.assertIn(b"/ws is a WebSocket", body)

    def test_too_many_clients(self):
        """
        C{max_clients}: the next handshake is refused with 503 in fourcut's
        JSON format; once one has gone, another gets in.
        """
        self.hub.max_clients = 2
        first = self.open()
        self.open()
        refused = self.server.connect()
        self.assertEqual(refused.status, 503)
        self.assertIn("application/json", refused.head.lower())
        self.assertEqual(json.loads(refused.body), {
            "error": "too many WebSocket clients (the limit is 2)",
            "status": 503})
        self.assertTrue(refused.lost)
        self.assertEqual(len(self.hub.clients), 2)
        first.close()
        self.open()


class MalformedTests(WebSocketTestCase):
    options = {"max_message_bytes": 2048, "commands_per_second": 50}

    #: (raw message, what its error says)
    CASES = [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"start_preview"', "JSON object"),
        (b"{}", "unknown type None"),
        (b'{"type": "explode"}', "unknown type 'explode'"),
        (b'{"type": 5}', "unknown type 5"),
        (b'{"type": "get_camera_info", "requestId": [1]}', "requestId"),
        (b'{"type": "get_camera_info", "requestId": true}', "requestId"),
        (b'{"type": "start_preview", "format": "gif"}', "format"),
        (b'{"type": "get_camera_setting", "section": "imgsettings"}',
         "'option'"),
        (b'{"type": "get_camera_setting", "section": "", "option": "x"}',
         "'section' must be a non-empty string"),
        (b'{"type": "get_camera_setting", "section": "' + b"s" * 101
         + b'", "option": "x"}', "'section' is too long"),
        (b'{"type": "set_camera_setting", "section": "imgsettings", '
         b'"option": "iso"}', "'value' is missing"),
        (b'{"type": "set_camera_setting", "section": "a", "option": '
         b'"b", "value": {"x": 1}}', "'value' must be"),
        (b'{"type": "set_camera_setting", "section": "a", "option": '
         b'"b", "value": "' + b"v" * 1001 + b'"}', "'value' must be plain"),
        (b'{"type": "capture_photo", "settings": [1]}', "'settings'"),
        (b'{"type": "capture_photo", "settings": {"a=b": 1}}',
         "setting name"),
        (b'{"type": "capture_photo", "settings": {"iso": [1]}}',
         "the value must be a string or a number"),
        (b'{"type": "capture_photo", "settings": {"iso": NaN}}',
         "the value must be a string or a number"),
        (b'{"type": "capture_photo", "settings": {' + b", ".join(
            b'"s%d": 1' % n for n in range(17)) + b"}}",
         "at most 16 settings"),
        (b'{"type": "capture_photo", "filename": "../../etc/passwd"}',
         "filename"),
        (b'{"type": "capture_photo", "filename": ".hidden"}', "filename"),
        (b"x" * 3000, "over the limit of 2048 bytes"),
        (b"[" * 2000, "nested too deeply"),
        (b'{"type": "get_camera_setting", "section": "a\\u0000", '
         b'"option": "iso"}', "plain text"),
        (b'{"type": "set_camera_setting", "section": "imgsettings", '
         b'"option": "iso", "value": "\\ud800"}', "plain text"),
        (b'{"type": "capture_photo", "settings": {"iso": "\\ud800"}}',
         "plain text"),
        (b'{"type": "capture_photo", "settings": {"\\u00e9": 1}}',
         "setting name"),
    ]

    def test_malformed_messages(self):
        """
        Each gets an C{error} saying what is wrong; the connection stays
        open and nothing reaches the camera.
        """
        client = self.open()
        for raw, expected in self.CASES:
            before = len(client.of_type("error"))
            client.send(raw=raw)
            errors = client.of_type("error")
            self.assertEqual(len(errors), before + 1, raw[:60])
            self.assertIn(expected, errors[-1]["error"], raw[:60])
            self.assertNotIn("requestId", errors[-1])
        client.send(raw=b"\x00\x01", binary=True)
        self.assertIn("binary messages are not accepted",
                      client.messages[-1]["error"])
        # Only the connect's camera_info asked the session.
        self.assertEqual(self.session.calls, [("first_info", ())])
        self.assertIsNone(client.close_code)
        reply = client.reply({"type": "get_camera_info", "requestId": "ok"})
        self.assertEqual(reply["type"], "camera_info")

    def test_error_echoes_request_id(self):
        client = self.open()
        self.assertEqual(client.reply({"type": "nope", "requestId": "r"}), {
            "type": "error", "requestId": "r",
            "error": "unknown type 'nope'; known types: auth, "
                     "capture_photo, capture_sequence, get_camera_info, "
                     "get_camera_setting, set_camera_setting, "
                     "start_preview, stop_preview"})
        reply = client.reply({"type": "start_preview", "requestId": 12,
                              "format": "gif"})
        self.assertEqual(reply["requestId"], 12)

    def test_long_request_id_not_echoed(self):
        client = self.open()
        client.send({"type": "get_camera_info", "requestId": "r" * 201})
        error = client.messages[-1]
        self.assertEqual(error["type"], "error")
        self.assertNotIn("requestId", error)
        self.assertEqual(self.session.calls, [("first_info", ())])

    def test_fragmented_message(self):
        """
        A request in several frames is one request.
        """
        client = self.open()
        client.send_frame(OP_TEXT, b'{"type": "get_camera', fin=False)
        client.send_frame(0, b'_info", "requestId": 3}')
        self.assertEqual(client.find(3)["type"], "camera_info")

    def test_hard_size_limit_closes_only_that_connection(self):
        """
        Over four times C{max_message_bytes}: Autobahn closes the
        connection (1009, too big), and only that one.
        """
        other = self.open()
        client = self.open()
        client.send(raw=b"x" * (2048 * HARD_LIMIT_FACTOR + 1))
        self.assertEqual(client.close_code, 1009)
        self.assertTrue(client.lost)
        self.assertEqual(self.hub.clients, {other.protocol})
        self.assertEqual(other.reply({"type": "get_camera_info",
                                      "requestId": 1})["type"],
                         "camera_info")

    def test_invalid_utf8_closes_only_that_connection(self):
        """
        Text that is not UTF-8 is a protocol error: RFC 6455's 1007.
        """
        other = self.open()
        client = self.open()
        client.send(raw=b"\xff\xfe")
        self.assertEqual(client.close_code, 1007)
        self.assertEqual(self.hub.clients, {other.protocol})
        self.assertEqual(other.reply({"type": "get_camera_info",
                                      "requestId": 1})["type"],
                         "camera_info")


class RateTests(WebSocketTestCase):
    options = {"commands_per_second": 50}

    def test_rate_limit(self):
        """
        Over C{commands_per_second}: a burst of that many is answered, the
        rest "too many requests" (429), malformed requests counting too;
        a second later there is room again.
        """
        client = self.open()
        for n in range(120):
            client.send({"type": "nope" if n % 2 else 5, "requestId": n})
        limited = [m for m in client.of_type("error")
                   if m.get("code") == 429]
        self.assertEqual(len(limited), 70)
        self.assertEqual(limited[0]["requestId"], 50)
        self.assertEqual(limited[0]["error"],
                         "too many requests: at most 50 a second")
        self.assertIsNone(client.close_code)
        self.clock.advance(1)
        self.assertEqual(client.reply({"type": "get_camera_info",
                                       "requestId": "later"})["type"],
                         "camera_info")

    def test_flood_closes(self):
        """
        Refusals over the rate as well, past L{FLOOD_BURST}: the client is
        closed with 1008 (policy violation); others carry on.
        """
        other = self.open()
        client = self.open()
        for n in range(50 + FLOOD_BURST):
            client.send({"type": "nope", "requestId": n})
        self.assertIsNone(client.close_code)
        client.send({"type": "nope", "requestId": "last"})
        self.assertEqual(client.close_code, 1008)
        self.assertEqual(client.close_reason, "too many requests")
        self.assertIsNone(client.find("last"))
        self.assertEqual(other.reply({"type": "get_camera_info",
                                      "requestId": 1})["type"],
                         "camera_info")

    def test_pings_count(self):
        """
        Pings count against the rate: over it, no pong.
        """
        client = self.open()
        for n in range(60):
            client.ping(b"%d" % n)
        self.assertEqual(client.pongs, [b"%d" % n for n in range(50)])
        self.clock.advance(1)
        client.ping(b"again")
        self.assertEqual(client.pongs[-1], b"again")


class KeepaliveTests(WebSocketTestCase):
    def test_client_that_does_not_answer_pings_is_dropped(self):
        """
        Autobahn pings every 10 s; a client that sends but does not answer
        within 30 s is dropped.
        """
        client = self.open()
        client.answer_pings = False
        self.clock.advance(10.5)
        for _ in range(35):
            client.send({"type": "get_camera_info", "requestId": "x"})
            self.clock.advance(1)
        self.assertTrue(client.lost)
        self.assertEqual(self.hub.clients, set())

    def test_client_that_answers_stays(self):
        client = self.open()
        for _ in range(60):
            self.clock.advance(1)
        self.assertFalse(client.lost)
        self.assertTrue(client.pings)


class PreviewTests(WebSocketTestCase):
    def test_json_preview(self):
        client = self.open()
        self.assertEqual(client.reply({"type": "start_preview",
                                       "requestId": 7}),
                         {"type": "preview_started", "format": "json",
                          "requestId": 7})
        self.assertEqual(self.broadcaster.demand, 1)
        for n in range(3):
            self.server.publish(JPEG + bytes([n]), 1000.0 + n)
        frames = client.of_type("preview_frame")
        self.assertEqual([f["frame_number"] for f in frames], [1, 2, 3])
        for frame in frames:
            self.assertEqual(set(frame), {"type", "data", "timestamp",
                                          "frame_number"})
        self.assertEqual(base64.b64decode(frames[-1]["data"]), JPEG + b"\2")
        self.assertEqual(datetime.fromisoformat(frames[0]["timestamp"]),
                         datetime.fromisoformat("1970-01-01T00:16:40+00:00"))
        self.assertEqual(client.reply({"type": "stop_preview",
                                       "requestId": "s"})["type"],
                         "preview_stopped")
        self.server.publish()
        self.assertEqual(len(client.of_type("preview_frame")), 3)
        self.assertEqual(self.broadcaster.demand, 0)

    def test_binary_preview(self):
        client = self.open()
        reply = client.reply({"type": "start_preview", "requestId": 1,
                              "format": "binary"})
        self.assertEqual(reply["format"], "binary")
        self.server.publish(JPEG)
        self.assertEqual(client.frames, [JPEG])
        self.assertEqual(client.of_type("preview_frame"), [])

    def test_each_frame_encoded_once_per_format(self):
        clients = [self.open() for _ in range(4)]
        for n, client in enumerate(clients):
            client.reply({"type": "start_preview", "requestId": 1,
                          "format": "binary" if n % 2 else "json"})
        for _ in range(3):
            self.server.publish()
        for n, client in enumerate(clients):
            self.assertEqual(len(client.frames if n % 2
                                 else client.of_type("preview_frame")), 3)
        self.assertEqual(clients[0].protocol.factory.encoder.encoded, 6)

    def test_closing_client_unsubscribes(self):
        client = self.open()
        client.reply({"type": "start_preview", "requestId": 1})
        client.lose()
        self.assertEqual(self.broadcaster.demand, 0)
        self.assertEqual(self.hub.clients, set())

    def test_preview_started_before_any_frame(self):
        """
        Frames wait for the C{preview_started} reply: the session says
        live view is ready once its first frame has come, so that frame
        (and any after it, meanwhile) would otherwise go first. Only the
        newest is kept.
        """
        del self.session.answers["live_view_ready"]
        client = self.open()
        client.send({"type": "start_preview", "requestId": 1,
                     "format": "binary"})
        self.server.publish(b"first")
        self.server.publish(b"second")
        self.assertEqual(client.received, ["connected", "camera_info"])
        self.session.waiting["live_view_ready"][0].callback(None)
        self.assertEqual(client.received, ["connected", "camera_info",
                                           "preview_started", "binary"])
        self.assertEqual(client.frames, [b"second"])
        self.server.publish(b"third")
        self.assertEqual(client.frames, [b"second", b"third"])

    def test_stop_while_starting(self):
        del self.session.answers["live_view_ready"]
        client = self.open()
        client.send({"type": "start_preview", "requestId": 1})
        client.reply({"type": "stop_preview", "requestId": 2})
        self.session.waiting["live_view_ready"][0].callback(None)
        self.assertEqual(client.find(1)["type"], "preview_stopped")
        self.server.publish()
        self.assertEqual(client.of_type("preview_frame"), [])

    def test_preview_fails(self):
        """
        Live view that cannot start: the camera's error with its status,
        and the client no longer watches.
        """
        self.session.answers["live_view_ready"] = CameraError(
            504, "*** Error: Could not detect any camera\n")
        client = self.open()
        reply = client.reply({"type": "start_preview", "requestId": "u"})
        self.assertEqual(reply, {"type": "error", "requestId": "u",
                                 "code": 504, "error":
                                 "*** Error: Could not detect any camera"})
        self.assertEqual(self.broadcaster.demand, 0)

    def test_width_outside_limits(self):
        client = self.open()
        reply = client.reply({"type": "start_preview", "requestId": 1,
                              "width": 100})
        self.assertEqual(reply["type"], "error")
        self.assertEqual(self.broadcaster.demand, 0)

    def test_figures(self):
        client = self.open()
        client.reply({"type": "start_preview", "requestId": 1,
                      "format": "binary"})
        self.server.publish()
        figures = client.protocol.figures()
        self.assertEqual(figures["transport"], "websocket")
        self.assertEqual(figures["format"], "binary")
        self.assertEqual(figures["frames_sent"], 1)


class CameraRequestTests(WebSocketTestCase):
    def test_capture(self):
        self.session.answers["capture"] = (
            "guest-1.jpg", "/photos/guest-1.jpg", JPEG)
        client = self.open()
        reply = client.reply({"type": "capture_photo", "requestId": "c",
                              "settings": {"iso": 1600, "imageformat": "S3",
                                           "flash": True},
                              "filename": "guest-1.jpg"})
        self.assertEqual(reply, {
            "type": "photo_captured", "requestId": "c",
            "filename": "guest-1.jpg", "filepath": "/photos/guest-1.jpg",
            "size": len(JPEG), "image": base64.b64encode(JPEG).decode()})
        self.assertEqual(self.session.called("capture"), [
            ((("iso", "1600"), ("imageformat", "S3"), ("flash", "1")),
             "guest-1.jpg")])

    def test_one_camera_request_at_a_time(self):
        """
        A connection may have one camera request waiting; another gets 429
        until the reply is out. Other connections are not held up.
        """
        client = self.open()
        client.send({"type": "capture_photo", "requestId": 1})
        for request in ({"type": "capture_photo", "requestId": 2},
                        {"type": "get_camera_setting", "requestId": 3,
                         "section": "a", "option": "b"}):
            reply = client.reply(request)
            self.assertEqual(reply["code"], 429)
            self.assertIn("one camera request at a time", reply["error"])
        self.assertEqual(client.reply({"type": "get_camera_info",
                                       "requestId": 4})["type"],
                         "camera_info")
        other = self.open()
        other.send({"type": "capture_photo", "requestId": 5})
        self.assertEqual(len(self.session.waiting["capture"]), 2)
        self.session.waiting["capture"][0].callback(("a.jpg", "/a.jpg", b"a"))
        self.assertEqual(client.find(1)["type"], "photo_captured")
        self.session.answers["capture"] = ("b.jpg", "/b.jpg", b"b")
        self.assertEqual(client.reply({"type": "capture_photo",
                                       "requestId": 6})["filename"],
                         "b.jpg")

    def test_capture_fails(self):
        """
        A camera error: its text and status. A photo that could not be
        saved: why, with no path. Anything else: an internal error, in the
        log.
        """
        client = self.open()
        for answer, expected in [
                (CameraError(503, "*** Error: busy\n"),
                 {"code": 503, "error": "*** Error: busy"}),
                (OSError(28, "No space left on device", "/srv/photos/a.jpg"),
                 {"error": "the photo could not be saved: No space left "
                           "on device"}),
                (ZeroDivisionError(),
                 {"error": "internal error; see the server log"})]:
            self.session.answers["capture"] = answer
            reply = client.reply({"type": "capture_photo",
                                  "requestId": "x"})
            self.assertEqual(reply, dict(expected, type="error",
                                         requestId="x"))
            client.messages.clear()
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_error_shows_no_server_path(self):
        """
        A camera error's text (a child's traceback) reaches the client
        without the paths in it; a camera setting's name is kept.
        """
        self.session.answers["capture"] = CameraError(
            503, 'File "/usr/lib/python3/dist-packages/gphoto2/x.py", '
            "line 1\nOSError: '/tmp/photos/a.jpg'\n"
            "no setting /main/imgsettings/nosuch\n")
        client = self.open()
        reply = client.reply({"type": "capture_photo", "requestId": "x"})
        self.assertEqual(reply["error"], 'File ".../x.py", line 1\n'
                         "OSError: '.../a.jpg'\n"
                         "no setting /main/imgsettings/nosuch")

    def test_get_camera_info_refreshes(self):
        client = self.open()
        self.session.state = "previewing"
        reply = client.reply({"type": "get_camera_info", "requestId": 1})
        self.assertEqual(reply["data"]["state"], "previewing")
        self.assertEqual(self.session.called("refresh_info"), [()])

    def test_get_setting(self):
        self.session.answers["get_setting"] = {
            "value": "100", "type": "radio", "readonly": False,
            "choices": ["100", "200"], "label": "ISO Speed"}
        client = self.open()
        reply = client.reply({"type": "get_camera_setting", "requestId": 1,
                              "section": "imgsettings", "option": "iso"})
        self.assertEqual(reply, {
            "type": "setting_value", "requestId": 1,
            "section": "imgsettings", "option": "iso", "value": "100",
            "widget": "radio", "readonly": False,
            "choices": ["100", "200"]})
        self.assertEqual(self.session.called("get_setting"),
                         [("imgsettings", "iso")])

    def test_set_setting(self):
        self.session.answers["set_setting"] = {"value": "1600"}
        client = self.open()
        reply = client.reply({"type": "set_camera_setting", "requestId": 2,
                              "section": "imgsettings", "option": "iso",
                              "value": 1600})
        self.assertEqual(reply, {
            "type": "setting_updated", "requestId": 2,
            "section": "imgsettings", "option": "iso", "value": "1600"})
        self.assertEqual(self.session.called("set_setting"),
                         [("imgsettings", "iso", 1600)])

    def test_setting_refused(self):
        """
        A L{SettingError}: its sentence, and the details a client can act
        on (not the others).
        """
        self.session.answers["set_setting"] = SettingError(
            "iso: 123 is not one of 100, 200", {
                "reason": "bad-value", "choices": ["100", "200"],
                "section": "imgsettings", "option": "iso",
                "current": "100"})
        client = self.open()
        reply = client.reply({"type": "set_camera_setting", "requestId": 3,
                              "section": "imgsettings", "option": "iso",
                              "value": "123"})
        self.assertEqual(reply, {
            "type": "error", "requestId": 3,
            "error": "iso: 123 is not one of 100, 200",
            "choices": ["100", "200"], "section": "imgsettings",
            "option": "iso"})


class CaptureSequenceTests(WebSocketTestCase):
    def test_no_booth(self):
        client = self.open()
        reply = client.reply({"type": "capture_sequence", "requestId": 1})
        self.assertEqual(reply, {"type": "error", "requestId": 1,
                                 "error": "this server runs no booth",
                                 "code": 404})

    def test_booth_answers(self):
        """
        The booth's reply, or its refusal with its code and the details
        it has.
        """
        asked = []

        class Booth:
            async def websocket_sequence(self, client, message):
                asked.append((client, message))
                if message.get("count") == 3:
                    raise SequenceError("'count' 3 does not fill layout "
                                        "2x2", code=400, shot=None)
                if message.get("count") == 9:
                    raise SequenceError("shot 3 of 4 failed: no focus",
                                        code=503, shot=3, shots=["a", "b"])
                return {"type": "strip_ready", "filename": "strip.jpg"}
        server = WebSocketSite(self, booth=Booth())
        client = server.open()
        self.assertEqual(client.reply({"type": "capture_sequence",
                                       "requestId": 1}),
                         {"type": "strip_ready", "filename": "strip.jpg",
                          "requestId": 1})
        self.assertIs(asked[0][0], client.protocol)
        self.assertEqual(client.reply({"type": "capture_sequence",
                                       "requestId": 2, "count": 3}),
                         {"type": "error", "requestId": 2, "code": 400,
                          "error": "'count' 3 does not fill layout 2x2"})
        self.assertEqual(client.reply({"type": "capture_sequence",
                                       "requestId": 3, "count": 9}),
                         {"type": "error", "requestId": 3, "code": 503,
                          "error": "shot 3 of 4 failed: no focus",
                          "shot": 3, "shots": ["a", "b"]})


class CameraStatusTests(WebSocketTestCase):
    """
    C{camera_status} only for a state a client can act on: never C{busy},
    and no C{idle} while live view is only paused for an operation.
    """

    def states(self, client):
        return [m["state"] for m in client.of_type("camera_status")]

    def watching(self):
        client = self.open()
        client.reply({"type": "start_preview", "requestId": "w",
                      "format": "binary"})
        self.hub.state_changed("previewing", None)
        return client

    def test_nobody_watching(self):
        client = self.open()
        for state in ("busy", "idle", "capturing", "idle"):
            self.session.state = state
            self.hub.state_changed(state, None)
        self.assertEqual(self.states(client), ["capturing", "idle"])

    def test_operation_during_live_view(self):
        """
        Live view paused for a setting (previewing, idle, busy, idle,
        previewing): nobody hears anything, even after the time an idle
        may wait to be announced.
        """
        watcher = self.watching()
        other = self.open()
        mark = len(self.states(watcher))
        for state in ("idle", "busy", "idle", "previewing"):
            self.session.state = state
            self.hub.state_changed(state, None)
            self.clock.advance(1)
        self.clock.advance(IDLE_SETTLE)
        self.assertEqual(self.states(watcher)[mark:], [])
        self.assertEqual(self.states(other), [])

    def test_capture_during_live_view(self):
        watcher = self.watching()
        mark = len(self.states(watcher))
        for state in ("capturing", "idle", "previewing"):
            self.session.state = state
            self.hub.state_changed(state, None)
        self.assertEqual(self.states(watcher)[mark:],
                         ["capturing", "previewing"])

    def test_idle_that_lasts_is_announced(self):
        """
        Everybody left while live view was paused: the idle is announced
        after L{IDLE_SETTLE} seconds, with the session's last error.
        """
        watcher = self.watching()
        self.session.state = "idle"
        self.hub.state_changed("idle", None)
        watcher.reply({"type": "stop_preview", "requestId": "s"})
        self.session.last_error = "gone"
        self.clock.advance(IDLE_SETTLE - 0.1)
        self.assertEqual(self.states(watcher), ["previewing"])
        self.clock.advance(0.1)
        self.assertEqual(watcher.of_type("camera_status")[-1],
                         {"type": "camera_status", "state": "idle",
                          "error": "gone"})

    def test_trouble_is_announced(self):
        watcher = self.watching()
        self.hub.state_changed("recovering", "unplugged")
        self.assertEqual(watcher.of_type("camera_status")[-1],
                         {"type": "camera_status", "state": "recovering",
                          "error": "unplugged"})
        self.hub.state_changed("recovering", "unplugged")
        self.assertEqual(self.states(watcher), ["previewing", "recovering"])


class EncodingTests(SynchronousTestCase):
    def test_binary_frame_is_the_jpeg(self):
        """
        What L{WebSocketSite}'s client decodes is what was framed: a
        frame's binary message carries the JPEG, unchanged.
        """
        server = WebSocketSite(self)
        client = server.open()
        client.reply({"type": "start_preview", "requestId": 1,
                      "format": "binary"})
        data = bytes(range(256)) * 300
        server.publish(data)
        self.assertEqual(client.frames, [data])
