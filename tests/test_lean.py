# -*- test-case-name: tests.test_lean -*-
"""
A server imports what a feature needs when the feature is first used
(issue 23's memory budget): TLS only when it listens with it, and pycups,
Pillow, prometheus_client, libjpeg-turbo's binding and numpy only when
something prints, composes, is scraped or transforms live view.
"""

import json
import os
import subprocess
import sys
import textwrap

from twisted.trial.unittest import TestCase

from fourcut import lean
from tests.support import ROOT

#: Modules a server that only serves live view and captures never needs:
#: and the standard library's that only a mistake in the config
#: (difflib), a scrape (importlib.metadata) or a command line (argparse)
#: does.
LATER = ("OpenSSL", "cryptography", "cups", "PIL", "prometheus_client",
         "turbojpeg", "numpy", "autobahn", "difflib", "importlib.metadata",
         "argparse")


def _started(test, *arguments):
    """
    Parse C{twistd fourcut}'s options as twistd does, import the reactor
    (as twistd then does), build the service tree, and return which of
    L{LATER} were imported, from a fresh interpreter:
    this test process has imported them all already.
    """
    photos = os.path.abspath(test.mktemp())
    script = textwrap.dedent("""
        import json, sys
        from fourcut.tap import Options, makeService
        options = Options()
        options.parseOptions(sys.argv[1:])
        from twisted.internet import reactor
        makeService(options, reactor)
        print(json.dumps(sorted(name for name in %r
                                if sys.modules.get(name) is not None)))
    """ % (LATER,))
    done = subprocess.run(
        [sys.executable, "-c", script, "--photos", photos] + list(arguments),
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    output = done.stdout.decode("utf-8", "replace")
    test.assertEqual(done.returncode, 0, output)
    return json.loads(output.splitlines()[-1])


class NeedsTLSTests(TestCase):
    def test_ssl_endpoint(self):
        """
        Only an C{ssl:} endpoint string listens with TLS, whatever its
        case or leading space.
        """
        self.assertTrue(lean.needs_tls("ssl:8443:privateKey=k.pem"))
        self.assertTrue(lean.needs_tls(" SSL:8443"))
        for listen in ("tcp:8080", "tcp6:8080", "unix:/run/fourcut.sock",
                       "systemd:domain=INET:index=0"):
            self.assertFalse(lean.needs_tls(listen), listen)


class WithoutTLSTests(TestCase):
    def test_blocks_before_import(self):
        """
        Before pyOpenSSL or the reactor is imported, it is made
        unimportable.
        """
        modules = {"twisted": object()}
        self.assertTrue(lean.without_tls(modules))
        self.assertIn(lean.TLS_MODULE, modules)
        self.assertIsNone(modules[lean.TLS_MODULE])

    def test_too_late(self):
        """
        Once pyOpenSSL or the reactor is imported, nothing is changed:
        whoever imported it may use it.
        """
        for present in (lean.TLS_MODULE, "twisted.internet.reactor"):
            sentinel = object()
            modules = {present: sentinel}
            self.assertFalse(lean.without_tls(modules))
            self.assertEqual(modules, {present: sentinel})


class StartTests(TestCase):
    def test_plain_http_server(self):
        """
        A server listening on plain TCP starts with none of pyOpenSSL,
        cryptography, pycups, Pillow, prometheus_client, PyTurboJPEG,
        numpy, Autobahn, difflib, importlib.metadata or argparse
        imported.
        """
        self.assertEqual(_started(self, "--listen",
                                  "tcp:0:interface=127.0.0.1"), [])

    def test_tls_server(self):
        """
        A server listening with C{ssl:} keeps pyOpenSSL: its endpoint
        needs it.
        """
        from tests.support.tls import make_certificate
        directory = os.path.abspath(self.mktemp())
        os.mkdir(directory)
        key, certificate, _ = make_certificate(directory)
        imported = _started(self, "--listen",
                            "ssl:0:interface=127.0.0.1:privateKey=%s:"
                            "certKey=%s" % (key, certificate))
        self.assertIn("OpenSSL", imported)
