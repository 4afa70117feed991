# -*- test-case-name: tests.integration.test_startup -*-
"""
C{twistd fourcut}: options and the service tree.

C{makeService(options, reactor=reactor)} builds everything on one reactor:
the camera session (and, with C{--virtual-camera}, the virtual camera it
drives), the broadcaster that fans live view out, and the web site that
L{fourcut.web.site} builds, under a L{fourcut.services.FourcutService}.

A mistake in the options or the config file ends C{twistd fourcut} at once
with status 1 and one line on stderr (L{OptionsError}), never twistd's
usage text; a failure to start a service ends it with one line in the log
(L{fourcut.services}).
"""

import os
import sys

from twisted.application.service import MultiService
from twisted.internet import defer
from twisted.logger import Logger, globalLogPublisher
from twisted.python import usage

from fourcut import __version__, install, lean
from fourcut.admin.errors import ObserverService, RecentErrors
from fourcut.admin.resources import OPEN_PATHS as ADMIN_OPEN_PATHS
from fourcut.admin.resources import AdminResource
from fourcut.booth.choice import BoothChoice, choice_file
from fourcut.booth import service as booth_service
from fourcut.stream.broadcast import Broadcaster
from fourcut.config import ConfigError, load_config
from fourcut.camera.gphoto2 import GPhoto2
from fourcut.logs import HangupService, make_observer, twistd_target
from fourcut.memory import Trimmer, keep_large_blocks_mapped
from fourcut.metrics import CaptureMetrics
from fourcut.photos import PhotoStore
from fourcut.camera.processes import Children
from fourcut.camera.cli import CLIDriver
from fourcut.camera.capture import PhotoTaker
from fourcut.camera.demand import Demand
from fourcut.camera.held import HeldDriver
from fourcut.camera.liveview import LiveViewSupervisor
from fourcut.camera.modes import CameraModes, ModeSwitch
from fourcut.camera.session import CameraSession
from fourcut.camera.settings import CameraSettings
from fourcut.camera.state import CameraState
from fourcut.printing.metrics import PrintCollector
from fourcut.printing.printer import Cups
from fourcut.printing.service import PrintingService, make_printing
from fourcut.services import (FourcutService, GPhoto2HomeService,
                       ExternalUSBCameraService, PhotosDirectoryService,
                       SessionService, StopService,
                       VirtualCameraService, WebService)
from fourcut.status import CameraSummary
from fourcut.stream.transform import FrameTransform
from fourcut.stream.turbo import LiveTransform
from fourcut.virtualcam import usbport
from fourcut.web import site

__all__ = ["Options", "OptionsError", "make_driver", "make_session",
           "make_virtual_camera", "makeService"]


