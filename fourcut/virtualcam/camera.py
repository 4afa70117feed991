# -*- test-case-name: tests.virtualcam.test_usb_transport -*-
"""
L{VirtualCamera} (PTP/IP) and L{VirtualUSBCamera} (USB, through fourcut's
port library): the virtual DSLR as one object to start, point gphoto2 at,
break on purpose and stop.
"""

import os
import shutil
import tempfile

from twisted.internet import defer
from twisted.internet.endpoints import UNIXServerEndpoint, serverFromString

from fourcut.virtualcam import usbport
from fourcut.virtualcam.device import CameraDevice
from fourcut.virtualcam.eos import CanonEOSDevice
from fourcut.virtualcam.eosbodies import DEFAULT_BODY, DEFAULT_PROFILE
from fourcut.virtualcam.server import PTPIPFactory
from fourcut.virtualcam.usb import VirtualUSBFactory

__all__ = ["VirtualCamera", "VirtualUSBCamera", "GPHOTO2_MODEL",
           "USB_MODEL", "DEFAULT_LISTEN", "PERSONALITIES", "make_device"]

#: The personalities a virtual camera can have.
PERSONALITIES = ("generic", "eos")

DEFAULT_LISTEN = "tcp:15740:interface=127.0.0.1"

#: The model name libgphoto2 knows PTP/IP cameras by.
GPHOTO2_MODEL = "PTP/IP Camera"

#: The model libgphoto2 detects a USB camera with unknown ids as.
USB_MODEL = "USB PTP Class Camera"


def make_device(reactor, personality="generic", body=DEFAULT_BODY,
                profile=DEFAULT_PROFILE, fps=None, quality=85,
                shutter_delay=0.5):
    """
    A device of C{personality}: C{"generic"} (a generic PTP camera with
    Sony-style live view; C{shutter_delay} is its capture time) or
    C{"eos"} (a Canon EOS C{body}, C{"700D"} or C{"550D"}, timed by
    C{profile}, C{"fast"}, C{"realistic"} or C{"lifelike"}; see
    L{fourcut.virtualcam.eos}). C{fps} L{None}: 30, or the body's own rate
    on the lifelike profile.
    """
    if personality == "generic":
        return CameraDevice(reactor, fps=30.0 if fps is None else fps,
                            quality=quality,
                            shutter_delay=shutter_delay)
    if personality == "eos":
        return CanonEOSDevice(reactor, model=body, profile=profile,
                              fps=fps, quality=quality)
    raise ValueError("unknown personality %r" % (personality,))


class _DeviceFaults:
    """
    Fault controls that act on the device, whatever the transport.
    """

    def busy(self, operations):
        """
        Answer DeviceBusy (0x2019) to the next C{operations} operations.
        """
        self.device.faults.busy = operations

    def hang(self, operations):
        """
        Never answer the next C{operations} operations.
        """
        self.device.faults.hang = operations

    def fail_captures(self, count):
        """
        The next C{count} captures fail with GeneralError.
        """
        self.device.faults.failing_captures = count

    def slow_capture(self, extra_seconds):
        """
        Every capture takes C{extra_seconds} longer than the shutter delay.
        """
        self.device.faults.capture_delay = extra_seconds

    def storage_full(self, full=True):
        """
        Report a full card: captures answer StoreFull (0x200C).
        """
        self.device.faults.storage_full = full


class VirtualCamera(_DeviceFaults):
    """
    A PTP/IP camera on a Twisted reactor.

    @param reactor: the reactor to listen and keep time on.
    @param fps: live view frame rate; 0 serves frames as fast as asked.
    @param quality: live view JPEG quality (85 gives 100-200 KB frames).
    @param shutter_delay: seconds a capture takes.
    @param startup_delay: seconds before the camera acknowledges a host.
    @param personality: C{"generic"} (a generic PTP camera with Sony-style
        live view) or C{"eos"} (a Canon EOS body, see
        L{fourcut.virtualcam.eos}).
    @param body: for C{"eos"}: the body, C{"700D"} or C{"550D"}.
    @param profile: for C{"eos"}: the timing profile, C{"fast"} or
        C{"realistic"}. The EOS body times its own capture, so
        C{shutter_delay} is the generic camera's only.
    """

    model = GPHOTO2_MODEL

    def __init__(self, reactor, fps=None, quality=85, shutter_delay=0.5,
                 startup_delay=0.0, personality="generic",
                 body=DEFAULT_BODY, profile=DEFAULT_PROFILE):
        self.reactor = reactor
        self.device = make_device(reactor, personality, body, profile, fps,
                                  quality, shutter_delay)
        self.personality = personality
        self.factory = PTPIPFactory(reactor, self.device,
                                    startup_delay=startup_delay)
        self._listening = None

    @defer.inlineCallbacks
    def listen(self, endpoint=DEFAULT_LISTEN):
        """
        Start listening on the Twisted endpoint string C{endpoint}.

        @return: a L{Deferred} firing with the gphoto2 port string.
        """
        self._listening = yield serverFromString(
            self.reactor, endpoint).listen(self.factory)
        return self.port

    @property
    def port(self):
        """
        The gphoto2 port string, C{ptpip:HOST:PORT:PORT}: command and event
        connections share one port, and naming the event port explicitly
        stops libgphoto2 from using 15740 for it.
        """
        address = self._listening.getHost()
        host = address.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return "ptpip:%s:%d:%d" % (host, address.port, address.port)

    def stop(self):
        """
        Stop listening and drop every connection.
        """
        for connection in list(self.factory.connections):
            connection.transport.abortConnection()
        self.device.end_session()
        if self._listening is None:
            return defer.succeed(None)
        listening, self._listening = self._listening, None
        return defer.maybeDeferred(listening.stopListening)

    # Faults ---------------------------------------------------------------

    def unplug(self):
        """
        Drop both connections and refuse new ones, like a pulled cable.
        """
        self.factory.unplug()

    def replug(self):
        self.factory.replug()

    def slow_start(self, seconds):
        """
        Wait C{seconds} before acknowledging a host's InitCommandRequest.
        """
        self.factory.startup_delay = seconds

    @property
    def session_open(self):
        return self.factory.session_open

    @property
    def sessions_opened(self):
        """
        Camera sessions hosts have opened since the camera started.
        """
        return self.factory.sessions_opened


