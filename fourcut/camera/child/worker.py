# -*- test-case-name: tests.integration.test_worker -*-
"""
The camera worker: one python-gphoto2 session held across live view,
captures and settings, in a child process of fourcut's own (the server
side is L{fourcut.camera.workerclient}).

Usage::

    python -m fourcut.camera.child.worker [--port PORT] [--model MODEL]
                                    [--fps FPS] [--keepalive SECONDS]

Why a child, as for L{fourcut.camera.child.settings}: python-gphoto2's C{Camera.exit()}
holds the GIL while it waits for the camera, libgphoto2 2.5.34 closes file
descriptor 0 on exit, and a libgphoto2 call that hangs cannot be
interrupted from another thread. A child can be ended (SIGINT, SIGTERM,
SIGKILL) and takes all of that with it.

The protocol
============
Messages both ways are framed by L{fourcut.camera.child.wire}: a JSON header
(with a C{type}) and an optional binary payload. The worker reads requests
on the pipe that was its stdin and writes on the pipe that was its stdout;
at start it moves both to descriptors above 2 and points 0, 1 and 2
elsewhere (0 at /dev/null, which libgphoto2 may close; 1 and 2 at a file of
its own, copied to the real stderr after each command), so nothing
libgphoto2 prints can spoil a message.

From the worker::

    {"type": "hello", "ok": true, "protocol": 1, "pid": ..., ...}
        first, once python-gphoto2 is loaded; {"type": "hello", "ok":
        false, "camera": "error", "error": ...} and exit status 1 if it
        cannot be
    {"type": "frame", "seq": N, "time": T} + JPEG
        a live view frame: N counts up from 1 for the worker's life, T is
        the wall-clock time (time.time()) the frame left the camera
    {"type": "answer", "id": ID, "answer": {...}} [+ photo bytes]
        the answer to request ID, as L{fourcut.camera.child.settings} answers: "ok",
        refusals with "reason", camera failures with "camera" ("absent",
        "busy", "error"), "error" and "code"
    {"type": "event", "event": "live_view_stopped", "answer": {...}}
        live view failed between two frames and is off (the answer is
        the camera failure)
    {"type": "event", "event": "live_view_dead", "answer": {...}}
        live view stopped delivering (libgphoto2 gave up waiting for a
        frame) while the session still answers: it is off, and the
        session is kept, for a cheaper revival than a new one
    {"type": "event", "event": "camera_lost", "answer": {...}}
        the idle keepalive found the connection to the camera gone

To the worker: C{{"type": "request", "id": ID, "command": NAME, ...}},
no payload. Requests run one after another, in order, between two live
view frames, in the same camera session:

    open                       open the camera (every command below that
                               needs it opens it too, unless released)
    release                    close the camera so another program can
                               use it; commands then answer camera "busy"
                               until the next open
    get section option         as camconfig get
    set section option value   as camconfig set (value: any JSON value)
    apply pairs                as camconfig apply (["NAME=VALUE", ...])
    list, info, resolve name   as camconfig
    capture settings [mode]    [[NAME, VALUE], ...] set for this photo
                               only: each read, set, the photo captured
                               and downloaded, each put back; answers
                               folder, name, path, size, mime, settings,
                               mode_errors, restore_errors, with the
                               photo as payload; mode: the same, set
                               first, a refusal only reported
                               (mode_errors)
    delete path                delete /FOLDER/NAME from the camera
    live_view_on [revive]      answers after the first frame is sent;
                               revive "viewfinder" or "output" first
                               toggles that (EOS: the EVF output goes off
                               and on), which brings back the live view
                               of a body that stopped delivering
    live_view_off [keep]       stops frames (and, on bodies with a
                               "viewfinder" toggle, EOS and Nikon, turns
                               it off so the mirror comes down); keep
                               true: the viewfinder stays on (warm), only
                               the polls stop, so that the next
                               live_view_on gives a frame at once, without
                               the body's warm-up (1.2 s on an EOS 100D);
                               a later live_view_off takes it down
    keepalive [timeout]        one camera.wait_for_event(timeout ms)
    status                     state, live_view, busy, frames, sessions;
                               answered at once, even mid-command

A camera failure is an answer, never a crash. A camera that cannot be
opened leaves the worker closed, and the next command tries again. A
failure of the connection of an open session (I/O, timeout, port errors:
unplugged, hung) is answered (or reported as an event), and then the worker
exits with status 4 without closing the camera: C{Camera.exit()} after
such a failure waits for libgphoto2's timeout holding the GIL (measured:
2.6 s over PTP/IP, during which no request, no signal is handled), and a
camera not exited cannot be opened again by the same process (its socket
or USB claim stays). The server starts a new worker, as it restarts
gphoto2 today.

Live view is paced by the camera, and capped at C{--fps} and at the rate
the body delivers (measured from the frames' intervals: a body slower
than the cap, an EOS 700D's 13 fps say, answers every earlier poll with
0xA102, which libgphoto2 retries with sleeps, a flood; frames keep to a
fixed time grid; the worker waits on its request queue until the next
slot, so a request is taken at once and nothing spins when the camera
answers instantly, as an EOS does). The default cap is 30, what bodies
give. Against the virtual camera's own 30 fps it kept 29.8-30.2 fps, and
a request waited 1 ms (median) to be taken; with a cap of 60 the frame
rate was the same but the worker was always inside a preview call that
the camera held until its next frame, and a request waited 13 ms.

Idle keepalive: while the camera is open and live view is off, the worker
calls C{camera.wait_for_event(10 ms)} every C{--keepalive} seconds (0:
never). python-gphoto2 has no call for EOS KeepDeviceOn; libgphoto2
2.5.34's ptp2 driver sends it from C{camera_keep_device_on()}, at most
every 10 s, inside C{wait_for_event}, capture preview and the config
calls of Canon EOS bodies, and drains the EOS event queue there. Polling
events is what the gphoto2 CLI does between captures, and is harmless on
other bodies.

Ending
======
EOF on the request pipe or SIGINT: stop between two camera calls, close
the camera (C{Camera.exit()}) and exit 0; if the camera thread does not get
there within L{CLOSE_GRACE} seconds (a call that hangs), exit 3 without
closing. SIGTERM keeps the kernel's default action: the worker dies at
once, even while C{Camera.exit()} holds the GIL. Exit statuses: 0 stopped,
1 no python-gphoto2, 2 garbage on the request pipe, 3 stopped without
closing the camera, 4 the connection to the camera was lost.

Threads: the camera is driven by one thread; the main thread only reads
requests (a select loop), answers C{status}, and acts on signals, which
Python delivers to the main thread only and which could not run while the
main thread was inside a libgphoto2 call.
"""

