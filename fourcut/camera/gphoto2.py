# -*- test-case-name: tests.integration.test_camconfig,tests.integration.test_service -*-
"""
How fourcut runs gphoto2 for its one camera: the command line, the
children's environment and their C{HOME}. What gphoto2's failures mean is
L{fourcut.errors}'.
"""

import os

__all__ = ["GPhoto2", "HOME_NAME", "keep_home", "prepare_home"]

#: The C{HOME} of fourcut's gphoto2 children, in fourcut's state
#: directory (C{paths.state_dir}).
HOME_NAME = "gphoto2-home"

#: The settings id of the gphoto2 CLI itself (C{gphoto2=port=...},
#: C{gphoto2=model=...}): where it remembers the last camera it used.
FRONT_END_ID = "gphoto2"


def prepare_home(home):
    """
    Make C{home} a C{HOME} that every libgphoto2 fourcut runs keeps its
    settings in, and return it: an empty C{.gphoto/settings}.

    Debian's gphoto2 (libgphoto2 2.5.30) keeps its settings (the last port,
    C{capturetarget}) in C{$HOME/.gphoto/settings}; python-gphoto2's own
    libgphoto2 (2.5.34) in C{$HOME/.config/gphoto/settings}, and only when
    C{$HOME/.config} exists, unless the older file does. In an empty HOME
    the camera worker and the settings children remembered nothing (a
    capture target set in one session was gone in the next), and the CLI
    never saw what they set.
    """
    directory = os.path.join(home, ".gphoto")
    os.makedirs(directory, exist_ok=True)
    settings = os.path.join(directory, "settings")
    if not os.path.exists(settings):
        with open(settings, "w"):
            pass
    return home


def keep_home(state_dir):
    """
    The C{HOME} of fourcut's gphoto2 children inside C{state_dir}, made
    if missing (only fourcut's user may enter it) and kept across runs:
    what libgphoto2's drivers keep there (the capture target) survives a
    restart, a crash and a reboot. What the gphoto2 CLI remembered of the
    last camera it used (the port, the model) is dropped, so that a port
    saved by an earlier run never steers fourcut to a camera that is
    gone. Blocking (start-up).

    @raise OSError: if the directory cannot be made or written.
    """
    home = os.path.join(state_dir, HOME_NAME)
    os.makedirs(home, mode=0o700, exist_ok=True)
    prepare_home(home)
    for settings in (os.path.join(home, ".gphoto", "settings"),
                     os.path.join(home, ".config", "gphoto", "settings")):
        try:
            with open(settings, "rb") as f:
                lines = f.read().splitlines(keepends=True)
        except FileNotFoundError:
            continue
        kept = [line for line in lines
                if line.split(b"=", 1)[0] != FRONT_END_ID.encode("ascii")]
        if kept != lines:
            temporary = settings + ".new"
            with open(temporary, "wb") as f:
                f.writelines(kept)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, settings)
    return home


class GPhoto2:
    """
    The command line for one camera: the executable, and the C{--port}
    and C{--camera} options when configured (without them gphoto2
    auto-detects a USB camera), and the environment of every gphoto2 child,
    the CLI and python-gphoto2 alike.

    @ivar home: C{HOME} for the children, or L{None} to leave it.
        libgphoto2 keeps the last port given and C{capturetarget} in
        C{$HOME/.gphoto/settings}; a port saved there by another program
        (or an earlier run) must never steer fourcut to a camera that is
        gone, so fourcut gives its children a directory of its own.
    @ivar capture_target: the C{capturetarget} value (C{camera.capture_target})
        every camera session that captures sets when it opens the camera,
        or L{None} to leave the camera's (and libgphoto2's saved one).
    @ivar cli_env: variables for the gphoto2 CLI children only.
    @ivar python_env: variables for the python-gphoto2 children only (the
        wheel bundles its own libgphoto2, whose port libraries differ).
    """

    def __init__(self, port=None, model=None, executable="gphoto2",
                 home=None, capture_target=None):
        self.port = port
        self.model = model
        self.capture_target = capture_target
        self.executable = executable
        self.home = home
        self.cli_env = {}
        self.python_env = {}

    def argv(self, *args):
        argv = [self.executable]
        if self.model:
            argv += ["--camera", self.model]
        if self.port:
            argv += ["--port", self.port]
        return argv + list(args)

    def env(self, python=False):
        """
        The children's environment: the caller's (so C{IOLIBS} and
        C{CAMLIBS} are honoured), English messages whatever the locale
        (fourcut reads them), L{home} as C{HOME}, and L{cli_env} or, with
        C{python}, L{python_env}.
        """
        env = dict(os.environ, LANG="C", LC_ALL="C", LANGUAGE="C")
        if self.home is not None:
            env["HOME"] = self.home
        env.update(self.python_env if python else self.cli_env)
        return env

    @property
    def resettable(self):
        """
        C{gphoto2 --reset} resets a USB port; other ports (PTP/IP) have
        nothing to reset.
        """
        return self.port is None or self.port.startswith("usb:")
