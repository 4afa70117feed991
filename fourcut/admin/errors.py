# -*- test-case-name: tests.admin.test_admin -*-
"""
The operator's list of what went wrong lately: the log's warnings and
errors, newest first, in the words fourcut logs them (a traceback's first
line at most), server paths hidden, repeats folded into one line with a
count.
"""

import time
from collections import deque
from datetime import datetime, timezone

from twisted.application import service
from twisted.logger import ILogObserver, LogLevel, formatEvent
from zope.interface import implementer

from fourcut.web.replies import hide_paths

__all__ = ["RecentErrors", "ObserverService"]


@implementer(ILogObserver)
class RecentErrors:
    """
    A log observer keeping the last C{keep} events at C{warn} or above.
    """

    def __init__(self, keep=30, clock=time.time):
        self._entries = deque(maxlen=keep)
        self._clock = clock

    def __call__(self, event):
        level = event.get("log_level")
        if level is None or level < LogLevel.warn:
            return
        try:
            text = formatEvent(event)
        except Exception:
            text = str(event.get("log_format"))
        failure = event.get("log_failure")
        if failure is not None:
            text = "%s: %s" % (text, failure.getErrorMessage())
        self.add(text, event.get("log_time"))

    def add(self, text, when=None):
        text = hide_paths(" ".join(str(text).split()))[:500]
        when = self._clock() if when is None else when
        if self._entries and self._entries[-1]["text"] == text:
            self._entries[-1]["count"] += 1
            self._entries[-1]["time"] = when
            return
        self._entries.append({"time": when, "text": text, "count": 1})

    def recent(self):
        """
        The entries, newest first: C{time} (ISO 8601, UTC), C{text},
        C{count}.
        """
        return [dict(entry, time=datetime.fromtimestamp(
            entry["time"], timezone.utc).isoformat(timespec="seconds"))
            for entry in reversed(self._entries)]


class ObserverService(service.Service):
    """
    Adds C{observer} to C{publisher} while running.
    """

    def __init__(self, publisher, observer):
        self.publisher = publisher
        self.observer = observer

    def startService(self):
        service.Service.startService(self)
        self.publisher.addObserver(self.observer)

    def stopService(self):
        service.Service.stopService(self)
        self.publisher.removeObserver(self.observer)
