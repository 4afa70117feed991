# -*- test-case-name: tests.camera.test_camera_session,tests.integration.test_service -*-
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

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from fourcut import policy
from fourcut.camera.commands import NO_CAMERA, setting_change
from fourcut.errors import CameraError, SettingError, is_client_mistake

__all__ = ["CameraSession"]


#: Seconds an answer about the camera's model and battery is reused for.
INFO_MAX_AGE = 5.0

#: C{/cmd} options that never open the camera (C{--version} ...) run
#: beside live view, at most this many at once.
MAX_SIDE_COMMANDS = 2


class CameraSession:
    """
    The one owner of the camera: its lock, the bounded queue of operations
    waiting for it, its state, its modes and its standby.

    @param reactor: keeps time, runs threads.
    @param gphoto2: a L{fourcut.camera.gphoto2.GPhoto2}, for the CLI
        commands (C{/cmd}, C{--reset}) every driver runs.
    @param children: the L{fourcut.camera.processes.Children} the driver
        tracks its processes in; the session runs its own CLI commands
        there too.
    @param driver: what runs live view, captures and settings: a
        L{fourcut.camera.interfaces.IDriver} (L{fourcut.camera.held.HeldDriver}
        or L{fourcut.camera.cli.CLIDriver}).
    @param broadcaster: the L{fourcut.stream.broadcast.Broadcaster} live
        view goes to; forgets its latest frame at a reset.
    @param demand: the L{fourcut.camera.demand.Demand} the broadcaster
        reports to: demand starts and stops live view (L{demand_changed}).
    @param lock: the camera's L{defer.DeferredLock}: one operation at a
        time; live view supervision starts and stops live view under it
        too.
    @param state: the L{fourcut.camera.state.CameraState} the session and
        its live view supervision report to.
    @param modes: the L{fourcut.camera.modes.ModeSwitch}.
    @param live_view: the L{fourcut.camera.liveview.LiveViewSupervisor}
        running live view through C{driver} under C{lock}.
    @param photo_taker: the L{fourcut.camera.capture.PhotoTaker} that takes
        and saves each photo.
    @param command_timeout: seconds a gphoto2 CLI command may take.
    @param max_queue: camera operations (captures, commands, settings)
        that may wait for the camera at once; more are refused with a
        503, so that a front-end stuck in a loop cannot queue hours of
        captures.
    @param capture_observer: a L{fourcut.camera.interfaces.ICaptureObserver}
        told how long every capture took, or L{None}.

    @ivar info: the camera's model, manufacturer, battery and port, as last
        asked (L{refresh_info}).
    @ivar captures: photos taken and saved.
    """

    log = Logger()

    def __init__(self, reactor, gphoto2, children, driver, broadcaster,
                 demand, lock, state, modes, live_view, photo_taker,
                 command_timeout=30.0, max_queue=8, capture_observer=None):
        self._reactor = reactor
        self.gphoto2 = gphoto2
        self._children = children
        self.driver = driver
        self.broadcaster = broadcaster
        self._lock = lock
        self._camera_state = state
        self._modes = modes
        self.live_view = live_view
        self.photo_taker = photo_taker
        self.command_timeout = command_timeout
        self.max_queue = max_queue
        self._capture_observer = capture_observer
        self._queued = 0
        self._side_commands = 0
        self._standby_call = None
        self.info = {"model": gphoto2.model, "manufacturer": None,
                     "battery": None, "port": None}
        self._info_at = None
        self._first_info_waiters = None
        self.captures = 0
        self._shut_down = False
        self._unsubscribe_demand = demand.subscribe(self.demand_changed)

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
        return self._camera_state.state

    @property
    def last_error(self):
        """
        The last failure's text, or L{None} since the camera last worked.
        """
        return self._camera_state.last_error

    @property
    def mode_errors(self):
        """
        C{{mode: [text, ...]}}: the settings each mode's last entry could
        not apply.
        """
        return self._camera_state.mode_errors

    def subscribe(self, listener):
        """
        Call C{listener(state, last_error)} at every change of L{state};
        returns a callable that unsubscribes it.
        """
        return self._camera_state.subscribe(listener)

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
        return self.live_view.current is not None or self._lock.locked

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

    # Live view -----------------------------------------------------------

    def demand_changed(self, count):
        """
        The broadcaster's subscribers now number C{count}: live view
        follows (L{fourcut.camera.liveview}); with nobody left, the
        C{standby} settings are applied after the modes' C{standby_after}
        seconds.
        """
        if self._shut_down:
            return
        self.live_view.demand_changed(count)
        if count > 0:
            if self._standby_call is not None and self._standby_call.active():
                self._standby_call.cancel()
            self._standby_call = None
        elif (self._modes.modes.standby_after > 0
                and self._modes.modes.standby
                and self._standby_call is None):
            self._standby_call = self._reactor.callLater(
                self._modes.modes.standby_after, self._go_to_standby)

    def _go_to_standby(self):
        """
        Nobody has watched for C{standby_after} seconds: apply the
        C{standby} settings so that the sensor rests between guests.
        """
        self._standby_call = None
        if self.live_view.demand > 0 or self._shut_down:
            return
        self._exclusive("busy", lambda: self._modes.enter("standby"),
                        final_state="standby").addErrback(
            lambda f: self.log.failure("going to standby", f))

    def live_view_ready(self):
        """
        A L{Deferred} that fires once live view is producing frames, or
        fails with L{CameraError} if it cannot be started.
        """
        return self.live_view.ready()

    @property
    def failures(self):
        return self.live_view.failures

    @property
    def restarts(self):
        return self.live_view.restarts

    @property
    def live_since(self):
        return self.live_view.live_since

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
                yield self.live_view.stop()
            self._camera_state.set_state(state)
            result = yield work()
        finally:
            self._camera_state.set_state("previewing" if self.live_view.running
                                  else final_state)
            self._lock.release()
            if self.live_view.wanted:
                self.live_view.start()
            else:
                self.live_view.report_idle()
        return result

    def capture(self, settings=(), name=None):
        """
        Take a photo, save it in the photos directory, and fire with
        C{(name, path, jpeg)}; fails with L{CameraError} or L{OSError}.

        @param settings: C{(name, value)} gphoto2 settings for this photo
            only: set before it and put back after it.
        @param name: the file name the client asked for, if any (see
            L{fourcut.photos.PhotoStore.save}).

        Every capture, whoever asks for it (the HTTP API, the WebSocket,
        the booth's sequences), is timed here for the capture observer,
        from this call (queueing included) to the photo saved or the
        failure.
        """
        started = self._reactor.seconds()
        d = self._checked_capture(settings, name)
        observer = self._capture_observer
        if observer is None:
            return d

        def saved(result):
            observer.captured(self._reactor.seconds() - started)
            return result

        def failed(failure):
            seconds = self._reactor.seconds() - started
            if is_client_mistake(failure.value):
                observer.capture_refused(seconds)
            else:
                observer.capture_failed(seconds)
            return failure

        return d.addCallbacks(saved, failed)

    def _checked_capture(self, settings, name):
        for setting, _ in settings:
            refused = policy.name_refusal(setting)
            if refused is not None:
                return defer.fail(SettingError(
                    refused, {"reason": "not-allowed"}))
        return self._exclusive("capturing",
                               lambda: self._capture(settings, name))

    @defer.inlineCallbacks
    def _capture(self, settings, name_hint):
        try:
            # The capture mode's settings go with the photo: the held
            # session sets them and puts them back around it (live view
            # goes on with its own), the CLI sets them before it.
            photo = yield self.photo_taker.take(
                settings, name_hint, mode=self._modes.modes.capture)
        except CameraError as e:
            self._camera_state.failed(e.text)
            raise
        if photo.mode_errors or self._modes.modes.capture:
            self._camera_state.mode_entered("capture", photo.mode_errors)
        self.captures += 1
        self.log.info("saved {name} ({size} bytes; from the camera in "
                      "{camera:.0f} ms, saved {saved:.0f} ms later)",
                      name=photo.name, size=len(photo.data),
                      camera=photo.camera_ms, saved=photo.save_ms)
        return photo.name, photo.path, photo.data

    def command(self, args):
        """
        Run one allow-listed gphoto2 command; fire with its stdout.

        Options that never open the camera run at once, beside live view.
        A setting change is checked first, on the widget its NAME resolves
        to in the camera's tree (L{fourcut.policy}), and gphoto2 is
        then given a name that reaches that same widget (its own name when
        it is the first of that name, else its path), so that what it
        changes is what was checked, however the client spelled it. The
        gphoto2 CLI needs the device: live view is paused and the held
        session releases the camera for it (and opens it again at its next
        use).
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
            args = ["%s=%s=%s" % (option, where.get("cli_name")
                                  or where["path"], value)]
        yield self.driver.release()
        stdout = yield self._checked_run(args)
        return stdout

    @defer.inlineCallbacks
    def _checked_run(self, args):
        result = yield self._run(self.command_timeout, *args)
        if not result.ok:
            raise CameraError(503, result.failure_text(
                "command", self.command_timeout))
        return result.stdout

    def get_setting(self, section, option):
        """
        One camera setting through python-gphoto2: fires with the helper's
        answer (value, type, choices or range); fails with
        L{fourcut.errors.SettingError} or L{CameraError}.
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
        if ((self.live_view.current is not None
                and not self.driver.holds_session)
                or self._lock.locked or self._shut_down
                or (self._info_at is not None
                    and now - self._info_at < max_age)):
            return defer.succeed(self.info)

        return self._exclusive(self.state, self._ask_info,
                               final_state=self.state)

    @defer.inlineCallbacks
    def _ask_info(self):
        answer = yield self._with_settings(self.driver.settings.info)
        for key in ("model", "manufacturer", "battery", "port"):
            if answer.get(key) is not None:
                self.info[key] = answer[key]
        self._info_at = self._reactor.seconds()
        return self.info

    def first_info(self):
        """
        L{info} once the camera has answered it at least once: at once if
        it has, else once it does. The camera is asked then, in its turn
        after any operation running (with the C{cli} driver, live view
        pauses for it, as for a setting). Fires with what is known when
        the camera cannot answer (none there), never fails. Callers at the
        same time share one question.
        """
        if self._info_at is not None or self._shut_down:
            return defer.succeed(self.info)
        waiter = defer.Deferred()
        if self._first_info_waiters is None:
            self._first_info_waiters = [waiter]

            def answered(result):
                if isinstance(result, Failure):
                    self.log.info("camera info not known: {error}",
                                  error=getattr(result.value, "text", None)
                                  or result.getErrorMessage())
                waiters, self._first_info_waiters = (
                    self._first_info_waiters, None)
                for each in waiters:
                    each.callback(self.info)

            self._exclusive(self.state, self._ask_info,
                            final_state=self.state).addBoth(answered)
        else:
            self._first_info_waiters.append(waiter)
        return waiter

    def restart(self):
        """
        End every camera process and start live view again for the
        subscribers still waiting: the seed's "restart camera connection".
        """
        return self._exclusive("resetting", self._restart, device=True)

    @defer.inlineCallbacks
    def _restart(self):
        yield self.stop_children()
        self._camera_state.recovered()

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
        self._camera_state.recovered()
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
        self.live_view.ending_all()
        return self._children.stop_all()

    def shutdown(self):
        """
        Stop live view and every child; for the service's stopService.
        """
        self._shut_down = True
        self._unsubscribe_demand()
        if self._standby_call is not None and self._standby_call.active():
            self._standby_call.cancel()
        self.live_view.shutdown()
        self.driver.close()
        return self.stop_children()
