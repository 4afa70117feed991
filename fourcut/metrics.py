# -*- test-case-name: tests.integration.test_metrics -*-
"""
What an operator graphs and alerts on, in the Prometheus text format
(C{GET /metrics}, L{fourcut.web.rest.MetricsView}), with
C{prometheus_client}.

Most figures are counted where the work happens anyway (the broadcaster's
frames, each transport's L{fourcut.stream.broadcast.FrameCounts}, the session's
captures, restarts and children) and only read when scraped, by
L{ServiceCollector}: nothing is added to the path of a frame. Only the
capture durations are recorded as they come, by L{CaptureMetrics}, which
the camera session tells of every capture (the booth's sequences
included), and the photos directory's free space is read at each scrape,
in a thread.

Each service has a registry of its own, never C{prometheus_client}'s
global one: a test process runs many services one after another.

C{prometheus_client} is imported, and the registry built, at the first
scrape (or the first look at L{Metrics.registry}): a booth nobody scrapes
never loads it. Captures timed before then are kept and counted then.

======================================  ==================================
Metric                                  What
======================================  ==================================
C{fourcut_camera_frames_total}          live view frames from the camera
C{fourcut_placeholder_frames_total}     offline placeholder frames shown
C{fourcut_frames_sent_total}            frames written to clients, by
                                        C{transport} (C{http},
                                        C{websocket})
C{fourcut_frames_skipped_total}         frames a slow client skipped, by
                                        C{transport}
C{fourcut_clients}                      clients connected now, by
                                        C{transport} (C{http}: C{/preview}
                                        streams, C{websocket})
C{fourcut_live_view_demand}             preview subscribers and snapshot
                                        waiters now
C{fourcut_captures_total}               photos taken and saved
C{fourcut_capture_failures_total}       captures that failed for the
                                        camera's or the server's sake
C{fourcut_capture_refusals_total}       captures refused for the client's
                                        own mistake (a setting value the
                                        camera does not take): no page
C{fourcut_capture_duration_seconds}     from a capture's request to its
                                        photo saved (queueing included)
C{fourcut_live_view_restarts_total}     live view restarted after it died
C{fourcut_camera_state}                 1 for the camera's state, 0 for
                                        the others, by C{state}
C{fourcut_gphoto2_children}             gphoto2 children running now
C{fourcut_photos_free_bytes}            free space for photos
C{fourcut_build_info}                   1, with C{version}, C{python},
                                        C{twisted}, C{python_gphoto2}
C{process_*}, C{python_*}               C{prometheus_client}'s standard
                                        process (CPU, memory, open
                                        descriptors, start time), platform
                                        and garbage collector figures
======================================  ==================================
"""

import os
import platform

import twisted
from zope.interface import implementer

from fourcut import __version__
from fourcut.camera.interfaces import ICaptureObserver

__all__ = ["CAPTURE_BUCKETS", "CaptureMetrics", "Metrics",
           "STATES", "ServiceCollector", "build_info", "free_bytes"]


#: The camera session's states (L{fourcut.camera.session.CameraSession.state}).
STATES = ("idle", "previewing", "capturing", "busy", "resetting", "standby",
          "recovering", "offline")

#: Capture durations, seconds: a virtual camera takes well under one, a
#: real body two to five, a queue of guests or a slow download more.
CAPTURE_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0,
                   float("inf"))


def build_info():
    """
    The labels of C{fourcut_build_info}: what is running, for a dashboard
    to tell two booths apart after an upgrade. python-gphoto2's version is
    read from its installed metadata: this process never imports it.
    """
    # Imported at the first scrape, as prometheus_client is.
    from importlib import metadata
    try:
        python_gphoto2 = metadata.version("gphoto2")
    except metadata.PackageNotFoundError:
        python_gphoto2 = "none"
    return {"version": __version__,
            "python": platform.python_version(),
            "twisted": twisted.__version__,
            "python_gphoto2": python_gphoto2}


def free_bytes(directory):
    """
    Bytes free for an unprivileged user on C{directory}'s file system (its
    nearest existing parent if it is gone). Blocking: call it in a thread.
    """
    path = os.path.abspath(directory)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


