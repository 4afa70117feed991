# -*- test-case-name: tests.virtualcam.test_usb_transport -*-
"""
Where fourcut's USB port library is and the environment a gphoto2 child
needs to see the virtual USB camera.

libgphoto2_port loads every library in the directory named by C{IOLIBS},
and takes only the first library of each port type. So the child's
C{IOLIBS} is a directory of our own: C{fourcut_usb.so} plus links to the
stock libraries for the other port types (PTP/IP, disk, serial, ...), and
not the stock C{usb1.so}. The gphoto2 CLI (Debian's libgphoto2) and
python-gphoto2 (the wheel bundles its own libgphoto2) have their stock
libraries in different places, so each gets its own directory; the same
C{fourcut_usb.so} (built against Debian's headers; the two versions'
port-library interface is the same) loads in both.

This module imports nothing heavy: a python-gphoto2 child calls
L{restore_iolibs} right after C{import gphoto2}, which overwrites C{IOLIBS}
with the wheel's own directory::

    import gphoto2 as gp
    from fourcut.virtualcam.usbport import restore_iolibs; restore_iolibs()

The library is built into C{fourcut/virtualcam/iolib/fourcut_usb.so} by
C{./dev build_iolib} for a checkout and by C{setup.py}'s build step for
an installed package (C{pip install}, a wheel, an sdist), so it is found
from both; C{FOURCUT_VUSB_LIBRARY} overrides the path.
"""

import atexit
import glob
import importlib.util
import os
import re
import shutil
import tempfile

__all__ = [
    "PORT", "SOCKET_ENV", "CLI", "PYTHON", "MissingLibrary", "library_path",
    "check",
    "stock_iolibs", "iolibs_dir", "child_env", "restore_iolibs",
    "made_iolibs", "remove_iolibs", "remove_abandoned_iolibs",
]

#: The port the virtual camera appears at.
PORT = "usb:001,007"
#: The variable the port library reads the camera's socket path from.
SOCKET_ENV = "FOURCUT_VUSB_SOCKET"
#: Where a python-gphoto2 child finds the IOLIBS to put back after import.
RESTORE_ENV = "FOURCUT_IOLIBS"
LIBRARY_ENV = "FOURCUT_VUSB_LIBRARY"
LIBRARY_NAME = "fourcut_usb.so"

#: The two libgphoto2s a child may load.
CLI = "cli"          # the gphoto2 command line, the system's libgphoto2
PYTHON = "python"    # python-gphoto2, the wheel's own libgphoto2

#: Stock port libraries kept next to ours (never usb1.so: a second USB
#: library would be skipped as "already loaded", or would win).
STOCK_LIBRARIES = ("ptpip", "disk", "serial", "usbdiskdirect", "usbscsi")

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "iolib",
                      "fourcut_usb.c")
BUILT = os.path.join(os.path.dirname(SOURCE), LIBRARY_NAME)
#: Left by setup.py in BUILT's place when it could not build it.
NOTE = os.path.join(os.path.dirname(SOURCE), "fourcut_usb.missing")

_dirs = {}


class MissingLibrary(RuntimeError):
    """
    The port library or a libgphoto2's stock libraries are not there.
    """


def library_path():
    """
    The built C{fourcut_usb.so}.

    @raise MissingLibrary: if it has not been built, saying why when the
        install left a note (C{fourcut_usb.missing}: C{setup.py} writes
        what was missing, gcc or libgphoto2's headers, in its place).
    """
    path = os.environ.get(LIBRARY_ENV) or BUILT
    if os.path.isfile(path):
        return path
    advice = ("or use camera.virtual_transport: ptpip, which needs no "
              "library")
    try:
        with open(NOTE, encoding="utf-8") as f:
            missing = f.read().strip()
    except OSError:
        raise MissingLibrary(
            "%s is missing: build it with ./dev build_iolib, or reinstall "
            "fourcut with gcc and libgphoto2's headers present (Debian: "
            "gcc, libgphoto2-dev), %s" % (path, advice))
    raise MissingLibrary(
        "fourcut's USB port library (%s) was not built when fourcut was "
        "installed: no %s; install it and reinstall fourcut, %s"
        % (LIBRARY_NAME, missing, advice))


def check():
    """
    Check that a gphoto2 child and a python-gphoto2 child can be given the
    virtual USB camera: C{fourcut_usb.so} and both libgphoto2s' stock port
    libraries are there. Cheap, and without side effects, so that
    C{twistd fourcut} can end at start rather than at the first capture.

    @raise MissingLibrary: naming what is missing.
    """
    library_path()
    for flavour in (CLI, PYTHON):
        stock_iolibs(flavour)


def _version_key(path):
    return [int(n) for n in re.findall(r"\d+", os.path.basename(
        os.path.normpath(path)))]


