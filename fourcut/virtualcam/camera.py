"""
L{VirtualCamera}: the virtual DSLR as one object to start, point gphoto2
at, break on purpose and stop.
"""

from twisted.internet import defer
from twisted.internet.endpoints import serverFromString

from .device import CameraDevice
from .server import PTPIPFactory

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
    """

    model = GPHOTO2_MODEL

    def __init__(self, reactor, fps=30.0, quality=85, shutter_delay=0.5,
                 startup_delay=0.0):
        self.reactor = reactor
        self.device = CameraDevice(reactor, fps=fps, quality=quality,
                                   shutter_delay=shutter_delay)
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

    @property
    def sessions_opened(self):
        """
        Camera sessions hosts have opened since the camera started.
        """
        return self.factory.sessions_opened
