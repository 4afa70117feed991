"""
File descriptors running out, against fourcut in a child process
(L{tests.support.serverchild}) whose C{RLIMIT_NOFILE} is lowered, so that the test
process keeps its own: live view that could not be spawned comes back when
descriptors are free again, and the descriptor reserve keeps the camera and
the front-end going through a crowd of slow connections.
"""

import os
import signal
import sys

import treq
import yaml
from twisted.internet import protocol, reactor
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from fourcut.virtualcam.scene import parse_frame_comment

from tests.support import ROOT, ChildServer
from tests.support.service import gphoto2_children as gphoto2_of
from tests.support.time import sleep
from tests.support.wsclient import connect


TOKEN = "booth-secret-0123456789abcdef"


class Viewer:
    """
    A WebSocket client watching binary live view, telling live frames (they
    carry the virtual camera's comment) from the offline placeholder.
    """

    def __init__(self):
        self.live = []          # arrival times of live frames
        self.placeholders = []

    def frame(self, data):
        if parse_frame_comment(data) is not None:
            self.live.append(reactor.seconds())
        else:
            self.placeholders.append(reactor.seconds())

    def live_since(self, when):
        return [t for t in self.live if t > when]


class SlowClient(protocol.Protocol):
    """
    A connection that sends the start of a request and nothing more.
    """

    def connectionMade(self):
        self.factory.open.add(self)
        self.transport.write(b"GET /status HTTP/1.1\r\nHost: booth\r\n")

    def connectionLost(self, reason):
        self.factory.open.discard(self)
        self.factory.closed += 1


class Crowd(protocol.ClientFactory):
    protocol = SlowClient

    def __init__(self):
        self.open = set()
        self.closed = 0
        self.failed = 0

    def clientConnectionFailed(self, connector, reason):
        self.failed += 1

    def clientConnectionLost(self, connector, reason):
        pass

    def disperse(self):
        for client in list(self.open):
            client.transport.abortConnection()


class DescriptorTestCase(TestCase):
    async def start_child(self, config, nofile):
        photos = os.path.abspath(self.mktemp())
        path = os.path.abspath(self.mktemp() + ".yaml")
        with open(path, "w") as f:
            yaml.safe_dump(config, f)
        child = ChildServer()
        env = dict(os.environ, PYTHONPATH=ROOT)
        transport = reactor.spawnProcess(
            child, sys.executable,
            [sys.executable, "-m", "tests.support.serverchild", "--nofile",
             str(nofile), "--", "--virtual-camera", "--photos", photos,
             "--listen", "tcp:0:interface=127.0.0.1", "--config", path],
            env=env, path=ROOT)
        self.child_pid = transport.pid
        self.addCleanup(self.stop_child, child, transport)
        port = await child.line("PORT")
        child.port = int(port.split()[1])
        return child

    async def stop_child(self, child, transport):
        seen = set(gphoto2_of(self.child_pid))
        if not child.ended.called:
            transport.signalProcess("INT")
            for _ in range(150):
                if child.ended.called:
                    break
                seen.update(gphoto2_of(self.child_pid))
                await sleep(0.1)
            if not child.ended.called:
                transport.signalProcess("KILL")
                await child.ended
        await child.ended
        reason = child.reason
        # Its gphoto2 children, should any have outlived it.
        for pid in seen:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.assertTrue(reason.check(ProcessDone, ProcessTerminated))

    async def viewer(self, child, path="/ws"):
        client = await connect(self, child.port, path)
        viewer = Viewer()
        client.on_binary = viewer.frame
        reply = await client.reply({"type": "start_preview", "requestId": 1,
                                    "format": "binary"}, timeout=30)
        self.assertEqual(reply["type"], "preview_started", reply)
        await client.wait_for(lambda: len(viewer.live) >= 5, timeout=30)
        return client, viewer

    async def kill_live_view(self, child):
        pids = await child.command("gphoto2", "GPHOTO2")
        self.assertEqual(len(pids), 1, pids)
        self.killed_pid = int(pids[0])
        os.kill(self.killed_pid, signal.SIGKILL)
        return reactor.seconds()

    async def wait_until(self, test, timeout, what):
        for _ in range(int(timeout / 0.1)):
            if test():
                return
            await sleep(0.1)
        self.fail("not within %g s: %s" % (timeout, what))


