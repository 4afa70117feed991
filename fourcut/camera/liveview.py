# -*- test-case-name: tests.camera.test_liveview,tests.camera.test_camera_session,tests.integration.test_supervision -*-
"""
Live view supervision: live view runs while anyone watches, and comes back
when it fails.

L{LiveViewSupervisor} starts live view through the session's driver when
the broadcaster has demand (or a snapshot waits for a frame), stops it a
grace period after the last watcher leaves (keeping the body's viewfinder
on, warm, until C{warm_for} seconds after that watcher left, where the
driver can: see L{LiveViewSupervisor}), and treats live view that
dies, stalls (no frame for C{stall_timeout} seconds) or will not start as
a failure: retried after 0.5 s, then twice as long each time up to
C{restart_delay}, for C{max_restart_attempts} tries (C{recovering}), then
every C{restart_delay} seconds for as long as anyone watches
(C{offline}); watchers get a placeholder frame every second meanwhile, so
their connections stay open.

It starts and stops live view under the camera's lock, the one the
session's operations take (L{fourcut.camera.session.CameraSession}), so
that an operation and live view never fight over the camera. It reports
what the camera is doing, and why live view failed, through the session's
state sink (L{fourcut.camera.interfaces.ICameraStateSink}), and applies the
live view mode's settings (L{fourcut.camera.modes.ModeSwitch}) before each
start.
"""

import time

from twisted.internet import defer, task
from twisted.logger import Logger

from fourcut.errors import CameraError, classify
from fourcut.stream.placeholder import offline_jpeg
from fourcut.stream.transform import ThreadedTransform

__all__ = ["FIRST_RETRY_DELAY", "FREEZE_PLACEHOLDER", "LiveViewSupervisor",
           "PLACEHOLDER_INTERVAL", "WATCH_INTERVAL"]

#: Seconds before the first retry of live view that died; each further
#: quick retry waits twice as long, up to C{restart_delay}.
FIRST_RETRY_DELAY = 0.5

#: Seconds between placeholder frames while the camera is offline.
PLACEHOLDER_INTERVAL = 1.0

#: Seconds without a frame, live view running and no operation pausing
#: it, after which watchers get the placeholder: a body that stopped
#: delivering is only known to have once libgphoto2 gives up its 3 s of
#: retries, and a screen should not sit frozen that long.
FREEZE_PLACEHOLDER = 1.0

#: Seconds between two checks for a stall or a freeze.
WATCH_INTERVAL = 0.25


