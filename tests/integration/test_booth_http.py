"""
The booth over HTTP: C{POST /sequence} (seed 000's clients), the guest
link C{/share/KEY/NAME} with and without the token, the pages and their
files, thumbnails, and a composition that leaves live view alone.
"""

import os
import time

import treq
from PIL import Image
from twisted.internet import task
from twisted.logger import Logger

from fourcut.booth.sequence import SequenceRequest
from fourcut.booth.strip import StripStyle
from fourcut.config import parse_layout

from tests.support import jpeg_size
from tests.support.booth import BOOTH, BoothTestMixin, TimedClient
from tests.support.service import WebSocketTestCase
from tests.support.wsclient import connect

TOKEN = "booth-token-0123456789"

log = Logger()


class HTTPSequenceTests(WebSocketTestCase, BoothTestMixin):
    config = {"booth": BOOTH}

    def post(self, path, headers=None, **kwargs):
        return treq.post(self.base + path, headers=headers,
                         **dict(self.http_options(), **kwargs))

    async def test_sequence_answers_the_strip(self):
        """
        One POST: the countdown goes to a WebSocket screen on time, every
        shot is saved, and the answer is the strip.
        """
        watcher = TimedClient(await self.client())
        response = await self.post(
            "/sequence?layout=1x4&countdown=3&review=0.2")
        body = await response.content()
        self.assertEqual(response.code, 200, body)
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["image/jpeg"])
        name = response.headers.getRawHeaders("x-fourcut-strip")[0]
        shots = response.headers.getRawHeaders("x-fourcut-shots")[0].split(
            ", ")
        self.assertEqual(len(shots), 4)
        self.assertEqual(response.headers.getRawHeaders(
            "content-disposition"), ['inline; filename="%s"' % (name,)])
        share = response.headers.getRawHeaders("x-fourcut-share-url")[0]
        self.assertIn("/share/", share)
        with open(os.path.join(self.photos, name), "rb") as f:
            self.assertEqual(f.read(), body)
        self.check_strip(os.path.join(self.photos, name), shots, "1x4")
        self.assertEqual(sorted(os.listdir(self.photos)),
                         sorted(shots + [name]))
        await watcher.client.wait_for(
            lambda: watcher.client.of_type("strip_ready"))
        self.check_ticks(watcher.sequence_events())
        # Each shot was shown for the review the request asked for.
        self.assertEqual(
            [e["review"] for _, e in watcher.sequence_events()
             if e["type"] in ("sequence_started", "photo_captured")],
            [0.2] * 5)
        # The guest link serves the same strip.
        response = await treq.get(share, **self.http_options())
        self.assertEqual(response.code, 200)
        self.assertEqual(await response.content(), body)

    async def test_json_answer(self):
        response = await self.post("/sequence", data={
            "layout": "1x1", "countdown": "1"},
            headers={"Accept": ["application/json"]})
        self.assertEqual(response.code, 200)
        event = await response.json()
        self.assertEqual(event["type"], "strip_ready")
        self.assertEqual(len(event["shots"]), 1)
        self.assertEqual(event["share_url"], "http://127.0.0.1:%d%s"
                         % (self.port, event["share"]))
        self.assertTrue(event["qr"].startswith("data:image/svg+xml"))

    async def test_refusals(self):
        response = await self.get("/sequence")
        self.assertEqual(response.code, 405)
        self.assertEqual(response.headers.getRawHeaders("allow"),
                         ["POST, OPTIONS"])
        for query, text in [("count=3", "'count' 3 does not fill"),
                            ("layout=2x2&layout=1x4", "more than once"),
                            ("colour=red", "unknown parameter 'colour'"),
                            ("interval=0", "'interval'")]:
            response = await self.post("/sequence?" + query)
            self.assertEqual(response.code, 400, query)
            self.assertIn(text, (await response.json())["error"])
        self.assertEqual(self.camera.device.captures, 0)

    async def test_second_sequence_refused_and_failure_half_way(self):
        """
        A second POST while one runs is a 409; shot 2 failing answers a
        503 naming shot 2 and the shot kept.
        """
        watcher = await self.client()
        device = self.camera.device

        def after_one():
            if watcher.of_type("photo_captured"):
                device.no_focus(10)
                return True
            return False
        armed = watcher.wait_for(after_one, timeout=60)
        running = self.post("/sequence?layout=1x2")
        await watcher.wait_for(lambda: watcher.of_type("countdown"))
        second = await self.post("/sequence")
        self.assertEqual(second.code, 409)
        self.assertIn("already running", (await second.json())["error"])
        response = await running
        await armed
        device.no_focus(0)
        self.assertEqual(response.code, 503)
        error = await response.json()
        self.assertEqual(error["shot"], 2)
        kept = watcher.of_type("photo_captured")[0]["filename"]
        self.assertEqual(error["shots"], [kept])
        self.assertIn("shot 2 of 2 failed", error["error"])
        self.assertEqual(os.listdir(self.photos), [kept])

    async def test_composition_leaves_live_view_alone(self):
        """
        Four full-size stills composed at the default window size: live
        view frames keep coming meanwhile, and the composing runs in a
        thread, never on the reactor's. (How long the reactor waited
        between beats is logged, not asserted: on a shared machine under
        load the scheduler alone can hold it up for longer than any
        bound worth asserting; the benchmark measures latencies.)
        """
        import threading
        from fourcut.booth import strips as strips_module
        # The test runs in the reactor's thread.
        reactor_thread = threading.get_ident()
        composed_in_reactor = []
        compose = strips_module.compose

        def watched_compose(*args, **kwargs):
            composed_in_reactor.append(
                threading.get_ident() == reactor_thread)
            return compose(*args, **kwargs)
        self.patch(strips_module, "compose", watched_compose)
        booth = self.service.booth
        # The grid at the default window size, not the template.
        booth.strips.style = lambda: StripStyle()
        shots = []
        for _ in range(4):
            shots.append(await self.session.capture())
        self.assertEqual(jpeg_size(shots[0][2]), (5184, 3456))
        watcher = await self.client()
        await watcher.reply({"type": "start_preview", "requestId": 1,
                             "format": "binary"})
        await self.frames_after(watcher, 5, binary=True)
        lags = []
        last = [time.monotonic()]

        def beat():
            now = time.monotonic()
            lags.append(now - last[0])
            last[0] = now
        heart = task.LoopingCall(beat)
        heart.start(0.01)
        try:
            before = len(watcher.frames)
            started = time.monotonic()
            fields = await booth.strips(shots, SequenceRequest(
                4, 3, 1.0, parse_layout("2x2")), "seq")
            took = time.monotonic() - started
            during = len(watcher.frames) - before
        finally:
            heart.stop()
        log.info("composition of four 5184x3456 stills: {took:.2f} s, "
                 "{during} frames meanwhile, longest reactor gap "
                 "{lag:.3f} s", took=took, during=during, lag=max(lags))
        image = Image.open(fields["filepath"])
        self.assertEqual(image.size, (1900, 1300))
        self.assertGreater(during, took * 5,
                           "%d frames in %.2f s of composition"
                           % (during, took))
        self.assertEqual(composed_in_reactor, [False])


