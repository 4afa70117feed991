# -*- test-case-name: tests.test_lean -*-
"""
Leave out what this process will never use: TLS, when fourcut does not
listen with it.

Twisted imports pyOpenSSL as soon as its reactor or its endpoints are
imported, whether or not anything uses TLS, and pyOpenSSL brings the
C{cryptography} package and OpenSSL's libraries with it: about 13 MB of a
server that, on a Raspberry Pi booth, serves plain HTTP (issue 23's
budget is 60 MB for the server and its camera process together).
Twisted is written to work without pyOpenSSL (every import of it is
guarded, and the reactor then simply offers no TLS), so a server that
does not listen with C{ssl:} tells Python that pyOpenSSL is not to be
imported, before anything has imported it: Twisted then takes the path
it takes where pyOpenSSL is not installed.

Nothing else in fourcut uses TLS: its only outgoing connections are to
its own camera processes and CUPS (through pycups, with its own TLS).
"""

import sys

__all__ = ["TLS_MODULE", "needs_tls", "without_tls"]

#: What Twisted imports for TLS (and the C{cryptography} package with it).
TLS_MODULE = "OpenSSL"


def needs_tls(listen):
    """
    Whether a server listening on the endpoint string C{listen} uses TLS.
    """
    return listen.strip().lower().startswith("ssl:")


def without_tls(modules=None):
    """
    Make pyOpenSSL unimportable in this process, if nothing has imported
    it or Twisted's reactor yet (after that it is too late to save
    anything, and whoever imported it may use it).

    @param modules: the module table (C{sys.modules}, or a test's).
    @return: C{True} if it was done.
    """
    if modules is None:
        modules = sys.modules
    if TLS_MODULE in modules or "twisted.internet.reactor" in modules:
        return False
    # A None entry makes "import OpenSSL" raise ImportError (the import
    # system's documented way to block a module).
    modules[TLS_MODULE] = None
    return True
