"""
Issue 25's attacks against the real server on the virtual Canon EOS 700D
on USB, with an access token set, while a screen watches live view over
HTTP and another over the WebSocket: each attack runs beside live view,
whose frame rate is measured against the rate before any attack. One
server for every shape (its start is most of the cost); the bounds
themselves are tested in memory (L{tests.web.test_hostile}).
"""

import gc
import os
import statistics
import time

import treq
from twisted.internet import protocol, reactor, task
from twisted.logger import formatEvent, globalLogPublisher

from fourcut.booth import links
from fourcut.booth.strip import StripStyle, compose
from fourcut.config import parse_layout

from tests.support import EOS_USB
from tests.support.access import TOKEN, WRONG, bearer
from tests.support.clients import RawHTTP, connect_raw
from tests.support.fakes import small_jpeg
from tests.support.service import ServiceTestCase
from tests.support.time import sleep
from tests.support.wsclient import connect
from tests.support.wsmemory import client_frame

HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"

HANDSHAKE = (b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             b"Connection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             b"Sec-WebSocket-Version: 13\r\n\r\n")


def rss():
    """
    This process's resident memory in bytes (the server runs in it).
    """
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settled_rss():
    """
    L{rss} once Python's garbage is collected.
    """
    gc.collect()
    return rss()


class Peak:
    """
    The highest L{rss} seen, sampled every 0.1 s until L{stop}.
    """

    def __init__(self):
        self.value = rss()
        self._loop = task.LoopingCall(self.sample)
        self._loop.start(0.1)

    def sample(self):
        self.value = max(self.value, rss())

    def stop(self):
        self.sample()
        if self._loop.running:
            self._loop.stop()


class FrameCounter(RawHTTP):
    """
    A live view screen over HTTP: counts the parts of the multipart
    stream.
    """

    def __init__(self, request):
        RawHTTP.__init__(self, request, keep=False)
        self.frames = 0
        self._tail = b""

    def dataReceived(self, data):
        RawHTTP.dataReceived(self, data)
        data = self._tail + data
        self.frames += data.count(b"--frame\r\n")
        self._tail = data[-16:]


class HostileTests(ServiceTestCase):
    timeout = 180
    virtual = EOS_USB
    config = {"access": {"token": TOKEN},
              "booth": {"guest_links": True},
              "server": {"max_unauthenticated": 8,
                         "max_unauthenticated_per_address": 8,
                         "max_unauthenticated_hold": 3.0,
                         "unread_timeout": 3.0,
                         "access_log_rate": 20.0}}

    def camera_frame(self):
        latest = self.broadcaster.latest
        return latest.number if latest is not None else 0

    async def rates(self, seconds=1.0):
        """
        Frames a second each live view screen (HTTP, WebSocket) got over
        C{seconds}, and the camera's own rate meanwhile.
        """
        http, ws = self.http_screen.frames, self.ws_frames
        camera = self.camera_frame()
        await sleep(seconds)
        return ((self.http_screen.frames - http) / seconds,
                (self.ws_frames - ws) / seconds,
                (self.camera_frame() - camera) / seconds)

    async def assertLiveViewHolds(self, what, seconds=1.0):
        """
        Each screen gets the camera's frames beside the attack. The
        virtual camera is served by the same reactor (and slows down on
        a loaded machine): the camera must keep at least 40 % of its rate
        before the attacks (a reactor taken by an attack starves it: 0 to
        4 frames a second before issue 25's fixes), and each screen must
        get three quarters of the frames it had meanwhile.
        """
        http, ws, camera = await self.rates(seconds)
        self.figures[what] = (round(http, 1), round(ws, 1), round(camera, 1))
        self.assertGreater(camera, max(5, 0.4 * self.baseline[2]),
                           "the camera's own rate fell during %s" % (what,))
        for name, rate in (("HTTP", http), ("WebSocket", ws)):
            self.assertGreater(rate, camera * 0.75,
                               "%s live view during %s: %.1f fps, the "
                               "camera %.1f" % (name, what, rate, camera))

    async def timed_get(self, path, headers=None):
        started = time.monotonic()
        response = await treq.get(self.base + path, headers=headers or {},
                                  **self.http_options())
        body = await response.content()
        return response.code, body, time.monotonic() - started

    async def test_attacks_beside_live_view(self):
        self.figures = {}
        # A strip to share, as the booth makes one (a whole sequence is
        # tested in tests.integration.test_booth_*; four captures would
        # double this test's time).
        key = links.new_key()
        name = links.strip_name_hint() + ".jpg"
        os.makedirs(self.photos, exist_ok=True)
        with open(os.path.join(self.photos, name), "wb") as f:
            f.write(compose([small_jpeg()] * 4, parse_layout("2x2"),
                            StripStyle(window=(120, 80), margin=10,
                                       spacing=6, background=(255, 255, 255),
                                       quality=90),
                            {"key": key, "layout": "2x2",
                             "shots": ["a.jpg"] * 4}))
        share = "/share/%s/%s" % (key, name)

        self.http_screen = await connect_raw(self, self.port, FrameCounter(
            b"GET /preview?token=" + TOKEN.encode() + b" HTTP/1.1\r\n"
            b"Host: x\r\n\r\n"))
        self.ws_screen = await connect(self, self.port, "/ws?token=" + TOKEN)
        # Counted, not kept: the test's own memory stays put (the server's
        # is measured in this process).
        self.ws_frames = 0

        def count(frame):
            self.ws_frames += 1

        self.ws_screen.on_binary = count
        # The booth's own screens ask for sizes: the first one loads the
        # downscaler (libturbojpeg, once) and starts
        # the encoding threads, which the memory figures below are not
        # about.
        await self.ws_screen.reply({"type": "start_preview",
                                    "format": "binary", "width": 480,
                                    "requestId": 1})
        await sleep(0.3)
        await self.ws_screen.reply({"type": "start_preview",
                                    "format": "binary", "requestId": 1})
        await sleep(1.0)
        self.baseline = await self.rates()
        self.assertGreater(min(self.baseline), 5, self.baseline)
        self.figures["before"] = self.baseline

        before = settled_rss()
        self.peak = Peak()
        self.addCleanup(self.peak.stop)
        phases = []
        for attack in (self.unread_pipelines, self.endless_message,
                       lambda: self.busy_strangers(share),
                       self.token_guessing, self.downscaled_sizes,
                       self.small_errors, lambda: self.share_timing(share)):
            await attack()
            phases.append(round(settled_rss() / 1e6, 1))
        self.figures["memory after each attack (MB)"] = phases
        self.peak.stop()
        # Memory returns to its level once the attackers have gone: what
        # they made the server hold (answers queued, requests read,
        # fragments, log lines) is freed and given back (the WebSocket
        # attackers' trim, 2 s after they left, is long done). Python's
        # and glibc's allocators keep some arenas, and this test's own
        # lists grow: a few MB.
        await sleep(1.0)
        after = settled_rss()
        self.figures["memory before, peak, 1 s after the attacks (MB)"] = (
            round(before / 1e6, 1), round(self.peak.value / 1e6, 1),
            round(after / 1e6, 1))
        print("\nlive view fps (HTTP, WebSocket, camera): %s" % (
            "; ".join("%s %r" % item for item in self.figures.items())))
        self.assertLess(after - before, 10 * 1024 * 1024,
                        (before, self.peak.value, after))

    async def unread_pipelines(self):
        """
        Eight connections pipeline C{GET /health} and never read: reading
        them stops, memory stays put, the log stays within its rate, the
        token holder's C{/health} is answered, and they are dropped after
        the unread timeout.
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        before = settled_rss()
        started = time.monotonic()
        clients = []
        for _ in range(8):
            client = await connect_raw(self, self.port, RawHTTP(read=False))
            # More than the kernel's buffers take: the rest waits here.
            client.transport.write(HEALTH * 30000)
            clients.append(client)
        await self.assertLiveViewHolds("unread pipelines")
        code, body, took = await self.timed_get("/health", bearer(TOKEN))
        self.assertEqual(code, 200)
        self.assertLess(took, 1.0)
        # At most max_unsent_bytes (1 MiB) of answers each, and their
        # requests read meanwhile (their own 8 MB of pipelined requests,
        # in this process too, are mostly in the kernel's buffers).
        self.peak.sample()
        grown = self.peak.value - before
        self.assertLess(grown, 80 * 1024 * 1024, grown)
        self.figures["unread pipelines: memory grown (MB)"] = round(
            grown / 1e6, 1)
        for client in clients:
            client.transport.abortConnection()
        texts = [formatEvent(event) or "" for event in events]
        lines = [t for t in texts if '"GET /health' in t]
        summaries = [t for t in texts if "more requests not logged" in t]
        self.figures["access log lines, unread pipelines (summaries)"] = (
            len(lines), len(summaries))
        # server.access_log_rate: 20 lines a second after a second's burst.
        self.assertLessEqual(len(lines),
                             20 * (time.monotonic() - started + 1) + 1)
        self.assertTrue(summaries)

    async def endless_message(self):
        """
        A text message started and continued with empty frames, for ever:
        the client is dropped, live view holds.
        """
        client = await connect_raw(self, self.port, RawHTTP(HANDSHAKE))
        await sleep(0.2)
        self.assertTrue(client.data.startswith(b"HTTP/1.1 101"))
        client.transport.write(client_frame(0x1, b"{", fin=False))
        sent = 0
        started = time.monotonic()
        while not client.lost.called and time.monotonic() - started < 5:
            client.transport.write(client_frame(0x0, b"", fin=False) * 20)
            sent += 20
            await sleep(0.01)
        self.assertTrue(client.lost.called, "still connected")
        self.figures["endless message: frames before the drop"] = sent
        await self.assertLiveViewHolds("after the endless message")

    async def busy_strangers(self, share):
        """
        Every unauthenticated slot held by anonymous live view: the booth
        page, its WebSocket (authenticating by message) and a guest's
        share link get in; a multi-range request on a booth file is
        answered at once rather than holding a slot.
        """
        strangers = []
        for _ in range(8):
            strangers.append(await connect_raw(self, self.port, FrameCounter(
                b"GET /preview HTTP/1.1\r\nHost: x\r\n\r\n")))
        await sleep(0.3)
        await self.assertLiveViewHolds("busy strangers")
        code, body, took = await self.timed_get("/booth")
        self.assertEqual(code, 200)
        booth = await connect(self, self.port)
        reply = await booth.reply({"type": "auth", "token": TOKEN,
                                   "requestId": 2})
        self.assertEqual(reply["type"], "authenticated")
        code, body, took = await self.timed_get(share)
        self.assertEqual(code, 200)
        self.assertTrue(body.startswith(b"\xff\xd8"))
        ranges = await connect_raw(self, self.port, RawHTTP(
            b"GET /booth/static/booth.js HTTP/1.1\r\nHost: x\r\nRange: bytes="
            + b",".join([b"0-0"] * 1000) + b"\r\n\r\n"))
        await sleep(0.5)
        self.assertTrue(ranges.data.startswith(b"HTTP/1.1 206"),
                        ranges.data[:60])
        for client in strangers:
            client.transport.abortConnection()
        booth.transport.abortConnection()
        await sleep(0.2)

    async def token_guessing(self):
        """
        Wrong tokens pipelined on one connection: a handful answered in 3
        s, logged once; the right token from another address at once.
        """
        guess = (b"GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                 + WRONG.encode() + b"\r\n\r\n")
        guesser = await connect_raw(self, self.port, RawHTTP(guess * 300))
        await self.assertLiveViewHolds("token guessing", 2.0)
        answered = guesser.data.count(b"HTTP/1.1 401")
        # 0.05 + 0.1 + 0.2 + 0.4 + 0.8 s: five, then 1.6 s for the sixth.
        self.figures["wrong tokens answered in 2 s"] = answered
        self.assertLess(answered, 8)
        self.assertGreater(answered, 2)
        right = RawHTTP(b"GET /status HTTP/1.1\r\nHost: x\r\n"
                        b"Authorization: Bearer " + TOKEN.encode()
                        + b"\r\n\r\n")
        started = time.monotonic()
        await protocol.ClientCreator(reactor, lambda: right).connectTCP(
            "127.0.0.1", self.port, bindAddress=("127.0.0.2", 0))
        self.addCleanup(lambda: right.transport.abortConnection()
                        if right.transport.connected else None)
        while right.response() is None and time.monotonic() - started < 5:
            await sleep(0.01)
        self.assertTrue(right.data.startswith(b"HTTP/1.1 200"))
        self.assertLess(time.monotonic() - started, 1.0)
        guesser.transport.abortConnection()

    async def downscaled_sizes(self):
        anonymous = []
        for width in (100, 101, 102, 103):
            client = await connect_raw(self, self.port, RawHTTP(
                b"GET /preview?width=%d HTTP/1.1\r\nHost: x\r\n\r\n" % width,
                keep=True))
            anonymous.append(client)
        await sleep(0.5)
        codes = [c.data[9:12] for c in anonymous]
        self.assertEqual(sorted(codes), [b"200", b"200", b"200", b"503"])
        reply = await self.ws_screen.reply({
            "type": "start_preview", "format": "binary", "width": 480,
            "requestId": 3})
        self.assertEqual(reply["type"], "preview_started", reply)
        await self.ws_screen.reply({"type": "start_preview",
                                    "format": "binary", "requestId": 4})
        for client in anonymous:
            client.transport.abortConnection()

    async def small_errors(self):
        code, body, took = await self.timed_get("/booth/static/x%00")
        self.assertEqual(code, 400)
        response = await treq.post(self.base + "/sequence?count=%C2%B2",
                                   headers=bearer(TOKEN),
                                   **self.http_options())
        self.assertEqual(response.code, 400)
        await response.content()
        reply = await self.ws_screen.reply({
            "type": "capture_sequence", "count": "\u00b2", "requestId": 5})
        self.assertEqual((reply["type"], reply.get("code")), ("error", 400))

    async def share_timing(self, share):
        """
        A wrong key on an existing strip and on a missing one take the
        same time (issue 25: 820 against 690 microseconds).
        """
        _, _, key, name = share.split("/")
        wrong = "x" * len(key)
        existing, missing = [], []
        for _ in range(40):
            for path, times in (("/share/%s/%s" % (wrong, name), existing),
                                ("/share/%s/strip-nothere.jpg" % (wrong,),
                                 missing)):
                code, _, took = await self.timed_get(path)
                self.assertEqual(code, 404)
                times.append(took)
        existing, missing = (statistics.median(existing),
                             statistics.median(missing))
        self.figures["share over HTTP, wrong key, existing vs missing "
                     "(us)"] = (round(existing * 1e6), round(missing * 1e6))
        # Over HTTP the difference drowns in the noise of a loaded
        # machine; the server's own work, timed in process, must match.
        path = os.path.join(self.photos, name)
        work = {}
        for label, target in (("existing", path),
                              ("missing", path + ".missing.jpg")):
            times = []
            for _ in range(300):
                started = time.perf_counter()
                links.stored_key(target)
                times.append(time.perf_counter() - started)
            work[label] = statistics.median(times)
        self.figures["share key lookup, existing vs missing (us)"] = (
            round(work["existing"] * 1e6, 1), round(work["missing"] * 1e6, 1))
        self.assertLess(abs(work["existing"] - work["missing"]),
                        0.3 * max(work.values()) + 5e-6)
