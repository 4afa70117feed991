# -*- test-case-name: tests.integration.test_bench -*-
"""
The benchmark's child processes, and what C{/proc} says about them.

Every child is started here and ended here, by its own PID: SIGINT first
(gphoto2 and twistd shut down cleanly on it), then SIGTERM, then SIGKILL,
each after a timeout. Children are also ended from C{atexit}, and each
asks the kernel for SIGTERM should the benchmark die without cleaning up
(C{PR_SET_PDEATHSIG}). Children get their own session, so a Ctrl-C in the
terminal reaches only the benchmark, which then stops them in order.
"""

import atexit
import ctypes
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import tempfile
import time

import fourcut
from fourcut.virtualcam.camera import GPHOTO2_MODEL

__all__ = ["ChildError", "checkout_root", "child_env", "free_port",
           "twistd_argv", "gphoto2_argv", "cpu_seconds", "memory",
           "reaped_cpu_seconds", "camera_cpu", "camera_cpu_between",
           "proportional_bytes",
           "children_of", "camera_children", "command_name", "machine",
           "RSSSampler", "signal_pid", "Child", "track_stray", "end_strays",
           "end_all", "terminate_as_interrupt", "start_camera",
           "start_usb_camera", "camera_gphoto2", "start_server", "start_relay"]

LOOPBACK = "127.0.0.1"

#: Seconds after SIGINT, then after SIGTERM, before the next signal.
STOP_GRACE = (5.0, 2.0)

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1


class ChildError(Exception):
    """
    A child did not start, or said something unexpected.
    """


def checkout_root():
    """
    The directory holding the C{fourcut} package in use, put first on the
    children's C{PYTHONPATH} so that they run the same code.
    """
    return os.path.dirname(os.path.dirname(os.path.abspath(
        fourcut.__file__)))


def child_env(extra=None):
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    root = checkout_root()
    env["PYTHONPATH"] = root + (os.pathsep + path if path else "")
    # gphoto2's messages in English, Python's output unbuffered.
    env.update(LANG="C", LC_ALL="C", LANGUAGE="C", PYTHONUNBUFFERED="1")
    if extra:
        env.update(extra)
    return env


