# -*- test-case-name: tests.camera.test_process -*-
"""
Child processes with deadlines, ended politely and only by their own PID.

gphoto2 must be stopped with SIGINT so libgphoto2 can release the camera
(on a Canon, SIGKILL can leave the mirror locked in live view and the USB
interface claimed). L{stop} escalates SIGINT, SIGTERM, SIGKILL, each after
a timeout; L{run} runs a command to completion under a deadline.

Every child's protocol is a L{Reaping} one, so that its end is reported
even where the reactor has no SIGCHLD handling.
"""

import signal

from twisted.internet import defer, error
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger

__all__ = ["REAP_POLL", "REAP_TRIES", "STOP_GRACE", "Children", "Reaping",
           "Result", "StderrTail", "run", "signal_name", "stop"]

log = Logger()

#: Seconds to wait after SIGINT, then after SIGTERM, before the next signal.
STOP_GRACE = (3.0, 2.0)

#: Seconds between tries to reap a child whose pipes have all closed (see
#: L{Reaping}); the last is repeated, up to L{REAP_TRIES} tries in all.
REAP_POLL = (0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)

#: Tries to reap such a child before giving up (about a minute).
REAP_TRIES = 66


class Result:
    """
    What a finished child left behind.

    @ivar exit_code: the exit status, or L{None} if a signal ended it.
    @ivar signal: the signal number that ended it, or L{None}.
    @ivar timed_out: true if it was ended for overrunning its deadline.
    """

    def __init__(self, argv, stdout, stderr, exit_code, signal_number,
                 timed_out):
        self.argv = argv
        self.stdout = stdout
        self.stderr = stderr
        self.exit_code = exit_code
        self.signal = signal_number
        self.timed_out = timed_out

    @property
    def ok(self):
        return self.exit_code == 0 and not self.timed_out

    def failure_text(self, what, deadline):
        """
        What the failed child (C{what}: "capture", "command") said, plus a
        line when fourcut ended it for overrunning its C{deadline}; never
        empty: a child that was killed or failed without a word (a capture
        whose gphoto2 was killed) gets a line saying how it ended.
        """
        text = self.stderr.decode("utf-8", "replace")
        if self.timed_out:
            text += "\nfourcut: %s overran its %gs deadline\n" % (what,
                                                                 deadline)
        elif not text.strip():
            if self.signal is not None:
                how = "was ended by %s" % (signal_name(self.signal),)
            elif self.exit_code:
                how = "exited with status %d" % (self.exit_code,)
            else:
                how = "gave no result"
            text = "fourcut: %s failed: gphoto2 %s without a message\n" % (
                what, how)
        return text

    def __repr__(self):
        return "<Result %r exit=%r signal=%r timed_out=%r stderr=%r>" % (
            self.argv, self.exit_code, self.signal, self.timed_out,
            self.stderr[-300:])


def signal_name(number):
    """
    C{"SIGKILL"} for 9: how a child's end is told to people.
    """
    try:
        return signal.Signals(number).name
    except ValueError:
        return "signal %d" % (number,)


def stop(reactor, transport, ended, grace=STOP_GRACE):
    """
    End a child: SIGINT, then SIGTERM, then SIGKILL, each after its grace
    period if the child is still there. Signals go only to the child's own
    PID.

    @param transport: the child's L{IProcessTransport}.
    @param ended: a L{Deferred} that fires when the child has exited; it is
        what tells us to stop escalating.
    @return: C{ended}'s result, a L{Deferred} that fires once the child
        is gone.
    """
    done = defer.Deferred()
    calls = []

    def send(signal_name):
        if transport.pid is None:
            return
        try:
            transport.signalProcess(signal_name)
            log.debug("sent {sig} to pid {pid}", sig=signal_name,
                      pid=transport.pid)
        except (error.ProcessExitedAlready, OSError):
            pass

    def gone(result):
        for call in calls:
            if call.active():
                call.cancel()
        done.callback(None)
        return result

    ended.addBoth(gone)
    if done.called:
        return done
    send("INT")
    calls.append(reactor.callLater(grace[0], send, "TERM"))
    calls.append(reactor.callLater(grace[0] + grace[1], send, "KILL"))
    return done


class Reaping(ProcessProtocol):
    """
    A process protocol whose child's end is reported even if the reactor
    never hears of it.

    Twisted calls C{processEnded} once every pipe to the child has closed
    I{and} the child has been reaped. When the last pipe closes it tries
    to reap it once (C{waitpid}, C{WNOHANG}); after that, only its SIGCHLD
    handling does, and a reactor run without signal handlers
    (C{installSignalHandlers=False}, as L{tests.support.serverchild} runs fourcut)
    has none. A dying child closes its descriptors a moment before it
    becomes a zombie, so that one try can come too early; then the end
    was never reported (a SIGKILLed camera worker, on a loaded machine, in
    one run of L{tests.integration.test_descriptors} in about ten: live view stayed
    frozen until the stall watchdog's L{fourcut.camera.workerclient}
    fallback reaped it 12 s later). So once the last pipe has closed, this
    tries again, by the child's own PID, after L{REAP_POLL}'s delays,
    until it is reaped.

    Subclasses that override C{childConnectionLost} or C{processExited}
    call these.

    @ivar clock: what schedules the tries (the global reactor if
        L{None}); whoever spawns the child sets it.
    """

    clock = None
    _reap_call = None
    _reap_tries = 0

    def childConnectionLost(self, childFD):
        transport = self.transport
        pipes = getattr(transport, "pipes", None)
        if (pipes is None or pipes or transport.pid is None
                or self._reap_call is not None):
            return
        self._schedule_reap()

    def _schedule_reap(self):
        clock = self.clock
        if clock is None:
            from twisted.internet import reactor as clock
        delay = REAP_POLL[min(self._reap_tries, len(REAP_POLL) - 1)]
        self._reap_call = clock.callLater(delay, self._reap)

    def _reap(self):
        self._reap_call = None
        transport = self.transport
        if transport is None or transport.pid is None:
            return
        self._reap_tries += 1
        pid = transport.pid
        transport.reapProcess()
        if transport.pid is None:
            log.info("pid {pid} reaped at try {n} after its pipes closed",
                     pid=pid, n=self._reap_tries)
        elif self._reap_tries < REAP_TRIES:
            self._schedule_reap()
        else:
            log.warn("pid {pid} closed its pipes but has not exited",
                     pid=pid)

    def processExited(self, reason):
        call, self._reap_call = self._reap_call, None
        if call is not None and call.active():
            call.cancel()


