# -*- test-case-name: tests.camera.test_camera_session,tests.integration.test_service -*-
"""
The C{held} camera driver: one camera session, held by a camera worker
(L{fourcut.camera.child.worker}), across live view, captures and settings.

The session opens the camera once. Live view frames, captures (with their
per-capture settings set and put back inside the session), setting reads
and writes, the per-mode setting lists and camera info all go to the one
worker, which runs each between two live view frames: nothing stops live
view but a C{/cmd} (the gphoto2 CLI needs the camera: the worker releases
it first, and opens it again for the next use) and C{/reset}.

A worker that dies, overruns a deadline or stalls is ended by its PID
(L{fourcut.camera.workerclient}); the next use starts a new one, and live
view is retried by the session's supervision as it is for a gphoto2
child. The worker is started at the first use, and, with C{release_after},
its camera is released after that many idle seconds so that other programs
can use it.
"""

import sys

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from fourcut.camera.interfaces import IDriver, ILiveView
from fourcut.camera.revive import Revival
from fourcut.camera.shots import Shot
from fourcut.camera.workerclient import WorkerClient
from fourcut.errors import CameraError

__all__ = ["HeldDriver", "HeldLiveView"]


def _text(failure):
    """
    What a failed worker call said, as text.
    """
    error = failure.value
    text = getattr(error, "text", None)
    if isinstance(text, str) and text:
        return text
    return str(error) or repr(error)


class LiveViewOff(Exception):
    """
    Live view was turned off by fourcut.
    """


@implementer(ILiveView)
class HeldLiveView:
    """
    Live view in the worker's session, as the session sees live view (an
    L{fourcut.camera.interfaces.ILiveView}, as
    L{fourcut.camera.cli.CLILiveView} is).

    @ivar started: fires with L{None} once the first frame has come, or
        with the failure text if the worker could not start live view.
    @ivar ended: fires with C{(reason, text)} once live view is off: turned
        off, failed, or its worker gone.
    """

    def __init__(self, on_frame):
        self._on_frame = on_frame
        self.worker = None
        self.pid = None
        self.frames = 0
        self.started = defer.Deferred()
        self.ended = defer.Deferred()

    def attach(self, worker):
        self.worker = worker
        self.pid = worker.pid

    def frame(self, data, sequence, timestamp):
        if self.ended.called:
            return
        self.frames += 1
        self._on_frame(data, timestamp)

    def finish(self, reason, text):
        """
        Live view is over, for C{reason} (a L{Failure}).
        """
        if self.ended.called:
            return
        if not self.started.called:
            self.started.callback(text or "live view ended before its "
                                  "first frame\n")
        self.ended.callback((reason, text))

    def stop(self, warm=False):
        """
        Turn live view off (the session stays open); fires once it is.
        C{warm}: only the frames stop, the body's viewfinder stays on (see
        L{HeldDriver.cool}).
        """
        done = defer.Deferred()
        self.ended.addBoth(lambda r: (done.callback(None), r)[1])
        if self.ended.called:
            return done
        if self.worker is None:
            self.finish(Failure(LiveViewOff()), "")
            return done
        if warm:
            d = self.worker.live_view(False, keep=True)
        else:
            d = self.worker.live_view(False)
        d.addCallbacks(
            lambda _: self.finish(Failure(LiveViewOff()), ""),
            lambda f: self.finish(f, _text(f)))
        return done

    def kill(self, why):
        """
        Live view stalled: end the worker (a camera call that hangs cannot
        be interrupted any other way); live view ends when it is gone.
        """
        if self.worker is None or self.worker.exited is not None:
            self.finish(Failure(CameraError(503, why)), why)
            return defer.succeed(None)
        return self.worker.end(why)


