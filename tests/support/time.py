"""
Time in tests that run on the real reactor.
"""

from twisted.internet import reactor, task

__all__ = ["sleep"]


def sleep(seconds):
    """
    A Deferred that fires after C{seconds} on the global reactor.
    """
    return task.deferLater(reactor, seconds, lambda: None)