def stock_iolibs(flavour=CLI):
    """
    The directory of a libgphoto2's own port libraries: the system's (for
    the CLI) or python-gphoto2's (the wheel's, found without importing it,
    since importing it rewrites C{IOLIBS}).
    """
    if flavour == CLI:
        candidates = []
        for pattern in ("/usr/lib/*/libgphoto2_port/*/",
                        "/usr/lib/libgphoto2_port/*/",
                        "/usr/lib64/libgphoto2_port/*/",
                        "/usr/local/lib/libgphoto2_port/*/"):
            candidates += [d for d in glob.glob(pattern)
                           if os.path.exists(os.path.join(d, "ptpip.so"))]
        if not candidates:
            raise MissingLibrary("no libgphoto2 port libraries found: is "
                                 "Debian's libgphoto2-port12 installed?")
        return os.path.normpath(max(candidates, key=_version_key))
    if flavour == PYTHON:
        spec = importlib.util.find_spec("gphoto2")
        if spec is None or not spec.submodule_search_locations:
            raise MissingLibrary("python-gphoto2 is not installed")
        path = os.path.join(list(spec.submodule_search_locations)[0],
                            "libgphoto2", "iolibs")
        if not os.path.isdir(path):
            raise MissingLibrary("python-gphoto2 has no %s" % (path,))
        return path
    raise ValueError("flavour must be %r or %r" % (CLI, PYTHON))


def iolibs_dir(flavour=CLI):
    """
    An IOLIBS directory for C{flavour}: C{fourcut_usb.so} and the stock
    non-USB libraries, as symbolic links. Made once per process in a
    private temporary directory (C{fourcut-iolibs-*}), removed by
    L{remove_iolibs}: when the virtual camera's service stops (a normal
    stop, and SIGTERM or SIGINT, after which twistd ends itself by the
    signal and runs no C{atexit} handler), and at the process's exit
    otherwise (a failed start). A process killed outright (C{kill -9})
    removes nothing: its directories (their names carry its PID) are
    removed by the next process that makes one
    (L{remove_abandoned_iolibs}).
    """
    if flavour in _dirs and os.path.isdir(_dirs[flavour]):
        return _dirs[flavour]
    library = library_path()
    stock = stock_iolibs(flavour)
    if not _dirs:
        atexit.register(remove_iolibs)
        remove_abandoned_iolibs()
    path = tempfile.mkdtemp(prefix="fourcut-iolibs-%s-%d-"
                            % (flavour, os.getpid()))
    _dirs[flavour] = path
    os.symlink(os.path.abspath(library), os.path.join(path, LIBRARY_NAME))
    for name in STOCK_LIBRARIES:
        target = os.path.join(stock, name + ".so")
        if os.path.exists(target):
            os.symlink(target, os.path.join(path, name + ".so"))
    return path


_ABANDONED = re.compile(r"\Afourcut-iolibs-(?:%s|%s)-(\d+)-" % (CLI, PYTHON))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_abandoned_iolibs(directory=None):
    """
    Remove the IOLIBS directories (L{iolibs_dir}) in C{directory} (the
    temporary directory) that belong to this user and whose process is
    gone: what a process killed outright left behind.

    @return: the paths removed.
    """
    directory = directory or tempfile.gettempdir()
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        match = _ABANDONED.match(name)
        if match is None or _alive(int(match.group(1))):
            continue
        path = os.path.join(directory, name)
        try:
            if os.lstat(path).st_uid != os.getuid():
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def made_iolibs():
    """
    The IOLIBS directories L{iolibs_dir} made in this process and
    L{remove_iolibs} has not removed yet.
    """
    return sorted(_dirs.values())


def remove_iolibs():
    """
    Remove the IOLIBS directories L{iolibs_dir} made in this process; a
    later L{iolibs_dir} makes new ones. Call it once no child uses them.
    """
    for flavour in list(_dirs):
        shutil.rmtree(_dirs.pop(flavour), ignore_errors=True)
    atexit.unregister(remove_iolibs)


def child_env(socket_path, flavour=CLI, base=None):
    """
    The environment for a gphoto2 (C{flavour=CLI}) or python-gphoto2
    (C{PYTHON}) child that should see the camera listening on
    C{socket_path}: C{base} (default C{os.environ}) plus C{IOLIBS},
    C{FOURCUT_IOLIBS} (for L{restore_iolibs}) and C{FOURCUT_VUSB_SOCKET}.
    """
    iolibs = iolibs_dir(flavour)
    env = dict(os.environ if base is None else base)
    env.update({"IOLIBS": iolibs, RESTORE_ENV: iolibs,
                SOCKET_ENV: os.path.abspath(socket_path)})
    return env


def restore_iolibs():
    """
    Put back the IOLIBS that python-gphoto2's import overwrote. Call it
    after C{import gphoto2} and before the first port list is loaded; it
    does nothing outside a L{child_env} environment.
    """
    iolibs = os.environ.get(RESTORE_ENV)
    if iolibs:
        os.environ["IOLIBS"] = iolibs