@implementer(IDriver)
class HeldDriver:
    """
    @param children: the session's L{fourcut.camera.processes.Children};
        each worker is tracked there while it runs.
    @param deadline: seconds a worker call (and its start) may take.
    @param capture_deadline: seconds a capture may take.
    @param keepalive: seconds between the idle worker's event polls (EOS
        KeepDeviceOn).
    @param release_after: idle seconds (no live view, no operation) after
        which the camera is released for other programs; 0: never.
    @param worker_factory: makes a L{WorkerClient} (tests pass fakes).
    @param revival: the L{Revival} that picks how live view that stopped
        delivering comes back (a toggle in this session, or a new one).
    """

    log = Logger()
    name = "held"
    #: Operations run inside the session, between two live view frames.
    holds_session = True
    #: Live view can stop its frames and keep the body's viewfinder on
    #: (L{HeldLiveView.stop} with C{warm}), for a start without warm-up.
    keeps_warm = True

    def __init__(self, reactor, gphoto2, children, deadline=30.0,
                 capture_deadline=60.0, keepalive=5.0, fps=30.0,
                 release_after=0, python=sys.executable,
                 worker_factory=WorkerClient, revival=None):
        self._reactor = reactor
        self.gphoto2 = gphoto2
        self._children = children
        self.deadline = deadline
        self.capture_deadline = capture_deadline
        self.keepalive = keepalive
        self.fps = fps
        self.release_after = release_after
        self.python = python
        self._worker_factory = worker_factory
        self.revival = Revival() if revival is None else revival
        self.settings = self
        self.worker = None
        self.workers_started = 0
        self.released = False
        self._starting = None       # Deferreds waiting for a worker's start
        self._live = None
        self._release_call = None

    # The worker --------------------------------------------------------------

    def _ready(self):
        """
        A L{Deferred} firing with a running worker whose camera is not
        released: the current one, or a new one.
        """
        self._cancel_release()
        worker = self.worker
        if worker is not None and worker.stopping:
            # Never two processes talking to the camera: the next worker
            # starts once this one is gone.
            gone = defer.Deferred()
            worker.ended.addBoth(lambda result: (gone.callback(None),
                                                 result)[1])
            return gone.addCallback(lambda _: self._ready())
        if worker is not None and worker.running and not worker.stopping:
            if self._starting is not None:
                waiter = defer.Deferred()
                self._starting.append(waiter)
                return waiter
            if self.released:
                self.released = False
                return worker.open().addCallback(lambda _: worker)
            return defer.succeed(worker)
        worker = self._worker_factory(
            self._reactor, self.gphoto2, python=self.python,
            deadline=self.deadline, capture_deadline=self.capture_deadline,
            fps=self.fps, keepalive=self.keepalive, on_frame=self._frame,
            on_event=self._event, on_start=self._children.track)
        self.worker = worker
        self.released = False
        self.workers_started += 1
        worker.ended.addCallback(self._worker_ended, worker)
        self._starting = waiters = []

        def started(result):
            if self._starting is waiters:
                self._starting = None
            for waiter in waiters:
                if isinstance(result, Failure):
                    waiter.errback(result)
                else:
                    waiter.callback(worker)
            return worker if not isinstance(result, Failure) else result

        d = worker.start()
        d.addBoth(started)
        return d

    def _worker_ended(self, ended, worker):
        self._children.untrack(ended.pid)
        if self.worker is worker:
            self.worker = None
            self.released = False
            self._cancel_release()
        live = self._live
        if live is not None and live.worker is worker:
            self._live = None
            text = ended.why or "the camera worker ended (%s)" % (ended.how,)
            tail = ended.stderr.strip()
            if tail:
                text += "\n" + tail[-1000:]
            live.finish(Failure(CameraError(503, text)), text + "\n")

    def _distrust(self, worker, failure):
        """
        A camera call in C{worker}'s session failed (not a refused value:
        the camera itself): end that worker, so that the next use opens a
        new session, as a new gphoto2 process would. A session whose
        connection broke (an unplugged camera, say) does not recover, and
        libgphoto2 often reports that as "[-1] Unspecified error".
        """
        if failure.check(CameraError) and worker.running \
                and not worker.stopping:
            worker.end("a camera call failed (%s); the next use opens a "
                       "new session" % (_text(failure).strip()[:200],))
        return failure

    def _frame(self, data, sequence, timestamp):
        live = self._live
        if live is not None:
            live.frame(data, sequence, timestamp)

    def _event(self, name, error):
        """
        The worker says live view failed (C{live_view_stopped}), stopped
        delivering in a session that still answers (C{live_view_dead}: the
        session is kept while a toggle may bring it back, see
        L{fourcut.camera.revive}) or the idle camera is gone
        (C{camera_lost}).
        """
        live, self._live = self._live, None
        worker = self.worker
        if name == "live_view_dead" and self._healthy(worker):
            step = self.revival.died(True)
            if step != "session":
                self.log.info("live view stopped delivering; the next start "
                              "tries a {step} toggle", step=step)
                worker = None
        if live is not None:
            live.finish(Failure(error), error.text)
        if worker is not None:
            self._distrust(worker, Failure(error))

    @staticmethod
    def _healthy(worker):
        return (worker is not None and worker.running
                and not worker.stopping)

    @property
    def reviving(self):
        """
        Whether the next live view start toggles the viewfinder or output
        to bring live view back: worth doing at once.
        """
        return self.revival.reviving

    def _revive_failed(self, worker, failure):
        """
        A toggle did not bring live view back: the next start tries the
        next way, in this session while one is left.
        """
        if failure.check(CameraError) and self._healthy(worker):
            if self.revival.died(True) != "session":
                return failure
        return self._distrust(worker, failure)

    # Live view ---------------------------------------------------------------

    def start_live_view(self, on_frame):
        live = HeldLiveView(on_frame)
        self._live = live
        revive = self.revival.take()

        def delivering(_):
            self.revival.delivered()
            if not live.started.called:
                live.started.callback(None)

        def ready(worker):
            if live.ended.called:
                return None
            live.attach(worker)
            if revive is None:
                d = worker.live_view(True)
                d.addErrback(lambda f: self._distrust(worker, f))
            else:
                self.log.info("bringing live view back: {step} toggle",
                              step=revive)
                d = worker.live_view(True, revive=revive)
                d.addErrback(lambda f: self._revive_failed(worker, f))
            d.addCallbacks(delivering, lambda f: live.finish(f, _text(f)))
            return d

        def failed(f):
            live.finish(f, _text(f))

        self._ready().addCallbacks(ready, failed)

        def over(result):
            if self._live is live:
                self._live = None
            return result

        live.ended.addBoth(over)
        return live

    @property
    def warm(self):
        """
        Whether live view is off with the body's viewfinder kept on (warm
        standby): the next start gives a frame without the body's warm-up.
        """
        worker = self.worker
        return (self._live is None and self._healthy(worker)
                and not self.released and worker.warm)

    def cool(self):
        """
        Take the viewfinder kept warm down (the sensor rests, the mirror
        comes down); fires once it is. Call with live view off.
        """
        worker = self.worker
        if not self.warm:
            return defer.succeed(None)
        self.log.info("nobody watched: the viewfinder goes down")
        d = worker.live_view(False)
        d.addErrback(lambda f: self._distrust(worker, f))

        def failed(f):
            self.log.warn("could not take the viewfinder down: {error}",
                          error=_text(f))

        return d.addCallbacks(lambda _: None, failed)

    # Operations --------------------------------------------------------------

    @defer.inlineCallbacks
    def capture(self, settings, deadline, mode=()):
        """
        Take a photo in the held session, the capture C{mode}'s settings
        and then C{settings} set for it and all put back after it (so live
        view, which goes on, keeps its own); one worker call, between two
        live view frames. Fires with a L{fourcut.camera.shots.Shot}.
        """
        try:
            worker = yield self._ready()
        except CameraError as e:
            raise CameraError(e.status, "capture: " + e.text) from e
        answer = yield worker.capture(settings, deadline,
                                      mode=mode).addErrback(
            lambda f: self._distrust(worker, f))
        for error in answer.get("restore_errors") or ():
            self.log.warn("could not put a setting back after a capture: "
                          "{error}", error=error)
        return Shot(answer["data"], answer.get("path"),
                    answer.get("mode_errors") or ())

    @defer.inlineCallbacks
    def delete(self, location):
        """
        Delete C{location} from the card; a failure is logged, since the
        photo is safe on disk.
        """
        try:
            worker = yield self._ready()
            yield worker.delete(location)
        except Exception as e:
            self.log.warn("{location} is saved but stays on the card: "
                          "{error}", location=location,
                          error=getattr(e, "text", None) or str(e))

    def _call(self, name, *args):
        def call(worker):
            return getattr(worker, name)(*args).addErrback(
                lambda f: self._distrust(worker, f))

        return self._ready().addCallback(call)

    # As fourcut.camera.settings.CameraSettings (on_start: the worker was tracked
    # when it started).

    def get(self, section, option, on_start=None):
        return self._call("get", section, option)

    def set(self, section, option, value, on_start=None):
        return self._call("set", section, option, value)

    def list(self, on_start=None):
        return self._call("list")

    def info(self, on_start=None):
        return self._call("info")

    def resolve(self, name, on_start=None):
        return self._call("resolve", name)

    def values(self, names, on_start=None):
        return self._call("values", names)

    def apply(self, pairs, on_start=None):
        return self._call("apply", pairs)

    # Letting others use the camera ---------------------------------------------

    def release(self):
        """
        Close the camera so that the gphoto2 CLI can use it; the next use
        opens it again. Call with live view off.
        """
        self._cancel_release()
        worker = self.worker
        if (worker is None or not worker.running or worker.stopping
                or self.released or self._starting is not None):
            return defer.succeed(None)
        self.released = True
        d = worker.release()

        def failed(f):
            self.log.warn("the camera worker could not release the camera: "
                          "{error}", error=_text(f))

        return d.addCallbacks(lambda _: None, failed)

    def idle(self):
        """
        The session has nothing running: release the camera after
        C{release_after} seconds unless something uses it first.
        """
        if (self.release_after <= 0 or self.worker is None or self.released
                or self._release_call is not None):
            return
        self._release_call = self._reactor.callLater(self.release_after,
                                                     self._release_idle)

    def _release_idle(self):
        self._release_call = None
        if self._live is not None:
            return
        self.log.info("camera idle for {s:g}s: releasing it for other "
                      "programs", s=self.release_after)
        self.release()

    def _cancel_release(self):
        call, self._release_call = self._release_call, None
        if call is not None and call.active():
            call.cancel()

    def close(self):
        """
        fourcut is stopping: no more releases (the session ends the worker
        by its PID, with every other child).
        """
        self._cancel_release()

    def status(self):
        """
        For C{/status}: the driver, the worker's PID, how many workers
        (camera sessions) were started, whether the camera is released.
        """
        worker = self.worker
        return {"driver": self.name,
                "worker_pid": worker.pid if worker is not None else None,
                "workers_started": self.workers_started,
                "released": self.released,
                "warm": self.warm,
                "revival": self.revival.status()}