class StderrTail(Reaping):
    """
    A process protocol that keeps the last L{STDERR_KEPT} bytes of its
    child's stderr (what gphoto2 says when it fails), never more.
    """

    #: Bytes of a long-running child's stderr kept.
    STDERR_KEPT = 16 * 1024

    _stderr = None

    def errReceived(self, data):
        if self._stderr is None:
            self._stderr = bytearray()
        self._stderr += data
        if len(self._stderr) > self.STDERR_KEPT:
            del self._stderr[:len(self._stderr) - self.STDERR_KEPT]

    @property
    def stderr(self):
        return bytes(self._stderr or b"").decode("utf-8", "replace")


class _Collector(Reaping):
    def __init__(self, argv, max_output):
        self.argv = argv
        self.stdout = []
        self.stderr = []
        self._sizes = [0, 0]
        self._max = max_output
        self.result = None
        self._watchers = []
        self.timed_out = False

    def exited(self):
        """
        A new L{Deferred} that fires with the L{Result} once the child has
        exited (at once if it already has).
        """
        if self.result is not None:
            return defer.succeed(self.result)
        d = defer.Deferred()
        self._watchers.append(d)
        return d

    def outReceived(self, data):
        self._keep(self.stdout, 0, data)

    def errReceived(self, data):
        self._keep(self.stderr, 1, data)

    def _keep(self, chunks, index, data):
        if self._sizes[index] + len(data) > self._max:
            data = data[:max(0, self._max - self._sizes[index])]
        self._sizes[index] += len(data)
        if data:
            chunks.append(data)

    def processEnded(self, reason):
        exit_code = signal_number = None
        if isinstance(reason.value, error.ProcessTerminated):
            exit_code = reason.value.exitCode
            signal_number = reason.value.signal
        else:
            exit_code = 0
        self.result = Result(
            self.argv, b"".join(self.stdout), b"".join(self.stderr),
            exit_code, signal_number, self.timed_out)
        watchers, self._watchers = self._watchers, []
        for d in watchers:
            d.callback(self.result)


def run(reactor, argv, deadline, env=None, max_output=256 * 1024 * 1024,
        on_start=None):
    """
    Run C{argv} (a list; never through a shell) to completion.

    @param deadline: seconds the child may take; past it the child is ended
        with L{stop} and the result says C{timed_out}.
    @param max_output: bytes kept of each of stdout and stderr.
    @param on_start: called with the process transport once spawned, so the
        caller can track the child (and end it) while it runs.
    @return: a L{Deferred} firing with a L{Result}.
    """
    collector = _Collector(list(argv), max_output)
    collector.clock = reactor
    transport = reactor.spawnProcess(collector, argv[0], list(argv), env=env)
    if on_start is not None:
        on_start(transport)

    def overrun():
        log.warn("{argv} overran its deadline of {deadline}s; ending it",
                 argv=argv, deadline=deadline)
        collector.timed_out = True
        stop(reactor, transport, collector.exited())

    timer = reactor.callLater(deadline, overrun)

    def finished(result):
        if timer.active():
            timer.cancel()
        return result

    return collector.exited().addBoth(finished)

class Children:
    """
    @ivar running: C{{pid: (transport, Deferred fired at exit)}}.
    """

    def __init__(self, reactor):
        self._reactor = reactor
        self.running = {}

    def __len__(self):
        return len(self.running)

    def track(self, transport):
        """
        C{transport}'s process has been spawned.
        """
        self.running[transport.pid] = (transport, defer.Deferred())

    def untrack(self, pid):
        """
        C{pid} has exited: tell whoever is waiting to stop it.
        """
        entry = self.running.pop(pid, None)
        if entry is not None:
            entry[1].callback(None)

    def tracked(self, start):
        """
        Call C{start(on_start)}, which spawns children and returns a
        L{Deferred}; each child is tracked by PID until that Deferred
        fires.
        """
        pids = []

        def started(transport):
            pids.append(transport.pid)
            self.track(transport)

        def finished(result):
            for pid in pids:
                self.untrack(pid)
            return result

        return start(started).addBoth(finished)

    def run(self, gphoto2, deadline, *args):
        """
        Run one gphoto2 CLI command to completion under C{deadline}; fires
        with a L{fourcut.camera.processes.Result}.
        """
        return self.tracked(lambda on_start: run(
            self._reactor, gphoto2.argv(*args), deadline,
            env=gphoto2.env(), on_start=on_start))

    def stop_all(self):
        """
        End every tracked child (SIGINT, SIGTERM, SIGKILL, by its PID);
        fires once all are gone.
        """
        ending = []
        for transport, exited in list(self.running.values()):
            gone = defer.Deferred()
            exited.addBoth(lambda result, gone=gone: (gone.callback(None),
                                                      result)[1])
            ending.append(stop(self._reactor, transport, gone))
        return defer.gatherResults(ending, consumeErrors=True)
