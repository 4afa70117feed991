"""
The camera session: the one owner of the camera.

Everything that touches the device (the live view child, captures, raw
commands, reset) goes through L{CameraSession}, which runs at most one
gphoto2 child that talks to the camera at a time: an operation pauses live
view, runs its own child, and resumes live view for the subscribers still
waiting. Live view runs while the broadcaster has demand, and stops a short
grace period after the last subscriber leaves.
"""

from twisted.internet import defer, threads
from twisted.logger import Logger

from . import process
from .gphoto2 import CameraError, classify
from .livestream import LiveViewProtocol


def failure_text(result, what, deadline):
    """
    What a failed gphoto2 child said, plus a line when fourcut ended it
    for overrunning its deadline.
    """
    text = result.stderr.decode("utf-8", "replace")
    if result.timed_out:
        text += "\nfourcut: %s overran its %gs deadline\n" % (what, deadline)
    return text


class CameraSession:
    """
    @param reactor: spawns children, keeps time, runs threads.
    @param gphoto2: a L{fourcut.gphoto2.GPhoto2}.
    @param broadcaster: a L{fourcut.broadcast.Broadcaster} whose demand
        callback is L{demand_changed}: demand starts and stops live view.
    @param photos: a L{fourcut.photos.PhotoStore}.
    """

    log = Logger()

    def __init__(self, reactor, gphoto2, broadcaster, photos,
                 stop_grace=2.0, command_timeout=30.0, capture_timeout=60.0,
                 keep_on_card=True):
        self._reactor = reactor
        self.gphoto2 = gphoto2
        self.broadcaster = broadcaster
        self.photos = photos
        self.stop_grace = stop_grace
        self.command_timeout = command_timeout
        self.capture_timeout = capture_timeout
        self.keep_on_card = keep_on_card
        self._lock = defer.DeferredLock()
        self._demand = 0
        self._live = None           # (transport, LiveViewProtocol)
        self._starting = False
        self._stop_call = None
        self._waiters = []          # Deferreds waiting for live view
        self.children = {}          # pid -> (transport, Deferred at exit)
        self.state = "idle"
        self.last_error = None
        self.captures = 0
        self._shut_down = False

    # Children ------------------------------------------------------------

    def _track(self, transport):
        self.children[transport.pid] = (transport, defer.Deferred())

    def _untrack(self, pid):
        """
        C{pid} has exited: tell whoever is waiting to stop it.
        """
        entry = self.children.pop(pid, None)
        if entry is not None:
            entry[1].callback(None)

    def _run(self, deadline, *args):
        """
        Run one gphoto2 command to completion under C{deadline}.
        """
        pids = []

        def started(transport):
            pids.append(transport.pid)
            self._track(transport)

        def finished(result):
            for pid in pids:
                self._untrack(pid)
            return result

        return process.run(self._reactor, self.gphoto2.argv(*args), deadline,
                           env=self.gphoto2.env(),
                           on_start=started).addBoth(finished)

    # Live view -----------------------------------------------------------

    def demand_changed(self, count):
        if self._shut_down:
            return
        self._demand = count
        if count > 0:
            if self._stop_call is not None and self._stop_call.active():
                self._stop_call.cancel()
            self._stop_call = None
            self._start_live_view()
        elif self._live is not None and self._stop_call is None:
            self._stop_call = self._reactor.callLater(self.stop_grace,
                                                      self._idle_stop)

    def _idle_stop(self):
        self._stop_call = None
        if self._demand == 0:
            self._lock.run(self._stop_live_view)

    def live_view_ready(self):
        """
        A L{Deferred} that fires once live view is producing frames, or
        fails with L{CameraError} if gphoto2 cannot start it.
        """
        if self._live is not None and self._live[1].frames:
            return defer.succeed(None)
        d = defer.Deferred()
        self._waiters.append(d)
        self._start_live_view()
        return d

    def _notify(self, error=None):
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            if error is None:
                d.callback(None)
            else:
                d.errback(error)

    def _start_live_view(self):
        if self._live is not None or self._starting or self._lock.locked:
            return
        self._starting = True
        self._lock.run(self._spawn_live_view).addErrback(
            lambda f: self.log.failure("starting live view", f))

    @defer.inlineCallbacks
    def _spawn_live_view(self):
        self._starting = False
        if self._demand == 0 and not self._waiters:
            return
        protocol = LiveViewProtocol(self.broadcaster.publish)
        transport = self._reactor.spawnProcess(
            protocol, self.gphoto2.executable,
            self.gphoto2.argv("--capture-movie", "--stdout"),
            env=self.gphoto2.env())
        pid = transport.pid
        self._track(transport)
        self._live = (transport, protocol)
        self.state = "previewing"
        self.log.info("live view started (pid {pid})", pid=pid)
        protocol.ended.addCallback(self._live_view_ended, transport, pid)
        failure_text = yield protocol.started
        if failure_text is None:
            self.last_error = None
            self._notify()
        else:
            error = CameraError(classify(failure_text), failure_text)
            self.last_error = failure_text.strip()
            self._notify(error)
            # Wait for the child to be gone before others use the camera.
            yield protocol.ended

    def _live_view_ended(self, result, transport, pid):
        reason, stderr = result
        self._untrack(pid)
        if self._live is not None and self._live[0] is transport:
            self._live = None
            self.state = "idle"
            self.log.info("live view ended (pid {pid}): {reason}", pid=pid,
                          reason=reason.value)
            if self._demand > 0 and not self._lock.locked:
                # It died under its subscribers: try again shortly.
                self.last_error = stderr.strip() or str(reason.value)
                self._reactor.callLater(1.0, self._start_live_view)

    @defer.inlineCallbacks
    def _stop_live_view(self):
        """
        End the live view child (SIGINT first, so libgphoto2 releases the
        camera) and wait for it. Call with the lock held.
        """
        if self._live is None:
            return
        transport, protocol = self._live
        ended = defer.Deferred()
        protocol.ended.addBoth(lambda r: (ended.callback(None), r)[1])
        yield process.stop(self._reactor, transport, ended)

    # Operations ----------------------------------------------------------

    @defer.inlineCallbacks
    def _exclusive(self, state, work):
        """
        Run C{work()} with the camera to itself: live view paused, and
        resumed afterwards for the subscribers still there.
        """
        yield self._lock.acquire()
        try:
            yield self._stop_live_view()
            self.state = state
            result = yield work()
        finally:
            self.state = "idle"
            self._lock.release()
            if self._demand > 0 or self._waiters:
                self._start_live_view()
        return result

    def capture(self):
        """
        Take a photo, save it in the photos directory, and fire with
        C{(name, path, jpeg)}; fails with L{CameraError} or L{OSError}.
        """
        return self._exclusive("capturing", self._capture)

    @defer.inlineCallbacks
    def _capture(self):
        args = ["--capture-image-and-download", "--stdout"]
        if self.keep_on_card:
            args.append("--keep")
        result = yield self._run(self.capture_timeout, *args)
        data = result.stdout
        if not result.ok or not data.startswith(b"\xff\xd8"):
            text = failure_text(result, "capture", self.capture_timeout)
            self.last_error = text.strip()
            raise CameraError(classify(text, absent_status=503), text)
        name, path = yield threads.deferToThreadPool(
            self._reactor, self._reactor.getThreadPool(),
            self.photos.save, data)
        self.captures += 1
        self.log.info("saved {name} ({size} bytes)", name=name,
                      size=len(data))
        return name, path, data

    def command(self, args):
        """
        Run one allow-listed gphoto2 command; fire with its stdout.
        """
        return self._exclusive("busy", lambda: self._command(args))

    @defer.inlineCallbacks
    def _command(self, args):
        result = yield self._run(self.command_timeout, *args)
        if not result.ok:
            raise CameraError(503, failure_text(result, "command",
                                                self.command_timeout))
        return result.stdout

    def reset(self):
        """
        End fourcut's own gphoto2 children, reset the USB port where there
        is one, and forget the session's state.
        """
        return self._exclusive("resetting", self._reset)

    @defer.inlineCallbacks
    def _reset(self):
        yield self.stop_children()
        self.broadcaster.clear()
        self.last_error = None
        if self.gphoto2.resettable:
            result = yield self._run(self.command_timeout, "--reset")
            if not result.ok:
                self.log.warn("gphoto2 --reset failed: {err}",
                              err=result.stderr.decode("utf-8", "replace"))
        else:
            self.log.info("port {port} is not USB: nothing to reset",
                          port=self.gphoto2.port)

    def stop_children(self):
        """
        End every gphoto2 child fourcut started (and only those, by PID).
        """
        ending = []
        for transport, exited in list(self.children.values()):
            gone = defer.Deferred()
            exited.addBoth(lambda result, gone=gone: (gone.callback(None),
                                                      result)[1])
            ending.append(process.stop(self._reactor, transport, gone))
        return defer.gatherResults(ending, consumeErrors=True)

    def shutdown(self):
        """
        Stop live view and every child; for the service's stopService.
        """
        self._shut_down = True
        if self._stop_call is not None and self._stop_call.active():
            self._stop_call.cancel()
        self._demand = 0
        return self.stop_children()
