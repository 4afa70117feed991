# -*- test-case-name: tests.integration.test_worker -*-
"""
The server's side of the camera worker (L{fourcut.camera.child.worker}): one
child process holding one python-gphoto2 session, read by a
L{ProcessProtocol}, driven through L{WorkerClient}, whose methods return
L{Deferred}s.

L{WorkerClient} answers C{get}, C{set}, C{list}, C{info}, C{apply} and
C{resolve} exactly as L{fourcut.camera.settings.CameraSettings} does (the same
answer dicts, the same L{CameraError} and L{SettingError}), so it can stand
in for it; and adds live view, capture, delete, release and open in the
same session.

Every call has a deadline. A worker that overruns one, sends garbage, or a
message over its limit is ended (SIGINT, then SIGTERM, then SIGKILL, by its
PID: L{fourcut.camera.processes.stop}); its pending calls fail with L{CameraError}
503 once it is gone (never earlier, so that a failed call means nothing is
left talking to the camera), and L{WorkerClient.ended} fires with a
L{WorkerEnded}. One L{WorkerClient} runs one process: start a new one to
restart.
"""

import itertools
import os
import sys

from twisted.internet import defer, error
from twisted.logger import Logger

from fourcut.camera import processes
from fourcut.camera.child import wire
from fourcut.camera.settings import (apply_args, format_value,
                                     interpret_answer, package_root)
from fourcut.errors import CameraError, SettingError
from fourcut.stream.jpeg import DEFAULT_MAX_FRAME

__all__ = ["WorkerClient", "WorkerEnded", "WorkerProtocol", "worker_env"]


#: Characters of that quoted in an error.
STDERR_QUOTED = 1000

#: Calls that may wait for the worker at once.
MAX_PENDING = 16

#: Seconds after the SIGKILL of L{WorkerClient.stop} before a worker not
#: reported gone is reaped, or has its pipes closed (L{WorkerClient}'s
#: C{_close_pipes}).
REAP_GRACE = 2.0


def worker_env(gphoto2):
    """
    The worker's environment: the python-gphoto2 children's (see
    L{fourcut.camera.gphoto2.GPhoto2.env}), with the C{fourcut} package on
    C{PYTHONPATH}.
    """
    env = gphoto2.env(python=True)
    paths = [package_root()]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


class WorkerEnded:
    """
    How a worker process ended, for the supervisor.

    @ivar exit_code: its exit status, or L{None} if a signal ended it
        (see L{fourcut.camera.child.worker} for what the statuses mean).
    @ivar signal: the signal that ended it, or L{None}.
    @ivar stderr: the tail of its stderr, as text.
    @ivar requested: whether fourcut ended it (L{WorkerClient.stop}, an
        overrun deadline, garbage) rather than it dying by itself.
    @ivar why: why fourcut ended it (C{"capture did not finish within its
        60s"}), or L{None}.
    """

    def __init__(self, pid, exit_code, signal_number, stderr, requested,
                 why):
        self.pid = pid
        self.exit_code = exit_code
        self.signal = signal_number
        self.stderr = stderr
        self.requested = requested
        self.why = why

    @property
    def how(self):
        if self.signal is not None:
            return "killed by %s" % (processes.signal_name(self.signal),)
        return "exit status %s" % (self.exit_code,)

    def __repr__(self):
        return "<WorkerEnded pid=%r %s requested=%r why=%r stderr=%r>" % (
            self.pid, self.how, self.requested, self.why,
            self.stderr[-300:])


class WorkerProtocol(processes.StderrTail):
    """
    Splits the worker's stdout into messages and keeps its stderr's tail.

    @param on_message: called with C{(header, payload)} for each message.
    @param on_garbage: called once with a description if the stdout is
        not messages (or one is over its limit); nothing more is read.
    @param on_ended: called with the reason (a L{Failure}) when the
        process has exited.
    """

    log = Logger()

    def __init__(self, on_message, on_garbage, on_ended,
                 max_payload=wire.MAX_PAYLOAD, max_frame=DEFAULT_MAX_FRAME):
        self._on_message = on_message
        self._on_garbage = on_garbage
        self._on_ended = on_ended
        self._max_frame = max_frame
        self.decoder = wire.Decoder(max_payload=max_payload,
                                    payload_limit=self._limit)

    def _limit(self, header):
        if header.get("type") == "frame":
            return self._max_frame
        if header.get("type") != "answer":
            return 0
        return None

    def outReceived(self, data):
        if self.decoder.broken is not None:
            return
        try:
            messages = self.decoder.feed(data)
        except wire.WireError as e:
            self._on_garbage(str(e))
            return
        for header, payload in messages:
            try:
                self._on_message(header, payload)
            except Exception:
                self.log.failure("handling a camera worker message {type}",
                                 type=header.get("type"))

    def processEnded(self, reason):
        self._on_ended(reason)


