# -*- test-case-name: tests.virtualcam.test_usb_transport -*-
"""
The camera behind the PTP/IP transport: what each operation does.

L{CameraDevice} holds the state a DSLR has (settings, pictures on the card,
the live view sensor) and answers one operation at a time. It knows nothing
of sockets: the server hands it decoded requests and sends back the
L{Reply} it produces, and it announces events through a callable.

L{PTPDevice} is what every personality shares (session, card, objects,
stills, live frames); L{CameraDevice} is the generic one, and
L{fourcut.virtualcam.eos.CanonEOSDevice} the Canon EOS one.
"""

import itertools
from datetime import datetime

from twisted.internet import defer, task, threads
from twisted.logger import Logger

from fourcut.virtualcam import ptp
from fourcut.virtualcam.scene import LiveViewScene, render_capture

__all__ = ["Reply", "Property", "default_properties", "StoredObject", "Faults",
           "PTPDevice", "CameraDevice"]


class Reply:
    """
    The answer to one operation: a response code, response parameters and,
    for operations with a device-to-host data phase, the data.
    """

    def __init__(self, code=ptp.RC_OK, params=(), data=None):
        self.code = code
        self.params = tuple(params)
        self.data = data

    def __repr__(self):
        return "<Reply 0x%04x params=%r data=%s>" % (
            self.code, self.params,
            None if self.data is None else "%d bytes" % len(self.data))


class Property:
    """
    One device property with an enumeration or range form.
    """

    def __init__(self, code, datatype, value, choices=None, value_range=None,
                 writable=True):
        self.code = code
        self.datatype = datatype
        self.default = value
        self.value = value
        self.choices = choices
        self.value_range = value_range
        self.writable = writable

    def allows(self, value):
        if self.choices is not None:
            return value in self.choices
        if self.value_range is not None:
            low, high, step = self.value_range
            return low <= value <= high and (value - low) % step == 0
        return True

    def describe(self):
        return ptp.prop_desc(self.code, self.datatype, self.writable,
                             self.default, self.value, self.choices,
                             self.value_range)


def default_properties():
    """
    The settings a small DSLR exposes, with the generic PTP codes that
    libgphoto2 maps to config names (iso, whitebalance, f-number,
    shutterspeed, imagesize, batterylevel).
    """
    return [
        Property(ptp.DPC_BatteryLevel, ptp.DTC_UINT8, 80,
                 value_range=(0, 100, 1), writable=False),
        Property(ptp.DPC_ExposureIndex, ptp.DTC_UINT16, 400,
                 choices=[100, 200, 400, 800, 1600, 3200, 6400]),
        # 2 auto, 4 daylight, 5 fluorescent, 6 tungsten, 7 flash
        Property(ptp.DPC_WhiteBalance, ptp.DTC_UINT16, 2,
                 choices=[2, 4, 5, 6, 7]),
        # f-number in hundredths: f/2.8 ... f/16
        Property(ptp.DPC_FNumber, ptp.DTC_UINT16, 560,
                 choices=[280, 400, 560, 800, 1100, 1600]),
        # exposure time in 1/10000 s: 1/2000 s ... 1 s
        Property(ptp.DPC_ExposureTime, ptp.DTC_UINT32, 80,
                 choices=[5, 10, 20, 40, 80, 166, 333, 666, 1250, 2500,
                          5000, 10000]),
        Property(ptp.DPC_ImageSize, ptp.DTC_STR, "2592x1728",
                 choices=["2592x1728", "1920x1280", "1296x864"]),
    ]


class StoredObject:
    """
    A photo on the card.

    @ivar settings: the property values (by PTP code) when it was taken, so
        that tests can check what a capture was taken with.
    """

    def __init__(self, handle, filename, data, width, height, when,
                 settings=None):
        self.settings = dict(settings or {})
        self.handle = handle
        self.filename = filename
        self.data = data
        self.width = width
        self.height = height
        self.when = when


