"""
fourcut installed the Python way, without C{./dev}: plain pip, from a
clean clone of this repository at HEAD, into a fresh virtualenv, builds
the virtual camera's USB port library (C{setup.py}), and C{twistd fourcut
--virtual-camera} run from that virtualenv (not from the checkout) takes a
photo through it. An sdist carries the library's source, not a binary, and
the wheel built from it has the library; a build without a C compiler
installs a note in its place (what C{--virtual-camera} on USB reports at
start: L{tests.integration.test_startup}).

These run pip against the index with the machine's warm cache (C{./dev
test} has just installed the same packages), once each per suite.
"""

import os
import re
import shutil
import sys
import tarfile
import tempfile
import zipfile

import treq
import yaml
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.support import (EOS_STILL, EOS_USB, ROOT, ChildServer,
                           english_env, jpeg_size)
from tests.support.commands import call, spawn

IOLIB = "fourcut/virtualcam/iolib/"


def plain_env(**changes):
    """
    This machine's environment without the checkout on the path: what a
    user's shell has.
    """
    env = english_env(**changes)
    env.pop("PYTHONPATH", None)
    return env


class PlainPipTests(TestCase):
    timeout = 280

    def setUp(self):
        # Short: the virtual camera's socket path lives under TMPDIR.
        self.work = tempfile.mkdtemp(prefix="fourcut-test-pip-")
        self.addCleanup(shutil.rmtree, self.work, True)

    def call(self, *argv, path=None, env=None):
        # Niced: see tests.support.commands.BACKGROUND.
        return call(self, list(argv), path or self.work, env or plain_env(),
                    background=True)

    async def clone(self):
        clone = os.path.join(self.work, "fourcut")
        await self.call("git", "clone", "--quiet", ROOT, clone)
        self.assertFalse(os.path.exists(os.path.join(clone, IOLIB,
                                                     "fourcut_usb.so")))
        return clone

    async def test_install_and_capture(self):
        clone = await self.clone()
        venv = os.path.join(self.work, "venv")
        await self.call(sys.executable, "-m", "venv", venv)
        # --no-compile: the byte-compiling of Twisted is half of pip's time
        # here and says nothing about the build.
        await self.call(os.path.join(venv, "bin", "pip"), "install",
                       "--quiet", "--no-compile", clone)
        [site] = [os.path.join(venv, "lib", name, "site-packages")
                  for name in os.listdir(os.path.join(venv, "lib"))]
        self.assertTrue(os.path.isfile(os.path.join(site, IOLIB,
                                                    "fourcut_usb.so")))

        config = os.path.join(self.work, "fourcut.yaml")
        with open(config, "w") as f:
            yaml.safe_dump({"camera": EOS_USB}, f)
        photos = os.path.join(self.work, "photos")
        home = os.path.join(self.work, "home")
        os.makedirs(home)
        child = spawn(self, ChildServer(), [
            os.path.join(venv, "bin", "twistd"), "-n", "--pidfile=",
            "fourcut", "--virtual-camera", "--config", config,
            "--photos", photos, "--listen", "tcp:0:interface=127.0.0.1"],
            self.work, plain_env(HOME=home))
        line = await child.line_with("fourcut: open http://", timeout=60)
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        response = await treq.get(url + "capture", pool=pool)
        body = await response.content()
        self.assertEqual(response.code, 200, body[:500])
        self.assertEqual(jpeg_size(body), EOS_STILL)
        self.assertEqual(len(os.listdir(photos)), 1)
        # The pages' files were installed with the code (package data).
        for page in ("booth", "booth/static/booth.js", "gallery", "admin",
                     "admin/static/admin.js", "favicon.ico"):
            response = await treq.get(url + page, pool=pool)
            self.assertEqual(response.code, 200, page)
            await response.content()
        child.transport.signalProcess("TERM")
        await child.ended

    async def test_sdist_and_no_compiler(self):
        clone = await self.clone()
        dist = os.path.join(self.work, "dist")
        await self.call(sys.executable, "setup.py", "--quiet", "sdist",
                       "--dist-dir", dist, path=clone)
        [sdist] = os.listdir(dist)
        with tarfile.open(os.path.join(dist, sdist)) as tar:
            names = [name.split("/", 1)[1] for name in tar.getnames()
                     if "/" in name]
        self.assertIn(IOLIB + "fourcut_usb.c", names)
        self.assertEqual([name for name in names if name.endswith(".so")],
                         [])
        # The wheel pip builds from the sdist has the library.
        await self.call(sys.executable, "-m", "pip", "wheel", "--quiet",
                       "--no-deps", "--wheel-dir", dist,
                       os.path.join(dist, sdist))
        [wheel] = [name for name in os.listdir(dist)
                   if name.endswith(".whl")]
        with zipfile.ZipFile(os.path.join(dist, wheel)) as whl:
            built = [name for name in whl.namelist()
                     if name.startswith(IOLIB)]
        self.assertEqual(sorted(built), [IOLIB + "fourcut_usb.c",
                                         IOLIB + "fourcut_usb.so"])
        # Without a compiler: built all the same, with a note in place of
        # the library saying what was missing.
        lib = os.path.join(self.work, "lib")
        output = await self.call(
            sys.executable, "setup.py", "build_ext", "--build-lib", lib,
            path=clone, env=plain_env(CC="/nonexistent/gcc"))
        self.assertIn("fourcut_usb.so not built: no C compiler "
                      "(/nonexistent/gcc; Debian: gcc)", output)
        self.assertEqual(os.listdir(os.path.join(lib, IOLIB)),
                         ["fourcut_usb.missing"])
        with open(os.path.join(lib, IOLIB, "fourcut_usb.missing")) as f:
            self.assertEqual(f.read(), "C compiler (/nonexistent/gcc; "
                             "Debian: gcc)\n")