class LiveViewRetryTests(DescriptorTestCase):
    async def test_live_view_back_after_descriptors_ran_out(self):
        """
        Live view dies while no descriptor is free: spawning gphoto2 fails
        (os.pipe: EMFILE) again and again; the viewer, still connected,
        gets the placeholder meanwhile and live frames once descriptors are
        free again. (It used to be logged as critical and never retried.)
        """
        child = await self.start_child(
            {"camera": {"restart_delay": 0.5}}, nofile=256)
        client, viewer = await self.viewer(child)
        hogged = await child.command("hog", "HOGGING")
        killed = await self.kill_live_view(child)
        # Retries keep failing while the descriptors are taken.
        await self.wait_until(
            lambda: len([t for t in viewer.placeholders if t > killed]) >= 2,
            15, "placeholder frames while live view cannot start")
        self.assertEqual(viewer.live_since(killed + 1.0), [])
        released = reactor.seconds()
        self.assertGreater(int((await child.command("release",
                                                    "RELEASED"))[0]),
                           int(hogged[0]))
        await self.wait_until(lambda: len(viewer.live_since(released)) >= 10,
                              30, "live frames after the descriptors came "
                              "back")
        self.assertTrue(client.transport.connected)
        # It was the spawn that failed (not gphoto2 or the camera worker
        # once started).
        self.assertRegex(bytes(child.stderr),
                         b"cannot start gphoto2 for live view|the camera "
                         b"worker could not be started: .*Too many open "
                         b"files")


class ReserveTests(DescriptorTestCase):
    #: The child's descriptor limit and reserve.
    NOFILE = 200
    RESERVE = 48

    def config(self, reserve):
        return {"access": {"token": TOKEN},
                "camera": {"restart_delay": 0.5},
                "server": {"fd_reserve": reserve,
                           # The reserve alone, not the bounds on
                           # unauthenticated connections, is under test.
                           "max_unauthenticated": 100000,
                           "max_unauthenticated_per_address": 100000,
                           "header_timeout": 300}}

    async def test_reserve_through_a_crowd_of_slow_connections(self):
        """
        400 connections that each send half a request against a limit of
        200 descriptors: the server keeps its reserve free, the front-end
        still gets answers on new connections, and live view that dies
        meanwhile is started again.
        """
        child = await self.start_child(self.config(self.RESERVE),
                                       nofile=self.NOFILE)
        client, viewer = await self.viewer(child, "/ws?token=" + TOKEN)
        crowd = Crowd()
        self.addCleanup(crowd.disperse)
        for _ in range(400):
            reactor.connectTCP("127.0.0.1", child.port, crowd)
            await sleep(0.005)
        await sleep(1.5)
        open_fds, limit = map(int, await child.command("fds", "FDS"))
        self.assertGreaterEqual(limit - open_fds, self.RESERVE // 2,
                                (open_fds, limit))
        self.assertGreater(crowd.closed, 100)
        # The front-end, on new connections.
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        for _ in range(5):
            response = await treq.get(
                "http://127.0.0.1:%d/status" % child.port, pool=pool,
                headers={"Authorization": ["Bearer " + TOKEN]}).addTimeout(
                    15, reactor)
            self.assertEqual(response.code, 200)
            await response.content()
        # Live view dies mid-attack and is started again. With the held
        # session that is a new camera worker (a Python process that loads
        # python-gphoto2 and opens a session), slower to come back than a
        # gphoto2 child on a loaded machine: twice the CLI's 30 s.
        killed = await self.kill_live_view(child)
        # Its end is reported at once, not once the stall watchdog has
        # ended it (12 s on; a pipe that closed before the process was a
        # zombie, and no SIGCHLD handling here: fourcut.camera.processes.Reaping).
        ended = b"camera worker ended (pid %d," % (self.killed_pid,)
        await self.wait_until(lambda: ended in bytes(child.stderr), 10,
                              "the killed worker's end reported")
        await self.wait_until(lambda: len(viewer.live_since(killed + 0.2))
                              >= 10, 60, "live frames again")
        self.assertTrue(client.transport.connected)
        self.assertNotIn(b"cannot start gphoto2", bytes(child.stderr))
        self.assertNotIn(b"camera worker could not be started",
                         bytes(child.stderr))
