"""
What an installation needs beside the code (L{fourcut.install}): the
systemd unit that C{twistd fourcut --print-unit} prints passes
C{systemd-analyze verify} (Debian's C{systemd} package, which C{./dev test}
installs), the example config it prints is the one in C{etc/}, the unit's
install steps keep the config (and its token) from other users, and
setup.py ships both files.
"""

import importlib
import os
import shutil
import sys

from twisted.internet import reactor, utils
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fourcut import install
from fourcut.config import Config, load_config

from tests.support import ROOT, TWISTD, english_env


def output(argv, env=None):
    """
    Run C{argv} in the checkout; fire with C{(stdout, stderr, status)}.
    """
    environment = english_env(PYTHONPATH=ROOT)
    environment.update(env or {})
    d = utils.getProcessOutputAndValue(argv[0], argv[1:], env=environment,
                                       path=ROOT, reactor=reactor)
    return d.addTimeout(60, reactor)


class PrintTests(TestCase):
    timeout = 120

    async def test_unit_passes_systemd_analyze_verify(self):
        analyze = shutil.which("systemd-analyze")
        self.assertIsNotNone(analyze, "systemd-analyze is missing: install "
                             "Debian's systemd package (./dev test does)")
        out, err, status = await output(TWISTD + ["fourcut", "--print-unit"])
        self.assertEqual((status, err), (0, b""))
        unit = out.decode("utf-8")
        [exec_start] = [line for line in unit.splitlines()
                        if line.startswith("ExecStart=")]
        twistd = exec_start.split("=", 1)[1].split()[0]
        self.assertEqual(twistd, os.path.join(
            os.path.dirname(os.path.abspath(sys.executable)), "twistd"))
        self.assertTrue(os.access(twistd, os.X_OK), twistd)
        self.assertIn("ExecReload=/bin/kill -HUP $MAINPID", unit)
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        path = os.path.join(directory, "fourcut.service")
        with open(path, "w") as f:
            f.write(unit)
        out, err, status = await output([analyze, "verify", path])
        self.assertEqual(status, 0, err)
        self.assertNotIn(b"fourcut.service", err)
        # Not vacuous: the unit as shipped names /opt/fourcut's twistd,
        # which only the install steps make, and fails here.
        out, err, status = await output(
            [analyze, "verify", os.path.join(ROOT, "etc", "fourcut.service")])
        self.assertNotEqual(status, 0)
        self.assertIn(b"/opt/fourcut/bin/twistd is not executable", err)

    async def test_print_config(self):
        out, err, status = await output(TWISTD + ["fourcut",
                                                  "--print-config"])
        self.assertEqual((status, err), (0, b""))
        with open(os.path.join(ROOT, "etc", "fourcut.yaml"), "rb") as f:
            self.assertEqual(out, f.read())
        path = self.mktemp() + ".yaml"
        with open(path, "wb") as f:
            f.write(out)
        self.assertEqual(load_config(path), Config())


class ShippedTests(SynchronousTestCase):
    def test_install_steps(self):
        """
        The unit's install steps make the twistd it names, keep the config
        (which holds the token) from other users and check the unit.
        """
        text = install.read(install.UNIT)
        for step in ("python3 -m venv /opt/fourcut",
                     "/opt/fourcut/bin/pip install .",
                     "install -m 640 -o root -g fourcut /tmp/fourcut.yaml "
                     "/etc/fourcut.yaml",
                     "twistd fourcut --print-unit",
                     "systemd-analyze verify"):
            self.assertIn(step, text)
        self.assertNotIn("install -m 644 etc/fourcut.yaml", text)
        self.assertIn("ExecStart=%s " % (install.SHIPPED_TWISTD,), text)

    def test_setup_ships_them(self):
        # setuptools first, so that distutils is its own.
        importlib.import_module("setuptools")
        from distutils.core import run_setup
        here = os.getcwd()
        try:
            os.chdir(ROOT)
            dist = run_setup(os.path.join(ROOT, "setup.py"),
                             stop_after="init")
        finally:
            os.chdir(here)
        self.assertEqual(dist.data_files, [
            ("share/fourcut", ["etc/fourcut.yaml", "etc/fourcut.service"])])
        self.assertIn("fourcut.web", dist.packages)
        self.assertTrue([r for r in dist.install_requires
                         if r.startswith("prometheus_client")])

    def test_found_in_the_checkout(self):
        self.assertEqual(install.find(install.CONFIG),
                         os.path.join(ROOT, "etc", "fourcut.yaml"))
        self.assertRaises(FileNotFoundError, install.find, "nosuch.conf")


