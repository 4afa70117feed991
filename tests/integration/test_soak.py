"""
A short soak: the booth's own clients (viewers, captures) and one hostile
client of each kind at once for a minute, against fourcut with its virtual
camera and the real gphoto2. Afterwards the server is healthy, every photo
is on disk and on the card, its RSS is back within a few MB of where it
started (the photos now on the virtual camera's card aside: it is in this
process too), and no gphoto2 is left.
"""

import gc
import os
import sys

import treq
from twisted.internet import defer, protocol, reactor, task

from tests.support import PTPIP
from tests.support.access import TOKEN
from tests.integration.test_flood import Flooder, ROOT, rss
from tests.integration.test_limits import Dripper, LimitTestCase
from tests.support.service import gphoto2_children
from tests.support.time import sleep
from tests.support.wsclient import connect

#: Seconds the hostile clients run.
DURATION = 60.0

#: How far RSS may end up from where it started (beyond the photos on the
#: virtual camera's card, which lives in this process).
RSS_SLACK = 10 * 1024 * 1024


class Keep(protocol.ClientFactory):
    """
    Keeps C{count} connections of C{protocol} open, reconnecting those the
    server closes, until stopped.
    """

    def __init__(self, port, make, count):
        self.port = port
        self.make = make
        self.count = count
        self.open = set()
        self.made = 0
        self.running = True

    def buildProtocol(self, addr):
        client = self.make()
        client.factory = self
        return client

    def top_up(self):
        while self.running and len(self.open) + self._connecting < self.count:
            self._connecting += 1
            self.made += 1
            reactor.connectTCP("127.0.0.1", self.port, self)

    _connecting = 0

    def startedConnecting(self, connector):
        pass

    def clientConnectionFailed(self, connector, reason):
        self._connecting -= 1

    def clientConnectionLost(self, connector, reason):
        pass

    def protocol_made(self):
        self._connecting -= 1

    def stop(self):
        self.running = False
        for client in list(self.open):
            client.transport.abortConnection()


class _Counted:
    def connectionMade(self):
        self.factory.protocol_made()
        self.factory.open.add(self)
        super().connectionMade()

    def connectionLost(self, reason):
        self.factory.open.discard(self)
        super().connectionLost(reason)


class CountedSilent(_Counted, protocol.Protocol):
    pass


class CountedDripper(_Counted, Dripper):
    pass