class OptionsError(SystemExit):
    """
    A mistake in C{twistd fourcut}'s options or config file: the process
    ends with status 1 and the one line C{str()} gives on stderr. (A
    L{usage.UsageError} would make twistd print its twenty lines of usage
    text first, and the line that matters last.)
    """

    def __init__(self, reason):
        SystemExit.__init__(self, "fourcut: %s; see twistd fourcut --help"
                            % (reason,))


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "fourcut: a camera server for photo booths. Serves live view, "
        "capture, reset and a safe gphoto2 command channel over HTTP. "
        "Command-line options override the YAML config file.")

    optParameters = [
        ["config", "c", None,
         "YAML config file (see etc/fourcut.yaml). Without it every "
         "setting has its default."],
        ["listen", "l", None,
         "Twisted endpoint to listen on (default tcp:8080: all interfaces; "
         "use tcp:8080:interface=127.0.0.1 behind a proxy)."],
        ["camera-port", None, None,
         "gphoto2 --port, e.g. usb:001,007 (default: auto-detect USB)."],
        ["camera-model", None, None,
         "gphoto2 --camera, e.g. 'Canon EOS 700D' (default: auto-detect)."],
        ["photos", None, None,
         "Directory captures are saved in (default: ./photos)."],
    ]
    optFlags = [
        ["virtual-camera", None,
         "Start the built-in virtual camera on this reactor and use it."],
    ]

    def opt_version(self):
        print("fourcut", __version__)
        sys.exit(0)

    def opt_print_config(self):
        """Print the example config file (every setting explained) and exit.
        """
        self._print(install.read, install.CONFIG)

    def opt_print_unit(self):
        """Print the systemd unit for this installation and exit.
        """
        self._print(lambda name: install.unit(), install.UNIT)

    def _print(self, read, name):
        try:
            text = read(name)
        except OSError as e:
            raise OptionsError(e)
        sys.stdout.write(text)
        sys.stdout.flush()
        sys.exit(0)

    def parseOptions(self, options=None):
        try:
            usage.Options.parseOptions(self, options)
        except usage.UsageError as e:
            raise OptionsError(e)

    def postOptions(self):
        overrides = {
            "server.listen": self["listen"],
            "camera.port": self["camera-port"],
            "camera.model": self["camera-model"],
            "paths.photos": self["photos"],
        }
        if self["virtual-camera"]:
            overrides["camera.virtual"] = True
        # Under twistd, its own options say where the log goes.
        parent = getattr(self, "parent", None)
        self.twistd = None
        if parent is not None:
            self.twistd = {key: parent.get(key) for key in
                           ("logfile", "nodaemon", "syslog", "logger")}
        try:
            self.config = load_config(self["config"], overrides)
            booth_service.check_booth(self.config)
        except ConfigError as e:
            raise OptionsError(e)
        # Before twistd imports the reactor: no pyOpenSSL (13 MB) in a
        # server that does not listen with TLS (see fourcut.lean).
        if not lean.needs_tls(self.config.server.listen):
            lean.without_tls()


def make_virtual_camera(reactor, camera):
    """
    The virtual camera C{camera} (a L{fourcut.config.CameraConfig}) asks
    for: its body, transport and timing profile.
    """
    # Imported here: the virtual camera (and the Pillow its scenes are
    # drawn with) is no part of a booth with a real camera.
    from fourcut.virtualcam.camera import VirtualCamera, VirtualUSBCamera
    if camera.virtual_body == "generic":
        options = {"personality": "generic"}
    else:
        options = {"personality": "eos", "body": camera.virtual_body,
                   "profile": camera.virtual_profile}
    if camera.virtual_transport == "usb":
        return VirtualUSBCamera(reactor, **options)
    return VirtualCamera(reactor, **options)


def make_driver(reactor, gphoto2, children, camera, temp=None):
    """
    What runs the camera for the session, as C{camera.driver} (a
    L{fourcut.config.CameraConfig}) says: one session held by a camera
    worker, or a gphoto2 child per operation (its downloads to a file go
    to C{temp}, C{paths.temp}, when set).
    """
    if camera.driver == "cli":
        return CLIDriver(
            reactor, gphoto2, children,
            CameraSettings(reactor, gphoto2, deadline=camera.command_timeout),
            command_timeout=camera.command_timeout,
            keep_on_card=not camera.delete_internal_memory,
            incoming=temp)
    return HeldDriver(reactor, gphoto2, children,
                      deadline=camera.command_timeout,
                      capture_deadline=camera.capture_timeout,
                      release_after=camera.release_after)