class _Call:
    __slots__ = ("command", "deferred", "timer", "deadline")

    def __init__(self, command, deferred, timer, deadline):
        self.command = command
        self.deferred = deferred
        self.timer = timer
        self.deadline = deadline


class WorkerClient:
    """
    One camera worker process and the calls to it.

    @param gphoto2: a L{fourcut.camera.gphoto2.GPhoto2}: the port, the model and
        the children's environment.
    @param python: an interpreter with python-gphoto2.
    @param deadline: seconds any call (and the start) may take.
    @param capture_deadline: seconds a capture may take.
    @param fps: the most live view frames a second (0: the camera's pace).
    @param keepalive: seconds between the worker's event polls while the
        camera is idle (EOS KeepDeviceOn, see L{fourcut.camera.child.worker});
        0: never.
    @param on_frame: called with C{(jpeg, sequence, timestamp)} for each
        live view frame; C{timestamp} is the wall-clock time it left the
        camera.
    @param on_event: called with C{(name, error)} when the worker reports
        C{live_view_stopped} (live view failed and is off),
        C{live_view_dead} (live view stopped delivering, the session
        still answers) or C{camera_lost} (the idle camera went away); C{error} is the
        L{CameraError} it would have answered.
    @param on_start: called with the process transport once spawned, so
        the session can track (and end) it.
    @param max_payload: the largest photo accepted.
    @param max_frame: the largest live view frame accepted.

    @ivar ended: fires with a L{WorkerEnded} when the process has exited.
    @ivar pid: the worker's PID once started.
    @ivar live: whether live view is on, as far as the worker has said.
    @ivar frames: live view frames received.
    @ivar last_frame_at: C{reactor.seconds()} at the last frame, or
        L{None}.
    """

    log = Logger()

    def __init__(self, reactor, gphoto2, python=sys.executable,
                 deadline=30.0, capture_deadline=60.0, fps=30.0,
                 keepalive=5.0, on_frame=None, on_event=None,
                 on_start=None, max_payload=wire.MAX_PAYLOAD,
                 max_frame=DEFAULT_MAX_FRAME, max_pending=MAX_PENDING):
        self.reactor = reactor
        self.gphoto2 = gphoto2
        self.python = python
        self.deadline = deadline
        self.capture_deadline = capture_deadline
        self.fps = fps
        self.keepalive_interval = keepalive
        self.on_frame = on_frame
        self.on_event = on_event
        self.on_start = on_start
        self.max_payload = max_payload
        self.max_frame = max_frame
        self.max_pending = max_pending
        self.ended = defer.Deferred()
        self.transport = None
        self.protocol = None
        self.pid = None
        self.hello = None
        self.live = False
        self.warm = False           # live view off, its viewfinder kept on
        self.frames = 0
        self.last_frame_at = None
        self.exited = None          # the WorkerEnded, once it has
        self._ids = itertools.count(1)
        self._pending = {}
        self._hello = None
        self._start_timer = None
        self._requested = False
        self._why = None
        self._stopping = False
        self._reap_call = None
        self._exit_watchers = []

    # The process -----------------------------------------------------------

    def argv(self):
        argv = [self.python, "-m", "fourcut.camera.child.worker",
                "--fps", repr(float(self.fps)),
                "--keepalive", repr(float(self.keepalive_interval))]
        if self.gphoto2.port:
            argv += ["--port", self.gphoto2.port]
        if self.gphoto2.model:
            argv += ["--model", self.gphoto2.model]
        if getattr(self.gphoto2, "capture_target", None):
            argv += ["--capture-target", self.gphoto2.capture_target]
        return argv

    @property
    def running(self):
        return self.transport is not None and self.exited is None

    @property
    def stopping(self):
        """
        Whether L{stop} was called (or fourcut ended the worker) and it
        has not exited yet.
        """
        return self._stopping and self.exited is None

    def start(self):
        """
        Start the worker process.

        @return: a L{Deferred} firing with the worker's hello (C{pid},
            C{python_gphoto2}, C{libgphoto2} ...) once it has loaded
            python-gphoto2; it fails with L{CameraError} 503 if it cannot,
            or does not say so within the deadline. The camera is opened
            by the first call that needs it (or L{open}).
        """
        if self.transport is not None:
            raise RuntimeError("a WorkerClient runs one process; make "
                               "another to restart")
        argv = self.argv()
        self.protocol = WorkerProtocol(self._message, self._garbage,
                                       self._process_ended,
                                       self.max_payload, self.max_frame)
        self.protocol.clock = self.reactor
        self._hello = defer.Deferred()
        try:
            self.transport = self.reactor.spawnProcess(
                self.protocol, argv[0], argv, env=worker_env(self.gphoto2))
        except OSError as e:
            # No descriptors for the pipes, say: a failure like any other.
            why = "it could not be started: %s" % (e,)
            self.exited = WorkerEnded(None, None, None, "", False, why)
            self.ended.callback(self.exited)
            return defer.fail(CameraError(
                503, "the camera worker could not be started: %s" % (e,)))
        self.pid = self.transport.pid
        self.log.info("camera worker started (pid {pid})", pid=self.pid)
        if self.on_start is not None:
            self.on_start(self.transport)
        self._start_timer = self.reactor.callLater(
            self.deadline, self._end,
            "it did not start within %gs" % (self.deadline,))
        return self._hello

    def stop(self):
        """
        End the worker (SIGINT first, so it closes the camera; then
        SIGTERM, SIGKILL, by its PID).

        @return: a L{Deferred} that fires once the process is gone.
        """
        if self.transport is None or self.exited is not None:
            return defer.succeed(None)
        watcher = defer.Deferred()
        self._exit_watchers.append(watcher)
        if not self._stopping:
            self._stopping = True
            self._requested = True
            gone = defer.Deferred()
            self._exit_watchers.append(gone)
            processes.stop(self.reactor, self.transport, gone)
            self._reap_call = self.reactor.callLater(
                sum(processes.STOP_GRACE) + REAP_GRACE, self._close_pipes)
        return watcher

    def _close_pipes(self):
        """
        The worker was signalled to the end (SIGKILL included) and has not
        been reported gone, a last resort. Not reaped yet: reap it (the end
        of a worker killed from outside was once never reported, and live
        view stayed frozen, because its pipes had closed a moment before
        it was a zombie: L{processes.Reaping} now tries again, and this
        would catch it 7 s after the stall watchdog ended it).
        Reaped, but a pipe still open: close our ends of them so that its
        end is reported. (No way for that is known: Twisted's spawn
        closes every descriptor but 0, 1 and 2 in the child, fourcut's
        own are close-on-exec, and the worker starts no process that
        could keep one.)
        """
        self._reap_call = None
        if self.exited is not None or self.transport is None:
            return
        if self.transport.pid is not None:
            self.transport.reapProcess()
        if self.exited is None and self.transport.pid is None:
            self.log.warn("camera worker (pid {pid}) is gone but its pipes "
                          "are not closed; closing them", pid=self.pid)
            for fd in (0, 1, 2):
                try:
                    self.transport.closeChildFD(fd)
                except Exception:
                    self.log.failure("closing the camera worker's fd {fd}",
                                     fd=fd)

    def end(self, why):
        """
        fourcut ends the worker, for C{why} (a camera that stalled, say):
        as L{stop}, but the end counts as a failure; pending calls fail
        once it is gone.
        """
        return self._end(why)

    def _end(self, why):
        """
        fourcut ends the worker, for C{why}; pending calls fail once it is
        gone.
        """
        if self._why is None and not self._stopping:
            self._why = why
            self.log.warn("camera worker (pid {pid}): {why}; ending it",
                          pid=self.pid, why=why)
        return self.stop()

    def _garbage(self, text):
        self._end("it sent garbage (%s)" % (text,))

    @property
    def stderr(self):
        return self.protocol.stderr if self.protocol is not None else ""

    def _tail(self):
        return self.stderr.strip()[-STDERR_QUOTED:]

    def _process_ended(self, reason):
        exit_code = signal_number = None
        if isinstance(reason.value, error.ProcessTerminated):
            exit_code = reason.value.exitCode
            signal_number = reason.value.signal
        else:
            exit_code = 0
        ended = WorkerEnded(self.pid, exit_code, signal_number,
                            self.stderr, self._requested, self._why)
        self.exited = ended
        self.live = self.warm = False
        if self._start_timer is not None and self._start_timer.active():
            self._start_timer.cancel()
        if self._reap_call is not None and self._reap_call.active():
            self._reap_call.cancel()
        self._reap_call = None
        self.log.info("camera worker ended (pid {pid}, {how})", pid=self.pid,
                      how=ended.how)
        pending, self._pending = self._pending, {}
        for call in pending.values():
            if call.timer.active():
                call.timer.cancel()
            call.deferred.errback(self._ended_error(call.command))
        if self._hello is not None and not self._hello.called:
            self._hello.errback(self._ended_error("start"))
        watchers, self._exit_watchers = self._exit_watchers, []
        for watcher in watchers:
            watcher.callback(None)
        self.ended.callback(ended)

    def _ended_error(self, command):
        ended = self.exited
        if self.hello is not None and not self.hello.get("ok", True):
            return CameraError(503, self.hello.get("error") or "the camera "
                               "worker could not start")
        if self._why is not None:
            text = ("camera worker (pid %s): %s; it was ended (%s) before "
                    "it answered %s; the camera may be hung"
                    % (self.pid, self._why, ended.how, command))
        elif self._requested:
            text = ("camera worker (pid %s) was stopped before it answered "
                    "%s" % (self.pid, command))
        else:
            text = ("camera worker (pid %s) ended (%s) before it answered "
                    "%s" % (self.pid, ended.how, command))
        tail = self._tail()
        if tail:
            text += ": " + tail
        return CameraError(503, text)

    # Messages ----------------------------------------------------------------

    def _message(self, header, payload):
        kind = header["type"]
        if kind == "frame":
            self.frames += 1
            self.last_frame_at = self.reactor.seconds()
            if self.on_frame is not None:
                self.on_frame(payload, header.get("seq"), header.get("time"))
        elif kind == "answer":
            call = self._pending.pop(header.get("id"), None)
            if call is None:
                self._garbage("an answer to no request: %r" % (header,))
                return
            if call.timer.active():
                call.timer.cancel()
            answer = header.get("answer")
            if not isinstance(answer, dict) or "ok" not in answer:
                self._garbage("an answer without ok: %r" % (header,))
                return
            call.deferred.callback((answer, payload))
        elif kind == "event":
            self._event(header)
        elif kind == "hello" and self.hello is None:
            self.hello = header
            if self._start_timer.active():
                self._start_timer.cancel()
            if header.get("ok"):
                self._hello.callback(header)
            # Otherwise the worker exits; the start fails then, with
            # the worker's reason.
        else:
            self._garbage("an unexpected message: %r" % (header,))

    def _event(self, header):
        name = header.get("event")
        answer = header.get("answer") or {}
        if name in ("live_view_stopped", "live_view_dead", "camera_lost"):
            self.live = self.warm = False
        try:
            interpret_answer(name, dict(answer, ok=False))
        except (CameraError, SettingError) as e:
            failure = e
        else:
            failure = None
        if not isinstance(failure, CameraError):
            failure = CameraError(503, answer.get("error") or name)
        self.log.warn("camera worker: {name}: {error}", name=name,
                      error=failure.text)
        if self.on_event is not None:
            self.on_event(name, failure)

    # Calls -------------------------------------------------------------------

    def _call(self, command, deadline=None, **fields):
        """
        Send one request; a L{Deferred} firing with C{(answer, payload)}.
        """
        if not self.running or self._stopping:
            return defer.fail(CameraError(
                503, "the camera worker is %s (%s)" % (
                    "stopping" if self.running else "not running",
                    command)))
        if len(self._pending) >= self.max_pending:
            return defer.fail(CameraError(
                503, "camera worker: %d requests are already waiting"
                % (len(self._pending),)))
        request_id = next(self._ids)
        header = dict(fields, type="request", id=request_id, command=command)
        try:
            data = wire.encode(header)
        except (TypeError, ValueError) as e:
            return defer.fail(SettingError(
                "%s: cannot send %r: %s" % (command, fields, e),
                {"reason": "bad-value"}))
        if deadline is None:
            deadline = self.deadline
        timer = self.reactor.callLater(
            deadline, self._end,
            "%s did not finish within its %gs deadline"
            % (command, deadline))
        call = _Call(command, defer.Deferred(), timer, deadline)
        self._pending[request_id] = call
        self.transport.write(data)
        return call.deferred

    def _answer(self, command, deadline=None, **fields):
        """
        A request whose answer is read as L{fourcut.camera.settings} reads a
        camconfig child's.
        """
        d = self._call(command, deadline, **fields)
        d.addCallback(lambda result: interpret_answer(command, result[0]))
        return d

    # As CameraSettings (on_start is taken and ignored: the worker was
    # reported to on_start when it started).

    def get(self, section, option, on_start=None, deadline=None):
        """
        One setting: as L{fourcut.camera.settings.CameraSettings.get}.
        """
        return self._answer("get", deadline, section=section, option=option)

    def set(self, section, option, value, on_start=None, deadline=None):
        """
        Change one setting: as L{fourcut.camera.settings.CameraSettings.set}.
        """
        return self._answer("set", deadline, section=section, option=option,
                            value=value)

    def list(self, on_start=None, deadline=None):
        return self._answer("list", deadline)

    def info(self, on_start=None, deadline=None):
        return self._answer("info", deadline)

    def resolve(self, name, on_start=None, deadline=None):
        return self._answer("resolve", deadline, name=name)

    def values(self, names, on_start=None, deadline=None):
        """
        Current values by name: as
        L{fourcut.camera.settings.CameraSettings.values}.
        """
        return self._answer("values", deadline, names=list(names))

    def apply(self, pairs, on_start=None, deadline=None):
        """
        Change several settings by name: as
        L{fourcut.camera.settings.CameraSettings.apply}.
        """
        try:
            args = apply_args(pairs)
        except SettingError as e:
            return defer.fail(e)
        if not args:
            return defer.succeed({"ok": True, "results": []})
        return self._answer("apply", deadline, pairs=args)

    # The held session's own

    def capture(self, settings=(), deadline=None, mode=()):
        """
        Take a photo, with C{settings} (C{(name, value)} pairs, looked up
        as L{apply} does) set for it and put back after it, all in the
        worker's session, between two live view frames.

        @return: a L{Deferred} firing with C{{"ok": True, "data": the photo
            bytes, "folder", "name", "path" (C{folder/name} on the camera),
            "size", "mime", "settings": [{"name", "value" (as taken),
            "restored"}], "mode_errors" and "restore_errors": [text,
            ...]}}; C{mode}: settings set first and put back after, whose
            refusal is only reported (in "mode_errors"); it fails with
            L{SettingError} if a setting was refused (nothing captured,
            those set put back) and L{CameraError} if the camera failed.
        """
        fields = {}
        for key, pairs in (("settings", settings), ("mode", mode)):
            args = []
            for name, value in pairs:
                if not name or "=" in name:
                    return defer.fail(SettingError(
                        "bad setting name %r" % (name,),
                        {"reason": "unknown-name", "name": name}))
                args.append([name, format_value(value)])
            if args or key == "settings":
                fields[key] = args
        d = self._call("capture", deadline or self.capture_deadline,
                       **fields)

        def taken(result):
            answer, payload = result
            answer = interpret_answer("capture", answer)
            if not payload:
                raise CameraError(503, "the camera gave an empty photo (%s)"
                                  % (answer.get("path"),))
            return dict(answer, data=payload)

        return d.addCallback(taken)

    def delete(self, path, deadline=None):
        """
        Delete C{path} (C{/folder/name}, as L{capture} answers it) from
        the camera.
        """
        return self._answer("delete", deadline, path=path)

    def live_view(self, on, deadline=None, revive=None, keep=False):
        """
        Turn live view on (fires once the first frame has been given to
        C{on_frame}) or off. C{revive} (C{"viewfinder"} or C{"output"}):
        toggle that first, to bring back live view that stopped
        delivering. C{keep} (off): stop the frames but keep the
        viewfinder on (L{warm}), so that the next start needs no warm-up.
        """
        if on:
            self.warm = False
            fields = {} if revive is None else {"revive": revive}
            d = self._answer("live_view_on", deadline, **fields)
        else:
            fields = {"keep": True} if keep else {}
            d = self._answer("live_view_off", deadline, **fields)

        def done(answer):
            self.live = bool(on)
            self.warm = bool(answer.get("warm")) and not on
            return answer

        return d.addCallback(done)

    def release(self, deadline=None):
        """
        Close the camera so that another program (the gphoto2 CLI) can use
        it; calls that need the camera then fail with L{CameraError} 503
        until L{open}.
        """
        d = self._answer("release", deadline)
        self.warm = False

        def done(answer):
            self.live = False
            return answer

        return d.addCallback(done)

    def open(self, deadline=None):
        """
        Open the camera (again): fires with C{{"state", "port",
        "driver_model", "sessions"}} (C{sessions}: how many this worker has
        opened).
        """
        return self._answer("open", deadline)

    def keepalive(self, timeout_ms=10, deadline=None):
        """
        Poll the camera's events once (EOS KeepDeviceOn goes with it).
        """
        return self._answer("keepalive", deadline, timeout=timeout_ms)

    def status(self, deadline=None):
        """
        The worker's own view, answered even while a camera call runs:
        C{state} (C{closed}, C{open}, C{released}), C{live_view}, C{busy}
        (the command running, or L{None}), C{frames}, C{sessions}.
        """
        return self._answer("status", deadline)

    def __repr__(self):
        return "<WorkerClient pid=%r running=%r>" % (self.pid, self.running)
