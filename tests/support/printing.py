# -*- test-case-name: tests.printing.test_service -*-
"""
A CUPS server in memory: L{FakeCups} has the blocking methods of
L{fourcut.printing.printer.Cups} and answers from what a test set, so
that printing is tested on a memory reactor without a C{cupsd}
(C{tests.printing.test_cups} runs the real one).
"""

from fourcut.printing.printer import (JobReport, PrinterReport,
                                      PrinterUnavailable)

__all__ = ["FakeCups"]


class FakeCups:
    """
    @ivar state: C{printer-state} as a word (C{idle}, C{printing},
        C{stopped}).
    @ivar reasons: C{printer-state-reasons}.
    @ivar accepting: whether the queue takes jobs.
    @ivar down: if set, the reason every call fails with
        L{PrinterUnavailable}.
    @ivar jobs: C{{id: job state word}} of the jobs taken.
    @ivar submitted: C{(queue, title, options, file bytes)} of each.
    """

    def __init__(self, queue="photo"):
        self.default = queue
        self.state = "idle"
        self.reasons = ()
        self.accepting = True
        self.message = ""
        self.down = None
        self.jobs = {}
        self.submitted = []
        self.reports = 0

    def _check(self):
        if self.down is not None:
            raise PrinterUnavailable(self.down)

    def report(self, queue=None, job_ids=()):
        self._check()
        self.reports += 1
        return PrinterReport(
            queue=queue or self.default, state=self.state,
            reasons=tuple(self.reasons), accepting=self.accepting,
            message=self.message,
            queued=sum(1 for state in self.jobs.values()
                       if state in ("pending", "processing", "held")),
            model="Fake Photo Printer",
            jobs=tuple(JobReport(job_id, self.jobs.get(job_id, "unknown"),
                                 ("job-canceled-at-device",)
                                 if self.jobs.get(job_id) == "aborted"
                                 else ())
                       for job_id in job_ids))

    def submit(self, queue, path, title, options=None):
        self._check()
        if not self.accepting:
            raise PrinterUnavailable("CUPS refused the print: Destination "
                                     '"%s" is not accepting jobs.'
                                     % (queue or self.default,))
        with open(path, "rb") as f:
            data = f.read()
        self.submitted.append((queue, title, dict(options or {}), data))
        job_id = len(self.submitted)
        self.jobs[job_id] = "pending"
        return job_id