class Faults:
    """
    Misbehaviour to inject into the device, set by tests and the command
    line while the camera runs.

    @ivar busy: answer DeviceBusy to this many of the next operations.
    @ivar hang: never answer this many of the next operations.
    @ivar failing_captures: this many of the next captures fail.
    @ivar capture_delay: extra seconds each capture takes.
    @ivar storage_full: the card has no room left.
    """

    def __init__(self):
        self.busy = 0
        self.hang = 0
        self.failing_captures = 0
        self.capture_delay = 0.0
        self.storage_full = False


# Operations that work before OpenSession.
_SESSIONLESS = frozenset([ptp.OC_GetDeviceInfo, ptp.OC_OpenSession])

CARD_CAPACITY = 8 * 1024 ** 3


class PTPDevice:
    """
    What every virtual camera shares, whatever vendor it plays: the
    session, the card and its pictures, live view frames and the dispatch
    of operations to handlers. Subclasses add their DeviceInfo, settings
    and capture.

    The transports rely on this interface: L{handle}, the L{send_event}
    attribute (which they set), L{end_session} and L{session_open}.

    @param reactor: provides time and the thread pool for rendering stills.
    @param fps: live view frames per second; 0 means unpaced.
    @param quality: live view JPEG quality.
    @param send_event: callable C{(code, transaction_id, params)} used to
        announce events on the event connection.
    """

    log = Logger()

    manufacturer = "fourcut"
    model = "Virtual DSLR"
    version = "1.0"
    serial = "FOURCUT0001"
    storage_description = "Virtual SD card"
    volume_label = "FOURCUT"

    #: Operation code -> handler C{f(self, request, data)}; subclasses
    #: extend it.
    _handlers = {}

    def __init__(self, reactor, fps=30.0, quality=85, send_event=None):
        self._reactor = reactor
        self.fps = fps
        self.faults = self.make_faults()
        self.scene = LiveViewScene(quality=quality)
        self.objects = {}
        self.send_event = send_event or (lambda code, tid, params: None)
        self._handles = itertools.count(1)
        self._shots = itertools.count(1)
        self.frames_served = 0
        self._next_frame_at = None
        self._frame_timer = None
        self._timers = set()
        self._live_frame = None
        self.session_open = False

    def make_faults(self):
        return Faults()

    # Session -----------------------------------------------------------

    def end_session(self):
        """
        The host went away: forget its session, and cancel whatever was
        under way for it (live frames, exposures, paced answers).
        """
        self.session_open = False
        self._live_frame = None
        if self._frame_timer is not None and not self._frame_timer.called:
            self._frame_timer.cancel()
        self._frame_timer = None
        for timer in list(self._timers):
            timer.cancel()

    def later(self, delay, f, *args, **kwargs):
        """
        Call C{f} after C{delay} seconds, unless the session ends first
        (then the returned L{Deferred} fails with L{defer.CancelledError}).
        """
        d = task.deferLater(self._reactor, delay, f, *args, **kwargs)
        self._timers.add(d)

        def done(result):
            self._timers.discard(d)
            return result
        return d.addBoth(done)

    def handle(self, request, data=None):
        """
        Carry out one operation.

        @param request: a L{fourcut.virtualcam.ptpip.OperationRequest}.
        @param data: the host-to-device data, if the operation had any.
        @return: a L{Deferred} firing with a L{Reply}.
        """
        faults = self.faults
        if faults.hang > 0:
            faults.hang -= 1
            self.log.info("hanging operation 0x{code:04x}", code=request.code)
            return defer.Deferred()
        if faults.busy > 0:
            faults.busy -= 1
            self._refused_busy(request)
            return defer.succeed(Reply(ptp.RC_DeviceBusy))
        if not self.session_open and request.code not in _SESSIONLESS:
            return defer.succeed(Reply(ptp.RC_SessionNotOpen))
        return self._dispatch(request, data)

    def _refused_busy(self, request):
        """
        Hook: C{request} was answered DeviceBusy by the busy fault.
        """

    def _dispatch(self, request, data):
        method = self._handlers.get(request.code)
        if method is None:
            return defer.succeed(Reply(ptp.RC_OperationNotSupported))

        def failed(failure):
            if failure.check(defer.CancelledError):
                return Reply(ptp.RC_GeneralError)  # the session ended
            self.log.failure("operation 0x{code:04x} failed", failure,
                             code=request.code)
            return Reply(ptp.RC_GeneralError)

        return defer.maybeDeferred(method, self, request, data).addErrback(
            failed)

    def _open_session(self, request, data):
        if self.session_open:
            return Reply(ptp.RC_SessionAlreadyOpen)
        self.session_open = True
        return Reply()

    def _close_session(self, request, data):
        self.end_session()
        return Reply()

    # Storage and objects -----------------------------------------------

    def _check_storage(self, storage_id):
        return storage_id in (ptp.STORAGE_ID, 0xFFFFFFFF, 0)

    def _get_storage_ids(self, request, data):
        return Reply(data=ptp.u32_array([ptp.STORAGE_ID]))

    def free_bytes(self):
        if self.faults.storage_full:
            return 0
        used = sum(len(o.data) for o in self.objects.values())
        return max(0, CARD_CAPACITY - used)

    def _storage_info(self):
        free = self.free_bytes()
        return ptp.storage_info(
            CARD_CAPACITY, free, free // (3 * 1024 * 1024),
            self.storage_description, self.volume_label)

    def _get_storage_info(self, request, data):
        if not request.params or request.params[0] != ptp.STORAGE_ID:
            return Reply(ptp.RC_InvalidStorageID)
        return Reply(data=self._storage_info())

    def _handles_for(self, request):
        storage = request.params[0] if request.params else 0xFFFFFFFF
        if not self._check_storage(storage):
            return None
        return sorted(self.objects)

    def _get_num_objects(self, request, data):
        handles = self._handles_for(request)
        if handles is None:
            return Reply(ptp.RC_InvalidStorageID)
        return Reply(params=[len(handles)])

    def _get_object_handles(self, request, data):
        handles = self._handles_for(request)
        if handles is None:
            return Reply(ptp.RC_InvalidStorageID)
        return Reply(data=ptp.u32_array(handles))

    def _object(self, handle):
        """
        The L{StoredObject} C{handle} names, or L{None}.
        """
        return self.objects.get(handle)

    def _object_info(self, stored):
        return ptp.object_info(
            ptp.STORAGE_ID, ptp.OFC_EXIF_JPEG, len(stored.data),
            stored.filename, width=stored.width, height=stored.height,
            capture_date=stored.when.strftime("%Y%m%dT%H%M%S"))

    def _get_object_info(self, request, data):
        stored = self._object(request.params[0] if request.params else 0)
        if stored is None:
            return Reply(ptp.RC_InvalidObjectHandle)
        return Reply(data=self._object_info(stored))

    def _get_object(self, request, data):
        stored = self._object(request.params[0] if request.params else 0)
        if stored is None:
            return Reply(ptp.RC_InvalidObjectHandle)
        return self._send_object_data(Reply(data=stored.data), stored, True)

    def _get_partial_object(self, request, data):
        if len(request.params) < 3:
            return Reply(ptp.RC_InvalidParameter)
        handle, offset, length = request.params[:3]
        stored = self._object(handle)
        if stored is None:
            return Reply(ptp.RC_InvalidObjectHandle)
        chunk = stored.data[offset:offset + length]
        return self._send_object_data(
            Reply(params=[len(chunk)], data=chunk), stored,
            offset + len(chunk) >= len(stored.data))

    def _send_object_data(self, reply, stored, last):
        """
        Hook: C{reply} carries picture data of C{stored}, the end of it if
        C{last}; a subclass may pace it.
        """
        return reply

    def _delete_object(self, request, data):
        handle = request.params[0] if request.params else 0
        if handle == 0xFFFFFFFF:
            self.objects.clear()
            return Reply()
        if self.objects.pop(handle, None) is None:
            return Reply(ptp.RC_InvalidObjectHandle)
        return Reply()

    # Live view ---------------------------------------------------------

    def _take_live_frame(self):
        frame, self._live_frame = self._live_frame, None
        return frame

    def _next_live_frame(self):
        """
        Make the next live view frame, waiting for its frame time when the
        host asks early. Fires with the frame, also kept for GetObject.
        """
        now = self._reactor.seconds()
        period = 1.0 / self.fps if self.fps else 0.0
        # Frames sit on a fixed time grid so that small lateness does not
        # accumulate; a host that falls more than a frame behind restarts it.
        if self._next_frame_at is None or now - self._next_frame_at > period:
            self._next_frame_at = now
        delay = self._next_frame_at - now
        self._next_frame_at += period

        def make():
            self.frames_served += 1
            self._live_frame = self.scene.frame(self.frames_served)
            return self._live_frame

        if delay <= 0:
            return defer.succeed(make())
        self._frame_timer = task.deferLater(self._reactor, delay, make)
        return self._frame_timer

    # Stills ------------------------------------------------------------

    def _render_still(self, shot, size, when, quality=92):
        """
        Render the still for capture number C{shot} in the reactor's thread
        pool; fires with the JPEG bytes.
        """
        return threads.deferToThreadPool(
            self._reactor, self._reactor.getThreadPool(),
            render_capture, shot, size, quality, when)

    def _new_object(self, shot, jpeg, size, when, settings=None):
        """
        A L{StoredObject} for a new picture, with the next free handle;
        the caller decides where it lives.
        """
        return StoredObject(next(self._handles),
                            "IMG_%04d.JPG" % (shot % 10000,), jpeg,
                            size[0], size[1], when, settings)

    _handlers = {
        ptp.OC_OpenSession: _open_session,
        ptp.OC_CloseSession: _close_session,
        ptp.OC_GetStorageIDs: _get_storage_ids,
        ptp.OC_GetStorageInfo: _get_storage_info,
        ptp.OC_GetNumObjects: _get_num_objects,
        ptp.OC_GetObjectHandles: _get_object_handles,
        ptp.OC_GetObjectInfo: _get_object_info,
        ptp.OC_GetObject: _get_object,
        ptp.OC_GetPartialObject: _get_partial_object,
        ptp.OC_DeleteObject: _delete_object,
    }