import argparse
import fcntl
import json
import os
import queue
import select
import signal
import sys
import threading
import time

from fourcut.camera.child import settings as camconfig
from fourcut.camera.child import wire
from fourcut.errors import NOT_DETECTED

__all__ = ["PROTOCOL", "CameraWorker", "main"]

PROTOCOL = 1

DEFAULT_FPS = 30.0
DEFAULT_KEEPALIVE = 5.0

#: Frames in a row whose mean interval is the body's frame interval
#: (see L{CameraWorker._frame_came}), and the pause that starts the count
#: again.
LEARN_FRAMES = 40
LEARN_GAP = 0.5
#: An interval this many times the median of those being learned from is
#: a frame (or more) missed, not the body's pace: left out.
MISSED_FRAME = 1.5
#: How much slower than the body's frame interval live view is polled.
LATE_MARGIN = 0.01
#: Once in step: polls whose quickest is the reference, how much longer
#: than it an early poll takes (libgphoto2 sleeps 5 ms before asking
#: again), and how much the interval grows after one.
STEP_WINDOW = 9
EARLY_MARGIN = 0.007
STEP_GROWTH = 0.0005
STEP_DECAY = 0.0001

#: Seconds a capture waits before it tries again once, when the camera
#: answered its release busy ("I/O in progress": an EOS 1300D does, to
#: the first capture of a session opened more than 5 s before).
BUSY_RETRY_DELAY = 0.3
BUSY_RETRIES = 2

#: The EVF switches that bring back live view that stopped delivering:
#: C{(config name, off value, on value)}; L{None}: the current value.
REVIVE_TOGGLES = {
    "viewfinder": ("viewfinder", 0, 1),
    "output": ("output", "Off", None),
}

#: Milliseconds the idle keepalive waits for camera events.
KEEPALIVE_WAIT_MS = 10

#: Seconds a polite stop (SIGINT, EOF) waits for the camera to be closed.
CLOSE_GRACE = 1.0

#: Bytes of libgphoto2's output quoted in one failure.
TAP_QUOTED = 64 * 1024

EXIT_STOPPED = 0
EXIT_NO_GPHOTO2 = 1
EXIT_GARBAGE = 2
EXIT_NOT_CLOSED = 3
EXIT_CAMERA_LOST = 4

#: Requests: command -> {field: (types, required)}.
_STR = (str,)
REQUESTS = {
    "open": {},
    "release": {},
    "get": {"section": (_STR, True), "option": (_STR, True)},
    "set": {"section": (_STR, True), "option": (_STR, True),
            "value": (None, True)},
    "apply": {"pairs": (list, True)},
    "list": {},
    "info": {},
    "resolve": {"name": (_STR, True)},
    "values": {"names": (list, True)},
    "capture": {"settings": (list, False), "mode": (list, False)},
    "delete": {"path": (_STR, True)},
    "live_view_on": {"revive": (_STR, False)},
    "live_view_off": {"keep": ((bool,), False)},
    "keepalive": {"timeout": ((int, float), False)},
    "status": {},
}


def connection_broken(code):
    """
    Whether a libgphoto2 error code means the connection to the camera is
    gone or unusable (I/O, timeout, a port library error), so that the
    session must be closed and opened afresh, rather than one request
    failing.
    """
    if code is None:
        return False
    return code in (-7, -10) or -70 <= code <= -20


#: Refusals that a camera gone away also gives (see
#: L{CameraWorker._check_connection}).
LOOKUP_REASONS = frozenset(["unknown-section", "unknown-option",
                            "unknown-name"])


def looks_cut_off(command, answer):
    """
    Whether C{answer} could be a camera that no longer answers rather
    than a wrong request: a setting not found, a list without settings,
    info without anything, a keepalive that failed.
    """
    if answer.get("camera"):
        return command == "keepalive"
    if answer.get("reason") in LOOKUP_REASONS:
        return True
    if any(result.get("reason") in LOOKUP_REASONS
           for result in answer.get("results", ())):
        return True
    if command == "list" and answer.get("ok"):
        sections = answer.get("sections", {})
        return not any(sections.get(name, {}).get("options")
                       for name in ("imgsettings", "capturesettings",
                                    "settings"))
    if command == "info" and answer.get("ok"):
        return not any(answer.get(key) for key in ("model", "manufacturer",
                                                   "serial", "battery"))
    return False


