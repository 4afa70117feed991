# -*- test-case-name: tests.test_camera_session,tests.test_service -*-
"""
The camera session: the one owner of the camera.

Everything that touches the device (live view, captures, settings, raw
commands, reset) goes through L{CameraSession}, which serialises it: one
operation at a time, in a bounded queue. What runs it is the session's
driver: the C{held} driver (L{fourcut.camera.held}) keeps one camera
session open in a worker process and runs captures and settings between
two live view frames; the C{cli} driver (L{fourcut.camera.cli}) runs a
gphoto2 child per operation and pauses live view for each. Either way live
view runs while the broadcaster has demand, and stops a short grace period
after the last subscriber leaves; live view that dies, stalls or will not
start is retried with backoff while watchers get a placeholder frame.
"""

import time

from twisted.internet import defer, task, threads
from twisted.logger import Logger

from fourcut.camera import policy
from fourcut.camera.children import Children
from fourcut.camera.cli import failure_text, on_card
from fourcut.commands import NO_CAMERA, setting_change
from fourcut.gphoto2 import CameraError, classify
from fourcut.placeholder import offline_jpeg
from fourcut.settings import SettingError
from fourcut.transform import ThreadedTransform

__all__ = ["CameraSession"]


#: Seconds before the first retry of live view that died; each further
#: quick retry waits twice as long, up to the session's C{restart_delay}.
FIRST_RETRY_DELAY = 0.5

#: Seconds an answer about the camera's model and battery is reused for.
INFO_MAX_AGE = 5.0

#: C{/cmd} options that never open the camera (C{--version} ...) run
#: beside live view, at most this many at once.
MAX_SIDE_COMMANDS = 2

#: Seconds between placeholder frames while the camera is offline.
PLACEHOLDER_INTERVAL = 1.0