class CameraDevice(PTPDevice):
    """
    The generic virtual DSLR: standard PTP settings, InitiateCapture, and
    live view the way libgphoto2 fetches it from a Sony (the object
    0xFFFFC002).

    @param shutter_delay: seconds from InitiateCapture to the picture.
    """

    operations = [
        ptp.OC_GetDeviceInfo, ptp.OC_OpenSession, ptp.OC_CloseSession,
        ptp.OC_GetStorageIDs, ptp.OC_GetStorageInfo, ptp.OC_GetNumObjects,
        ptp.OC_GetObjectHandles, ptp.OC_GetObjectInfo, ptp.OC_GetObject,
        ptp.OC_DeleteObject, ptp.OC_InitiateCapture,
        ptp.OC_GetDevicePropDesc, ptp.OC_GetDevicePropValue,
        ptp.OC_SetDevicePropValue, ptp.OC_GetPartialObject,
    ]
    events = [ptp.EC_ObjectAdded, ptp.EC_CaptureComplete]

    def __init__(self, reactor, fps=30.0, quality=85, shutter_delay=0.5,
                 send_event=None):
        PTPDevice.__init__(self, reactor, fps=fps, quality=quality,
                           send_event=send_event)
        self.shutter_delay = shutter_delay
        self.properties = {p.code: p for p in default_properties()}

    def _refused_busy(self, request):
        if request.code == ptp.OC_InitiateCapture:
            self._capture_refused(request)

    def _get_device_info(self, request, data):
        return Reply(data=ptp.device_info(
            ptp.VENDOR_SONY, self.operations, self.events,
            sorted(self.properties), self.manufacturer, self.model,
            self.version, self.serial))

    # Live view through the Sony live view object ------------------------

    def _get_object_info(self, request, data):
        handle = request.params[0] if request.params else 0
        if handle == ptp.SONY_LIVEVIEW_HANDLE:
            return self._next_live_frame().addCallback(
                lambda frame: Reply(data=ptp.object_info(
                    ptp.STORAGE_ID, ptp.OFC_EXIF_JPEG, len(frame),
                    "LIVEVIEW.JPG", width=self.scene.size[0],
                    height=self.scene.size[1])))
        return PTPDevice._get_object_info(self, request, data)

    def _get_object(self, request, data):
        handle = request.params[0] if request.params else 0
        if handle == ptp.SONY_LIVEVIEW_HANDLE:
            frame, self._live_frame = self._live_frame, None
            if frame is not None:
                return Reply(data=frame)
            return self._next_live_frame().addCallback(
                lambda frame: Reply(data=self._take_live_frame()))
        return PTPDevice._get_object(self, request, data)

    # Capture -----------------------------------------------------------

    def _initiate_capture(self, request, data):
        faults = self.faults
        if faults.storage_full:
            self._capture_refused(request, ptp.EC_StoreFull)
            return Reply(ptp.RC_StoreFull)
        if faults.failing_captures > 0:
            faults.failing_captures -= 1
            self._capture_refused(request)
            return Reply(ptp.RC_GeneralError)
        shot = next(self._shots)
        size = tuple(int(n) for n in
                     self.properties[ptp.DPC_ImageSize].value.split("x"))
        when = datetime.now()
        settings = {code: prop.value
                    for code, prop in self.properties.items()}
        rendered = self._render_still(shot, size, when)
        exposed = self.later(self.shutter_delay + faults.capture_delay,
                             lambda: None)
        done = defer.gatherResults([rendered, exposed], consumeErrors=True)
        done.addCallback(lambda results: self._store_capture(
            shot, results[0], size, when, request.transaction_id, settings))

        def failed(failure):
            if failure.check(defer.FirstError) and \
                    failure.value.subFailure.check(defer.CancelledError):
                self.log.info("capture abandoned: the host went away")
            else:
                self.log.failure("capture failed", failure)
        done.addErrback(failed)
        return Reply()

    def _capture_refused(self, request, event=ptp.EC_CaptureComplete):
        """
        libgphoto2 2.5.30 ignores an error answer to InitiateCapture and
        waits for capture events with no timeout; a camera that fails a
        capture still ends it with an event, so the host reports an error
        instead of hanging.
        """
        d = self.later(0.05, self.send_event, event,
                       request.transaction_id, [])
        d.addErrback(lambda f: f.trap(defer.CancelledError))

    def _store_capture(self, shot, jpeg, size, when, transaction_id,
                       settings=None):
        stored = self._new_object(shot, jpeg, size, when, settings)
        self.objects[stored.handle] = stored
        self.log.info("captured {name} ({size} bytes)", name=stored.filename,
                      size=len(jpeg))
        self.send_event(ptp.EC_ObjectAdded, transaction_id, [stored.handle])
        self.send_event(ptp.EC_CaptureComplete, transaction_id, [])

    # Properties --------------------------------------------------------

    def _property(self, request):
        code = request.params[0] if request.params else 0
        return self.properties.get(code)

    def _get_device_prop_desc(self, request, data):
        prop = self._property(request)
        if prop is None:
            return Reply(ptp.RC_DevicePropNotSupported)
        return Reply(data=prop.describe())

    def _get_device_prop_value(self, request, data):
        prop = self._property(request)
        if prop is None:
            return Reply(ptp.RC_DevicePropNotSupported)
        return Reply(data=ptp.encode_value(prop.datatype, prop.value))

    def _set_device_prop_value(self, request, data):
        prop = self._property(request)
        if prop is None:
            return Reply(ptp.RC_DevicePropNotSupported)
        if not prop.writable:
            return Reply(ptp.RC_AccessDenied)
        try:
            value = ptp.decode_value(prop.datatype, data or b"")
        except ValueError:
            return Reply(ptp.RC_InvalidDevicePropFormat)
        if not prop.allows(value):
            self.log.info("refused value {value!r} for 0x{code:04x}",
                          value=value, code=prop.code)
            return Reply(ptp.RC_InvalidDevicePropValue)
        prop.value = value
        return Reply()

    _handlers = {
        **PTPDevice._handlers,
        ptp.OC_GetDeviceInfo: _get_device_info,
        ptp.OC_GetObjectInfo: _get_object_info,
        ptp.OC_GetObject: _get_object,
        ptp.OC_InitiateCapture: _initiate_capture,
        ptp.OC_GetDevicePropDesc: _get_device_prop_desc,
        ptp.OC_GetDevicePropValue: _get_device_prop_value,
        ptp.OC_SetDevicePropValue: _set_device_prop_value,
    }
