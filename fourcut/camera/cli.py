# -*- test-case-name: tests.camera.test_camera_session,tests.integration.test_service -*-
"""
The C{cli} camera driver: a gphoto2 process per operation, seed 000's way.

Live view is C{gphoto2 --capture-movie --stdout}, each capture is a
C{gphoto2 --capture-image-and-download} child, and each setting read or
write is a L{fourcut.camera.child.settings} child: every one opens a camera session of
its own (camera initialisation; on a Canon EOS the CLI also waits for
events after a capture before it exits), and live view is stopped for
each, since only one process may talk to the camera. The C{held} driver
(L{fourcut.camera.held}) keeps one session instead; this one stays for
cameras or setups where a long-lived python-gphoto2 session misbehaves.
"""

import os
import re
import tempfile
import time

from twisted.internet import defer, threads
from twisted.logger import Logger
from zope.interface import implementer

from fourcut.camera import processes
from fourcut.camera.interfaces import IDriver, ILiveView
from fourcut.camera.shots import Shot
from fourcut.errors import CameraError, SettingError, classify
from fourcut.stream.jpeg import JPEGSplitter

__all__ = ["CLIDriver", "CLILiveView", "LiveViewProtocol", "card_location"]


def card_location(stdout):
    """
    Where gphoto2 says a capture is on the card (C{"New file is in location
    /store_00010001/DCIM/100CANON/IMG_0001.JPG on the camera"}), or
    L{None}.
    """
    match = _LOCATION.search(stdout.decode("utf-8", "replace"))
    return match.group(1) if match else None


_LOCATION = re.compile(r"New file is in location (/\S+) on the camera")


def named(name, error):
    """
    C{error} about setting C{name}, naming it once ("iso: ..."), whether or
    not the error already starts with the name.
    """
    if error.startswith(name + ":") or error.startswith(name + " "):
        return error
    return "%s: %s" % (name, error)


def _incoming_file(directory=None):
    """
    A new empty private file for gphoto2 to write a capture into, in
    C{directory} (C{paths.temp}) or the system's temporary directory.
    """
    fd, path = tempfile.mkstemp(prefix="fourcut-capture-", suffix=".jpg",
                                dir=directory)
    os.close(fd)
    return path


def _read_and_remove(path):
    """
    The bytes gphoto2 wrote to C{path} (empty if none), and C{path} gone.
    """
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


@implementer(ILiveView)
class CLILiveView:
    """
    One C{gphoto2 --capture-movie --stdout} child, as the session sees
    live view (see L{fourcut.camera.held.HeldLiveView} for the other).

    @ivar started: fires with L{None} at the first frame, or with the
        failure text if gphoto2 could not start live view.
    @ivar ended: fires with C{(reason, stderr text)} once the child is gone.
    """

    def __init__(self, reactor, transport, protocol):
        self._reactor = reactor
        self.transport = transport
        self.protocol = protocol
        self.pid = transport.pid
        self.started = protocol.started
        self.ended = protocol.ended

    @property
    def frames(self):
        return self.protocol.frames

    def stop(self):
        """
        End the child (SIGINT first, so that libgphoto2 releases the
        camera); fires once it is gone.
        """
        ended = defer.Deferred()
        self.ended.addBoth(lambda r: (ended.callback(None), r)[1])
        return processes.stop(self._reactor, self.transport, ended)

    def kill(self, why):
        """
        End a child that stalled; its end counts as a death.
        """
        return self.stop()