def log(text):
    """
    A line on the real stderr (the server keeps its tail).
    """
    try:
        os.write(_real_stderr, ("camera worker: %s\n" % (text,))
                 .encode("utf-8", "replace"))
    except OSError:
        pass


_real_stderr = 2


def check_request(header):
    """
    The request C{header} as C{(id, command, fields)}, or a C{(id,
    error)} pair for one the worker cannot run.
    """
    request_id = header.get("id")
    if header.get("type") != "request" or not isinstance(request_id, int) \
            or isinstance(request_id, bool):
        return request_id, "not a request with an integer id: %r" % (header,)
    command = header.get("command")
    spec = REQUESTS.get(command)
    if spec is None:
        return request_id, "unknown command %r; commands: %s" % (
            command, ", ".join(sorted(REQUESTS)))
    fields = {}
    for name, (types, required) in spec.items():
        if name not in header:
            if required:
                return request_id, "%s needs %s" % (command, name)
            continue
        value = header[name]
        if types is not None and (not isinstance(value, types)
                                  or (isinstance(value, bool)
                                      and bool not in types)):
            return request_id, "%s: %s is not %s" % (
                command, name, "/".join(t.__name__ for t in types))
        fields[name] = value
    if command == "apply" and not all(isinstance(p, str)
                                      for p in fields["pairs"]):
        return request_id, "apply: pairs must be NAME=VALUE strings"
    if command == "capture":
        fields.setdefault("settings", [])
        for key in ("settings", "mode"):
            if key not in fields:
                continue
            pairs = fields[key]
            if not all(isinstance(s, list) and len(s) == 2
                       and isinstance(s[0], str) and isinstance(s[1], str)
                       for s in pairs):
                return request_id, "capture: %s must be [NAME, VALUE] " \
                                   "string pairs" % (key,)
            fields[key] = [tuple(s) for s in pairs]
    extra = set(header) - set(spec) - {"type", "id", "command"}
    if extra:
        return request_id, "%s does not take %s" % (
            command, ", ".join(sorted(extra)))
    return request_id, command, fields


class Output:
    """
    The message pipe to the server; both threads write, one whole message
    at a time.
    """

    def __init__(self, fd):
        self.fd = fd
        self.lock = threading.Lock()

    def send(self, header, payload=b""):
        payload = memoryview(payload).cast("B") if payload else b""
        prefix = wire.encode_prefix(header, len(payload))
        with self.lock:
            self._write(prefix)
            if payload:
                self._write(payload)

    def _write(self, data):
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


class ParentGone(Exception):
    """
    The server closed the message pipe.
    """


class StderrTap:
    """
    fds 1 and 2 pointed at a file of the worker's own: whatever libgphoto2
    prints cannot reach the message pipe, and a failure can quote what it
    printed since the command began (libgphoto2 writes the likes of
    "connect cmd: Connection refused" there). L{flush} copies it all to
    the real stderr and empties the file.
    """

    def __init__(self, real_fd):
        self.real_fd = real_fd
        self.lock = threading.Lock()
        # A file in memory (memfd): nothing on disk, and no tempfile
        # module (with shutil, bz2, lzma and random, about 1 MB of the
        # worker's resident size, issue 23).
        self.fd = os.memfd_create("fourcut-worker-stderr", os.MFD_CLOEXEC)
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, flags | os.O_APPEND)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self.fd, 1)
        os.dup2(self.fd, 2)
        self._mark = 0

    def _size(self):
        return os.fstat(self.fd).st_size

    def mark(self):
        """
        A command begins: L{text} quotes from here.
        """
        with self.lock:
            self._mark = self._size()

    def text(self):
        with self.lock:
            size = self._size()
            start = max(self._mark, size - TAP_QUOTED)
            data = os.pread(self.fd, size - start, start)
        return data.decode("utf-8", "replace")

    def flush(self):
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        with self.lock:
            size = self._size()
            if not size:
                return
            data = os.pread(self.fd, size, 0)
            os.ftruncate(self.fd, 0)
            self._mark = 0
        try:
            os.write(self.real_fd, data)
        except OSError:
            pass


class Job:
    __slots__ = ("id", "command", "fields")

    def __init__(self, request_id, command, fields):
        self.id = request_id
        self.command = command
        self.fields = fields