class VirtualUSBCamera(_DeviceFaults):
    """
    A USB camera at C{usb:001,007}: the device listens on a Unix socket,
    and gphoto2 children started with L{env} see it through fourcut's port
    library. Any device with L{CameraDevice}'s interface can be served
    (its C{usb_ids}, if it has them, decide the model libgphoto2 detects).

    @param device: the device to serve; by default one made by
        L{make_device} from C{personality}, C{body}, C{profile}, C{fps},
        C{quality} and C{shutter_delay}.
    @param usb_ids: C{(vendor, product)} to give the device.
    @param model: the model name gphoto2 detects it as, for C{--camera};
        by default the EOS body's name, or L{USB_MODEL} for a device with
        ids libgphoto2 does not know.
    """

    port = usbport.PORT

    def __init__(self, reactor, device=None, fps=None, quality=85,
                 shutter_delay=0.5, usb_ids=None, model=None,
                 personality="generic", body=DEFAULT_BODY,
                 profile=DEFAULT_PROFILE):
        self.reactor = reactor
        self.device = device or make_device(
            reactor, personality, body, profile, fps, quality, shutter_delay)
        if usb_ids is not None:
            self.device.usb_ids = tuple(usb_ids)
        if model is None:
            model = (self.device.model
                     if isinstance(self.device, CanonEOSDevice)
                     else USB_MODEL)
        self.model = model
        self.factory = VirtualUSBFactory(reactor, self.device)
        self.socket_path = None
        self._listening = None
        self._own_dir = None

    @defer.inlineCallbacks
    def listen(self, socket_path=None):
        """
        Listen on the Unix socket C{socket_path} (by default one in a new
        private temporary directory, removed by L{stop}; keep the path
        short, Unix socket paths end at 107 bytes).

        @return: a L{Deferred} firing with the gphoto2 port, C{usb:001,007}.
        """
        if socket_path is None:
            self._own_dir = tempfile.mkdtemp(prefix="fourcut-vusb-")
            socket_path = os.path.join(self._own_dir, "camera.sock")
        self._listening = yield UNIXServerEndpoint(
            self.reactor, socket_path).listen(self.factory)
        self.socket_path = socket_path
        return self.port

    def env(self, flavour=usbport.CLI, base=None):
        """
        The environment a gphoto2 child (C{flavour} L{usbport.CLI}) or a
        python-gphoto2 child (L{usbport.PYTHON}; it must call
        L{usbport.restore_iolibs} after C{import gphoto2}) needs to see this
        camera; C{base} defaults to C{os.environ}.
        """
        if self.socket_path is None:
            raise RuntimeError("the camera is not listening")
        return usbport.child_env(self.socket_path, flavour, base)

    def stop(self):
        """
        Stop listening, drop every connection and remove the socket.
        """
        for connection in list(self.factory.connections):
            connection.transport.abortConnection()
        self.device.end_session()
        listening, self._listening = self._listening, None
        if listening is None:
            d = defer.succeed(None)
        else:
            d = defer.maybeDeferred(listening.stopListening)

        def cleaned(result):
            if self._own_dir is not None:
                shutil.rmtree(self._own_dir, ignore_errors=True)
                self._own_dir = None
            elif listening is not None and os.path.exists(self.socket_path):
                os.unlink(self.socket_path)
            return result
        return d.addBoth(cleaned)

    # Faults ---------------------------------------------------------------

    def unplug(self):
        """
        Pull the cable: every connection drops at once and the port
        vanishes from libgphoto2's list until L{replug}.
        """
        self.factory.unplug()

    def replug(self):
        self.factory.replug()

    def claim_by_other(self, on=True):
        """
        Refuse every claim, as if another process held the interface.
        """
        self.factory.claim_by_other(on)

    @property
    def session_open(self):
        """
        True while a host has the camera claimed.
        """
        return self.factory.session_open