def make_session(reactor, config, gphoto2, broadcaster, demand,
                 capture_observer=None):
    """
    The camera session for C{config} (a L{fourcut.config.Config}) and
    what it is made of, built in the order a frame flows: the processes,
    the driver, the camera's lock and state, its modes, live view
    supervision (frames to C{broadcaster}), the photo taker, and the
    session that owns them all and follows C{demand}.
    """
    camera = config.camera
    children = Children(reactor)
    driver = make_driver(reactor, gphoto2, children, camera,
                         config.paths.temp)
    lock = defer.DeferredLock()
    state = CameraState()
    modes = ModeSwitch(driver, children, CameraModes.with_iso(
        live_view=camera.live_view, capture=camera.capture,
        standby=camera.standby, preview_iso=camera.preview_iso,
        capture_iso=camera.capture_iso,
        standby_after=camera.standby_after), state)
    live_view = LiveViewSupervisor(
        reactor, lock, driver, broadcaster, state, modes,
        stop_grace=config.preview.stop_grace,
        # The viewfinder stays on (warm) until the standby, for a first
        # frame without the body's warm-up.
        warm_for=camera.standby_after,
        stall_timeout=config.preview.stall_timeout,
        max_restart_attempts=camera.max_restart_attempts,
        restart_delay=camera.restart_delay,
        # libjpeg-turbo, lossless where it can be (fourcut.stream.turbo);
        # quality 85, like a camera's own live view, where it cannot.
        preview_transform=LiveTransform(camera.preview_rotation,
                                        camera.preview_flip,
                                        camera.preview_resolution,
                                        quality=85))
    photo_taker = PhotoTaker(
        reactor, driver, PhotoStore(config.paths.photos,
                                    temp=config.paths.temp),
        capture_timeout=camera.capture_timeout,
        keep_on_card=not camera.delete_internal_memory,
        transform=FrameTransform(camera.capture_rotation,
                                 camera.capture_flip, camera.resolution))
    return CameraSession(
        reactor, gphoto2, children, driver, broadcaster, demand, lock, state,
        modes, live_view, photo_taker,
        command_timeout=camera.command_timeout,
        capture_observer=capture_observer)