class CameraSession:
    """
    @param reactor: keeps time, runs threads.
    @param gphoto2: a L{fourcut.gphoto2.GPhoto2}, for the CLI commands
        (C{/cmd}, C{--reset}) every driver runs.
    @param broadcaster: a L{fourcut.broadcast.Broadcaster} whose demand
        callback is L{demand_changed}: demand starts and stops live view.
    @param photos: a L{fourcut.photos.PhotoStore}.
    @param driver: what runs live view, captures and settings: a
        L{fourcut.camera.held.HeldDriver} or L{fourcut.camera.cli.CLIDriver}.
    @param children: the L{fourcut.camera.children.Children} the driver
        tracks its processes in; the session runs its own CLI commands
        there too.
    """

    log = Logger()

    def __init__(self, reactor, gphoto2, broadcaster, photos, driver,
                 children, stop_grace=2.0, command_timeout=30.0,
                 capture_timeout=60.0, keep_on_card=True, modes=None,
                 preview_iso=None, capture_iso=None, standby_after=0,
                 preview_transform=None, capture_transform=None,
                 max_restart_attempts=3, restart_delay=5.0,
                 stall_timeout=5.0, wall_clock=time.time, max_queue=8):
        """
        @param modes: C{{"live_view": pairs, "capture": pairs, "standby":
            pairs}}, the C{(name, value)} gphoto2 settings applied when the
            session enters that mode; a failure is logged and kept in
            L{mode_errors}, never fatal.
        @param preview_iso: ISO applied with the C{live_view} settings.
        @param capture_iso: ISO applied with the C{capture} settings.
        @param keep_on_card: leave each photo on the camera's card; if
            false, it is deleted from the card once saved.
        @param standby_after: seconds without a preview subscriber before
            the C{standby} settings are applied (0: never).
        @param preview_transform: a L{fourcut.transform.FrameTransform} run
            once per live view frame, in a thread; L{None} or an identity
            transform passes frames through untouched.
        @param capture_transform: the same for photos, before they are
            saved.
        @param max_restart_attempts: quick retries of live view that died
            or would not start, with delays doubling from
            L{FIRST_RETRY_DELAY} up to C{restart_delay}; after these it is
            retried every C{restart_delay} seconds for as long as anyone
            watches.
        @param stall_timeout: seconds without a frame after which running
            live view counts as dead and is ended and restarted (not
            counted while an operation runs in the held session: it has a
            deadline of its own).
        @param wall_clock: gives the timestamps of placeholder frames.
        @param max_queue: camera operations (captures, commands, settings)
            that may wait for the camera at once; more are refused with a
            503, so that a front-end stuck in a loop cannot queue hours of
            captures.
        """
        self._reactor = reactor
        self.gphoto2 = gphoto2
        self.broadcaster = broadcaster
        self.photos = photos
        self.driver = driver
        self._children = children
        self.stop_grace = stop_grace
        self.command_timeout = command_timeout
        self.capture_timeout = capture_timeout
        self.keep_on_card = keep_on_card
        self.modes = dict(modes or {})
        if preview_iso is not None:
            self.modes["live_view"] = tuple(self.modes.get("live_view", ())) \
                + (("iso", str(preview_iso)),)
        if capture_iso is not None:
            self.modes["capture"] = tuple(self.modes.get("capture", ())) \
                + (("iso", str(capture_iso)),)
        self.standby_after = standby_after
        self.max_queue = max_queue
        self._queued = 0
        self._side_commands = 0
        self.max_restart_attempts = max_restart_attempts
        self.restart_delay = restart_delay
        self.stall_timeout = stall_timeout
        self._wall_clock = wall_clock
        self.failures = 0           # live view failures in a row
        self.restarts = 0           # live view restarts, for /status
        self._retry_call = None
        self._stopping = None       # the live view being ended
        self._last_frame_at = None
        self._watchdog = task.LoopingCall(self._check_stall)
        self._watchdog.clock = reactor
        self._placeholder = None
        self._placeholder_loop = task.LoopingCall(self._publish_placeholder)
        self._placeholder_loop.clock = reactor
        self._standby_call = None
        self.mode_errors = {}
        self.capture_transform = capture_transform
        if preview_transform is None or preview_transform.identity:
            self._preview = None
            self._on_frame = broadcaster.publish
        else:
            self._preview = ThreadedTransform(reactor, preview_transform,
                                              broadcaster.publish)
            self._on_frame = self._preview.submit
        self.state_listeners = []
        #: Wall-clock time the running live view was started.
        self.live_since = 0.0
        self.info = {"model": gphoto2.model, "manufacturer": None,
                     "battery": None, "port": None}
        self._info_at = None
        self._lock = defer.DeferredLock()
        self._demand = 0
        self._live = None           # a CLILiveView or HeldLiveView
        self._stall_text = None
        self._starting = False
        self._stop_call = None
        self._waiters = []          # Deferreds waiting for live view
        self._state = "idle"
        self.last_error = None
        self.captures = 0
        self._shut_down = False

    # State ---------------------------------------------------------------

    @property
    def state(self):
        """
        What the camera is doing: C{idle}, C{previewing}, C{capturing},
        C{busy} (a command or setting), C{resetting}, C{standby},
        C{recovering} (live view died or would not start, and is being
        retried quickly) or C{offline} (the quick retries failed too; a
        slow retry continues while anyone watches, and the next request
        tries again).
        """
        return self._state

    @property
    def children(self):
        """
        C{{pid: (transport, exited)}} of every process fourcut runs that
        talks to the camera.
        """
        return self._children.running

    @property
    def camera_in_use(self):
        """
        Whether live view runs or an operation has the camera.
        """
        return self._live is not None or self._lock.locked

    @property
    def _live_running(self):
        return self._live is not None and self._stopping is not self._live

    def _set_state(self, state):
        if state == self._state:
            return
        self._state = state
        for listener in list(self.state_listeners):
            try:
                listener(state, self.last_error)
            except Exception:
                self.log.failure("state listener {listener!r} failed",
                                 listener=listener)

    def _run(self, deadline, *args):
        """
        Run one gphoto2 CLI command to completion under C{deadline}.
        """
        return self._children.run(self.gphoto2, deadline, *args)

    def _with_settings(self, method, *args):
        """
        Run one of the driver's settings C{method}s, any child it starts
        tracked like every other.
        """
        return self._children.tracked(
            lambda on_start: method(*args, on_start=on_start))

    def _went_idle(self):
        """
        Nothing runs any more: the driver may release the camera later.
        """
        if (self._live is None and not self._lock.locked
                and not self._shut_down):
            self.driver.idle()

    # Live view -----------------------------------------------------------

    def demand_changed(self, count):
        if self._shut_down:
            return
        self._demand = count
        if count > 0:
            for name in ("_stop_call", "_standby_call"):
                call = getattr(self, name)
                if call is not None and call.active():
                    call.cancel()
                setattr(self, name, None)
            self._start_live_view()
        else:
            if self._live is not None and self._stop_call is None:
                self._stop_call = self._reactor.callLater(self.stop_grace,
                                                          self._idle_stop)
            if (self.standby_after > 0 and self.modes.get("standby")
                    and self._standby_call is None):
                self._standby_call = self._reactor.callLater(
                    self.standby_after, self._go_to_standby)

    def _idle_stop(self):
        self._stop_call = None
        if self._demand == 0:
            self._lock.run(self._stop_if_unwatched).addCallback(
                lambda _: self._restart_if_wanted())

    def _stop_if_unwatched(self):
        """
        Stop live view if still nobody wants it: someone may have come
        while this waited for the lock (behind a slow start, for one).
        """
        if self._demand == 0 and not self._waiters:
            return self._stop_live_view()

    def _restart_if_wanted(self):
        if (self._demand > 0 or self._waiters) and not self._shut_down:
            self._start_live_view()
        else:
            self._went_idle()

    def _go_to_standby(self):
        """
        Nobody has watched for C{standby_after} seconds: apply the
        C{standby} settings so that the sensor rests between guests.
        """
        self._standby_call = None
        if self._demand > 0 or self._shut_down:
            return
        self._exclusive("busy", lambda: self._enter_mode("standby"),
                        final_state="standby").addErrback(
            lambda f: self.log.failure("going to standby", f))

    def live_view_ready(self):
        """
        A L{Deferred} that fires once live view is producing frames, or
        fails with L{CameraError} if gphoto2 cannot start it.
        """
        if self._live_running and self._live.frames:
            return defer.succeed(None)
        d = defer.Deferred()
        self._waiters.append(d)
        self._start_live_view(force=True)
        return d

    def _notify(self, error=None):
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            if error is None:
                d.callback(None)
            else:
                d.errback(error)

    def _start_live_view(self, force=False):
        """
        Start live view unless it runs, is starting, the camera is in use,
        or a retry is already scheduled (C{force}: a new request that wants
        an answer now does not wait for the retry).
        """
        if (self._live is not None or self._starting or self._lock.locked
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
        if self._demand == 0 and not self._waiters:
            return
        yield self._enter_mode("live_view")
        if (self._demand == 0 and not self._waiters) or self._shut_down:
            return
        try:
            live = self.driver.start_live_view(self._frame_arrived)
        except OSError as e:
            # No descriptors left for its pipes (or no processes): a
            # failure like any other, retried while anyone watches.
            self._spawn_failed(e)
            return
        self._live = live
        self._last_frame_at = self._reactor.seconds()
        if not self._watchdog.running:
            self._watchdog.start(max(0.1, self.stall_timeout / 4), now=False)
        self.live_since = self._wall_clock()
        self.log.info("live view started ({driver}, pid {pid})",
                      driver=self.driver.name, pid=live.pid)
        live.ended.addCallback(self._live_view_ended, live)
        failure_text = yield live.started
        if failure_text is None:
            self.last_error = None
            self.failures = 0
            if self._placeholder_loop.running:
                self._placeholder_loop.stop()
            self._set_state("previewing")
            self._notify()
            if self._demand == 0 and self._stop_call is None:
                # It was started for a waiter that has gone since (a
                # snapshot that timed out): stop it after the grace.
                self._stop_call = self._reactor.callLater(self.stop_grace,
                                                          self._idle_stop)
        else:
            error = CameraError(classify(failure_text), failure_text)
            self.last_error = failure_text.strip()
            self._notify(error)
            # Wait for it to be over before others use the camera.
            yield live.ended

    def _spawn_failed(self, error):
        text = "fourcut: cannot start gphoto2 for live view: %s\n" % (
            error.strerror or error,)
        self.last_error = text.strip()
        self.log.warn("{error}", error=self.last_error)
        self.failures += 1
        self._notify(CameraError(503, text))
        if self._demand > 0 and not self._shut_down:
            self._schedule_retry()
        else:
            self._set_state("offline")

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
        if self._live is None:
            self._watchdog.stop()
            return
        live = self._live
        if self.driver.holds_session and self._lock.locked:
            self._last_frame_at = self._reactor.seconds()
            return
        silent = self._reactor.seconds() - self._last_frame_at
        if silent < self.stall_timeout or self._stopping is live:
            return
        self.log.warn("live view stalled: no frame for {s:.1f}s; ending it",
                      s=silent)
        self._stall_text = ("live view stalled: no frame for %.1f s\n"
                            % (silent,))
        live.kill(self._stall_text.strip())

    def _live_view_ended(self, result, live):
        reason, stderr = result
        if self._preview is not None:
            self._preview.clear()
        if self._live is not live:
            return
        self._live = None
        if self._watchdog.running:
            self._watchdog.stop()
        stall_text, self._stall_text = self._stall_text, None
        if self._stopping is live:
            # fourcut ended it (idle, an operation, a restart, shutdown).
            self._stopping = None
            if self._state == "previewing":
                self._set_state("idle")
            self.log.info("live view ended (pid {pid})", pid=live.pid)
            # Someone may have come while it was being ended.
            if not self._lock.locked:
                self._restart_if_wanted()
            return
        # It died by itself, stalled, or would not start.
        self.last_error = ((stall_text or "") + (stderr or "")).strip() \
            or str(reason.value)
        self.log.warn("live view died (pid {pid}): {error}", pid=live.pid,
                      error=self.last_error[-500:])
        if live.frames:
            self.failures = 0
        self.failures += 1
        if (self._demand > 0 or self._waiters) and not self._shut_down:
            self._schedule_retry()
        else:
            self._set_state("offline")

    def _schedule_retry(self):
        """
        Retry live view: quickly with a doubling delay for the first
        C{max_restart_attempts} failures in a row, then every
        C{restart_delay} seconds. Watchers get a placeholder frame in the
        meantime, so their connections stay open.
        """
        if self.failures <= self.max_restart_attempts:
            delay = min(self.restart_delay,
                        FIRST_RETRY_DELAY * 2 ** (self.failures - 1))
            self._set_state("recovering")
        else:
            delay = self.restart_delay
            self._set_state("offline")
        self.log.info("retrying live view in {delay:.1f}s (failure {n})",
                      delay=delay, n=self.failures)
        if self._retry_call is not None and self._retry_call.active():
            self._retry_call.cancel()
        self._retry_call = self._reactor.callLater(delay, self._retry)
        if self._demand > 0 and not self._placeholder_loop.running:
            self._placeholder_loop.start(PLACEHOLDER_INTERVAL, now=True)

    def _retry(self):
        self._retry_call = None
        if self._demand > 0 or self._waiters:
            self.restarts += 1
            self._start_live_view(force=True)
        else:
            # Everybody left while the camera was away: stop retrying; the
            # next watcher tries again.
            if self._placeholder_loop.running:
                self._placeholder_loop.stop()
            self._set_state("offline")

    def _publish_placeholder(self):
        if (self._demand == 0 or self._shut_down
                or self._state not in ("recovering", "offline")):
            self._placeholder_loop.stop()
            return
        if self._placeholder is None:
            self._placeholder = offline_jpeg()
        self.broadcaster.publish(self._placeholder, self._wall_clock(),
                                 placeholder=True)

    def _stop_live_view(self):
        """
        Turn live view off and wait until it is. Call with the lock held.
        """
        if self._live is None:
            return defer.succeed(None)
        self._stopping = self._live
        return self._live.stop()

    # Modes ---------------------------------------------------------------

    @defer.inlineCallbacks
    def _enter_mode(self, mode):
        """
        Apply the gphoto2 settings listed for C{mode}. Failures are logged
        and kept in L{mode_errors}: a camera that refuses one setting
        still works, and the operator can read why on C{/status}. Call
        with the lock held.
        """
        pairs = self.modes.get(mode)
        if not pairs:
            return
        try:
            result = yield self._with_settings(self.driver.settings.apply,
                                               pairs)
        except Exception as e:
            failures = [str(e)]
        else:
            failures = ["%s: %s" % (r["name"], r["error"])
                        for r in result["results"] if not r["ok"]]
        if failures:
            self.mode_errors[mode] = failures
            self.log.warn("{mode} settings failed: {failures}", mode=mode,
                          failures="; ".join(failures))
        else:
            self.mode_errors.pop(mode, None)

    # Operations ----------------------------------------------------------

    @defer.inlineCallbacks
    def _exclusive(self, state, work, final_state="idle", device=False):
        """
        Run C{work()} with the camera to itself, one operation at a time.

        With the C{cli} driver, or with C{device} (the operation runs the
        gphoto2 CLI, which needs the device itself), live view is paused
        and resumed afterwards for the subscribers still there; with the
        held session it keeps running, and C{work} runs between two of its
        frames.
        """
        if self._shut_down:
            raise CameraError(503, "fourcut is shutting down\n")
        if self._queued >= self.max_queue:
            raise CameraError(503, "fourcut: %d camera operations are "
                              "already waiting; try again later\n"
                              % (self._queued,))
        self._queued += 1
        try:
            yield self._lock.acquire()
        finally:
            self._queued -= 1
        if self._shut_down:
            self._lock.release()
            raise CameraError(503, "fourcut is shutting down\n")
        try:
            if device or not self.driver.holds_session:
                yield self._stop_live_view()
            self._set_state(state)
            result = yield work()
        finally:
            self._set_state("previewing" if self._live_running
                            else final_state)
            self._lock.release()
            if self._demand > 0 or self._waiters:
                self._start_live_view()
            else:
                self._went_idle()
        return result

    def capture(self, settings=(), name=None):
        """
        Take a photo, save it in the photos directory, and fire with
        C{(name, path, jpeg)}; fails with L{CameraError} or L{OSError}.

        @param settings: C{(name, value)} gphoto2 settings for this photo
            only: set before it and put back after it.
        @param name: the file name the client asked for, if any (see
            L{fourcut.photos.PhotoStore.save}).
        """
        for setting, _ in settings:
            refused = policy.name_refusal(setting)
            if refused is not None:
                return defer.fail(SettingError(
                    refused, {"reason": "not-allowed"}))
        return self._exclusive("capturing",
                               lambda: self._capture(settings, name))

    @defer.inlineCallbacks
    def _capture(self, settings, name_hint):
        started = self._reactor.seconds()
        try:
            # The capture mode's settings go with the photo: the held
            # session sets them and puts them back around it (live view
            # goes on with its own), the CLI sets them before it.
            shot = yield self.driver.capture(
                tuple(settings), self.capture_timeout,
                mode=tuple(self.modes.get("capture", ())))
        except CameraError as e:
            self.last_error = e.text.strip()
            if e.status == 504:
                # Seed 000: a capture with no camera is a 503.
                raise CameraError(503, e.text) from e
            raise
        if shot.mode_errors:
            self.mode_errors["capture"] = shot.mode_errors
            self.log.warn("capture settings failed: {failures}",
                          failures="; ".join(shot.mode_errors))
        elif self.modes.get("capture"):
            self.mode_errors.pop("capture", None)
        data = shot.data
        taken = self._reactor.seconds()
        if (self.capture_transform is not None
                and not self.capture_transform.identity):
            data = yield self._in_thread(self.capture_transform, data)
        location = shot.location
        try:
            name, path = yield self._in_thread(self.photos.save, data,
                                               name_hint)
        except OSError as e:
            if location is None:
                raise
            if not on_card(location):
                raise OSError(e.errno, "%s; the camera held the photo only "
                              "in its memory (%s; capturetarget Internal "
                              "RAM), so it is not on the card either"
                              % (e.strerror, location)) from e
            raise OSError(e.errno, "%s; the photo is kept on the camera's "
                          "card as %s" % (e.strerror, location)) from e
        if not self.keep_on_card and location is not None \
                and on_card(location):
            yield self.driver.delete(location)
        self.captures += 1
        self.log.info("saved {name} ({size} bytes; from the camera in "
                      "{camera:.0f} ms, saved {saved:.0f} ms later)",
                      name=name, size=len(data),
                      camera=(taken - started) * 1e3,
                      saved=(self._reactor.seconds() - taken) * 1e3)
        return name, path, data

    def _in_thread(self, function, *args):
        return threads.deferToThreadPool(
            self._reactor, self._reactor.getThreadPool(), function, *args)

    def command(self, args):
        """
        Run one allow-listed gphoto2 command; fire with its stdout.

        Options that never open the camera run at once, beside live view.
        A setting change is checked first, on the widget its NAME resolves
        to in the camera's tree (L{fourcut.camera.policy}), and gphoto2 is
        then given that widget's path, so that what it changes is what was
        checked, however the client spelled it. The gphoto2 CLI needs the
        device: live view is paused and the held session releases the
        camera for it (and opens it again at its next use).
        """
        if len(args) == 1 and args[0] in NO_CAMERA:
            return self._without_camera(args)
        change = setting_change(args)
        if change is not None:
            refused = policy.name_refusal(change[1])
            if refused is not None:
                return defer.fail(SettingError(
                    refused, {"reason": "not-allowed"}))
        return self._exclusive("busy", lambda: self._command(args, change),
                               device=True)

    def _without_camera(self, args):
        if self._shut_down:
            return defer.fail(CameraError(503, "fourcut is shutting down\n"))
        if self._side_commands >= MAX_SIDE_COMMANDS:
            return defer.fail(CameraError(
                503, "fourcut: %d such commands are already running; try "
                "again later\n" % (self._side_commands,)))
        self._side_commands += 1

        def done(result):
            self._side_commands -= 1
            return result

        return self._checked_run(args).addBoth(done)

    @defer.inlineCallbacks
    def _command(self, args, change=None):
        if change is not None:
            option, name, value = change
            where = yield self._with_settings(self.driver.settings.resolve,
                                              name)
            args = ["%s=%s=%s" % (option, where["path"], value)]
        yield self.driver.release()
        stdout = yield self._checked_run(args)
        return stdout

    @defer.inlineCallbacks
    def _checked_run(self, args):
        result = yield self._run(self.command_timeout, *args)
        if not result.ok:
            raise CameraError(503, failure_text(result, "command",
                                                self.command_timeout))
        return result.stdout

    def get_setting(self, section, option):
        """
        One camera setting through python-gphoto2: fires with the helper's
        answer (value, type, choices or range); fails with
        L{fourcut.settings.SettingError} or L{CameraError}.
        """
        return self._exclusive("busy", lambda: self._with_settings(
            self.driver.settings.get, section, option))

    def set_setting(self, section, option, value):
        """
        Change one camera setting; fires with the value read back.
        """
        return self._exclusive("busy", lambda: self._with_settings(
            self.driver.settings.set, section, option, value))

    def refresh_info(self, max_age=None):
        """
        Ask the camera for its model and battery level, unless that would
        interrupt live view (the C{cli} driver) or an operation: then the
        last answer stands. Fires with L{info}. An answer younger than
        C{max_age} seconds (default L{INFO_MAX_AGE}) is reused.
        """
        if max_age is None:
            max_age = INFO_MAX_AGE
        now = self._reactor.seconds()
        if ((self._live is not None and not self.driver.holds_session)
                or self._lock.locked or self._shut_down
                or (self._info_at is not None
                    and now - self._info_at < max_age)):
            return defer.succeed(self.info)

        @defer.inlineCallbacks
        def ask():
            answer = yield self._with_settings(self.driver.settings.info)
            for key in ("model", "manufacturer", "battery", "port"):
                if answer.get(key) is not None:
                    self.info[key] = answer[key]
            self._info_at = self._reactor.seconds()
            return self.info

        return self._exclusive(self._state, ask, final_state=self._state)

    def restart(self):
        """
        End every camera process and start live view again for the
        subscribers still waiting: the seed's "restart camera connection".
        """
        return self._exclusive("resetting", self._restart, device=True)

    @defer.inlineCallbacks
    def _restart(self):
        yield self.stop_children()
        self.last_error = None

    def reset(self):
        """
        End fourcut's own camera processes (the held session's worker
        too), reset the USB port where there is one, and forget the
        session's state; the next use opens the camera afresh.
        """
        return self._exclusive("resetting", self._reset, device=True)

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
        End every camera process fourcut started (and only those, by PID).
        """
        if self._live is not None:
            self._stopping = self._live
        return self._children.stop_all()

    def shutdown(self):
        """
        Stop live view and every child; for the service's stopService.
        """
        self._shut_down = True
        for call in (self._stop_call, self._standby_call, self._retry_call):
            if call is not None and call.active():
                call.cancel()
        for loop in (self._watchdog, self._placeholder_loop):
            if loop.running:
                loop.stop()
        if self._preview is not None:
            self._preview.clear()
        self._demand = 0
        self._notify(CameraError(503, "fourcut is shutting down\n"))
        self.driver.close()
        return self.stop_children()
