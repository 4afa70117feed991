"""
What fourcut logged during a test, as text: for tests that hold a log
line word for word (an operator's only view of a refusal).
"""

import re

from twisted.logger import formatEvent, globalLogPublisher

__all__ = ["Logged"]


class Logged:
    """
    Watches the global log publisher for the rest of C{testcase}.

    @param namespace: the prefix of the log namespaces kept.
    """

    def __init__(self, testcase, namespace="fourcut."):
        self.namespace = namespace
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        testcase.addCleanup(globalLogPublisher.removeObserver,
                            self.events.append)

    def lines(self, peer=r"127\.0\.0\.1:\d+"):
        """
        C{(level name, text)} of each event logged since the last call,
        with every match of C{peer} (a regular expression) as C{PEER}.
        """
        found = [(event["log_level"].name,
                  re.sub(peer, "PEER", formatEvent(event)))
                 for event in self.events
                 if event.get("log_namespace", "").startswith(self.namespace)]
        del self.events[:]
        return found
