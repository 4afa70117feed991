# -*- test-case-name: tests.printing.test_queue -*-
"""
The print queue: which sheets fourcut still has to hand to CUPS, which
CUPS has and how they end, and how many copies each strip may have.

A sheet asked for is a L{PrintJob} at once (C{waiting}), whatever the
printer's state: a guest's strip is saved and will print. It goes to CUPS
when CUPS takes it; if CUPS refuses (the queue rejects jobs, CUPS is not
running), it stays C{waiting} and is offered again at the next poll. A
printer that is stopped or out of paper takes jobs into its own queue,
and they print when it is fixed. This module only keeps the books; it
calls nothing (L{fourcut.printing.service} does).

========== ============================================================
State      Meaning
========== ============================================================
waiting    not yet taken by CUPS
sent       taken by CUPS, not printing yet (CUPS C{pending}, C{held},
           C{stopped})
printing   CUPS is printing it (C{processing})
done       CUPS printed it (C{completed})
failed     CUPS gave up (C{aborted}) or it was cancelled, or its strip
           could not be read; its copy is given back to the strip
canceled   the operator cancelled it before CUPS took it (L{cancel}); its
           copy is given back to the strip
========== ============================================================

The operator may cancel a job that is still C{waiting} (one CUPS has is
cancelled with CUPS' own tools) and print a C{failed} one again
(L{retry}: a new job for the same strip).
"""

import itertools
from dataclasses import dataclass
from typing import Optional

__all__ = ["PrintJob", "PrintQueue", "PrintRefused", "FINISHED"]

#: Job states that do not change any more.
FINISHED = ("done", "failed", "canceled")

#: CUPS job states as the queue's.
_FROM_CUPS = {"pending": "sent", "held": "sent", "stopped": "sent",
              "processing": "printing", "completed": "done",
              "canceled": "failed", "aborted": "failed"}


class PrintRefused(Exception):
    """
    A print that was not queued: C{code} the HTTP status (404 unknown
    strip, 409 printing off or no copies left, 503 queue full),
    C{reason} a word for a front-end (C{unknown_strip}, C{off},
    C{copies}, C{full}), C{str()} the message.
    """

    def __init__(self, message, code, reason, copies_left=None):
        Exception.__init__(self, message)
        self.code = code
        self.reason = reason
        self.copies_left = copies_left


@dataclass
class PrintJob:
    """
    One sheet to print.

    @ivar number: fourcut's number for it (CUPS' comes later).
    @ivar strip: the strip's name, or L{None} for a test print.
    @ivar path: the strip's file (L{None} for a test print).
    @ivar cups_id: CUPS' job id once CUPS took it.
    @ivar error: why it failed, or why CUPS last refused it.
    """

    number: int
    strip: Optional[str]
    path: Optional[str]
    title: str
    state: str = "waiting"
    cups_id: Optional[int] = None
    error: Optional[str] = None
    attempts: int = 0

    def describe(self):
        return {"number": self.number, "strip": self.strip,
                "title": self.title, "state": self.state,
                "cups_id": self.cups_id, "error": self.error}