class LiveViewSupervisor:
    """
    @param lock: the camera's L{defer.DeferredLock}, which the session's
        operations take too.
    @param driver: the L{fourcut.camera.interfaces.IDriver}: starts live
        view (C{start_live_view}), says whether operations run beside it
        (C{holds_session}), and hears when the camera goes idle.
    @param broadcaster: where frames (and placeholders) go.
    @param state: the L{fourcut.camera.interfaces.ICameraStateSink} told
        what the camera is doing and why live view failed.
    @param modes: the L{fourcut.camera.modes.ModeSwitch} that applies the
        C{live_view} settings before each start.
    @param preview_transform: a L{fourcut.stream.transform.FrameTransform} run
        once per frame, in a thread; L{None} or an identity transform
        passes frames through untouched.
    @param warm_for: seconds after the last watcher left until the body's
        viewfinder goes down (C{camera.standby_after}). Live view stops
        its frames C{stop_grace} seconds after the last watcher left, as
        ever (no polls, no CPU); a driver that C{keeps_warm} (the held
        session) keeps the viewfinder on until then, so that a watcher
        coming back gets a frame without the body's warm-up (1.2 s on an
        EOS 100D, libgphoto2 says). 0, or no more than C{stop_grace}: the
        viewfinder goes down with the frames.

    @ivar current: the running live view (an
        L{fourcut.camera.interfaces.ILiveView}), or L{None}.
    @ivar demand: subscribers wanting frames.
    @ivar waiters: L{Deferred}s waiting for live view to produce frames.
    @ivar failures: failures in a row; C{restarts}: retries, for /status.
    @ivar live_since: wall-clock time the running live view was started.
    """

    log = Logger()

    def __init__(self, reactor, lock, driver, broadcaster, state, modes,
                 stop_grace=2.0, stall_timeout=5.0, max_restart_attempts=3,
                 restart_delay=5.0, preview_transform=None,
                 wall_clock=time.time, warm_for=0.0):
        self._reactor = reactor
        self._lock = lock
        self.driver = driver
        self.broadcaster = broadcaster
        self._state = state
        self._modes = modes
        self.stop_grace = stop_grace
        self.stall_timeout = stall_timeout
        self.max_restart_attempts = max_restart_attempts
        self.restart_delay = restart_delay
        self.warm_for = warm_for
        self._wall_clock = wall_clock
        self.current = None
        self.demand = 0
        self.waiters = []
        self.failures = 0
        self.restarts = 0
        self.live_since = 0.0
        self._stopping = None       # the live view being ended
        self._starting = False
        self._retry_call = None
        self._stop_call = None
        self._cool_call = None
        self._last_frame_at = None
        self._last_placeholder_at = None
        self.freeze_placeholders = 0
        self._stall_text = None
        self._shut_down = False
        self._watchdog = task.LoopingCall(self._check_stall)
        self._watchdog.clock = reactor
        self._placeholder = None
        self._placeholder_loop = task.LoopingCall(self._publish_placeholder)
        self._placeholder_loop.clock = reactor
        if preview_transform is None or preview_transform.identity:
            self._preview = None
            self._on_frame = broadcaster.publish
        else:
            self._preview = ThreadedTransform(reactor, preview_transform,
                                              broadcaster.publish)
            self._on_frame = self._preview.submit

    @property
    def running(self):
        """
        Whether live view runs and is not being stopped.
        """
        return self.current is not None and self._stopping is not self.current

    @property
    def wanted(self):
        return self.demand > 0 or bool(self.waiters)

    def demand_changed(self, count):
        """
        Subscribers (preview clients, snapshot waiters) now number
        C{count}: start live view, or stop it C{stop_grace} seconds after
        the last one left.
        """
        if self._shut_down:
            return
        self.demand = count
        if count > 0:
            if self._stop_call is not None and self._stop_call.active():
                self._stop_call.cancel()
            self._stop_call = None
            self._cancel_cool()
            self.start()
        elif self.current is not None and self._stop_call is None:
            self._stop_call = self._reactor.callLater(self.stop_grace,
                                                      self._idle_stop)

    def _idle_stop(self):
        self._stop_call = None
        if self.demand == 0:
            self._lock.run(self._stop_if_unwatched).addCallback(
                lambda _: self._restart_if_wanted())

    def _stop_if_unwatched(self):
        """
        Stop live view if still nobody wants it: someone may have come
        while this waited for the lock (behind a slow start, for one).
        Where the driver can, the viewfinder stays on (warm) until
        C{warm_for} seconds after the last watcher left.
        """
        if self.demand == 0 and not self.waiters:
            if not self._warm_standby:
                return self.stop()
            d = self.stop(warm=True)
            d.addCallback(lambda _: self._schedule_cool(
                max(0.0, self.warm_for - self.stop_grace)))
            return d

    @property
    def _warm_standby(self):
        return (self.warm_for > self.stop_grace and not self._shut_down
                and getattr(self.driver, "keeps_warm", False))

    def _schedule_cool(self, delay):
        self._cancel_cool()
        if self.driver.warm and not self._shut_down:
            self._cool_call = self._reactor.callLater(delay, self._cool)

    def _cancel_cool(self):
        call, self._cool_call = self._cool_call, None
        if call is not None and call.active():
            call.cancel()

    def _cool(self):
        """
        Nobody watched for C{warm_for} seconds: the viewfinder goes down
        (the heat of a sensor left on all night).
        """
        self._cool_call = None
        self._lock.run(self._cool_if_unwatched).addCallbacks(
            lambda _: self.report_idle(),
            lambda f: self.log.failure("taking the viewfinder down", f))

    def _cool_if_unwatched(self):
        if (self.current is None and self.demand == 0 and not self.waiters
                and not self._shut_down and self.driver.warm):
            return self.driver.cool()

    def _restart_if_wanted(self):
        if (self.demand > 0 or self.waiters) and not self._shut_down:
            self.start()
        else:
            self.report_idle()

    def report_idle(self):
        """
        If nothing runs (no live view, no operation), tell the driver the
        camera is idle: it may release it later.
        """
        if (self.current is None and not self._lock.locked
                and not self._shut_down):
            self.driver.idle()

    def ready(self):
        """
        A L{Deferred} that fires once live view is producing frames, or
        fails with L{CameraError} if gphoto2 cannot start it.
        """
        if self.running and self.current.frames:
            return defer.succeed(None)
        d = defer.Deferred()
        self.waiters.append(d)
        self.start(force=True)
        return d

    def _notify(self, error=None):
        waiters, self.waiters = self.waiters, []
        for d in waiters:
            if error is None:
                d.callback(None)
            else:
                d.errback(error)

    def start(self, force=False):
        """
        Start live view unless it runs, is starting, the camera is in use,
        or a retry is already scheduled (C{force}: a new request that wants
        an answer now does not wait for the retry).
        """
        if (self.current is not None or self._starting or self._lock.locked
                or self._shut_down):
            return
        if (not force and self._retry_call is not None
                and self._retry_call.active()):
            return
        self._starting = True
        self._lock.run(self._spawn_live_view).addErrback(
            lambda f: self.log.failure("starting live view", f))

    @defer.inlineCallbacks
    def _spawn_live_view(self):
        self._starting = False
        if self._retry_call is not None and self._retry_call.active():
            self._retry_call.cancel()
        self._retry_call = None
        if self.demand == 0 and not self.waiters:
            return
        yield self._modes.enter("live_view")
        if (self.demand == 0 and not self.waiters) or self._shut_down:
            return
        try:
            live = self.driver.start_live_view(self._frame_arrived)
        except OSError as e:
            # No descriptors left for its pipes (or no processes): a
            # failure like any other, retried while anyone watches.
            self._spawn_failed(e)
            return
        self.current = live
        self._last_frame_at = self._reactor.seconds()
        if not self._watchdog.running:
            self._watchdog.start(min(WATCH_INTERVAL, self.stall_timeout / 4),
                                 now=False)
        self.live_since = self._wall_clock()
        live.ended.addCallback(self._live_view_ended, live)
        failure_text = yield live.started
        if failure_text is None:
            # Logged at the first frame: a held session's worker may only
            # be started (and have a PID) by then.
            self.log.info("live view started ({driver}, pid {pid})",
                          driver=self.driver.name, pid=live.pid)
            self._state.recovered()
            self.failures = 0
            if self._placeholder_loop.running:
                self._placeholder_loop.stop()
            self._state.set_state("previewing")
            self._notify()
            if self.demand == 0 and self._stop_call is None:
                # It was started for a waiter that has gone since (a
                # snapshot that timed out): stop it after the grace.
                self._stop_call = self._reactor.callLater(self.stop_grace,
                                                          self._idle_stop)
        else:
            error = CameraError(classify(failure_text), failure_text)
            self._state.failed(failure_text)
            self._notify(error)
            # Wait for it to be over before others use the camera.
            yield live.ended

    def _spawn_failed(self, error):
        text = "fourcut: cannot start gphoto2 for live view: %s\n" % (
            error.strerror or error,)
        self._state.failed(text)
        self.log.warn("{error}", error=self._state.last_error)
        self.failures += 1
        self._notify(CameraError(503, text))
        if self.demand > 0 and not self._shut_down:
            self._schedule_retry()
        else:
            self._state.set_state("offline")

    def _frame_arrived(self, data, timestamp):
        self._last_frame_at = self._reactor.seconds()
        self._on_frame(data, timestamp)

    def _check_stall(self):
        """
        End live view that has sent no frame for C{stall_timeout} seconds
        (a camera that hangs without closing the connection): ending it
        counts as its death, so it is restarted like one. An operation in
        the held session pauses the frames; it has its own deadline.
        """
        if self.current is None:
            self._watchdog.stop()
            return
        live = self.current
        if self.driver.holds_session and self._lock.locked:
            self._last_frame_at = self._reactor.seconds()
            return
        silent = self._reactor.seconds() - self._last_frame_at
        if self._stopping is live:
            return
        if silent >= FREEZE_PLACEHOLDER and silent < self.stall_timeout:
            self._freeze_placeholder()
        if silent < self.stall_timeout:
            return
        self.log.warn("live view stalled: no frame for {s:.1f}s; ending it",
                      s=silent)
        self._stall_text = ("live view stalled: no frame for %.1f s\n"
                            % (silent,))
        live.kill(self._stall_text.strip())

    def _freeze_placeholder(self):
        """
        Live view runs but sends nothing: show watchers the placeholder,
        once a second, until frames come again.
        """
        now = self._reactor.seconds()
        if (self.demand == 0 or self._placeholder_loop.running
                or (self._last_placeholder_at is not None
                    and now - self._last_placeholder_at
                    < PLACEHOLDER_INTERVAL
                    and self._last_placeholder_at > self._last_frame_at)):
            return
        self._last_placeholder_at = now
        self.freeze_placeholders += 1
        self._publish_placeholder_frame()

    def _live_view_ended(self, result, live):
        reason, stderr = result
        if self._preview is not None:
            self._preview.clear()
        if self.current is not live:
            return
        self.current = None
        if self._watchdog.running:
            self._watchdog.stop()
        stall_text, self._stall_text = self._stall_text, None
        if self._stopping is live:
            # fourcut ended it (idle, an operation, a restart, shutdown).
            self._stopping = None
            if self._state.state == "previewing":
                self._state.set_state("idle")
            self.log.info("live view ended (pid {pid})", pid=live.pid)
            # Someone may have come while it was being ended.
            if not self._lock.locked:
                self._restart_if_wanted()
            return
        # It died by itself, stalled, or would not start.
        self._state.failed(((stall_text or "") + (stderr or "")).strip()
                           or str(reason.value))
        self.log.warn("live view died (pid {pid}): {error}", pid=live.pid,
                      error=self._state.last_error[-500:])
        if live.frames:
            self.failures = 0
        self.failures += 1
        if (self.demand > 0 or self.waiters) and not self._shut_down:
            self._schedule_retry()
        else:
            self._state.set_state("offline")

    def _schedule_retry(self):
        """
        Retry live view: quickly with a doubling delay for the first
        C{max_restart_attempts} failures in a row, then every
        C{restart_delay} seconds. Watchers get a placeholder frame in the
        meantime, so their connections stay open.
        """
        if getattr(self.driver, "reviving", False):
            # The driver has a cheap way back (a viewfinder toggle in the
            # session): at once.
            delay = 0
            self._state.set_state("recovering")
        elif self.failures <= self.max_restart_attempts:
            delay = min(self.restart_delay,
                        FIRST_RETRY_DELAY * 2 ** (self.failures - 1))
            self._state.set_state("recovering")
        else:
            delay = self.restart_delay
            self._state.set_state("offline")
        self.log.info("retrying live view in {delay:.1f}s (failure {n})",
                      delay=delay, n=self.failures)
        if self._retry_call is not None and self._retry_call.active():
            self._retry_call.cancel()
        self._retry_call = self._reactor.callLater(delay, self._retry)
        if self.demand > 0 and not self._placeholder_loop.running:
            self._placeholder_loop.start(PLACEHOLDER_INTERVAL, now=True)

    def _retry(self):
        self._retry_call = None
        if self.demand > 0 or self.waiters:
            self.restarts += 1
            self.start(force=True)
        else:
            # Everybody left while the camera was away: stop retrying; the
            # next watcher tries again.
            if self._placeholder_loop.running:
                self._placeholder_loop.stop()
            self._state.set_state("offline")

    def _publish_placeholder(self):
        if (self.demand == 0 or self._shut_down
                or self._state.state not in ("recovering", "offline")):
            self._placeholder_loop.stop()
            return
        self._publish_placeholder_frame()

    def _publish_placeholder_frame(self):
        if self._placeholder is None:
            self._placeholder = offline_jpeg()
        self.broadcaster.publish(self._placeholder, self._wall_clock(),
                                 placeholder=True)

    def stop(self, warm=False):
        """
        Turn live view off and wait until it is. Call with the lock held.
        C{warm}: keep the body's viewfinder on (a driver that
        C{keeps_warm} only).
        """
        if self.current is None:
            return defer.succeed(None)
        self._stopping = self.current
        if warm:
            return self.current.stop(warm=True)
        return self.current.stop()

    def ending_all(self):
        """
        Every camera process is being ended (reset, shutdown): the running
        live view's end is fourcut's doing, not a failure.
        """
        if self.current is not None:
            self._stopping = self.current

    def shutdown(self):
        """
        No more live view: timers stopped, waiters told.
        """
        self._shut_down = True
        for call in (self._stop_call, self._retry_call, self._cool_call):
            if call is not None and call.active():
                call.cancel()
        for loop in (self._watchdog, self._placeholder_loop):
            if loop.running:
                loop.stop()
        if self._preview is not None:
            self._preview.clear()
        self.demand = 0
        self._notify(CameraError(503, "fourcut is shutting down\n"))
