# -*- test-case-name: tests.integration.test_logs -*-
"""
Where fourcut's log goes and how it reads (C{logging.format}), and what
SIGHUP does to it.

Under twistd, fourcut writes its log itself, where twistd's options say
(C{--logfile=PATH}; stdout with C{--nodaemon} and no C{--logfile}, or
C{--logfile=-}), so that it can:

  - write C{logging.format: json}: one JSON object a line,
    L{twisted.logger}'s own JSON form of each event (C{log_level},
    C{log_namespace}, C{log_time}, C{log_format} and the event's fields),
    plus C{text}, the formatted message, for journald, Loki or C{jq};
  - reopen its file on SIGHUP (L{HangupService}), as C{logrotate}'s
    C{postrotate} expects; twistd's own log file rotates itself at 1 MB
    and knows nothing of SIGHUP, which used to end fourcut at once,
    without a word.

With C{--syslog} or C{--logger}, twistd's choice stands and only the text
format is possible.
"""

import io
import signal
import sys

from twisted.application import service
from twisted.logger import (FileLogObserver, Logger, eventAsJSON,
                            formatEvent, formatEventAsClassicLogText)

__all__ = ["HangupService", "LogTarget", "make_observer", "twistd_target"]

log = Logger()


class LogTarget:
    """
    The file the log is written to (or stdout), reopened on request.

    @ivar path: the file's path, or L{None} for stdout.
    """

    def __init__(self, path=None, stream=None):
        self.path = path
        self._stream = stream
        self._file = None
        if path is not None:
            self._open()

    def _open(self):
        self._file = io.open(self.path, "a", encoding="utf-8",
                             errors="backslashreplace")

    @property
    def stream(self):
        if self._file is not None:
            return self._file
        return self._stream if self._stream is not None else sys.stdout

    def write(self, text):
        self.stream.write(text)

    def flush(self):
        self.stream.flush()

    def reopen(self):
        """
        Close the file and open its path again (after C{logrotate} moved
        it away); return whether there was a file to reopen.
        """
        if self.path is None:
            return False
        old, self._file = self._file, None
        try:
            self._open()
        except OSError:
            self._file = old
            raise
        old.close()
        return True

    def close(self):
        if self._file is not None:
            self._file.close()


def twistd_target(logfile, nodaemon):
    """
    The L{LogTarget} twistd's C{--logfile} and C{--nodaemon} name, as
    twistd itself would choose: stdout for C{-}, or with C{--nodaemon} and
    no file; else the file (C{twistd.log} by default).
    """
    if logfile == "-" or (nodaemon and not logfile):
        return LogTarget(stream=sys.stdout)
    return LogTarget(logfile or "twistd.log")


def _as_json(event):
    # A copy: other observers see the event as it was. (eventAsJSON
    # escapes line breaks: one object is one line.)
    fields = dict(event)
    fields["text"] = formatEvent(event)
    return eventAsJSON(fields) + "\n"


def make_observer(format, target):
    """
    An observer writing events to C{target}: twistd's text lines for
    C{format} C{"text"}, one JSON object a line for C{"json"}.
    """
    if format == "json":
        return FileLogObserver(target, _as_json)
    return FileLogObserver(target, formatEventAsClassicLogText)


class HangupService(service.Service):
    """
    SIGHUP, while the service runs: reopen the log file, and say so in the
    log. The config file is read at start only; the log line says so, so
    that an operator who expected a reload knows to restart.

    @param target: the L{LogTarget}, or L{None} if twistd writes the log.
    """

    def __init__(self, target, reactor):
        self.target = target
        self._reactor = reactor
        self._previous = None

    def startService(self):
        service.Service.startService(self)
        self._previous = signal.signal(signal.SIGHUP, self._signalled)

    def stopService(self):
        service.Service.stopService(self)
        if self._previous is not None:
            signal.signal(signal.SIGHUP, self._previous)
            self._previous = None

    def _signalled(self, number, frame):
        # In the signal handler only hand over to the reactor.
        self._reactor.callFromThread(self.hangup)

    def hangup(self):
        """
        What SIGHUP does: reopen the log file, and log it.
        """
        target = self.target
        if target is None or target.path is None:
            what = ("nothing to reopen: the log goes to %s"
                    % ("twistd's observer" if target is None else "stdout"))
        else:
            try:
                target.reopen()
            except OSError as e:
                log.error("SIGHUP: cannot reopen the log file {path}: "
                          "{error}; still writing to the old one",
                          path=target.path, error=e.strerror or e)
                return
            what = "reopened the log file %s" % (target.path,)
        log.info("SIGHUP: {what} (the config is read at start only: "
                 "restart fourcut to apply changes)", what=what)
