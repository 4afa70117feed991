"""
fourcut's tests.

libgphoto2 remembers the last port and model in C{$HOME/.gphoto/settings}.
So that no test reads what another program (or a developer's own gphoto2)
saved there, nor leaves anything behind, every child the tests start (the
gphoto2 CLI, python-gphoto2 clients, benchmark processes) inherits a HOME
of this test process's own, removed when it exits; runners that start
gphoto2 directly give each test its own (L{tests.support.GPhoto2Runner}).
"""

import atexit
import os
import shutil
import tempfile

_home = tempfile.mkdtemp(prefix="fourcut-tests-home-")
os.environ["HOME"] = _home
atexit.register(shutil.rmtree, _home, True)
