# -*- test-case-name: tests.integration.test_startup -*-
"""
The services of C{twistd fourcut}, each with one job at start and stop,
and L{FourcutService}, their parent, which makes a failure to start end
the process the way twistd users and systemd expect.

A service that cannot start (the port is taken, the photos directory
cannot be written) raises L{StartupError} with one line naming what
failed. L{FourcutService} logs that line, stops the services it had
already started (the virtual camera stopped), and raises L{StartupFailed}. twistd starts its services before
it runs the reactor, so that ends the process with status 1, before
anything was served: systemd's C{Restart=on-failure} restarts it, a shell
sees the failure, and the log holds the line, no traceback. (twistd has no
way to end with another status once its reactor runs: a clean stop then
is always status 0.)
"""

import errno
import os
import tempfile

from twisted.application import service
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.logger import ILogObserver, Logger
from twisted.python.failure import Failure

from fourcut.camera.gphoto2 import keep_home
from fourcut.virtualcam import usbport

__all__ = ["ExternalUSBCameraService", "FourcutService",
           "GPhoto2HomeService", "PhotosDirectoryService",
           "SessionService", "StartupError", "StartupFailed", "StopService",
           "VirtualCameraService", "WebService", "listen_error_text"]

log = Logger()


class StartupError(Exception):
    """
    A service cannot start; C{str()} is one line naming what failed.
    """


class StartupFailed(SystemExit, Exception):
    """
    fourcut could not start: raised from L{FourcutService.startService}
    once the services already started are stopped.

    An L{Exception}, so that twistd (which catches those around
    C{startService}) removes its pid file and tells a daemon's parent
    why; a L{SystemExit} with status 1, so that the process then ends with
    that status and without a traceback (the reason is already logged).
    """

    def __init__(self, message):
        SystemExit.__init__(self, message)
        self.code = 1


def listen_error_text(error):
    """
    Why a listen failed, in the operating system's words
    (C{Address already in use}), without Twisted's wrapping.
    """
    if isinstance(error, CannotListenError):
        inner = error.socketError
        return getattr(inner, "strerror", None) or str(inner)
    return getattr(error, "strerror", None) or str(error) or \
        type(error).__name__


class FourcutService(service.MultiService):
    """
    The top of fourcut's services; starts them in order, and turns a
    L{StartupError} into L{StartupFailed} after stopping the ones that had
    started (see the module docstring).

    What C{makeService} built is given to the constructor and kept, for
    tests and tools that look inside a running service.

    @param services: the child services, in the order they start.
    @ivar log_observer: the log observer fourcut writes its log with under
        twistd (L{fourcut.logs}), or L{None} to leave twistd's. It is given
        to twistd as the application's C{ILogObserver}, the way twistd
        lets an application choose its log.
    @ivar session: the L{fourcut.camera.session.CameraSession}.
    @ivar broadcaster: the L{fourcut.stream.broadcast.Broadcaster} of its
        live view.
    @ivar virtual_camera: the virtual camera it drives, or L{None}.
    @ivar web: the L{WebService} that listens.
    @ivar limits: the connection limits around the site
        (L{fourcut.web.limits.ConnectionLimits}).
    @ivar status: the L{fourcut.status.ServiceStatus}.
    @ivar websocket: the L{fourcut.web.ws.WebSocketHub}.
    @ivar scaled: the L{fourcut.stream.scaled.ScaledStreams}.
    @ivar booth: the L{fourcut.booth.service.Booth}.
    """

    def __init__(self, services=(), log_observer=None, session=None,
                 broadcaster=None, virtual_camera=None, web=None,
                 limits=None, status=None, websocket=None, scaled=None,
                 booth=None):
        service.MultiService.__init__(self)
        self.log_observer = log_observer
        self.session = session
        self.broadcaster = broadcaster
        self.virtual_camera = virtual_camera
        self.web = web
        self.limits = limits
        self.status = status
        self.websocket = websocket
        self.scaled = scaled
        self.booth = booth
        for child in services:
            child.setServiceParent(self)

    def setServiceParent(self, parent):
        service.MultiService.setServiceParent(self, parent)
        if self.log_observer is not None and hasattr(parent, "setComponent"):
            parent.setComponent(ILogObserver, self.log_observer)

    def startService(self):
        try:
            service.MultiService.startService(self)
        except StartupError as e:
            log.critical("fourcut: {error}", error=str(e))
            # Those already started, in reverse order (a MultiService of
            # them may have started only some of its own).
            for child in reversed(list(self)):
                if child.running:
                    try:
                        child.stopService()
                    except Exception:
                        log.failure("stopping {service!r}", service=child)
            self.running = 0
            raise StartupFailed("fourcut: %s" % (e,))