class ServiceCollector:
    """
    Reads the counts the service keeps anyway, at each scrape.

    @param transports: C{{name: FrameCounts}}.
    @param clients: C{{name: callable}} giving how many are connected.
    """

    def __init__(self, session, broadcaster, transports, clients):
        self.session = session
        self.broadcaster = broadcaster
        self.transports = transports
        self.clients = clients

    def collect(self):
        from prometheus_client.core import (CounterMetricFamily,
                                            GaugeMetricFamily)
        session = self.session
        broadcaster = self.broadcaster
        yield CounterMetricFamily(
            "fourcut_camera_frames", "Live view frames from the camera.",
            value=broadcaster.camera_frames)
        yield CounterMetricFamily(
            "fourcut_placeholder_frames",
            "Offline placeholder frames shown while the camera was away.",
            value=broadcaster.placeholders)
        sent = CounterMetricFamily(
            "fourcut_frames_sent", "Frames written to clients.",
            labels=["transport"])
        skipped = CounterMetricFamily(
            "fourcut_frames_skipped",
            "Frames a client skipped because it had not taken the one "
            "before.", labels=["transport"])
        for name, counts in sorted(self.transports.items()):
            sent.add_metric([name], counts.sent)
            skipped.add_metric([name], counts.skipped)
        yield sent
        yield skipped
        clients = GaugeMetricFamily(
            "fourcut_clients", "Clients connected now (http: /preview "
            "streams).", labels=["transport"])
        for name, count in sorted(self.clients.items()):
            clients.add_metric([name], count())
        yield clients
        yield GaugeMetricFamily(
            "fourcut_live_view_demand",
            "Preview subscribers and snapshot waiters now.",
            value=broadcaster.demand)
        yield CounterMetricFamily(
            "fourcut_captures", "Photos taken and saved.",
            value=session.captures)
        yield CounterMetricFamily(
            "fourcut_live_view_restarts",
            "Live view restarted after it died or stalled.",
            value=session.restarts)
        state = GaugeMetricFamily(
            "fourcut_camera_state", "1 for the camera's state now.",
            labels=["state"])
        current = session.state
        for name in STATES if current in STATES else STATES + (current,):
            state.add_metric([name], 1 if name == current else 0)
        yield state
        yield GaugeMetricFamily(
            "fourcut_gphoto2_children", "gphoto2 children running now.",
            value=len(session.children))


@implementer(ICaptureObserver)
class CaptureMetrics:
    """
    How long captures take and how many fail: made before the camera
    session, which reports every capture to it, and registered with the
    service's L{Metrics}.
    """

    def __init__(self):
        # The prometheus_client metrics, made by register(); until then
        # the durations, failures and refusals are kept here.
        self.capture_duration = None
        self.capture_failures = None
        self.capture_refusals = None
        self._durations = []
        self._failures = 0
        self._refusals = 0

    def captured(self, seconds):
        if self.capture_duration is None:
            self._durations.append(seconds)
        else:
            self.capture_duration.observe(seconds)

    def capture_failed(self, seconds):
        if self.capture_failures is None:
            self._failures += 1
        else:
            self.capture_failures.inc()

    def capture_refused(self, seconds):
        if self.capture_refusals is None:
            self._refusals += 1
        else:
            self.capture_refusals.inc()

    def register(self, registry):
        """
        Show these figures in C{registry}, those so far included.
        """
        from prometheus_client import Counter, Histogram
        if self.capture_duration is None:
            self.capture_duration = Histogram(
                "fourcut_capture_duration_seconds",
                "Seconds from a capture's request to its photo saved, "
                "queueing included.", buckets=CAPTURE_BUCKETS, registry=None)
            self.capture_failures = Counter(
                "fourcut_capture_failures", "Captures that failed for the "
                "camera's or the server's sake.", registry=None)
            self.capture_refusals = Counter(
                "fourcut_capture_refusals", "Captures refused for the "
                "client's own mistake (a setting value the camera does not "
                "take).", registry=None)
            for seconds in self._durations:
                self.capture_duration.observe(seconds)
            self.capture_failures.inc(self._failures)
            self.capture_refusals.inc(self._refusals)
            self._durations, self._failures, self._refusals = [], 0, 0
        registry.register(self.capture_duration)
        registry.register(self.capture_failures)
        registry.register(self.capture_refusals)


class Metrics:
    """
    The service's metrics, in a registry of its own.

    @param captures: the L{CaptureMetrics} the session reports to (a new
        one, told of nothing, if L{None}).
    @param collectors: more collectors to show (printing's,
        L{fourcut.printing.metrics.PrintCollector}).
    @ivar directory: the photos directory, whose free space is shown.
    """

    def __init__(self, session, broadcaster, transports, clients, directory,
                 captures=None, collectors=()):
        self.directory = directory
        self.captures = captures if captures is not None else CaptureMetrics()
        self._collector = ServiceCollector(session, broadcaster, transports,
                                           clients)
        self._collectors = tuple(collectors)
        self._registry = None
        self.photos_free = None

    @property
    def registry(self):
        """
        The C{CollectorRegistry}, built (and C{prometheus_client}
        imported) the first time it is asked for.
        """
        if self._registry is None:
            from prometheus_client import (CollectorRegistry, GCCollector,
                                           Gauge, Info, PlatformCollector,
                                           ProcessCollector)
            registry = CollectorRegistry(auto_describe=True)
            registry.register(self._collector)
            self.captures.register(registry)
            for collector in self._collectors:
                registry.register(collector)
            self.photos_free = Gauge(
                "fourcut_photos_free_bytes",
                "Bytes free on the photos directory's file system.",
                registry=registry)
            Info("fourcut_build", "What is running.",
                 registry=registry).info(build_info())
            # prometheus_client's standard figures, which its global
            # registry has and this one would not otherwise.
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
            self._registry = registry
        return self._registry

    @property
    def content_type(self):
        """
        What C{/metrics} answers with: the text format of the installed
        C{prometheus_client} (C{CONTENT_TYPE_LATEST}), as bytes.
        """
        from prometheus_client import CONTENT_TYPE_LATEST
        return CONTENT_TYPE_LATEST.encode("ascii")

    def render(self, photos_free=None):
        """
        The text exposition, with C{photos_free} (bytes, or L{None} if it
        could not be read) as the free space.
        """
        from prometheus_client import generate_latest
        registry = self.registry
        if photos_free is not None:
            self.photos_free.set(photos_free)
        return generate_latest(registry)