class CameraWorker:
    """
    The camera thread: runs requests and live view in one session.

    @ivar state: C{closed} (nothing open; the next command opens it),
        C{open}, C{released} (closed on request; only C{open} opens it) or
        C{lost} (the connection failed; the worker is ending).
    @ivar opened: camera sessions opened so far.
    @ivar lost: the failure answer that lost the connection, or L{None}.
    """

    def __init__(self, gp, port, model, output, tap, fps=DEFAULT_FPS,
                 keepalive=DEFAULT_KEEPALIVE, clock=time.monotonic,
                 wall_clock=time.time, capture_target=None):
        self.gp = gp
        self.capture_target = capture_target
        self.output = output
        self.tap = tap
        self.session = camconfig.Session(gp, port, model, tap.text)
        self.jobs = queue.Queue()
        self.state = "closed"
        self.live = False
        self.warm = False           # live view off, the viewfinder kept on
        self.sequence = 0
        self.opened = 0
        self.busy = None
        self.stopping = False
        self.lost = None
        self.abandoned = []
        self.period = 1.0 / fps if fps and fps > 0 else 0.0
        self.keepalive_interval = keepalive
        self._clock = clock
        self._wall_clock = wall_clock
        self._next_frame = None
        self._next_keepalive = None
        self._last_frame_at = None  # when the last frame came
        self._intervals = []        # between frames, pauses left out
        self._durations = []        # how long the last polls took
        self.early_polls = 0        # polls found early once in step
        self._learned_period = 0.0
        self.learned = False        # whether the body's rate is known
        self.body_period = 0.0      # polls this far apart (0: the cap)
        self.event_names = {
            gp.GP_EVENT_UNKNOWN: "unknown", gp.GP_EVENT_TIMEOUT: "timeout",
            gp.GP_EVENT_FILE_ADDED: "file_added",
            gp.GP_EVENT_FOLDER_ADDED: "folder_added",
            gp.GP_EVENT_CAPTURE_COMPLETE: "capture_complete",
            gp.GP_EVENT_FILE_CHANGED: "file_changed"}

    # Running ---------------------------------------------------------------

    def submit(self, job):
        self.jobs.put(job)

    def stop(self):
        """
        Stop after the camera call in progress (from the main thread).
        """
        self.stopping = True
        self.jobs.put(None)

    def run(self):
        try:
            while not self.stopping:
                job = self._next_job()
                if self.stopping:
                    break
                if job is not None:
                    self._execute(job)
                elif self.live:
                    self._frame()
                elif self._keepalive_due():
                    self._keepalive_tick()
        except ParentGone:
            self.stopping = True
        finally:
            try:
                self._close()
            finally:
                self.tap.flush()

    def _next_job(self):
        """
        The next request, waiting at most until the next frame (live view)
        or keepalive (idle, camera open) is due; L{None} when it is.
        """
        now = self._clock()
        timeout = None
        if self.live:
            timeout = 0.0 if self._next_frame is None else max(
                0.0, self._next_frame - now)
        elif self.state == "open" and self.keepalive_interval > 0:
            if self._next_keepalive is None:
                self._next_keepalive = now + self.keepalive_interval
            timeout = max(0.0, self._next_keepalive - now)
        try:
            if timeout == 0.0:
                return self.jobs.get_nowait()
            return self.jobs.get(timeout=timeout)
        except queue.Empty:
            return None

    def _send(self, header, payload=b""):
        try:
            self.output.send(header, payload)
        except OSError as e:
            raise ParentGone(e)

    def _execute(self, job):
        self.busy = job.command
        self.session.messages[:] = []
        self.tap.mark()
        payload = b""
        try:
            result = getattr(self, "do_" + job.command)(**job.fields)
            if isinstance(result, tuple):
                answer, payload = result
            else:
                answer = result
        except self.gp.GPhoto2Error as e:
            answer = self._failure(e)
        except camconfig.Answer as e:
            answer = e.fields
            if connection_broken(answer.get("code")):
                self._lose(answer)
        except ParentGone:
            raise
        except Exception as e:
            import traceback
            log("%s failed:\n%s" % (job.command, traceback.format_exc()))
            answer = {"ok": False, "camera": "error",
                      "error": "camera worker: %s failed: %s: %s"
                               % (job.command, type(e).__name__, e)}
        finally:
            self.busy = None
        if self.state == "open" and looks_cut_off(job.command, answer):
            answer = self._check_connection() or answer
        self._send({"type": "answer", "id": job.id, "answer": answer},
                   payload)
        self.tap.flush()
        if self.state == "open":
            self._next_keepalive = self._clock() + self.keepalive_interval

    def _failure(self, error):
        """
        The answer for a camera failure; a lost connection ends the worker
        once it is answered (see L{_lose}).
        """
        answer = self.session.camera_failure(error)
        if connection_broken(answer.get("code")):
            self._lose(answer)
        return answer

    def _check_connection(self):
        """
        Whether the open session still reaches the camera: one cheap round
        trip (GetStorageInfo). libgphoto2 builds a config tree without the
        settings it could not read, so a camera that went away looks like
        one without them, and answers much of its info from a cache. Gone
        is an I/O error, or, on a USB port, a failure of any kind with the
        port no longer listed. The failure answer when it is gone (and the
        worker then ends), or L{None}.
        """
        s = self.session
        try:
            s.camera.get_storageinfo(s.context)
        except self.gp.GPhoto2Error as e:
            if connection_broken(e.code):
                answer = s.camera_failure(e)
                self._lose(answer)
                return answer
            # A USB camera pulled out fails this round trip with libgphoto2's
            # "[-1] Unspecified error" (the write fails, the ptp2 driver
            # clears the halt, retries, gives up), which a camera that is
            # there may give too; the bus tells them apart.
            gone = self._port_gone()
            if gone is not None:
                answer = s.camera_failure(e)
                answer["error"] = ("%s: %s is gone (%s)" % (
                    NOT_DETECTED, gone, answer["error"].strip()))
                answer["camera"] = "absent"
                self._lose(answer)
                return answer
        return None

    def _port_gone(self):
        """
        The path of the open session's USB port if libgphoto2 no longer
        lists it (the camera was unplugged, or came back at another
        address), else L{None}.
        """
        gp = self.gp
        try:
            path = self.session.camera.get_port_info().get_path()
            if not path.startswith("usb:"):
                return None
            ports = gp.PortInfoList()
            ports.load()
            listed = [ports[i].get_path() for i in range(len(ports))]
        except gp.GPhoto2Error:
            return None
        return None if path in listed else path

    def _lose(self, answer):
        """
        The connection of the open session is gone: stop after this
        answer, without C{Camera.exit()} (see the module's documentation).
        """
        if self.state != "open" or self.session.camera is None:
            return
        log("the connection to the camera is lost (%s); exiting without "
            "closing it" % (answer.get("error"),))
        self.abandoned.append(self.session.camera)
        self.session.camera = None
        self.live = self.warm = False
        self.state = "lost"
        self.lost = answer
        self.stopping = True

    # The session -----------------------------------------------------------

    def _ensure_open(self):
        if self.state == "open":
            return
        if self.state == "released":
            raise camconfig.Answer({
                "ok": False, "camera": "busy",
                "error": "the camera is released for another program; "
                         "open it first"})
        self._open()

    def _open(self):
        try:
            self.session.open()
        except self.gp.GPhoto2Error:
            self._close()
            raise
        self.state = "open"
        self.opened += 1
        self._next_keepalive = self._clock() + self.keepalive_interval
        if self.capture_target:
            self._set_capture_target()

    def _set_capture_target(self):
        """
        Set C{capturetarget} (C{camera.capture_target}) in the session just
        opened. A camera that refuses it still serves: the refusal is
        logged, and its captures go where the camera keeps them.
        """
        s = self.session
        try:
            widget = s.camera.get_single_config("capturetarget", s.context)
            widget.set_value(self.capture_target)
            s.camera.set_single_config("capturetarget", widget, s.context)
        except self.gp.GPhoto2Error as e:
            log("capturetarget %s was refused: %s"
                % (self.capture_target, s.error_text(e)))
        else:
            log("capturetarget set to %s" % (self.capture_target,))

    def _close(self, state="closed"):
        if (self.live or self.warm) and self.session.camera is not None:
            # End live view before the session: some bodies keep the
            # mirror up otherwise (python-gphoto2 issue 53).
            self._end_viewfinder()
        self.live = self.warm = False
        if self.session.camera is not None:
            try:
                self.session.close()
            finally:
                # libgphoto2 2.5.34 closes fd 0 on exit.
                camconfig.ensure_standard_fds()
        self.state = state

    # Live view -------------------------------------------------------------

    def _grab(self):
        s = self.session
        picture = s.camera.capture_preview(None, s.context)
        when = self._wall_clock()
        return picture.get_data_and_size(), when, picture

    def _send_frame(self, data, when):
        self.sequence += 1
        self._send({"type": "frame", "seq": self.sequence, "time": when},
                   data)

    def _schedule_frame(self):
        period = max(self.period, self.body_period)
        if not period:
            return
        now = self._clock()
        # A fixed grid, so that small lateness does not add up; a worker
        # more than a frame behind (the camera is slower) restarts it.
        if self._next_frame is None or now - self._next_frame > period:
            self._next_frame = now
        self._next_frame += period

    def _frame_came(self, ended):
        """
        A frame came at C{ended} (the worker's clock). Until the body's
        rate is known, polls come at the C{--fps} cap and frames as fast
        as the body makes them (a poll before the frame is retried inside
        libgphoto2): the mean of L{LEARN_FRAMES} intervals, pauses left
        out (a request ran), is the body's frame interval. A body's frames
        keep to its own clock, so an arrival late by a retry is followed
        by a short interval and the lateness does not add up; a median
        would be biased low by those. A frame missed (a poll delayed more
        than a frame's time: a loaded machine, or one whose CPU is capped,
        as a Raspberry Pi's is in effect, where the worker stalls now and
        then) is an interval of two frames or more: those (over
        L{MISSED_FRAME} times the median) are left out, or the body would
        be thought slower than it is for the whole session (a quarter core
        held three screens of seed 001's block to 24 fps that way). From
        then on polls come that interval plus L{LATE_MARGIN} apart: never
        before the body's next frame (no 0xA102), and a frame in a hundred
        missed.
        """
        if self.body_period or self.learned:
            return
        last, self._last_frame_at = self._last_frame_at, ended
        if last is None or ended - last > LEARN_GAP:
            return              # a pause (a request ran) is no interval
        intervals = self._intervals
        intervals.append(ended - last)
        if len(intervals) < LEARN_FRAMES:
            return
        median = sorted(intervals)[len(intervals) // 2]
        paced = [i for i in intervals if i <= median * MISSED_FRAME]
        interval = sum(paced) / len(paced)
        self.learned = True
        if interval > self.period * (1 + LATE_MARGIN):
            self.body_period = self._learned_period = (
                interval * (1 + LATE_MARGIN))
            log("the camera gives %.1f frames a second: polling at %.1f"
                % (1 / interval, 1 / self.body_period))

    def _keep_in_step(self, took, ended):
        """
        Once the body's rate is known: a poll that took clearly longer
        than the quickest of the last few was early (libgphoto2 slept and
        asked again), so the learned interval is a little short, or the
        two clocks drift apart: the next polls keep to a grid that starts
        at this frame, and the interval grows by 0.05 %. Every poll in
        time takes a fifth of that back, down to the learned interval: a
        poll slowed by something else (a loaded machine) costs a little,
        for a little while.
        """
        durations = self._durations
        durations.append(took)
        del durations[:-STEP_WINDOW]
        if not self.body_period or len(durations) < STEP_WINDOW:
            return
        if took > min(durations) + EARLY_MARGIN:
            self.early_polls += 1
            self.body_period *= 1 + STEP_GROWTH
            self._next_frame = ended + self.body_period
        else:
            self.body_period = max(self._learned_period,
                                   self.body_period * (1 - STEP_DECAY))

    def _forget_rate(self):
        self._last_frame_at = None
        self._durations[:] = []

    def _frame(self):
        self._schedule_frame()
        self.session.messages[:] = []
        self.tap.mark()
        started = self._clock()
        try:
            data, when, picture = self._grab()
        except self.gp.GPhoto2Error as e:
            answer = self._failure(e)
            self.live = False
            self._forget_rate()
            event = "live_view_stopped"
            if self.lost is None and self._check_connection() is None:
                # The session answers: only live view stopped delivering
                # (bodies do, after minutes or hours).
                event = "live_view_dead"
            log("live view stopped: %s" % (answer["error"],))
            self._send({"type": "event", "event": event, "answer": answer})
            self.tap.flush()
            return
        ended = self._clock()
        self._frame_came(ended)
        self._keep_in_step(ended - started, ended)
        self._send_frame(data, when)
        if self.sequence % 32 == 0:
            self.tap.flush()

    # Idle ------------------------------------------------------------------

    def _keepalive_due(self):
        return (self.state == "open" and self.keepalive_interval > 0
                and self._next_keepalive is not None
                and self._clock() >= self._next_keepalive)

    def _keepalive_tick(self):
        self._next_keepalive = self._clock() + self.keepalive_interval
        self.session.messages[:] = []
        self.tap.mark()
        try:
            self._wait_for_event(KEEPALIVE_WAIT_MS)
        except self.gp.GPhoto2Error as e:
            answer = self._failure(e)
            log("keepalive failed: %s" % (answer["error"],))
            if self.lost is None:
                answer = self._check_connection() or answer
            if self.lost is not None:
                self._send({"type": "event", "event": "camera_lost",
                            "answer": answer})
        self.tap.flush()

    def _wait_for_event(self, timeout_ms):
        s = self.session
        kind, data = s.camera.wait_for_event(int(timeout_ms), s.context)
        name = self.event_names.get(kind, str(kind))
        if kind == self.gp.GP_EVENT_TIMEOUT:
            return []
        event = {"event": name}
        if kind in (self.gp.GP_EVENT_FILE_ADDED,
                    self.gp.GP_EVENT_FOLDER_ADDED,
                    self.gp.GP_EVENT_FILE_CHANGED):
            event["path"] = _join(data.folder, data.name)
        elif isinstance(data, str):
            event["text"] = data
        return [event]

    # Commands --------------------------------------------------------------

    def do_open(self):
        if self.state != "open":
            self._open()
        return {"ok": True, "state": self.state, "port": self.session.port,
                "driver_model": self.session.camera.get_abilities().model,
                "sessions": self.opened}

    def do_release(self):
        self._close("released")
        return {"ok": True, "state": self.state}

    def do_get(self, section, option):
        self._ensure_open()
        return camconfig.command_get(self.session, section, option)

    def do_set(self, section, option, value):
        self._ensure_open()
        # As the camconfig command line takes it: a JSON literal.
        return camconfig.command_set(self.session, section, option,
                                     json.dumps(value))

    def do_apply(self, pairs):
        self._ensure_open()
        return camconfig.command_apply(self.session, *pairs)

    def do_list(self):
        self._ensure_open()
        return camconfig.command_list(self.session)

    def do_info(self):
        """
        The camera's info, after one round trip to it: libgphoto2 answers
        much of the info from what it read when the session opened, so
        that alone would not notice a camera that has gone (the server's
        health probe relies on this).
        """
        self._ensure_open()
        lost = self._check_connection()
        if lost is not None:
            return lost
        return camconfig.command_info(self.session)

    def do_resolve(self, name):
        self._ensure_open()
        return camconfig.command_resolve(self.session, name)

    def do_values(self, names):
        self._ensure_open()
        return camconfig.command_values(self.session, *names)

    def do_capture(self, settings=(), mode=()):
        """
        Set C{mode} and then C{settings} (C{(name, text)} pairs, looked up
        as apply does), capture, download, and put every setting back, in
        this session. A refused setting puts back those already set and
        answers the refusal without capturing; a refused C{mode} setting
        (the server's configured capture mode, which must never stop a
        photo) is only reported, in C{mode_errors}.
        """
        self._ensure_open()
        s = self.session
        gp = self.gp
        tree = s.get_config() if settings or mode else None
        applied = []            # (name, widget, old value)
        taken = []
        mode_errors = []
        wanted = [(name, value, True) for name, value in mode] + [
            (name, value, False) for name, value in settings]
        for name, value, tolerated in wanted:
            widget = s.find_name(tree, name)
            if widget is None:
                if tolerated:
                    mode_errors.append("%s: no setting called %r"
                                       % (name, name))
                    continue
                self._put_back(tree, applied)
                return {"ok": False, "reason": "unknown-name", "name": name,
                        "error": "%s: no setting called %r" % (name, name)}
            described = s.describe(widget)
            try:
                after = s.write(tree, widget, value)
            except camconfig.Refused as e:
                if tolerated:
                    mode_errors.append("%s: %s" % (name, e.message))
                    continue
                errors = self._put_back(tree, applied)
                answer = camconfig.refusal(described, e, name=name)
                answer["restore_errors"] = errors
                return answer
            applied.append((name, widget, described.get("value")))
            if not tolerated:
                taken.append({"name": name, "value": after.get("value"),
                              "restored": described.get("value")})
        try:
            try:
                path = self._release()
            except gp.GPhoto2Error as e:
                if not connection_broken(e.code):
                    self._say_if_card_full()
                raise
            photo = s.camera.file_get(path.folder, path.name,
                                      gp.GP_FILE_TYPE_NORMAL, None,
                                      s.context)
            # A copy: the buffer is the CameraFile's, freed with it before
            # the answer is written.
            data = bytes(memoryview(photo.get_data_and_size()))
        finally:
            errors = self._put_back(tree, applied)
        return ({"ok": True, "folder": path.folder, "name": path.name,
                 "path": _join(path.folder, path.name),
                 "size": len(data),
                 "mime": photo.get_mime_type(), "settings": taken,
                 "mode_errors": mode_errors,
                 "restore_errors": errors}, data)

    def _release(self):
        """
        Take the picture; a camera that answers busy before it took it
        ("I/O in progress") is asked again, twice at most.
        """
        s = self.session
        gp = self.gp
        for attempt in range(BUSY_RETRIES + 1):
            try:
                return s.camera.capture(gp.GP_CAPTURE_IMAGE, s.context)
            except gp.GPhoto2Error as e:
                if (e.code != gp.GP_ERROR_CAMERA_BUSY
                        or attempt == BUSY_RETRIES):
                    raise
                log("the camera is busy (%s); capturing again" % (e,))
                time.sleep(BUSY_RETRY_DELAY)

    def _say_if_card_full(self):
        """
        After a failed capture: add "the camera's card is full" to what
        libgphoto2 said, if it is and the photo was to go there.
        python-gphoto2's libgphoto2 (2.5.34) fails a Canon EOS release to a
        full card with a bare "[-1] Unspecified error" (the gphoto2 CLI
        says "PTP Store Full").
        """
        s = self.session
        gp = self.gp
        try:
            try:
                target = s.camera.get_single_config("capturetarget",
                                                    s.context)
                if target.get_value() == "Internal RAM":
                    return
            except gp.GPhoto2Error:
                pass
            storages = s.camera.get_storageinfo(s.context)
        except gp.GPhoto2Error:
            return
        free = [info.freekbytes for info in storages
                if info.fields & gp.GP_STORAGEINFO_FREESPACEKBYTES]
        if free and not any(free):
            s.messages.append("the camera's card is full (PTP Store Full)")

    def _put_back(self, tree, applied):
        """
        Give the settings in C{applied} their old values, last first;
        failures are answered, not raised: the photo is what matters.
        """
        errors = []
        for name, widget, old in reversed(applied):
            if old is None or self.session.camera is None:
                errors.append("%s: not put back to %s" % (
                    name, camconfig.show(old)))
                continue
            try:
                self.session.write(tree, widget, old)
            except camconfig.Refused as e:
                errors.append("%s: %s" % (name, e.message))
            except self.gp.GPhoto2Error as e:
                errors.append("%s: %s" % (name, self.session.error_text(e)))
                if connection_broken(e.code):
                    self._lose(self.session.camera_failure(e))
                    break
        return errors

    def do_delete(self, path):
        self._ensure_open()
        folder, _, name = path.rpartition("/")
        s = self.session
        s.camera.file_delete(folder or "/", name, s.context)
        return {"ok": True, "path": path}

    def do_live_view_on(self, revive=None):
        self._ensure_open()
        if not self.live:
            warm, self.warm = self.warm, False
            if revive is not None:
                self._toggle(revive)
                warm = False
            self._next_frame = None
            self._forget_rate()
            self._schedule_frame()
            try:
                data, when, picture = self._grab()
            except self.gp.GPhoto2Error as e:
                if not warm or connection_broken(e.code):
                    raise
                # The viewfinder kept warm stopped delivering while nobody
                # polled it (bodies' live view dies after a while, polled
                # or not): what a cold start does, at once, in this
                # session, rather than a death reported at the first
                # viewer's arrival.
                log("the warm viewfinder gave no frame (%s); turning it "
                    "off and on" % (self.session.error_text(e),))
                self._toggle("viewfinder")
                data, when, picture = self._grab()
            self._send_frame(data, when)
            self.live = True
        return {"ok": True, "live_view": True, "seq": self.sequence,
                "warm": warm}

    def _toggle(self, how):
        """
        Switch C{how} (a key of L{REVIVE_TOGGLES}) off and on again; a
        body without it answers the failure, as any camera call does.
        """
        if how not in REVIVE_TOGGLES:
            raise camconfig.Answer({"ok": False, "reason": "bad-request",
                                    "error": "no such revival: %r" % (how,)})
        name, off, on = REVIVE_TOGGLES[how]
        s = self.session
        widget = s.camera.get_single_config(name, s.context)
        if on is None:
            on = widget.get_value()
            if on == off:
                on = "PC"
        widget.set_value(off)
        s.camera.set_single_config(name, widget, s.context)
        widget.set_value(on)
        s.camera.set_single_config(name, widget, s.context)
        log("live view revival: %s toggled" % (name,))

    def do_live_view_off(self, keep=False):
        if self.live or self.warm:
            self.live = False
            self.warm = bool(keep)
            if not keep:
                self._end_viewfinder()
        return {"ok": True, "live_view": False, "warm": self.warm}

    def _end_viewfinder(self):
        """
        Turn the viewfinder (EVF) off on bodies that have the toggle
        (Canon EOS, Nikon): the gphoto2 CLI's live view ended with its
        process, which did the same on exit.
        """
        s = self.session
        gp = self.gp
        try:
            widget = s.camera.get_single_config("viewfinder", s.context)
            if s.kind(widget) != "toggle" or widget.get_value() != 1:
                return
            widget.set_value(0)
            s.camera.set_single_config("viewfinder", widget, s.context)
        except gp.GPhoto2Error as e:
            if connection_broken(e.code):
                self._lose(s.camera_failure(e))

    def do_keepalive(self, timeout=KEEPALIVE_WAIT_MS):
        self._ensure_open()
        return {"ok": True, "events": self._wait_for_event(timeout)}

    def status(self):
        """
        Answered by the main thread, at once.
        """
        return {"ok": True, "state": self.state, "live_view": self.live,
                "warm": self.warm, "busy": self.busy,
                "frames": self.sequence,
                "sessions": self.opened}


def _join(folder, name):
    return folder.rstrip("/") + "/" + name


# The process -------------------------------------------------------------

class Stopped(BaseException):
    def __init__(self, signum):
        BaseException.__init__(self, signum)
        self.signum = signum


def _stop(signum, frame):
    raise Stopped(signum)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m fourcut.camera.child.worker",
        description="Hold one python-gphoto2 camera session; requests and "
                    "live view frames on stdin/stdout (see the module's "
                    "documentation).")
    parser.add_argument("--port", help="gphoto2 port, e.g. "
                        "ptpip:127.0.0.1:15740 (default: auto-detect)")
    parser.add_argument("--model", help="gphoto2 camera model, e.g. "
                        "'PTP/IP Camera' (default: auto-detect)")
    parser.add_argument("--fps", type=float, default=DEFAULT_FPS,
                        help="most live view frames a second (0: as fast "
                        "as the camera gives them)")
    parser.add_argument("--capture-target", help="the capturetarget value "
                        "to set whenever the camera is opened, e.g. "
                        "'Memory card' (default: leave the camera's)")
    parser.add_argument("--keepalive", type=float, default=DEFAULT_KEEPALIVE,
                        help="seconds between event polls while idle "
                        "(0: never)")
    return parser.parse_args(argv)