class PrintQueue:
    """
    @param copies_limit: sheets one strip may have (C{booth.print_copies}).
    @param max_waiting: jobs fourcut holds before refusing more (a printer
        left without paper all night).
    @param keep: finished jobs kept for the operator to read.
    """

    def __init__(self, copies_limit, max_waiting=50, keep=20):
        self.copies_limit = copies_limit
        self.max_waiting = max_waiting
        self.keep = keep
        self.jobs = []
        self._copies = {}
        self._numbers = itertools.count(1)
        self.completed = 0
        self.failed = 0
        self.submitted = 0

    def copies_left(self, strip):
        return max(0, self.copies_limit - self._copies.get(strip, 0))

    def add(self, strip, path, title):
        """
        Queue a sheet of C{strip} (or a test print, C{strip} L{None}).

        @return: the new L{PrintJob}.
        @raise PrintRefused: no copies left, or too many jobs waiting.
        """
        if strip is not None and self.copies_left(strip) == 0:
            raise PrintRefused(
                "%s has had its %d cop%s" % (
                    strip, self.copies_limit,
                    "y" if self.copies_limit == 1 else "ies"),
                409, "copies", copies_left=0)
        if len(self.unfinished()) >= self.max_waiting:
            raise PrintRefused("%d prints are waiting already; try again "
                               "once the printer has caught up"
                               % (self.max_waiting,), 503, "full")
        job = PrintJob(next(self._numbers), strip, path, title)
        if strip is not None:
            self._copies[strip] = self._copies.get(strip, 0) + 1
        self.jobs.append(job)
        self._trim()
        return job

    def unfinished(self):
        return [job for job in self.jobs if job.state not in FINISHED]

    def next_waiting(self):
        """
        The oldest job CUPS has not taken, or L{None}.
        """
        for job in self.jobs:
            if job.state == "waiting":
                return job
        return None

    def waiting(self):
        return sum(1 for job in self.jobs if job.state == "waiting")

    def active_ids(self):
        """
        CUPS' ids of the jobs it took that have not finished.
        """
        return [job.cups_id for job in self.jobs
                if job.state in ("sent", "printing")]

    def sent(self, job, cups_id):
        job.state = "sent"
        job.cups_id = cups_id
        job.error = None
        self.submitted += 1

    def refused(self, job, reason):
        """
        CUPS did not take C{job}: it stays C{waiting}.
        """
        job.attempts += 1
        job.error = reason

    def fail(self, job, reason):
        """
        C{job} ends without a print; its strip gets its copy back.
        """
        job.state = "failed"
        job.error = reason
        self.failed += 1
        if job.strip is not None and self._copies.get(job.strip):
            self._copies[job.strip] -= 1
        self._trim()

    def job(self, number):
        """
        The job fourcut numbered C{number}.

        @raise PrintRefused: no such job (404; finished jobs are kept only
            for a while).
        """
        for job in self.jobs:
            if job.number == number:
                return job
        raise PrintRefused("no print %d (finished prints are kept only a "
                           "while)" % (number,), 404, "unknown")

    def cancel(self, number):
        """
        The operator cancels job C{number}, which CUPS has not taken: it
        will not print, and its strip gets its copy back.

        @return: the L{PrintJob}.
        @raise PrintRefused: no such job (404), or CUPS has it or it has
            finished (409).
        """
        job = self.job(number)
        if job.state != "waiting":
            if job.state in ("sent", "printing"):
                why = ("CUPS has print %d (CUPS job %d): cancel it there "
                       "(cancel %d, or CUPS' web page)"
                       % (number, job.cups_id, job.cups_id))
            else:
                why = "print %d is %s already" % (number, job.state)
            raise PrintRefused(why, 409, "not_waiting")
        job.state = "canceled"
        job.error = "canceled by the operator"
        if job.strip is not None and self._copies.get(job.strip):
            self._copies[job.strip] -= 1
        self._trim()
        return job

    def retry(self, number):
        """
        The operator prints failed job C{number} again: a new job for the
        same strip (or test sheet).

        @return: the new L{PrintJob}.
        @raise PrintRefused: no such job (404), it has not failed (409),
            or as L{add}.
        """
        job = self.job(number)
        if job.state != "failed":
            raise PrintRefused("print %d has not failed (it is %s)"
                               % (number, job.state), 409, "not_failed")
        return self.add(job.strip, job.path, job.title)

    def update(self, reports):
        """
        Take CUPS' news of its jobs (L{fourcut.printing.printer.JobReport}s).

        @return: the jobs that failed now, for the operator to hear of.
        """
        by_id = {job.cups_id: job for job in self.jobs
                 if job.state in ("sent", "printing")}
        failed = []
        for report in reports:
            job = by_id.get(report.id)
            if job is None:
                continue
            state = _FROM_CUPS.get(report.state)
            if state is None:
                # Purged from CUPS' history before fourcut saw it end.
                state = "done"
            if state == "failed":
                words = [report.state]
                if report.reasons:
                    words.append(", ".join(report.reasons))
                if report.message:
                    words.append(report.message)
                self.fail(job, "CUPS job %d %s" % (report.id,
                                                   ": ".join(words)))
                failed.append(job)
            elif state == "done":
                job.state = "done"
                self.completed += 1
            else:
                job.state = state
        self._trim()
        return failed

    def _trim(self):
        finished = [job for job in self.jobs if job.state in FINISHED]
        for job in finished[:max(0, len(finished) - self.keep)]:
            self.jobs.remove(job)

    def describe(self):
        """
        The jobs, oldest first, as JSON-able dicts.
        """
        return [job.describe() for job in self.jobs]
