"""
WebSocket clients that send and never read (L{tests.support.floodclient}, each its
own process), against fourcut in the test process: what the server holds
for them is bounded by C{server.max_unsent_bytes}, measured as the RSS of
this process (which hosts the server) before, during and after; floods
are closed; a client that keeps sending is still dropped by the keepalive;
and a viewer beside them keeps getting frames.
"""

import gc
import os
import sys

from twisted.internet import defer, protocol, reactor

from tests.support.access import TOKEN
from tests.support import ROOT
from tests.support.service import ServiceTestCase
from tests.support.time import sleep
from tests.support.wsclient import connect


#: The configured limit of unread bytes per client.
MAX_UNSENT = 256 * 1024

#: What else the process may grow by while the floods run (Python's
#: allocator, frames in flight, the floods' input being parsed).
SLACK = 12 * 1024 * 1024

#: How far from where it started RSS may be once the floods are gone.
AFTER_SLACK = 5 * 1024 * 1024


def rss():
    """
    This process's resident set size in bytes.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class Flooder(protocol.ProcessProtocol):
    def __init__(self, mode):
        self.mode = mode
        self.output = b""
        self.opened = defer.Deferred()
        self.ended = defer.Deferred()

    def outReceived(self, data):
        self.output += data
        if b"OPEN" in self.output and not self.opened.called:
            self.opened.callback(None)
        elif b"REFUSED" in self.output and not self.opened.called:
            self.opened.errback(ConnectionError(self.output))

    def errReceived(self, data):
        sys.stderr.write(data.decode("utf-8", "replace"))

    def processEnded(self, reason):
        if not self.opened.called:
            self.opened.errback(ConnectionError(self.output))
        self.ended.callback(None)

    @property
    def closed_by_server(self):
        return b"CLOSED" in self.output


class FloodTestCase(ServiceTestCase):
    config = {"access": {"token": TOKEN},
              "server": {"max_unsent_bytes": MAX_UNSENT}}

    def flood(self, mode, path, seconds=20):
        flooder = Flooder(mode)
        transport = reactor.spawnProcess(
            flooder, sys.executable,
            [sys.executable, "-m", "tests.support.floodclient", str(self.port), path,
             mode, str(seconds)], env=dict(os.environ, PYTHONPATH=ROOT),
            path=ROOT)

        def end():
            if not flooder.ended.called:
                transport.signalProcess("KILL")
                return flooder.ended
        self.addCleanup(end)
        return flooder

    async def viewer(self):
        client = await connect(self, self.port, "/ws?token=" + TOKEN)
        client.count = 0

        def frame(data):
            client.count += 1
        client.on_binary = frame
        await client.reply({"type": "start_preview", "requestId": "v",
                            "format": "binary"}, timeout=30)
        await client.wait_for(lambda: client.count >= 10, timeout=30)
        return client

    async def settle(self, seconds=2.0):
        await sleep(seconds)
        gc.collect()
        return rss()


class FloodTests(FloodTestCase):
    async def test_floods_are_bounded_and_closed(self):
        """
        Four clients that send as fast as they can and never read (small
        requests, pings, requests answered with 60 KB errors; one of them
        without the token): the server stops reading them when they are
        over their limit, closes them, holds at most about the limit for
        each meanwhile, and gives the memory back.
        """
        # Those that are only held back (not reading, so not sending
        # either) go at the keepalive, here sooner than in 30 s.
        # Read when the first /ws client makes Autobahn's factory.
        websocket = self.service.websocket
        websocket.ping_interval, websocket.ping_timeout = 2, 3
        viewer = await self.viewer()
        before = await self.settle()
        flooders = [self.flood("requests", "/ws?token=" + TOKEN),
                    self.flood("pings", "/ws?token=" + TOKEN),
                    self.flood("big", "/ws?token=" + TOKEN),
                    self.flood("requests", "/ws")]
        for flooder in flooders:
            await flooder.opened
        peak = before
        frames = viewer.count
        for _ in range(300):
            peak = max(peak, rss())
            if all(f.ended.called for f in flooders):
                break
            await sleep(0.05)
        for flooder in flooders:
            await flooder.ended.addTimeout(30, reactor)
        after = await self.settle()
        sys.stderr.write("flood RSS: before %.1f MB, peak %.1f MB, after "
                         "%.1f MB\n" % (before / 2**20, peak / 2**20,
                                        after / 2**20))
        self.assertLess(peak - before, len(flooders) * MAX_UNSENT + SLACK)
        self.assertLess(after - before, AFTER_SLACK)
        for flooder in flooders:
            self.assertTrue(flooder.closed_by_server,
                            (flooder.mode, flooder.output))
        # The viewer beside them was served throughout, and still is.
        self.assertGreater(viewer.count, frames + 10)
        reply = await viewer.reply({"type": "get_camera_info",
                                    "requestId": "after"})
        self.assertEqual(reply["type"], "camera_info")
        self.assertEqual(len(self.service.websocket.clients), 1)

    async def test_sender_dropped_by_keepalive(self):
        """
        A client that sends a few requests a second (under the rate limit)
        but never reads is dropped when it does not answer a ping: its
        other traffic does not count as an answer.
        """
        # Read when the first /ws client makes Autobahn's factory.
        websocket = self.service.websocket
        websocket.ping_interval, websocket.ping_timeout = 1, 2
        flooder = self.flood("slow", "/ws?token=" + TOKEN, seconds=15)
        await flooder.opened
        await flooder.ended.addTimeout(30, reactor)
        self.assertTrue(flooder.closed_by_server, flooder.output)
        self.assertEqual(self.service.websocket.clients, set())