def _take_pipes():
    """
    Move the request and message pipes off fds 0 and 1, and point 0 at
    /dev/null: libgphoto2 may close fd 0 and print on fd 1.
    """
    requests = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    messages = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    real_stderr = fcntl.fcntl(2, fcntl.F_DUPFD_CLOEXEC, 3)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.close(null)
    return requests, messages, real_stderr


def serve(worker, thread, requests, output):
    """
    Read requests until EOF; hand them to the camera thread.

    @return: the exit status.
    """
    decoder = wire.Decoder(max_header=1024 * 1024, max_payload=0)
    while thread.is_alive():
        ready, _, _ = select.select([requests], [], [], 0.5)
        if not ready:
            continue
        try:
            data = os.read(requests, 65536)
        except OSError as e:
            data = b""
            log("reading requests: %s" % (e,))
        if not data:
            return finish(worker, thread, "the server closed the pipe")
        try:
            messages = decoder.feed(data)
        except wire.WireError as e:
            log("garbage on the request pipe (%s); exiting" % (e,))
            return EXIT_GARBAGE
        for header, _ in messages:
            checked = check_request(header)
            if len(checked) == 2:
                request_id, error = checked
                output.send({"type": "answer", "id": request_id, "answer": {
                    "ok": False, "reason": "bad-request",
                    "error": "camera worker: " + error}})
                continue
            request_id, command, fields = checked
            if command == "status":
                output.send({"type": "answer", "id": request_id,
                             "answer": worker.status()})
                continue
            worker.submit(Job(request_id, command, fields))
    return finish(worker, thread, "the camera thread ended")