def makeService(options, reactor=None):
    if reactor is None:
        from twisted.internet import reactor
    config = options.config
    log = Logger()
    # Freed photos and client buffers go back to the system (see
    # fourcut.memory).
    keep_large_blocks_mapped()
    # What start-up can fail on starts first, so that a failure ends it
    # before the camera or anything else has started: the photos
    # directory, then the listening port (added below, once the site is
    # built).
    front = MultiService()
    services = [front]
    PhotosDirectoryService(config.paths.photos).setServiceParent(front)
    if config.paths.temp is not None:
        PhotosDirectoryService(config.paths.temp,
                               key="paths.temp").setServiceParent(front)

    # fourcut writes its log itself under twistd (text or JSON), so that
    # SIGHUP can reopen it; not with --syslog or --logger.
    twistd = getattr(options, "twistd", None)
    log_target = None
    log_observer = None
    if twistd is not None and not (twistd["syslog"] or twistd["logger"]):
        log_target = twistd_target(twistd["logfile"], twistd["nodaemon"])
        log_observer = make_observer(config.logging.format, log_target)
    elif config.logging.format != "text":
        log.warn("logging.format {format} is for fourcut's own log; with "
                 "--syslog or --logger twistd's stands",
                 format=config.logging.format)
    # Before the port listens: once "fourcut: open" is logged, a SIGHUP
    # (logrotate, systemctl reload) must find its handler, not end fourcut.
    HangupService(log_target, reactor).setServiceParent(front)

    # Without fourcut's USB port library (pip could not build it: no gcc,
    # no libgphoto2 headers) the virtual USB camera would never be
    # detected: say so now, not at the first capture.
    usb_socket = os.environ.get(usbport.SOCKET_ENV)
    if (config.camera.virtual and config.camera.virtual_transport == "usb"
            or not config.camera.virtual and usb_socket):
        try:
            usbport.check()
        except usbport.MissingLibrary as e:
            raise OptionsError("--virtual-camera on USB: %s" % (e,))

    gphoto2 = GPhoto2(port=config.camera.port, model=config.camera.model,
                      capture_target=config.camera.capture_target)
    services.append(GPhoto2HomeService(gphoto2,
                                       config.paths.state_directory))
    virtual_camera = None
    if config.camera.virtual:
        virtual_camera = make_virtual_camera(reactor, config.camera)
        virtual = VirtualCameraService(virtual_camera)
        services.append(virtual)

        def use_virtual(port):
            from fourcut.virtualcam.camera import (GPHOTO2_MODEL,
                                                   VirtualUSBCamera)
            if isinstance(virtual_camera, VirtualUSBCamera):
                # A USB camera is auto-detected, as a real body is: no
                # --port, no --camera; the children only need to see
                # fourcut's port library.
                gphoto2.cli_env = virtual_camera.env(usbport.CLI, base={})
                gphoto2.python_env = virtual_camera.env(usbport.PYTHON, base={})
            else:
                gphoto2.port = port
                gphoto2.model = GPHOTO2_MODEL
            log.info("virtual camera: {model} at {port}",
                     model=virtual_camera.device.model, port=port)

        virtual.ready.addCallback(use_virtual)
    elif usb_socket:
        # The virtual USB camera run as a process of its own (./dev camera
        # --usb SOCKET): the children see it through fourcut's port library.
        services.append(ExternalUSBCameraService(gphoto2, usb_socket))

    # Frames flow from the session to the broadcaster; demand for them
    # (preview clients, snapshot waiters) flows back, through a Demand made
    # before both, and starts and stops live view. The session times every
    # capture for /metrics.
    demand = Demand()
    broadcaster = Broadcaster(on_demand_changed=demand.changed)
    captures = CaptureMetrics()
    session = make_session(reactor, config, gphoto2, broadcaster, demand,
                           captures)
    services.append(SessionService(session))

    trimmer = Trimmer(reactor)
    scheme = "https" if config.server.listen.startswith("ssl:") else "http"
    # The log's warnings and errors, for the operator page.
    recent_errors = RecentErrors()
    services.append(ObserverService(globalLogPublisher, recent_errors))
    # Strips go to CUPS (booth.print), which is asked in threads.
    printing = make_printing(reactor, config, Cups())
    services.append(PrintingService(printing))
    # The theme and template the operator chooses on /admin, kept beside
    # the photos for after a restart.
    choice = BoothChoice.load(config.booth, choice_file(config.paths.photos))
    booth = booth_service.make_booth(reactor, config, session, scheme=scheme,
                                     printing=printing, choice=choice)
    admin = AdminResource(reactor, config.paths.photos,
                          CameraSummary(session).camera_info, printing,
                          recent_errors, config.booth, choice,
                          problems=booth.problems,
                          token=config.access.token)
    web = site.build(config, reactor, session, broadcaster, captures,
                     trimmer=trimmer,
                     mounts=booth.resources() + [(b"admin", admin)],
                     open_paths=booth_service.open_paths(config)
                     | ADMIN_OPEN_PATHS,
                     annotate=booth.index.annotate, booth=booth,
                     status_blocks=[("printer", printing.status)],
                     collectors=[PrintCollector(printing)])
    # The booth's sequences on every screen the WebSocket serves.
    booth.show_on(web.websocket)
    services += [StopService(trimmer.stop), StopService(web.websocket.stop),
                 StopService(booth.stop), StopService(web.guesses.stop)]
    access = web.access
    if access.required:
        log.info("access token required for the API{preview}",
                 preview=" (live view is public)" if access.preview_public
                 else " and live view")
    else:
        log.warn("no access.token: anyone who can reach {listen} can use "
                 "the camera", listen=config.server.listen)
    # Imported here, not with this module: twisted.internet.endpoints
    # imports pyOpenSSL, which postOptions may have left out.
    from twisted.internet.endpoints import serverFromString
    try:
        endpoint = serverFromString(reactor, config.server.listen)
    except Exception as e:
        # A bad endpoint string, or an ssl: key or certificate that cannot
        # be read.
        raise OptionsError("server.listen: %s: %s" % (
            config.server.listen, getattr(e, "strerror", None) or e))
    listening = WebService(endpoint, web.site, web.factory, scheme=scheme,
                           description=config.server.listen, reactor=reactor)
    listening.setServiceParent(front)
    return FourcutService(
        services, log_observer=log_observer, session=session,
        broadcaster=broadcaster, virtual_camera=virtual_camera,
        web=listening, limits=web.factory, status=web.status,
        websocket=web.websocket, scaled=web.scaled, booth=booth)
