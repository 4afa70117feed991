# -*- test-case-name: tests.integration.test_install -*-
"""
The files an installation needs beside the code: the example config
(C{etc/fourcut.yaml}) and the systemd unit (C{etc/fourcut.service}).

They live in the checkout's C{etc/}, and C{pip install} puts them in the
installation's data directory (C{share/fourcut/}, setup.py's
C{data_files}: C{/opt/fourcut/share/fourcut/} for a virtualenv in
C{/opt/fourcut}). C{twistd fourcut --print-config} and C{--print-unit}
print them wherever fourcut was installed from, so that a C{pip install}
alone is enough to set up the service. The unit's C{ExecStart} then names
the C{twistd} of the installation that printed it.
"""

import os
import sys
import sysconfig

import fourcut

__all__ = ["CONFIG", "DATA_DIRECTORY", "UNIT", "find", "read", "unit",
           "twistd_path"]

#: The files' names.
CONFIG = "fourcut.yaml"
UNIT = "fourcut.service"

#: Where C{pip install} puts them, under the installation's data path.
DATA_DIRECTORY = os.path.join("share", "fourcut")

#: The C{twistd} the shipped unit names (a virtualenv in C{/opt/fourcut}).
SHIPPED_TWISTD = "/opt/fourcut/bin/twistd"


def _candidates(name):
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(
        fourcut.__file__)))
    yield os.path.join(checkout, "etc", name)
    schemes = [None]
    if os.name == "posix":
        schemes.append("posix_user")
    for scheme in schemes:
        try:
            data = (sysconfig.get_path("data") if scheme is None
                    else sysconfig.get_path("data", scheme))
        except KeyError:
            continue
        yield os.path.join(data, DATA_DIRECTORY, name)
    yield os.path.join(sys.prefix, DATA_DIRECTORY, name)


def find(name):
    """
    The path of the installed file C{name}.

    @raise FileNotFoundError: if it is nowhere fourcut looks.
    """
    for path in _candidates(name):
        if os.path.isfile(path):
            return path
    raise FileNotFoundError("%s is not installed (looked in: %s)" % (
        name, ", ".join(_candidates(name))))


def read(name):
    with open(find(name), encoding="utf-8") as f:
        return f.read()


def twistd_path():
    """
    The C{twistd} beside this Python (a virtualenv's), or L{None}.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(sys.executable)),
                        "twistd")
    return path if os.access(path, os.X_OK) else None


def unit():
    """
    The systemd unit, its C{ExecStart} naming this installation's
    C{twistd} (the shipped one assumes a virtualenv in C{/opt/fourcut}).
    """
    text = read(UNIT)
    twistd = twistd_path()
    if twistd is not None:
        text = text.replace(SHIPPED_TWISTD, twistd)
    return text