def free_port():
    """
    A TCP port on the loopback interface that nothing listens on right
    now (the caller must cope with losing a race for it).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def twistd_argv():
    """
    How to run twistd with this interpreter.
    """
    beside = os.path.join(os.path.dirname(sys.executable), "twistd")
    if os.access(beside, os.X_OK):
        return [beside]
    return [sys.executable, "-c",
            "import sys; from twisted.scripts.twistd import run; "
            "sys.argv[0] = 'twistd'; sys.exit(run())"]


def gphoto2_argv(camera_port, *args):
    return ["gphoto2", "--camera", GPHOTO2_MODEL, "--port", camera_port] \
        + list(args)


def _die_with_parent():
    """
    In the child, before exec: SIGTERM us if the benchmark dies.
    """
    # Ignored signals stay ignored across exec; see terminate_as_interrupt.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except Exception:
        pass


# /proc -------------------------------------------------------------------

def _stat_seconds(pid, first):
    """
    Fields C{first} and C{first + 1} of C{/proc/PID/stat} (counted from 0
    after "pid (comm)", whose name may hold spaces), added, in seconds;
    L{None} if C{pid} is gone.
    """
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat.rsplit(b")", 1)[1].split()
    return (int(fields[first]) + int(fields[first + 1])) / _CLOCK_TICKS


def cpu_seconds(pid):
    """
    User plus system CPU seconds C{pid} has used (fields 14 and 15 of
    proc(5)), or L{None} if it is gone.
    """
    return _stat_seconds(pid, 11)


def reaped_cpu_seconds(pid):
    """
    User plus system CPU seconds of the children C{pid} has waited for
    (C{cutime} + C{cstime}, fields 16 and 17 of proc(5)): what a child
    that ended and was reaped used, which its own C{/proc} entry no longer
    tells; L{None} if C{pid} is gone.
    """
    return _stat_seconds(pid, 13)


def camera_cpu(parents):
    """
    What the camera processes of C{parents} (see L{camera_children}) have
    used so far, for L{camera_cpu_between}: C{{"live": {pid: seconds},
    "reaped": {parent: seconds}}}.
    """
    live = {}
    for parent in parents:
        for child in camera_children(parent):
            seconds = cpu_seconds(child)
            if seconds is not None:
                live[child] = seconds
    return {"live": live,
            "reaped": {parent: reaped_cpu_seconds(parent)
                       for parent in parents}}


def camera_cpu_between(begin, end):
    """
    CPU seconds the camera processes used between two L{camera_cpu}
    readings, counting those that started or ended (and were reaped by
    their parent) in between: a gphoto2 child restarted in the window is
    measured, not lost. L{None} if there was no camera process at either
    end, or a parent went away.
    """
    if not begin["live"] and not end["live"]:
        return None
    if None in begin["reaped"].values() or None in end["reaped"].values():
        return None
    used = 0.0
    for pid, seconds in end["live"].items():
        used += seconds - begin["live"].get(pid, 0.0)
    for pid, seconds in begin["live"].items():
        if pid not in end["live"]:
            # Ended: its whole use is in its parent's reaped total.
            used -= seconds
    used += sum(end["reaped"][parent] - begin["reaped"][parent]
                for parent in end["reaped"])
    return used


def proportional_bytes(pid):
    """
    C{pid}'s proportional set size (C{Pss} in C{/proc/PID/smaps_rollup}):
    its resident pages, each shared page divided among the processes
    that map it. Summed over a server and its camera worker it counts
    the pages both map (the Python library, the C library) once, where
    their resident sizes count them twice. L{None} if C{pid} is gone.
    """
    try:
        with open("/proc/%d/smaps_rollup" % pid, "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory(pid):
    """
    C{{"rss": bytes, "peak": bytes}} from C{/proc/PID/status} (VmRSS and
    VmHWM, the kernel's own high-water mark), or L{None} if it is gone.
    """
    try:
        with open("/proc/%d/status" % pid, "rb") as f:
            status = f.read()
    except OSError:
        return None
    found = {}
    for line in status.splitlines():
        if line.startswith(b"VmRSS:"):
            found["rss"] = int(line.split()[1]) * 1024
        elif line.startswith(b"VmHWM:"):
            found["peak"] = int(line.split()[1]) * 1024
    return found if len(found) == 2 else None


def children_of(pid):
    """
    PIDs whose parent is C{pid}, with their command names.
    """
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        head, _, tail = stat.rpartition(b")")
        fields = tail.split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found[int(entry)] = head.split(b"(", 1)[1].decode(
                "ascii", "replace")
    return found


def camera_children(pid):
    """
    PIDs of C{pid}'s children that talk to the camera: gphoto2 CLI
    children and fourcut's camera worker.
    """
    found = []
    for child, name in children_of(pid).items():
        if name == "gphoto2":
            found.append(child)
            continue
        try:
            with open("/proc/%d/cmdline" % child, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"fourcut.camera.child.worker" in argv:
            found.append(child)
    return found


def command_name(pid):
    try:
        with open("/proc/%d/comm" % pid, "rb") as f:
            return f.read().strip().decode("ascii", "replace")
    except OSError:
        return None


def machine():
    """
    What the benchmark ran on.
    """
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        gphoto2 = subprocess.run(
            ["gphoto2", "--version"], capture_output=True, timeout=10,
            env=child_env()).stdout.decode().split("\n")[0].strip()
    except Exception:
        gphoto2 = None
    try:
        import twisted
        twisted_version = twisted.__version__
    except Exception:
        twisted_version = None
    try:
        with open("/proc/meminfo") as f:
            memory_kb = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        memory_kb = None
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory_kb / 1024 ** 2, 1) if memory_kb else None,
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "kernel": os.uname().release,
        "twisted": twisted_version,
        "gphoto2": gphoto2,
        "fourcut": fourcut.__version__,
    }


class RSSSampler:
    """
    Samples a process's resident set every C{interval} seconds in a
    thread, to tell when its peak happened.
    """

    def __init__(self, pid, interval=0.05):
        self.pid = pid
        self.interval = interval
        self.samples = []           # (wall seconds, bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="rss-%d" % pid)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            found = memory(self.pid)
            if found is None:
                break
            self.samples.append((time.time(), found["rss"]))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(2.0)

    def peak(self, since=None, until=None):
        """
        C{(wall seconds, bytes)} of the largest sample in the interval.
        """
        chosen = [s for s in self.samples
                  if (since is None or s[0] >= since)
                  and (until is None or s[0] <= until)]
        return max(chosen, key=lambda s: s[1]) if chosen else None


# Children ----------------------------------------------------------------

_running = {}        # pid -> Child, for atexit
_strays = {}         # pid -> expected command name (a client's gphoto2)


def signal_pid(pid, sig):
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


class Child:
    """
    One child process whose output (stdout and stderr together) goes to a
    log file and, line by line, to a queue that L{expect} reads.
    """

    def __init__(self, name, argv, log_path, env=None, stdin=False,
                 cwd=None):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self._lines = queue.Queue()
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env if env is not None else child_env(), cwd=cwd,
            start_new_session=True, preexec_fn=_die_with_parent)
        self.pid = self.proc.pid
        _running[self.pid] = self
        self._reader = threading.Thread(target=self._read, daemon=True,
                                        name="read-%s" % name)
        self._reader.start()

    def _read(self):
        for line in iter(self.proc.stdout.readline, b""):
            self._log.write(line)
            self._log.flush()
            self._lines.put(line.decode("utf-8", "replace").rstrip("\n"))
        self._lines.put(None)

    def expect(self, predicate, timeout, what):
        """
        Read output lines until C{predicate(line)} is true; return that
        line. Raises L{ChildError} on timeout or if the child's output ends.
        """
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildError("%s: no %s within %gs (log: %s)"
                                 % (self.name, what, timeout, self.log_path))
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self._lines.put(None)
                raise ChildError("%s exited (%s) before %s (log: %s)"
                                 % (self.name, self.proc.wait(),
                                    what, self.log_path))
            if predicate(line):
                return line

    def send(self, line):
        self.proc.stdin.write(line.encode("ascii") + b"\n")
        self.proc.stdin.flush()

    def alive(self):
        return self.proc.poll() is None

    def stop(self, grace=STOP_GRACE):
        """
        End the child by its PID: SIGINT, SIGTERM, SIGKILL. Returns its
        exit status.
        """
        try:
            for sig, wait in ((signal.SIGINT, grace[0]),
                              (signal.SIGTERM, grace[1]),
                              (signal.SIGKILL, 10.0)):
                if self.proc.poll() is not None:
                    break
                signal_pid(self.pid, sig)
                try:
                    self.proc.wait(wait)
                except subprocess.TimeoutExpired:
                    continue
            return self.proc.poll()
        finally:
            if self.proc.stdin is not None:
                try:
                    self.proc.stdin.close()
                except OSError:
                    pass
            self._reader.join(2.0)
            self._log.close()
            _running.pop(self.pid, None)

    def tail(self, count=20):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-count:])
        except OSError:
            return ""


def track_stray(pid, name="gphoto2"):
    """
    Remember a grandchild (a client process's gphoto2) so that it is ended
    if its parent fails to.
    """
    _strays[pid] = name


def end_strays():
    """
    End remembered grandchildren that are still there, by PID, checking
    the PID still names the same program.
    """
    for pid, name in list(_strays.items()):
        if command_name(pid) == name:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
                if not signal_pid(pid, sig):
                    break
                for _ in range(20):
                    if command_name(pid) != name:
                        break
                    time.sleep(0.1)
                else:
                    continue
                break
        _strays.pop(pid, None)


def end_all():
    """
    End every child still running, newest first.
    """
    for pid in sorted(_running, reverse=True):
        child = _running.get(pid)
        if child is not None:
            child.stop(grace=(2.0, 1.0))
    end_strays()


atexit.register(end_all)


def terminate_as_interrupt():
    """
    Make SIGINT and SIGTERM raise KeyboardInterrupt, so that the
    benchmark's finally blocks end its children.

    SIGINT matters for the children too: a shell without job control
    starts background commands with SIGINT ignored, children inherit that,
    and Twisted then leaves it ignored, so our SIGINT would not stop them.
    A handled signal is reset to its default at exec.
    """
    def handler(signum, frame):
        raise KeyboardInterrupt("SIGTERM")
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


# The camera and the server -----------------------------------------------

def start_camera(workdir, name="camera", fps=30.0, quality=85,
                 shutter_delay=0.5, timeout=30.0):
    """
    Start C{python -m fourcut.virtualcam} on a free loopback port.

    @return: the L{Child}, with C{.port} the gphoto2 port string and
        C{.env} a C{HOME} of its own for gphoto2 CLI children (libgphoto2
        remembers the last port in it).
    """
    argv = [sys.executable, "-m", "fourcut.virtualcam",
            "--listen", "tcp:0:interface=%s" % LOOPBACK,
            "--fps", repr(float(fps)), "--quality", str(quality),
            "--shutter-delay", repr(float(shutter_delay))]
    child = _camera_child(workdir, name, argv, "ptpip:", timeout)
    child.env = {"HOME": _private_home()}
    return child


def _private_home():
    """
    A new empty directory, removed when the benchmark exits: a gphoto2
    child's HOME.
    """
    directory = tempfile.mkdtemp(prefix="fourcut-bench-home-")
    atexit.register(shutil.rmtree, directory, True)
    return directory


def _camera_child(workdir, name, argv, prefix, timeout):
    """
    Start a virtual camera C{argv} and wait for the line naming its port
    (it starts with C{prefix}); C{.port} is that line.
    """
    child = Child(name, argv, os.path.join(workdir, name + ".log"))
    try:
        child.port = child.expect(lambda line: line.startswith(prefix),
                                  timeout, "port line")
    except BaseException:
        child.stop()
        raise
    return child


def start_usb_camera(workdir, name="camera", body="700D",
                     profile="realistic", timeout=30.0, fps=30.0, extra=()):
    """
    Start C{python -m fourcut.virtualcam --usb} as a Canon EOS C{body} with
    the C{profile} timing: a camera on the USB path, auto-detected.

    @param fps: its live view rate; 0 = unpaced; L{None}: the profile's
        (the body's own on the lifelike profile).
    @param extra: more command line arguments (faults).
    @return: the L{Child}, with C{.socket} its Unix socket and C{.env} the
        variables a gphoto2 CLI child needs to see it (and a C{HOME} of
        its own: libgphoto2 remembers ports there).
    """
    from fourcut.virtualcam import usbport
    directory = tempfile.mkdtemp(prefix="fourcut-bench-")
    atexit.register(shutil.rmtree, directory, True)
    socket_path = os.path.join(directory, "camera.sock")
    home = os.path.join(directory, "home")
    os.mkdir(home)
    argv = [sys.executable, "-m", "fourcut.virtualcam", "--usb",
            socket_path, "--personality", "eos", "--model", body,
            "--profile", profile] + (
        [] if fps is None else ["--fps", repr(float(fps))]) + list(extra)
    child = _camera_child(workdir, name, argv, "usb:", timeout)
    child.socket = socket_path
    child.env = usbport.child_env(socket_path, usbport.CLI, {"HOME": home})
    return child


def camera_gphoto2(camera, *args):
    """
    A gphoto2 CLI child for C{camera} (a L{start_camera} or
    L{start_usb_camera} child): C{(argv, env)}, C{env} the variables to
    add to the benchmark's own. A USB camera is auto-detected, as a booth
    finds its body; a PTP/IP one is named.
    """
    if getattr(camera, "socket", None):
        return ["gphoto2"] + list(args), dict(camera.env)
    return gphoto2_argv(camera.port, *args), dict(camera.env)


def start_server(workdir, camera_port, name="server", timeout=30.0,
                 attempts=3, usb_socket=None, config=None,
                 interface=LOOPBACK, env=None):
    """
    Start C{twistd -n fourcut} on a free loopback port for C{camera_port};
    retry with another port if it is taken before twistd gets it.

    @param config: a dict written as its YAML config file (C{{"camera":
        {"driver": "cli"}}}), or L{None}.
    @param interface: the address it listens on: the loopback, or
        C{0.0.0.0} inside the slow-link scenario's own network namespace
        (its loopback and the links to the slow clients, nothing else).
    @param env: more environment variables for it (a C{PYTHONPATH} naming
        another checkout of fourcut runs that one).
    @return: the L{Child}, with C{.http_port}.
    """
    photos = os.path.join(workdir, name + "-photos")
    os.makedirs(photos, exist_ok=True)
    config_args = []
    if config:
        import yaml
        path = os.path.join(workdir, name + ".yaml")
        with open(path, "w") as f:
            yaml.safe_dump(config, f)
        config_args = ["--config", path]
    last = None
    for attempt in range(attempts):
        port = free_port()
        argv = twistd_argv() + ["-n", "--pidfile=", "fourcut"]
        extra = dict(env or {})
        if usb_socket is None:
            argv += ["--camera-port", camera_port,
                     "--camera-model", GPHOTO2_MODEL]
        else:
            # Auto-detected on the USB path, as a real body is.
            extra["FOURCUT_VUSB_SOCKET"] = usb_socket
        child_environ = child_env(extra) if extra else None
        argv += ["--listen", "tcp:%d:interface=%s" % (port, interface),
                 "--photos", photos] + config_args
        child = Child(name, argv, os.path.join(workdir, name + ".log"),
                      env=child_environ, cwd=workdir)
        # "Site starting on N", or "Site (ConnectionLimits) starting on N"
        # with the connection limits wrapped around it.
        started = " starting on %d" % port
        try:
            line = child.expect(lambda line: started in line
                                or "CannotListenError" in line
                                or "Address already in use" in line,
                                timeout, "'%s'" % started)
        except ChildError as e:
            child.stop()
            last = e
            continue
        except BaseException:
            child.stop()
            raise
        if started in line and child.alive() and _listening(port):
            child.http_port = port
            return child
        child.stop()
        last = ChildError("%s could not listen on port %d (attempt %d)"
                          % (name, port, attempt + 1))
    raise last


def _listening(port, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1.0):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def start_relay(workdir, camera, name="relay", timeout=30.0):
    """
    Start the minimal asyncio relay (L{fourcut.bench.relay}) on a free
    loopback port, reading C{gphoto2 --capture-movie --stdout} from
    C{camera} (see L{camera_gphoto2}).

    @return: the L{Child}, with C{.http_port}; its gphoto2 child is
        tracked as a stray so that it is ended should the relay fail to.
    """
    gphoto2, env = camera_gphoto2(camera, "--capture-movie", "--stdout")
    argv = [sys.executable, "-m", "fourcut.bench.relay", "0"] + gphoto2
    child = Child(name, argv, os.path.join(workdir, name + ".log"),
                  env=child_env(env))
    try:
        line = child.expect(lambda line: line.startswith("RELAY LISTENING"),
                            timeout, "RELAY LISTENING")
        child.http_port = int(line.split()[2])
        line = child.expect(lambda line: line.startswith("BENCH PID"),
                            timeout, "its gphoto2 PID")
        track_stray(int(line.split()[2]))
    except BaseException:
        child.stop()
        raise
    return child
