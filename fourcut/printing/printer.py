# -*- test-case-name: tests.printing.test_cups -*-
"""
The printer, through CUPS, with pycups (the bindings of Debian's libcups):
what the print queue asks of it, one blocking call at a time.

Every method here blocks on the CUPS server's socket (a local one usually
answers in a millisecond; a stuck one may take libcups' whole timeout), so
L{fourcut.printing.service} calls them in a thread, never on the reactor
and never on the camera's path. Each call opens its own connection: a
pycups C{Connection} is not safe to share between threads, and a local
one costs less than a millisecond to open.

What the printer says is read from its IPP attributes, never by parsing
C{lpstat}'s text: C{printer-state} (idle, processing, stopped),
C{printer-state-reasons} (C{media-empty}, C{media-jam}, C{offline-report},
...), C{printer-is-accepting-jobs} and C{printer-state-message}; and, for
each job fourcut sent, C{job-state} and its reasons.
"""

from dataclasses import dataclass, field
from typing import Tuple

__all__ = ["Cups", "JobReport", "PrinterReport", "PrinterUnavailable",
           "JOB_STATES", "PRINTER_STATES"]

#: C{printer-state} values (RFC 8011).
PRINTER_STATES = {3: "idle", 4: "printing", 5: "stopped"}

#: C{job-state} values (RFC 8011).
JOB_STATES = {3: "pending", 4: "held", 5: "processing", 6: "stopped",
              7: "canceled", 8: "aborted", 9: "completed"}

#: The printer attributes read at each poll.
PRINTER_ATTRIBUTES = ["printer-state", "printer-state-reasons",
                      "printer-state-message", "printer-is-accepting-jobs",
                      "queued-job-count", "printer-make-and-model"]

#: The job attributes read for each job fourcut sent.
JOB_ATTRIBUTES = ["job-state", "job-state-reasons",
                  "job-printer-state-message"]


class PrinterUnavailable(Exception):
    """
    CUPS could not be asked, or has no such printer: C{str()} says why, in
    words for the operator.
    """


@dataclass(frozen=True)
class JobReport:
    """
    One CUPS job: its C{id}, C{state} (a L{JOB_STATES} value) and
    C{reasons} (C{job-state-reasons}, C{"none"} left out), and the
    printer's message about it.
    """

    id: int
    state: str
    reasons: Tuple[str, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class PrinterReport:
    """
    What CUPS says about one printer (a queue).

    @ivar queue: the queue's name (the default destination's, if fourcut
        was given none).
    @ivar state: C{idle}, C{printing} or C{stopped} (C{printer-state}).
    @ivar reasons: C{printer-state-reasons}, C{"none"} left out.
    @ivar accepting: whether the queue takes new jobs (C{cupsreject}
        makes it refuse them).
    @ivar message: C{printer-state-message}: the driver's or backend's
        own words, for the operator.
    @ivar queued: jobs the queue holds that are not finished, anyone's.
    @ivar jobs: a L{JobReport} for each job asked about.
    """

    queue: str
    state: str
    reasons: Tuple[str, ...] = ()
    accepting: bool = True
    message: str = ""
    queued: int = 0
    model: str = ""
    jobs: Tuple[JobReport, ...] = field(default=())


def _cups():
    """
    pycups, imported on first use: libcups brings GnuTLS, Kerberos, D-Bus
    and Avahi with it (about 4 MB resident), which a booth that does not
    print never needs (C{booth.print: off}, the default).
    """
    import cups
    return cups


def _errors():
    """
    What pycups raises when CUPS cannot be asked or refuses.
    """
    cups = _cups()
    return (cups.IPPError, cups.HTTPError, RuntimeError)


def _text(error):
    """
    The words of a pycups error: C{IPPError(status, text)} or
    C{HTTPError(status)}.
    """
    args = getattr(error, "args", ())
    cups = _cups()
    if isinstance(error, cups.IPPError) and len(args) >= 2:
        return str(args[1])
    if isinstance(error, cups.HTTPError) and args:
        return "HTTP error %s" % (args[0],)
    return str(error) or type(error).__name__


def _reasons(value):
    if isinstance(value, str):
        value = [value]
    return tuple(str(r) for r in (value or ()) if r and r != "none")


class Cups:
    """
    The CUPS server: C{server} (a host name, or a local socket's path)
    or, if L{None}, libcups' own choice (C{CUPS_SERVER}, C{client.conf},
    the local scheduler).

    @param connect: makes a connection (pycups' C{Connection} if
        L{None}), for tests.
    """

    def __init__(self, server=None, connect=None):
        self.server = server
        self._connect = connect

    def _connection(self):
        connect = self._connect or _cups().Connection
        try:
            if self.server is None:
                return connect()
            return connect(host=self.server)
        except _errors() as e:
            raise PrinterUnavailable("CUPS cannot be reached (%s)"
                                     % (_text(e),))

    def _queue(self, connection, queue):
        if queue is not None:
            return queue
        name = connection.getDefault()
        if not name:
            raise PrinterUnavailable("CUPS has no default printer; set "
                                     "booth.printer or run lpadmin -d")
        return name

    def report(self, queue=None, job_ids=()):
        """
        The L{PrinterReport} of C{queue} (or the default destination), with
        the jobs C{job_ids}. Blocking.

        @raise PrinterUnavailable: CUPS cannot be reached, or has no such
            queue.
        """
        connection = self._connection()
        try:
            name = self._queue(connection, queue)
            attributes = connection.getPrinterAttributes(
                name, requested_attributes=PRINTER_ATTRIBUTES)
            jobs = []
            for job_id in job_ids:
                try:
                    job = connection.getJobAttributes(
                        job_id, requested_attributes=JOB_ATTRIBUTES)
                except _cups().IPPError as e:
                    # Purged from CUPS' history: finished long ago.
                    jobs.append(JobReport(job_id, "unknown",
                                          message=_text(e)))
                    continue
                jobs.append(JobReport(
                    job_id, JOB_STATES.get(job.get("job-state"), "unknown"),
                    _reasons(job.get("job-state-reasons")),
                    str(job.get("job-printer-state-message") or "")))
        except _errors() as e:
            raise PrinterUnavailable("CUPS cannot tell about printer %s: %s"
                                     % (queue or "(default)", _text(e)))
        return PrinterReport(
            queue=name,
            state=PRINTER_STATES.get(attributes.get("printer-state"),
                                     "unknown"),
            reasons=_reasons(attributes.get("printer-state-reasons")),
            accepting=bool(attributes.get("printer-is-accepting-jobs",
                                          True)),
            message=str(attributes.get("printer-state-message") or ""),
            queued=int(attributes.get("queued-job-count") or 0),
            model=str(attributes.get("printer-make-and-model") or ""),
            jobs=tuple(jobs))

    def submit(self, queue, path, title, options=None):
        """
        Print the file at C{path} on C{queue} (or the default destination);
        CUPS copies it, so it may be removed once this returns. Blocking.

        @return: the CUPS job id.
        @raise PrinterUnavailable: CUPS cannot be reached, or refused the
            job (the queue rejects jobs, no such queue).
        """
        connection = self._connection()
        try:
            name = self._queue(connection, queue)
            return connection.printFile(name, path, title,
                                        dict(options or {}))
        except _errors() as e:
            raise PrinterUnavailable("CUPS refused the print: %s"
                                     % (_text(e),))
