# -*- test-case-name: tests.stream.test_internals, tests.stream.test_pacing, tests.stream.test_sockets -*-
"""
Where a frame goes on its way to a client.

L{fourcut.stream.pacing}: how much the kernel still holds for a client's
socket, and whether the next live-view frame may be written now.

L{fourcut.stream.internals}: every read or write of Twisted's and
Autobahn's private state, for all of fourcut.
"""

__all__ = []