class SoakTests(LimitTestCase):
    #: The generic camera over PTP/IP, which keeps every photo on its card
    #: (the EOS keeps a capture to its RAM nowhere), so that the soak can
    #: count them there; the access and limit tests run on the EOS on USB.
    virtual = PTPIP
    config = {"access": {"token": TOKEN},
              "camera": {"restart_delay": 1.0},
              "server": {"max_unsent_bytes": 256 * 1024,
                         "header_timeout": 3.0, "auth_timeout": 2.0,
                         "max_unauthenticated": 16,
                         "max_unauthenticated_per_address": 8}}

    def card_bytes(self):
        return sum(len(stored.data)
                   for stored in self.camera.device.objects.values())

    def headers(self, **more):
        headers = {"Authorization": ["Bearer " + TOKEN]}
        headers.update(more)
        return headers

    async def test_soak(self):
        # Read when the first /ws client makes Autobahn's factory.
        websocket = self.service.websocket
        websocket.ping_interval, websocket.ping_timeout = 2, 3
        frames = []
        viewers = []
        for n in range(2):
            viewer = await connect(self, self.port, "/ws?token=" + TOKEN)
            viewer.on_binary = lambda data: frames.append(reactor.seconds())
            await viewer.reply({"type": "start_preview", "requestId": n,
                                "format": "binary"}, timeout=30)
            viewers.append(viewer)
        await viewers[0].wait_for(lambda: len(frames) >= 30, timeout=30)
        # The booth's own: captures over HTTP and WebSocket, in turn.
        photos = []
        owner = await connect(self, self.port, "/ws?token=" + TOKEN)

        async def capture(n):
            if n % 2:
                response = await treq.get(
                    self.base + "/capture", headers=self.headers(),
                    pool=self.pool).addTimeout(90, reactor)
                self.assertEqual(response.code, 200)
                await response.content()
                name = response.headers.getRawHeaders(
                    "content-disposition")[0].split('"')[1]
            else:
                reply = await owner.reply({"type": "capture_photo",
                                           "requestId": n}, timeout=90)
                self.assertEqual(reply["type"], "photo_captured", reply)
                name = reply["filename"]
                # Not the test's memory to count: the photos it got.
                del owner.messages[:]
            photos.append(name)

        # Warm up first: the first captures raise the allocator's high
        # water mark (photos and their base64 replies), and the baseline
        # is the server at work, not the server idle.
        for n in range(1, 5):
            await capture(n)
        await sleep(2)
        gc.collect()
        before = rss()
        card_before = self.card_bytes()
        start = reactor.seconds()
        end = start + DURATION
        errors = []

        # Hostile: floods (each kind), restarted when the server closes
        # them.
        flooders = []
        started = []

        def flood(mode, path):
            if reactor.seconds() >= end:
                return
            flooder = Flooder(mode)
            transport = reactor.spawnProcess(
                flooder, sys.executable,
                [sys.executable, "-m", "tests.support.floodclient", str(self.port),
                 path, mode, "20"], env=dict(os.environ, PYTHONPATH=ROOT),
                path=ROOT)
            flooder.transport = transport
            flooders.append(flooder)
            started.append(mode)
            flooder.opened.addErrback(lambda f: None)

            def ended(_):
                flooders.remove(flooder)
                reactor.callLater(0.5, flood, mode, path)
            flooder.ended.addCallback(ended)

        def end_flooders():
            for flooder in flooders:
                if not flooder.ended.called:
                    flooder.transport.signalProcess("KILL")
            return defer.gatherResults([f.ended for f in list(flooders)])
        self.addCleanup(end_flooders)
        flood("requests", "/ws?token=" + TOKEN)
        flood("pings", "/ws")
        flood("big", "/ws?token=" + TOKEN)

        # Hostile: silent and drip-fed connections, anonymous WebSockets.
        silent = Keep(self.port, CountedSilent, 20)
        drippers = Keep(self.port, CountedDripper, 4)
        for keep in (silent, drippers):
            self.addCleanup(keep.stop)
        topping = task.LoopingCall(lambda: [silent.top_up(),
                                            drippers.top_up()])
        topping.start(0.2)
        self.addCleanup(lambda: topping.running and topping.stop())
        anonymous = []

        async def anonymous_churn():
            while reactor.seconds() < end:
                try:
                    client = await connect(self, self.port)
                    anonymous.append(client)
                except ConnectionError:
                    pass
                await sleep(0.5)

        # Hostile: many ranges, tokens in paths and Referers.
        async def odd_requests():
            n = 0
            while reactor.seconds() < end:
                n += 1
                odd = [("/" + TOKEN + "/capture", {}),
                       ("/health", {"Referer": ["http://x/?token="
                                                + TOKEN]})]
                if photos:
                    odd.append(("/photos/" + photos[0], self.headers(
                        Range=["bytes=" + "0-," * 3000])))
                for path, headers in odd:
                    try:
                        response = await treq.get(
                            self.base + path, headers=headers,
                            pool=self.pool).addTimeout(10, reactor)
                        await response.content()
                    except Exception as e:
                        errors.append(("odd", path, repr(e)))
                await sleep(0.3)

        async def captures():
            n = 4
            while reactor.seconds() < end:
                n += 1
                await capture(n)
                await sleep(4)

        children = []

        async def watch():
            while reactor.seconds() < end:
                children.append(len(gphoto2_children()))
                await sleep(0.5)

        await defer.gatherResults([
            defer.ensureDeferred(anonymous_churn()),
            defer.ensureDeferred(odd_requests()),
            defer.ensureDeferred(captures()),
            defer.ensureDeferred(watch())])

        # The hostile clients go.
        topping.stop()
        silent.stop()
        drippers.stop()
        await end_flooders()
        for client in anonymous:
            if client.transport is not None and client.transport.connected:
                client.transport.abortConnection()
        await sleep(2)

        # Healthy.
        self.assertEqual(errors, [])
        response = await treq.get(self.base + "/health", pool=self.pool)
        self.assertEqual(response.code, 200)
        await response.content()
        response = await treq.get(self.base + "/status",
                                  headers=self.headers(), pool=self.pool)
        self.assertEqual(response.code, 200)
        await response.content()
        reply = await owner.reply({"type": "get_camera_info",
                                   "requestId": "end"})
        self.assertEqual(reply["type"], "camera_info")
        # The viewers were served throughout, in every ten seconds.
        for window in range(int(DURATION // 10)):
            low = start + 10 * window
            self.assertTrue([t for t in frames if low <= t < low + 10],
                            "no frame in seconds %d-%d" % (10 * window,
                                                          10 * window + 10))
        after_frames = len(frames)
        await sleep(1)
        self.assertGreater(len(frames), after_frames)
        # Every photo on disk and on the card.
        self.assertGreater(len(photos), 5)
        self.assertEqual(sorted(os.listdir(self.photos)), sorted(photos))
        self.assertEqual(len(self.camera.device.objects), len(photos))
        # One gphoto2 at a time at most, for all the load.
        self.assertLessEqual(max(children), 1)
        # The limits were used.
        self.assertGreater(self.limits.evicted, 0)
        self.assertGreater(silent.made + drippers.made, 40)
        # And the memory is back.
        for viewer in viewers:
            viewer.on_binary = None
            viewer.transport.loseConnection()
        owner.transport.loseConnection()
        await sleep(3)
        gc.collect()
        after = rss()
        # The virtual camera's card is in this process too: the photos
        # taken meanwhile are on it, as they should be.
        card = self.card_bytes() - card_before
        sys.stderr.write("soak RSS: before %.1f MB, after %.1f MB (%.1f MB "
                         "of them new photos on the virtual card); %d "
                         "photos, %d frames, %d flooders, %d silent and %d "
                         "drip-fed connections, %d evicted, %d anonymous "
                         "WebSockets\n" % (
                             before / 2**20, after / 2**20, card / 2**20,
                             len(photos),
                             len(frames), len(started), silent.made,
                             drippers.made, self.limits.evicted,
                             len(anonymous)))
        self.assertLess(after - before - card, RSS_SLACK)
