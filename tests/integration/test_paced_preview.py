"""
Live view pacing through the whole service (issue 13): a client that
takes bytes slowly is sent the next frame only once its connection has
delivered nearly all of the last one, so the kernel never holds a backlog
of old frames for it; with C{preview.pacing: false} it does. /status
shows each watching client's figures.

The slow client reads about 300 KB/s through a 16 KB receive buffer: on
loopback the reader, not the link, is the bottleneck, which the pacer
measures the same way (bytes delivered over time). The checks are bounds
on what the server's kernel holds for the client, sampled while it
watches, not timings.
"""

import json
import socket

import treq
from twisted.internet import reactor, task

from fourcut.stream.pacing import KernelQueue

from tests.support.service import ServiceTestCase
from tests.support.time import sleep
from tests.support.wsclient import connect

#: Bytes the slow reader takes every READ_INTERVAL seconds (300 KB/s).
READ_BYTES = 6000
READ_INTERVAL = 0.02

#: How long the slow client is watched.
WATCH = 3.0


class SlowReader:
    """
    A bare client of C{/preview} with a small receive buffer that reads
    at a fixed, slow rate.
    """

    def __init__(self, testcase, port, path=b"/preview"):
        self.sock = socket.socket()
        testcase.addCleanup(self.sock.close)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.sock.connect(("127.0.0.1", port))      # loopback: at once
        self.sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.sock.setblocking(False)
        self.received = 0
        self.reading = task.LoopingCall(self.read)
        self.reading.clock = reactor
        testcase.addCleanup(self.stop)
        self.reading.start(READ_INTERVAL)

    def read(self):
        try:
            self.received += len(self.sock.recv(READ_BYTES))
        except BlockingIOError:
            pass

    def stop(self):
        if self.reading.running:
            self.reading.stop()


class PacedPreviewTests(ServiceTestCase):

    async def watch_slow_reader(self):
        """
        Start a L{SlowReader}, and sample what the server's kernel and
        Twisted hold for it every 10 ms for L{WATCH} seconds.

        @return: C{(largest queue, largest frame, its producer)}.
        """
        reader = SlowReader(self, self.port)
        while not self.broadcaster._subscribers:
            await sleep(0.01)
        (producer,) = list(self.broadcaster._subscribers)
        stream = producer._write.__self__
        transport = stream.request.channel.transport
        kernel = KernelQueue(transport.getHandle())
        self.assertEqual(kernel.method, "SIOCOUTQ")
        largest_queue = largest_frame = 0
        elapsed = 0.0
        while elapsed < WATCH:
            await sleep(0.01)
            elapsed += 0.01
            held = kernel.read() or 0
            largest_queue = max(largest_queue, held)
            if self.broadcaster.latest is not None:
                largest_frame = max(largest_frame,
                                    len(self.broadcaster.latest.data))
        reader.stop()
        self.assertGreater(reader.received, 300000 * WATCH / 3)
        self.assertGreater(largest_frame, 20000)
        return largest_queue, largest_frame, producer

    async def test_slow_reader_holds_no_backlog(self):
        """
        The kernel never holds much more than one frame for a slow reader:
        the next frame waits until the last has been taken, and frames
        that come meanwhile are skipped (the newest goes next).
        """
        queue, frame, producer = await self.watch_slow_reader()
        # One frame, its part headers, and what may still be left of the
        # frame before (peak rate x 30 ms: about 25 KB at most here).
        self.assertLess(queue, frame + 48 * 1024, (queue, frame))
        self.assertGreater(producer.sent, 2)
        self.assertGreater(producer.skipped, producer.sent)
        self.assertTrue(producer.waiting or producer.pending is None)
        self.assertEqual(producer.figures()["pacing"], "SIOCOUTQ")

    async def test_status_lists_clients(self):
        """
        /status shows each client watching: transport, peer, fps, frames
        sent and skipped, the last frame's age and the pacing.
        """
        reader = SlowReader(self, self.port)
        fast = await treq.get(self.base + "/preview?timeout=3",
                              unbuffered=True, pool=self.pool)
        collected = treq.collect(fast, lambda data: None)
        await sleep(1.5)
        response = await treq.get(self.base + "/status", pool=self.pool)
        body = json.loads(await response.content())
        clients = body["preview"]["clients"]
        self.assertEqual(len(clients), 2, clients)
        for client in clients:
            self.assertEqual(client["transport"], "http")
            self.assertTrue(client["peer"].startswith("127.0.0.1:"))
            self.assertEqual(client["pacing"], self.pacing_method)
            self.assertGreater(client["frames_sent"], 0)
            self.assertIsNotNone(client["last_frame_age_ms"])
        by_peer = {client["peer"]: client for client in clients}
        slow = by_peer["127.0.0.1:%d" % reader.sock.getsockname()[1]]
        (quick,) = [c for c in clients if c is not slow]
        self.assertGreater(quick["fps"], 10)
        self.assertGreater(quick["fps"], slow["fps"])
        self.assertGreater(slow["frames_skipped"], 0)
        reader.stop()
        await collected         # the fast stream's timeout ends it

    async def test_status_lists_websocket_clients(self):
        """
        A WebSocket client watching shows too, with its format; one that
        has not asked for live view does not.
        """
        watching = await connect(self, self.port)
        watching.on_binary = lambda payload: None
        await watching.reply({"type": "start_preview", "format": "binary",
                              "requestId": "p"})
        await connect(self, self.port)
        await sleep(1.0)
        response = await treq.get(self.base + "/status", pool=self.pool)
        body = json.loads(await response.content())
        (client,) = body["preview"]["clients"]
        self.assertEqual(client["transport"], "websocket")
        self.assertEqual(client["format"], "binary")
        self.assertEqual(client["pacing"], self.pacing_method)
        self.assertEqual(client["peer"], "127.0.0.1:%d"
                         % watching.transport.getHost().port)
        self.assertGreater(client["fps"], 10)
        self.assertGreater(client["frames_sent"], 10)

    pacing_method = "SIOCOUTQ"


class UnpacedPreviewTests(PacedPreviewTests):
    """
    With C{preview.pacing: false} the same reader gets a backlog: the
    kernel queues frames up to C{TCP_NOTSENT_LOWAT} unsent, and more in
    flight. (What the paced test guards against.)
    """

    config = {"preview": {"pacing": False}}
    pacing_method = "off"

    async def test_slow_reader_holds_no_backlog(self):
        queue, frame, producer = await self.watch_slow_reader()
        self.assertGreater(queue, frame + 64 * 1024, (queue, frame))
        self.assertEqual(producer.figures()["pacing"], "off")
        self.assertIn("preview.pacing: false",
                      producer.figures()["pacing_off_why"])
        self.assertIsNone(producer.pacing)
