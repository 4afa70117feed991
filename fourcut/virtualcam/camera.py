"""
L{VirtualCamera}: the virtual DSLR as one object to start, point gphoto2
at, break on purpose and stop.
"""

from twisted.internet import defer
from twisted.internet.endpoints import serverFromString

from .device import CameraDevice
from .eos import CanonEOSDevice
from .eosbodies import DEFAULT_BODY, DEFAULT_PROFILE
from .server import PTPIPFactory

#: The personalities a virtual camera can have.
PERSONALITIES = ("generic", "eos")

DEFAULT_LISTEN = "tcp:15740:interface=127.0.0.1"

#: The model name libgphoto2 knows PTP/IP cameras by.
GPHOTO2_MODEL = "PTP/IP Camera"


class VirtualCamera:
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

    def __init__(self, reactor, fps=30.0, quality=85, shutter_delay=0.5,
                 startup_delay=0.0, personality="generic",
                 body=DEFAULT_BODY, profile=DEFAULT_PROFILE):
        self.reactor = reactor
        if personality == "generic":
            self.device = CameraDevice(reactor, fps=fps, quality=quality,
                                       shutter_delay=shutter_delay)
        elif personality == "eos":
            self.device = CanonEOSDevice(reactor, model=body, profile=profile,
                                         fps=fps, quality=quality)
        else:
            raise ValueError("unknown personality %r" % (personality,))
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

    def slow_start(self, seconds):
        """
        Wait C{seconds} before acknowledging a host's InitCommandRequest.
        """
        self.factory.startup_delay = seconds

    @property
    def session_open(self):
        return self.factory.session_open