@implementer(IDriver)
class CLIDriver:
    """
    @param children: the session's L{fourcut.camera.processes.Children}.
    @param settings: a L{fourcut.camera.settings.CameraSettings}.
    @param keep_on_card: leave each photo on the card (C{--keep}) rather
        than deleting it once saved.
    @param incoming: the directory (C{paths.temp}) gphoto2 downloads a
        photo to a file in (without C{keep_on_card}), or L{None} for the
        system's temporary directory.
    """

    log = Logger()
    name = "cli"
    #: Operations need the camera to themselves: live view is stopped for
    #: each.
    holds_session = False

    def __init__(self, reactor, gphoto2, children, settings,
                 command_timeout=30.0, keep_on_card=True, incoming=None):
        self._reactor = reactor
        self.gphoto2 = gphoto2
        self._children = children
        self.settings = settings
        self.command_timeout = command_timeout
        self.keep_on_card = keep_on_card
        self.incoming = incoming

    def start_live_view(self, on_frame):
        """
        Spawn the live view child; raises L{OSError} if it cannot be
        spawned (no descriptors left for its pipes).
        """
        protocol = LiveViewProtocol(on_frame)
        protocol.clock = self._reactor
        transport = self._reactor.spawnProcess(
            protocol, self.gphoto2.executable,
            self.gphoto2.argv("--capture-movie", "--stdout"),
            env=self.gphoto2.env())
        self._children.track(transport)
        pid = transport.pid
        protocol.ended.addBoth(
            lambda result: (self._children.untrack(pid), result)[1])
        return CLILiveView(self._reactor, transport, protocol)

    def _with_settings(self, method, *args):
        return self._children.tracked(
            lambda on_start: method(*args, on_start=on_start))

    def _in_thread(self, function, *args):
        return threads.deferToThreadPool(
            self._reactor, self._reactor.getThreadPool(), function, *args)

    @defer.inlineCallbacks
    def capture(self, settings, deadline, mode=()):
        """
        Take a photo with C{settings} set for it and put back after it
        (each a camconfig child), after the capture C{mode}'s settings
        (which stay until live view sets its own, and whose refusal is
        only reported); fires with a L{Shot}.
        """
        mode_errors = []
        if mode:
            try:
                answer = yield self._with_settings(self.settings.apply, mode)
            except Exception as e:
                mode_errors.append(str(e))
            else:
                mode_errors += ["%s: %s" % (r["name"], r["error"])
                                for r in answer["results"] if not r["ok"]]
        restore = ()
        if settings:
            restore = yield self._apply_for_capture(settings)
        # camera.capture_target, set in the capture's own session, as the
        # held worker sets it when it opens the camera.
        target = getattr(self.gphoto2, "capture_target", None)
        args = ["--set-config", "capturetarget=" + target] if target else []
        if self.keep_on_card:
            args += ["--capture-image-and-download", "--stdout", "--keep"]
            incoming = None
        else:
            # Delete from the card only once the photo is safe on disk:
            # gphoto2 keeps it (--keep) and says where (it does not with
            # --stdout), and the session deletes it after saving.
            incoming = yield self._in_thread(_incoming_file, self.incoming)
            args += ["--capture-image-and-download", "--keep",
                     "--force-overwrite", "--filename", incoming]
        try:
            result = yield self._children.run(self.gphoto2, deadline, *args)
        except BaseException:
            if incoming is not None:
                yield self._in_thread(_read_and_remove, incoming)
            raise
        finally:
            if restore:
                yield self._restore(restore)
        location = None
        if incoming is None:
            data = result.stdout
        else:
            location = card_location(result.stdout)
            data = yield self._in_thread(_read_and_remove, incoming)
        if not result.ok or not data.startswith(b"\xff\xd8"):
            text = result.failure_text("capture", deadline)
            raise CameraError(classify(text, absent_status=503), text)
        return Shot(data, location, mode_errors)

    @defer.inlineCallbacks
    def delete(self, location):
        """
        Delete C{location} from the card; a failure is logged, since the
        photo is safe on disk.
        """
        result = yield self._children.run(self.gphoto2, self.command_timeout,
                                          "--delete-file=" + location)
        if not result.ok:
            self.log.warn("{location} is saved but stays on the card: "
                          "{error}", location=location,
                          error=result.stderr.decode("utf-8", "replace"))

    @defer.inlineCallbacks
    def _apply_for_capture(self, settings):
        """
        Set a capture's own C{settings}, after reading what they were;
        fires with the C{(name, old value)} pairs to put back. If the
        camera refuses one, put back those already set and fail with
        L{SettingError}: the guest asked for a photo with these settings,
        not for one without them.
        """
        current = yield self._current_values([name for name, _ in settings])
        old = tuple(zip([name for name, _ in settings], current))
        try:
            answer = yield self._with_settings(self.settings.apply, settings)
        except Exception:
            # Some may have been set before it failed: put them all back.
            yield self._restore(old)
            raise
        refused = [r for r in answer["results"] if not r["ok"]]
        if refused:
            done = {r["name"] for r in answer["results"] if r["ok"]}
            yield self._restore(tuple(p for p in old if p[0] in done))
            first = refused[0]
            raise SettingError(
                "; ".join(named(r["name"], r["error"]) for r in refused),
                {key: first[key] for key in ("choices", "range")
                 if key in first})
        return old

    @defer.inlineCallbacks
    def _restore(self, pairs):
        """
        Put settings back after a capture; a failure is logged, since the
        photo is what matters.
        """
        if not pairs:
            return
        try:
            answer = yield self._with_settings(self.settings.apply, pairs)
            failed = [r for r in answer["results"] if not r["ok"]]
        except Exception as e:
            failed = [str(e)]
        if failed:
            self.log.warn("could not put settings back after a capture: "
                          "{failed}", failed=failed)

    @defer.inlineCallbacks
    def _current_values(self, names):
        """
        The current values of settings C{names}, read as
        L{fourcut.camera.settings.CameraSettings.apply} will put them back: the
        gphoto2 CLI's own libgphoto2 may spell a choice otherwise (the
        700D's image format: "Large Fine JPEG" where python-gphoto2's
        has "L").
        """
        answer = yield self._with_settings(self.settings.values, names)
        values = answer.get("values")
        if not isinstance(values, list) or len(values) != len(names):
            raise SettingError("cannot read %s from the camera: no value "
                               "shown" % (", ".join(names),))
        return values

    def release(self):
        """
        Nothing holds the camera between operations.
        """
        return defer.succeed(None)

    def idle(self):
        """
        Nothing to do when the camera goes idle.
        """

    def close(self):
        """
        Nothing to close: the session ends the children.
        """

    def status(self):
        return {"driver": self.name}


class LiveViewProtocol(processes.StderrTail):
    """
    Reads one C{gphoto2 --capture-movie --stdout} child.

    @param on_frame: called with C{(jpeg_bytes, timestamp)} for each frame,
        the timestamp being the wall-clock time the frame left the child.
    @ivar started: fires with L{None} at the first frame, or with the
        child's stderr text if it exits before producing one.
    @ivar ended: fires with C{(reason, stderr_text)} when the child exits.
    """

    def __init__(self, on_frame, wall_clock=time.time):
        self._on_frame = on_frame
        self._clock = wall_clock
        self._splitter = JPEGSplitter()
        self.frames = 0
        self.started = defer.Deferred()
        self.ended = defer.Deferred()

    def outReceived(self, data):
        now = self._clock()
        for frame in self._splitter.feed(data):
            self.frames += 1
            # Publish first, so that whoever waits for the start finds
            # this frame, not one from before, as the latest.
            self._on_frame(frame, now)
            if not self.started.called:
                self.started.callback(None)

    def processEnded(self, reason):
        if not self.started.called:
            self.started.callback(self.stderr or "gphoto2 ended without "
                                  "a frame and without a message")
        self.ended.callback((reason, self.stderr))