def finish(worker, thread, why, grace=CLOSE_GRACE):
    """
    Stop the camera thread politely; the exit status.
    """
    busy = worker.busy
    worker.stop()
    thread.join(grace)
    if thread.is_alive():
        log("%s; ending without closing the camera (busy with %s)"
            % (why, busy or "a camera call"))
        return EXIT_NOT_CLOSED
    if worker.lost is not None:
        return EXIT_CAMERA_LOST
    log("%s; camera closed" % (why,))
    return EXIT_STOPPED


def main(argv=None):
    global _real_stderr
    camconfig.ensure_standard_fds()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    requests, messages, _real_stderr = _take_pipes()
    output = Output(messages)
    # SIGTERM keeps its default action: immediate, GIL or not.
    signal.signal(signal.SIGINT, _stop)
    tap = None
    worker = None
    status = EXIT_STOPPED
    try:
        tap = StderrTap(_real_stderr)
        try:
            gp = camconfig.load_gphoto2()
        except camconfig.Answer as e:
            log(e.fields["error"])
            output.send(dict(e.fields, type="hello", protocol=PROTOCOL))
            status = EXIT_NO_GPHOTO2
            return status
        worker = CameraWorker(gp, args.port, args.model, output, tap,
                              fps=args.fps, keepalive=args.keepalive,
                              capture_target=args.capture_target)
        thread = threading.Thread(target=worker.run, name="camera",
                                  daemon=True)
        thread.start()
        output.send({"type": "hello", "ok": True, "protocol": PROTOCOL,
                     "pid": os.getpid(), "port": args.port,
                     "model": args.model,
                     "python_gphoto2": getattr(gp, "__version__", None),
                     "libgphoto2": gp.gp_library_version(
                         gp.GP_VERSION_SHORT)[0]})
        try:
            status = serve(worker, thread, requests, output)
        except Stopped:
            try:
                status = finish(worker, thread, "stopped by SIGINT")
            except Stopped:
                log("stopped by a second SIGINT")
                status = EXIT_NOT_CLOSED
        except OSError as e:
            # The message pipe is gone: so is the server.
            log("the server went away: %s" % (e,))
            status = finish(worker, thread, "the server went away")
    except Stopped as e:
        status = 128 + e.signum
    finally:
        if tap is not None:
            tap.flush()
        os._exit(status)


if __name__ == "__main__":
    main()