class PhotosDirectoryService(service.Service):
    """
    Makes sure, at start-up, that photos can be saved: the directory
    exists (it is created if not) and a file can be written in it. A
    C{photos:} path that is a file, or a directory fourcut may not write,
    otherwise passed start-up and C{/health}, and every capture was a 500.

    The check runs before the reactor under twistd (blocking file system
    calls are harmless there); its probe file is hidden (its name starts
    with C{.}), so the gallery never lists it.

    @param key: the config key, for C{paths.temp} (where photos are
        written while they arrive), whose failure says what to set instead;
        L{None} for the photos directory.
    """

    def __init__(self, directory, key=None):
        self.directory = directory
        self.key = key

    def startService(self):
        service.Service.startService(self)
        try:
            if os.path.lexists(self.directory) and not os.path.isdir(
                    self.directory):
                raise NotADirectoryError(errno.ENOTDIR,
                                         os.strerror(errno.ENOTDIR))
            os.makedirs(self.directory, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.directory,
                                         prefix=".fourcut-probe-",
                                         suffix=".tmp")
            try:
                os.write(fd, b"fourcut")
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError as e:
            self.running = 0
            if self.key is not None:
                raise StartupError(
                    "cannot use %s %s: %s; set %s to a directory fourcut "
                    "can write, or to null (photos are then written in the "
                    "photos directory)" % (
                        self.key, os.path.abspath(self.directory),
                        e.strerror or e, self.key))
            raise StartupError("cannot use the photos directory %s: %s" % (
                os.path.abspath(self.directory), e.strerror or e))


class VirtualCameraService(service.Service):
    """
    Runs the virtual camera on the service's reactor, before the session
    needs it. Once it has stopped, the port library directories its
    children were given (C{fourcut-iolibs-*}, for the USB camera) are
    removed: the session, which stops before it, has ended every child.
    """

    def __init__(self, camera):
        self.camera = camera
        self.ready = defer.Deferred()

    def startService(self):
        service.Service.startService(self)
        # Imported only with a virtual camera: it draws with Pillow.
        from fourcut.virtualcam.camera import VirtualUSBCamera
        if isinstance(self.camera, VirtualUSBCamera):
            d = self.camera.listen()
        else:
            d = self.camera.listen("tcp:0:interface=127.0.0.1")
        d.chainDeferred(self.ready)

    def stopService(self):
        from fourcut.virtualcam.camera import VirtualUSBCamera
        service.Service.stopService(self)
        d = defer.maybeDeferred(self.camera.stop)
        if isinstance(self.camera, VirtualUSBCamera):
            d.addBoth(lambda result: (usbport.remove_iolibs(), result)[1])
        return d


class ExternalUSBCameraService(service.Service):
    """
    The virtual USB camera run as a process of its own (C{./dev camera
    --usb SOCKET}): gives the children fourcut's port library, to see it
    through, at start (a start that fails before makes no directory), and
    removes the library's directories at stop.
    """

    def __init__(self, gphoto2, socket_path):
        self.gphoto2 = gphoto2
        self.socket_path = socket_path

    def startService(self):
        service.Service.startService(self)
        self.gphoto2.cli_env = usbport.child_env(self.socket_path,
                                                 usbport.CLI, {})
        self.gphoto2.python_env = usbport.child_env(self.socket_path,
                                                    usbport.PYTHON, {})

    def stopService(self):
        service.Service.stopService(self)
        usbport.remove_iolibs()