class GuestLinkTests(WebSocketTestCase):
    """
    A token and booth.guest_links: true. A guest's phone downloads its
    strip by its link without the token, and nothing else.
    """

    config = {"booth": dict(BOOTH, countdown=0,
                            public_url="http://booth.example:8080"),
              "access": {"token": TOKEN}}
    guest_links = True

    def setUp(self):
        self.config = dict(self.config)
        self.config["booth"] = dict(self.config["booth"],
                                    guest_links=self.guest_links)
        return WebSocketTestCase.setUp(self)

    def with_token(self):
        return {"Authorization": ["Bearer " + TOKEN]}

    async def strip(self):
        response = await treq.post(
            self.base + "/sequence?layout=1x1",
            headers=dict(self.with_token(), Accept=["application/json"]),
            **self.http_options())
        self.assertEqual(response.code, 200)
        return await response.json()

    async def test_guest_download(self):
        event = await self.strip()
        self.assertEqual(event["share_url"],
                         "http://booth.example:8080" + event["share"])
        response = await self.get(event["share"])
        self.assertEqual(response.code, 200)
        with open(event["filepath"], "rb") as f:
            self.assertEqual(await response.content(), f.read())
        self.assertEqual(response.headers.getRawHeaders("referrer-policy"),
                         ["no-referrer"])
        # HEAD and Range work as on /photos/NAME.
        response = await treq.get(self.base + event["share"],
                                  headers={"Range": ["bytes=0-1"]},
                                  **self.http_options())
        self.assertEqual(response.code, 206)
        self.assertEqual(await response.content(), b"\xff\xd8")
        # Without the token: not the photos, not its shots, not another
        # key, not a photo that is no strip.
        key = event["share"].split("/")[2]
        shot = event["shots"][0]
        for path in ["/photos/" + event["filename"], "/photos",
                     "/share/%s/%s" % (key, shot),
                     "/share/%s/%s" % ("A" * 22, event["filename"]),
                     "/share/%s/%s" % (key[:-1] + "x", event["filename"]),
                     "/share/%s/..%%2f%s" % (key, event["filename"]),
                     "/share/" + key, "/thumbnails/" + shot]:
            response = await self.get(path)
            self.assertIn(response.code, (401, 404), path)
            if path.startswith("/share/"):
                self.assertEqual(response.code, 404, path)
        # The listing (with the token) gives the operator each strip's link.
        response = await treq.get(self.base + "/photos",
                                  headers=self.with_token(),
                                  **self.http_options())
        strips = [p for p in (await response.json())["photos"]
                  if p["kind"] == "strip"]
        self.assertEqual(strips[0]["share"], event["share"])

    async def test_share_page(self):
        """
        A phone opening the link gets the share page: the strip, its shot,
        download buttons, all on the strip's own link; each of them
        answers without the token; a shot that is not the strip's is a
        404.
        """
        event = await self.strip()
        page = {"Accept": ["text/html,application/xhtml+xml,*/*;q=0.8"]}
        response = await treq.get(self.base + event["share"], headers=page,
                                  **self.http_options())
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["text/html; charset=utf-8"])
        body = (await response.content()).decode("utf-8")
        link = event["share"]
        for expected in ['src="%s"' % link, 'href="%s?download=1"' % link,
                         'src="%s?shot=1&amp;size=small"' % link,
                         'href="%s?shot=1&amp;download=1"' % link,
                         "Download the strip", "Download photo 1"]:
            self.assertIn(expected, body)
        self.assertNotIn("?shot=2", body)
        self.assertNotIn(event["shots"][0], body)
        response = await self.get(link + "?download=1")
        self.assertEqual(response.code, 200)
        self.assertTrue(response.headers.getRawHeaders(
            "content-disposition")[0].startswith("attachment;"))
        with open(event["filepath"], "rb") as f:
            self.assertEqual(await response.content(), f.read())
        response = await self.get(link + "?shot=1&download=1")
        self.assertEqual(response.code, 200)
        with open(os.path.join(self.photos, event["shots"][0]), "rb") as f:
            self.assertEqual(await response.content(), f.read())
        response = await self.get(link + "?shot=1&size=small")
        self.assertEqual(response.code, 200)
        width, height = jpeg_size(await response.content())
        self.assertLessEqual(max(width, height), 1000)
        for query in ("?shot=2", "?shot=0", "?shot=x", "?shot=-1"):
            response = await self.get(link + query)
            self.assertEqual(response.code, 404, query)
        wrong = "/share/%s/%s" % ("A" * 22, event["filename"])
        response = await treq.get(self.base + wrong + "?shot=1",
                                  headers=page, **self.http_options())
        self.assertEqual(response.code, 404)

    async def test_pages_are_public(self):
        for path, kind in [("/booth", b"text/html"), ("/booth/", b"text/html"),
                           ("/gallery", b"text/html"),
                           ("/booth/static/booth.js", b"javascript"),
                           ("/booth/static/common.js", b"javascript"),
                           ("/booth/static/booth.css", b"text/css"),
                           ("/booth/static/gallery.js", b"javascript")]:
            response = await self.get(path)
            self.assertEqual(response.code, 200, path)
            self.assertIn(kind, response.headers.getRawHeaders(
                b"content-type")[0], path)
            body = await response.content()
            # Nothing fetched from anywhere but fourcut.
            self.assertNotIn(b"http://", body.replace(
                b"http://www.w3.org", b""), path)
            self.assertNotIn(b"https://", body, path)
        response = await self.get("/booth/config.json")
        settings = await response.json()
        self.assertEqual(settings, {
            "mirror": True, "return_after": 30.0, "layout": "1x4",
            "countdown": 0, "interval": 0.3, "auth_required": True,
            "guest_links": self.guest_links, "event_name": None,
            "theme": "classic", "logo": False, "attract_after": 60.0,
            "review": 0.0, "retake": False})
        response = await self.get("/booth/theme.css")
        self.assertEqual(response.code, 200)
        self.assertIn(b"--accent: #e8334a;", await response.content())
        response = await self.get("/booth/theme/logo")
        self.assertEqual(response.code, 404)
        for path in ("/booth/static/", "/booth/static/nothing.js",
                     "/booth/static/../config.json"):
            response = await self.get(path)
            self.assertEqual(response.code, 404, path)
        # The sequence itself needs the token.
        response = await treq.post(self.base + "/sequence",
                                   **self.http_options())
        self.assertEqual(response.code, 401)
        response = await treq.post(self.base + "/sequence/retake",
                                   **self.http_options())
        self.assertEqual(response.code, 401)
        # With it: no shot on screen to take again.
        for path, code in (("/sequence/retake?shot=1", 409),
                           ("/sequence/retake?shot=x", 400),
                           ("/sequence/other", 404)):
            response = await treq.post(self.base + path,
                                       headers=self.with_token(),
                                       **self.http_options())
            self.assertEqual(response.code, code, path)
            self.assertIn("error", await response.json())

    async def test_thumbnail(self):
        event = await self.strip()
        response = await treq.get(
            self.base + "/thumbnails/" + event["shots"][0],
            headers=self.with_token(), **self.http_options())
        self.assertEqual(response.code, 200)
        self.assertEqual(max(jpeg_size(await response.content())), 400)
        for name in ("missing.jpg", "..", ".incoming-1-1.tmp"):
            response = await treq.get(self.base + "/thumbnails/" + name,
                                      headers=self.with_token(),
                                      **self.http_options())
            self.assertEqual(response.code, 404, name)


class NoGuestLinkTests(GuestLinkTests):
    """
    A token and booth.guest_links: false: no guest link, and /share/
    needs the token like everything else.
    """

    guest_links = False

    async def test_share_page(self):
        event = await self.strip()
        for query in ("", "?shot=1", "?download=1"):
            response = await self.get(event["share"] + query)
            self.assertEqual(response.code, 401, query)

    async def test_guest_download(self):
        event = await self.strip()
        self.assertIsNone(event["share_url"])
        self.assertIsNone(event["qr"])
        response = await self.get(event["share"])
        self.assertEqual(response.code, 401)
        response = await treq.get(self.base + event["share"],
                                  headers=self.with_token(),
                                  **self.http_options())
        self.assertEqual(response.code, 200)
        client = await connect(self, self.port, path="/ws?token=" + TOKEN)
        await client.wait_for(lambda: len(client.messages) >= 2)
        settings = await (await self.get("/booth/config.json")).json()
        self.assertFalse(settings["guest_links"])


