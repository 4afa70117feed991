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

import time

from twisted.internet import defer
from twisted.logger import Logger

from fourcut import policy
from fourcut.camera.capture import PhotoTaker
from fourcut.camera.cli import failure_text
from fourcut.camera.liveview import LiveViewSupervisor
from fourcut.camera.commands import NO_CAMERA, setting_change
from fourcut.camera.gphoto2 import CameraError
from fourcut.camera.settings import SettingError

__all__ = ["CameraSession"]


#: Seconds an answer about the camera's model and battery is reused for.
INFO_MAX_AGE = 5.0

#: C{/cmd} options that never open the camera (C{--version} ...) run
#: beside live view, at most this many at once.
MAX_SIDE_COMMANDS = 2


class CameraSession:
    """
    @param reactor: keeps time, runs threads.
    @param gphoto2: a L{fourcut.camera.gphoto2.GPhoto2}, for the CLI commands
        (C{/cmd}, C{--reset}) every driver runs.
    @param broadcaster: a L{fourcut.stream.broadcast.Broadcaster} whose demand
        callback is L{demand_changed}: demand starts and stops live view.
    @param photos: a L{fourcut.photos.PhotoStore}.
    @param driver: what runs live view, captures and settings: a
        L{fourcut.camera.held.HeldDriver} or L{fourcut.camera.cli.CLIDriver}.
    @param children: the L{fourcut.camera.processes.Children} the driver
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
        @param preview_transform: a L{fourcut.stream.transform.FrameTransform} run
            once per live view frame, in a thread; L{None} or an identity
            transform passes frames through untouched.
        @param capture_transform: the same for photos, before they are
            saved.
        @param max_restart_attempts: quick retries of live view that died
            or would not start, with delays doubling from
            L{fourcut.camera.liveview.FIRST_RETRY_DELAY} up to
            C{restart_delay}; after these it is
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
        self._standby_call = None
        self.mode_errors = {}
        self.capture_transform = capture_transform
        self._photo_taker = PhotoTaker(reactor, driver, photos,
                                       capture_timeout, keep_on_card,
                                       capture_transform)
        self.state_listeners = []
        self.info = {"model": gphoto2.model, "manufacturer": None,
                     "battery": None, "port": None}
        self._info_at = None
        self._lock = defer.DeferredLock()
        self.live_view = LiveViewSupervisor(
            self, reactor, self._lock, driver, broadcaster,
            stop_grace=stop_grace, stall_timeout=stall_timeout,
            max_restart_attempts=max_restart_attempts,
            restart_delay=restart_delay, preview_transform=preview_transform,
            wall_clock=wall_clock)
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
        return self.live_view.current is not None or self._lock.locked

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
        if (self.live_view.current is None and not self._lock.locked
                and not self._shut_down):
            self.driver.idle()

    # Live view -----------------------------------------------------------

    def demand_changed(self, count):
        """
        The broadcaster's subscribers now number C{count}: live view
        follows (L{fourcut.camera.liveview}); with nobody left, the
        C{standby} settings are applied after C{standby_after} seconds.
        """
        if self._shut_down:
            return
        self.live_view.demand_changed(count)
        if count > 0:
            if self._standby_call is not None and self._standby_call.active():
                self._standby_call.cancel()
            self._standby_call = None
        elif (self.standby_after > 0 and self.modes.get("standby")
                and self._standby_call is None):
            self._standby_call = self._reactor.callLater(
                self.standby_after, self._go_to_standby)

    def _go_to_standby(self):
        """
        Nobody has watched for C{standby_after} seconds: apply the
        C{standby} settings so that the sensor rests between guests.
        """
        self._standby_call = None
        if self.live_view.demand > 0 or self._shut_down:
            return
        self._exclusive("busy", lambda: self._enter_mode("standby"),
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
                yield self.live_view.stop()
            self._set_state(state)
            result = yield work()
        finally:
            self._set_state("previewing" if self.live_view.running
                            else final_state)
            self._lock.release()
            if self.live_view.wanted:
                self.live_view.start()
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
        try:
            # The capture mode's settings go with the photo: the held
            # session sets them and puts them back around it (live view
            # goes on with its own), the CLI sets them before it.
            photo = yield self._photo_taker.take(
                settings, name_hint, mode=self.modes.get("capture", ()))
        except CameraError as e:
            self.last_error = e.text.strip()
            raise
        if photo.mode_errors:
            self.mode_errors["capture"] = photo.mode_errors
            self.log.warn("capture settings failed: {failures}",
                          failures="; ".join(photo.mode_errors))
        elif self.modes.get("capture"):
            self.mode_errors.pop("capture", None)
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
            raise CameraError(503, failure_text(result, "command",
                                                self.command_timeout))
        return result.stdout

    def get_setting(self, section, option):
        """
        One camera setting through python-gphoto2: fires with the helper's
        answer (value, type, choices or range); fails with
        L{fourcut.camera.settings.SettingError} or L{CameraError}.
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
        self.live_view.ending_all()
        return self._children.stop_all()

    def shutdown(self):
        """
        Stop live view and every child; for the service's stopService.
        """
        self._shut_down = True
        if self._standby_call is not None and self._standby_call.active():
            self._standby_call.cancel()
        self.live_view.shutdown()
        self.driver.close()
        return self.stop_children()
