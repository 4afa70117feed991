"""
The booth's sequence over the WebSocket (C{capture_sequence}), with the
virtual Canon EOS 700D on USB and the real gphoto2 behind it: the
countdown's timing as a client receives it, every shot saved, the strip's
windows each holding its shot, a second screen, a failure half-way and a
second sequence refused.
"""

import base64
import io
import os

from PIL import Image
from twisted.internet import defer

from tests.support.booth import (BOOTH, BoothTestMixin, TimedClient,
                                 sequence_reply)
from tests.support.service import WebSocketTestCase
from tests.support.wsclient import connect

class SequenceTests(WebSocketTestCase, BoothTestMixin):
    config = {"booth": BOOTH}

    async def screen(self):
        client = await self.client()
        return TimedClient(client)

    async def test_sequence(self):
        """
        capture_sequence: the countdown to this client and to another
        screen, each shot saved, the strip composed and listed.
        """
        asker, watcher = await self.screen(), await self.screen()
        reply = await sequence_reply(asker.client, {
            "requestId": "s1", "count": 4, "countdown": 3, "layout": "2x2"})
        self.assertEqual(reply["type"], "strip_ready", reply)
        shots = reply["shots"]
        self.assertEqual(len(shots), 4)
        self.assertEqual(len(set(shots)), 4)
        self.assertEqual(self.camera.device.captures, 4)
        gaps = self.check_ticks(asker.sequence_events())
        self.assertEqual(len(gaps), 12)
        # Every shot saved, as any photo is.
        photos = [m for _, m in asker.sequence_events()
                  if m["type"] == "photo_captured"]
        self.assertEqual([p["filename"] for p in photos], shots)
        for photo in photos:
            self.assertEqual(photo["requestId"], "s1")
            self.assertEqual(photo["url"], "/photos/" + photo["filename"])
            with open(os.path.join(self.photos, photo["filename"]),
                      "rb") as f:
                self.assertEqual(len(f.read()), photo["size"])
            thumbnail = Image.open(io.BytesIO(base64.b64decode(
                photo["thumbnail"])))
            self.assertLessEqual(max(thumbnail.size), 480)
        # The strip, saved beside the photos.
        self.assertEqual(reply["filepath"],
                         os.path.join(self.photos, reply["filename"]))
        self.assertEqual(reply["url"], "/photos/" + reply["filename"])
        self.assertRegex(reply["share_url"], r"\Ahttp://127\.0\.0\.1:%d/"
                         r"share/[A-Za-z0-9_-]{22}/"
                         r"strip-[0-9]{8}-[0-9a-f]{12}\.jpg\Z"
                         % (self.port,))
        self.assertTrue(reply["qr"].startswith("data:image/svg+xml"))
        self.check_strip(reply["filepath"], shots)
        self.assertEqual(sorted(os.listdir(self.photos)),
                         sorted(shots + [reply["filename"]]))
        # The other screen saw the same, without the requestId, and got
        # strip_ready as an event.
        await watcher.client.wait_for(
            lambda: watcher.client.of_type("strip_ready"))
        seen = watcher.sequence_events()
        self.check_ticks(seen)
        self.assertTrue(all("requestId" not in m for _, m in seen))
        self.assertEqual([m["type"] for _, m in seen][0], "sequence_started")
        ready = watcher.client.of_type("strip_ready")[0]
        self.assertEqual(ready["filename"], reply["filename"])
        self.assertEqual(ready["share_url"], reply["share_url"])
        # The asker got strip_ready once: as its reply.
        self.assertEqual(len(asker.client.of_type("strip_ready")), 1)
        # /photos marks the strip and names its shots.
        listing = await (await self.get("/photos")).json()
        strip = [p for p in listing["photos"] if p["kind"] == "strip"]
        self.assertEqual(len(strip), 1)
        self.assertEqual(strip[0]["name"], reply["filename"])
        self.assertEqual(strip[0]["shots"], shots)
        self.assertEqual(strip[0]["layout"], "2x2")
        self.assertEqual({p["kind"] for p in listing["photos"]
                          if p["name"] in shots}, {"photo"})

    async def test_second_sequence_refused(self):
        first, second = await self.screen(), await self.screen()
        running = defer.ensureDeferred(sequence_reply(first.client, {
            "requestId": 1, "layout": "1x2"}))
        await second.client.wait_for(
            lambda: second.client.of_type("countdown"))
        refused = await sequence_reply(second.client, {"requestId": 2})
        self.assertEqual(refused["type"], "error")
        self.assertEqual(refused["code"], 409)
        self.assertIn("a sequence is already running (shot 1 of 2)",
                      refused["error"])
        reply = await running
        self.assertEqual(reply["type"], "strip_ready")
        self.assertEqual(self.camera.device.captures, 2)

    async def test_failure_half_way(self):
        """
        The camera cannot focus for shot 3: the sequence ends with an
        error naming shot 3 and why; shots 1 and 2 are kept; the other
        screen hears sequence_failed.
        """
        asker, watcher = await self.screen(), await self.screen()
        device = self.camera.device

        def after_two():
            if len(asker.client.of_type("photo_captured")) == 2:
                device.no_focus(10)
                return True
            return False
        armed = asker.client.wait_for(after_two, timeout=60)
        reply = await sequence_reply(asker.client, {"requestId": "f"})
        await armed
        device.no_focus(0)
        self.assertEqual(reply["type"], "error", reply)
        self.assertNotIn("internal error", reply["error"])
        self.assertEqual(reply["shot"], 3)
        self.assertEqual(reply["count"], 4)
        self.assertEqual(reply["code"], 503)
        # The camera's own words follow (how libgphoto2 words a focus
        # failure depends on the driver path: CLI or held session).
        self.assertRegex(reply["error"], r"\Ashot 3 of 4 failed: \S")
        kept = [m["filename"] for m in asker.client.of_type("photo_captured")]
        self.assertEqual(reply["shots"], kept)
        self.assertEqual(sorted(os.listdir(self.photos)), sorted(kept))
        await watcher.client.wait_for(
            lambda: watcher.client.of_type("sequence_failed"))
        failed = watcher.client.of_type("sequence_failed")[0]
        self.assertEqual(failed["shot"], 3)
        self.assertEqual(failed["shots"], kept)
        # The booth is free again.
        again = await sequence_reply(asker.client, {
            "requestId": "g", "layout": "1x1", "countdown": 0})
        self.assertEqual(again["type"], "strip_ready", again)


class TokenSequenceTests(WebSocketTestCase):
    """
    With a token: only authenticated clients may start a sequence or hear
    of one; without booth.guest_links there is no guest link.
    """

    TOKEN = "booth-token-0123456789"
    config = {"booth": dict(BOOTH, countdown=1, guest_links=False),
              "access": {"token": TOKEN}}

    async def test_only_authenticated(self):
        stranger = await connect(self, self.port)
        await stranger.wait_for(lambda: stranger.messages)
        refused = await sequence_reply(stranger, {"requestId": 1})
        self.assertEqual(refused["code"], 401)
        client = await connect(self, self.port, path="/ws?token=" + self.TOKEN)
        await client.wait_for(lambda: len(client.messages) >= 2)
        reply = await sequence_reply(client, {"requestId": 2,
                                              "layout": "1x1"})
        self.assertEqual(reply["type"], "strip_ready")
        self.assertIsNone(reply["share_url"])
        self.assertIsNone(reply["qr"])
        self.assertEqual([m for m in stranger.messages
                          if "sequenceId" in m], [])
