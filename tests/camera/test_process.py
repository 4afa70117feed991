"""
L{fourcut.camera.processes.Reaping}: a child whose pipes have all closed before it
became a zombie still has its end reported, without SIGCHLD handling.
"""

import os
import sys

from twisted.internet import error, reactor, task
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from fourcut.camera import processes
from fourcut.camera.cli import CLIDriver
from fourcut.camera.processes import Children
from fourcut.camera.workerclient import WorkerClient
from fourcut.camera.gphoto2 import GPhoto2
from fourcut.camera.cli import LiveViewProtocol

from tests.support import ROOT, ChildServer



class RacingProcess:
    """
    Twisted's C{Process} as far as its end goes: C{processEnded} once the
    pipes are closed and the process reaped; one try to reap it when the
    last pipe closes, none later (no SIGCHLD handling). C{zombie}: whether
    it has exited, so that C{waitpid} would reap it.
    """

    def __init__(self, protocol, pid=4242):
        self.proto = protocol
        self.pid = pid
        self.pipes = {0: object(), 1: object(), 2: object()}
        self.zombie = False
        self.reaps = 0
        self.signals = []
        protocol.makeConnection(self)

    def write(self, data):
        pass

    def signalProcess(self, name):
        self.signals.append(name)

    def close_pipes(self):
        for fd in (2, 1, 0):
            del self.pipes[fd]
            self.proto.childConnectionLost(fd)
            self.maybeCallProcessEnded()

    def maybeCallProcessEnded(self):
        if self.pipes:
            return
        if self.pid is not None:
            self.reapProcess()
            return
        self.proto.processEnded(Failure(error.ProcessTerminated(None, 9)))

    def reapProcess(self):
        self.reaps += 1
        if self.zombie and self.pid is not None:
            self.pid = None
            self.proto.processExited(Failure(error.ProcessTerminated(None,
                                                                     9)))
            self.maybeCallProcessEnded()


class RacingReactor(task.Clock):
    def __init__(self):
        task.Clock.__init__(self)
        self.spawned = []

    def spawnProcess(self, protocol, executable, args, env=None):
        transport = RacingProcess(protocol)
        self.spawned.append(transport)
        return transport


class ReapingTests(TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.protocol = LiveViewProtocol(lambda data, timestamp: None)
        self.protocol.clock = self.clock
        self.process = RacingProcess(self.protocol)

    def test_reaped_later(self):
        """
        The pipes close a moment before the child is a zombie: Twisted's
        one try finds nothing to reap; it is tried again until it is.
        """
        self.process.close_pipes()
        self.assertEqual(self.process.reaps, 1)
        self.assertNoResult(self.protocol.ended)
        self.clock.advance(processes.REAP_POLL[0])
        self.assertEqual(self.process.reaps, 2)
        self.process.zombie = True
        self.clock.advance(processes.REAP_POLL[1])
        self.assertEqual(self.process.reaps, 3)
        reason, _ = self.successResultOf(self.protocol.ended)
        self.assertEqual(reason.value.signal, 9)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_reaped_at_once(self):
        """
        Reaped when the last pipe closed (or by SIGCHLD handling): nothing
        is left scheduled.
        """
        self.process.zombie = True
        self.process.close_pipes()
        self.successResultOf(self.protocol.ended)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.process.reaps, 1)

    def test_reaped_before_the_pipes_closed(self):
        self.process.zombie = True
        self.process.reapProcess()
        self.assertNoResult(self.protocol.ended)
        self.process.close_pipes()
        self.successResultOf(self.protocol.ended)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_gives_up(self):
        """
        A child that closed its pipes and lives on is tried
        L{processes.REAP_TRIES} times, then left.
        """
        self.process.close_pipes()
        for _ in range(processes.REAP_TRIES + 5):
            self.clock.advance(processes.REAP_POLL[-1])
        self.assertEqual(self.process.reaps, 1 + processes.REAP_TRIES)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertNoResult(self.protocol.ended)

    def test_run(self):
        """
        L{processes.run}'s children are reaped so too, on its reactor.
        """
        clock = RacingReactor()
        d = processes.run(clock, ["gphoto2"], 30)
        [transport] = clock.spawned
        transport.close_pipes()
        transport.zombie = True
        clock.advance(processes.REAP_POLL[0])
        self.assertEqual(self.successResultOf(d).signal, 9)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_cli_live_view(self):
        clock = RacingReactor()
        live = CLIDriver(clock, GPhoto2(), Children(clock), None)\
            .start_live_view(lambda data, timestamp: None)
        [transport] = clock.spawned
        transport.close_pipes()
        transport.zombie = True
        clock.advance(processes.REAP_POLL[0])
        self.successResultOf(live.ended)

    def test_camera_worker(self):
        """
        A killed camera worker whose end came too early for Twisted's one
        try is reported gone at once, not once fourcut has given up on it
        (L{WorkerClient.stop}'s signals), with live view frozen meanwhile.
        """
        clock = RacingReactor()
        worker = WorkerClient(clock, GPhoto2(), deadline=30.0)
        worker.start().addErrback(lambda f: None)
        [transport] = clock.spawned
        transport.close_pipes()
        transport.zombie = True
        clock.advance(processes.REAP_POLL[0])
        ended = self.successResultOf(worker.ended)
        self.assertEqual(ended.how, "killed by SIGKILL")
        self.assertEqual(transport.signals, [])


class RealChildTests(TestCase):
    def test_without_sigchld_handling(self):
        """
        Real children that close their descriptors and exit a moment
        later, through L{processes.run}, the camera worker and the CLI's live
        view, in a reactor run without signal handlers
        (L{tests.support.reapchild}): each end is reported.
        """
        child = ChildServer()
        directory = os.path.abspath(self.mktemp())
        os.mkdir(directory)
        transport = reactor.spawnProcess(
            child, sys.executable,
            [sys.executable, "-m", "tests.support.reapchild", directory],
            env=dict(os.environ, PYTHONPATH=ROOT), path=ROOT)

        def stop():
            if not child.ended.called:
                transport.signalProcess("KILL")
            return child.ended

        self.addCleanup(stop)
        d = child.ended.addCallback(lambda _: child.lines)

        def check(lines):
            self.assertEqual(sorted(line.split()[:2] for line in lines),
                             [["ENDED", "liveview"], ["ENDED", "run"],
                              ["ENDED", "worker"]],
                             (lines, bytes(child.stderr)))

        return d.addCallback(check)