class WebService(service.Service):
    """
    Listens on the configured endpoint; C{listening} fires with the
    listening port (tests listen on port 0 and read the address from it),
    and the address is logged (C{fourcut: open http://HOST:PORT/}).

    A failure to listen (the port is taken, the address is not this
    machine's, no permission) is a L{StartupError}: every endpoint type
    fourcut accepts (C{tcp:}, C{tcp6:}, C{ssl:}, C{unix:}, C{systemd:})
    listens at once, so the failure is known before C{startService}
    returns and twistd can end with a non-zero status. Should an endpoint
    ever fail later, the failure is logged and the reactor stopped: the
    process still ends rather than run with nothing listening.

    @ivar site: the web site.
    @ivar factory: what listens: the site, or a wrapper of it (the
        connection limits).
    @ivar description: the endpoint as configured, for messages.
    """

    def __init__(self, endpoint, site, factory=None, scheme="http",
                 description=None, reactor=None):
        self.endpoint = endpoint
        self.scheme = scheme
        self.site = site
        self.factory = factory if factory is not None else site
        self.description = description or repr(endpoint)
        self.listening = defer.Deferred()
        self._port = None
        self._reactor = reactor

    def startService(self):
        service.Service.startService(self)
        outcome = []
        d = self.endpoint.listen(self.factory)
        d.addBoth(outcome.append)
        if outcome and isinstance(outcome[0], Failure):
            self.running = 0
            # (L{listening} never fires: the exception is the news.)
            raise StartupError("cannot listen on %s: %s" % (
                self.description, listen_error_text(outcome[0].value)))
        if outcome:
            self._listening(outcome[0])
        else:
            d.addCallbacks(self._listening, self._failed_later)

    def _listening(self, port):
        self._port = port
        address = port.getHost()
        host = getattr(address, "host", None)
        if host is not None:
            if host in ("0.0.0.0", "::", ""):
                host = "127.0.0.1"
            elif ":" in host:
                host = "[%s]" % (host,)
            log.info("fourcut: open {scheme}://{host}:{port}/",
                     scheme=self.scheme, host=host, port=address.port)
        self.listening.callback(port)

    def _failed_later(self, failure):
        log.critical("fourcut: cannot listen on {where}: {why}",
                     where=self.description,
                     why=listen_error_text(failure.value))
        self.listening.errback(failure)
        self.listening.addErrback(lambda f: None)
        reactor = self._reactor
        if reactor is None:
            from twisted.internet import reactor
        if reactor.running:
            reactor.stop()

    def stopService(self):
        service.Service.stopService(self)
        if self._port is not None:
            port, self._port = self._port, None
            return port.stopListening()


class SessionService(service.Service):
    """
    Ends every gphoto2 child when twistd stops.
    """

    def __init__(self, session):
        self.session = session

    def stopService(self):
        service.Service.stopService(self)
        return self.session.shutdown()


class GPhoto2HomeService(service.Service):
    """
    fourcut's own C{HOME} for its gphoto2 children, in its state directory
    (C{paths.state_dir}, by default C{fourcut-state} beside the photos):
    made when the service starts and never removed, so that what
    libgphoto2 keeps in C{$HOME/.gphoto/settings} (C{capturetarget}, which
    the README promises holds for every later camera session) survives a
    stop, a crash and a reboot. It was a temporary directory removed at
    stop (issue 25): after a restart the card copy silently stopped. What
    the gphoto2 CLI saved of the last port is dropped at each start
    (L{keep_home}), so nothing an earlier run saved steers fourcut to a
    camera that is gone. The CLI and python-gphoto2 children share the
    file (L{prepare_home}).
    """

    def __init__(self, gphoto2, state_dir):
        self.gphoto2 = gphoto2
        self.state_dir = state_dir

    def startService(self):
        service.Service.startService(self)
        try:
            self.gphoto2.home = keep_home(self.state_dir)
        except OSError as e:
            raise StartupError(
                "the state directory %s cannot be used (paths.state_dir): "
                "%s" % (self.state_dir, e.strerror or e))
        log.info("gphoto2 settings kept in {home}", home=self.gphoto2.home)

    def stopService(self):
        service.Service.stopService(self)
        # Kept: the next run reads the same settings.
        self.gphoto2.home = None


class StopService(service.Service):
    """
    Calls C{stop} when twistd stops (for helpers with a pending timer).
    """

    def __init__(self, stop):
        self._stop = stop

    def stopService(self):
        service.Service.stopService(self)
        self._stop()
