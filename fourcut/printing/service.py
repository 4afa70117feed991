# -*- test-case-name: tests.printing.test_service,tests.printing.test_cups -*-
"""
Printing, put together: the print queue, the printer's state read from
CUPS on a poll, the sheets made and handed to CUPS, all off the reactor.

L{Printing} is what the rest of fourcut sees: the booth hands it each
sequence event (C{booth.print: auto} prints every strip), its resources
answer the booth page (L{fourcut.printing.resources}), and it gives the
C{printer} block of C{/status}, the figures of C{/metrics}
(L{fourcut.printing.metrics}) and the operator page's view.

Every CUPS call and every sheet is made in a thread of the reactor's pool
(L{fourcut.printing.printer} blocks on CUPS' socket, Pillow on the
sheet), one at a time: a poll does not start while another runs, and one
job is handed over at a time, so a CUPS server that hangs takes one
thread, never the reactor, the camera or live view. pycups has no
timeout of its own: a poll CUPS has not answered after L{CUPS_DEADLINE}
seconds makes the printer C{offline} ("CUPS has not answered"), and no
other poll starts until that thread returns, so a hung CUPS holds one
thread, not one more every five seconds. A print asked for answers as
soon as it is queued, before CUPS has seen it.
"""

import os
import re
import tempfile
import time

from twisted.application import service
from twisted.internet import defer, task, threads
from twisted.logger import Logger
from twisted.python.failure import Failure

from fourcut.booth.strips import STRIP_PREFIX
from fourcut.photos import PHOTO_NAME
from fourcut.printing.printer import PrinterUnavailable
from fourcut.printing.queue import PrintQueue, PrintRefused
from fourcut.printing.resources import booth_resources
from fourcut.printing.sheet import calibration_sheet, sheet, sheet_pdf
from fourcut.printing.state import summarise

__all__ = ["Printing", "PrintingService", "POLL_INTERVAL", "CUPS_DEADLINE",
           "make_printing"]

log = Logger()

#: Seconds between two looks at the printer.
POLL_INTERVAL = 5.0

#: Seconds a look at the printer may take before the printer is shown
#: offline (a local CUPS answers in milliseconds).
CUPS_DEADLINE = 20.0

_PHOTO = re.compile(PHOTO_NAME)


def _strip_file(path):
    """
    Whether C{path} is a regular file. Blocking.
    """
    try:
        return os.path.isfile(path) and not os.path.islink(path)
    except OSError:
        return False


class Printing:
    """
    @param reactor: for threads and the poll's clock.
    @param cups: a L{fourcut.printing.printer.Cups} (or a fake with its
        blocking methods).
    @param mode: C{booth.print}: C{off}, C{button} or C{auto}.
    @param queue_name: the CUPS queue (C{booth.printer}), or L{None} for
        CUPS' default destination.
    @param copies_limit: sheets a strip may have (C{booth.print_copies}).
    @param media: the IPP C{media} of the sheet (C{booth.print_media}).
    @param photos: the photos directory, where strips are.
    @param temp: where sheets are written before CUPS takes them (L{None}:
        the system's temporary directory).
    @param on_error: called with a line for the operator when a job fails
        or the printer needs attention (the operator page's recent
        errors); the log has it too.
    """

    def __init__(self, reactor, cups, mode, photos, queue_name=None,
                 copies_limit=1, media="na_index-4x6_4x6in", temp=None,
                 interval=POLL_INTERVAL, wall_clock=time.time,
                 on_error=None, deadline=CUPS_DEADLINE):
        self.reactor = reactor
        self.cups = cups
        self.mode = mode
        self.photos = os.path.abspath(photos)
        self.queue_name = queue_name
        self.media = media
        self.temp = temp
        self.interval = interval
        self.deadline = deadline
        self.wall_clock = wall_clock
        self.on_error = on_error or (lambda text: None)
        self.queue = PrintQueue(copies_limit)
        self.report = None
        self.state = summarise(mode=mode)
        self.checked = None
        self.last_error = None
        # Why the last sheet failed, until one prints.
        self.last_failed = None
        self._polling = None
        self._sending = False
        self._loop = None

    @property
    def enabled(self):
        return self.mode != "off"

    # Start and stop (L{fourcut.services.StopService} and the tap).

    def start(self):
        """
        Look at the printer now and every C{interval} seconds.
        """
        if not self.enabled or self._loop is not None:
            return
        self._loop = task.LoopingCall(self.poll)
        self._loop.clock = self.reactor
        self._loop.start(self.interval, now=True).addErrback(
            lambda f: log.failure("the printer poll stopped", f))

    def stop(self):
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def _thread(self, function, *args):
        return threads.deferToThreadPool(
            self.reactor, self.reactor.getThreadPool(), function, *args)

    # The printer's state.

    def poll(self):
        """
        Ask CUPS about the printer and the jobs it took, then hand it the
        jobs waiting. Returns a L{Deferred} (the poll running already, if
        one is).
        """
        if self._polling is not None:
            return self._polling
        d = self._thread(self.cups.report, self.queue_name,
                         self.queue.active_ids())
        silent = self.reactor.callLater(self.deadline, self._silent)

        def answered(result):
            if silent.active():
                silent.cancel()
            return result
        d.addBoth(answered)
        d.addCallbacks(self._reported, self._unavailable)
        d.addCallback(lambda _: self._pump())
        d.addErrback(lambda f: log.failure("printer poll", f))

        def done(result):
            self._polling = None
            return result
        self._polling = d
        d.addBoth(done)
        return d

    def _reported(self, report):
        self.report = report
        self.checked = self.wall_clock()
        completed = self.queue.completed
        failed = self.queue.update(report.jobs)
        if self.queue.completed > completed:
            self.last_failed = None
        for job in failed:
            self.last_failed = job.error
            self._error(job.error)
        self._set_state(summarise(report, mode=self.mode,
                                  last_failed=self.last_failed))

    def _silent(self):
        """
        CUPS has not answered a poll within the deadline: the printer is
        offline until it does (the thread still waits for it).
        """
        self._unavailable(Failure(PrinterUnavailable(
            "CUPS has not answered for %g s" % (self.deadline,))))

    def _unavailable(self, failure):
        failure.trap(PrinterUnavailable)
        self.report = None
        self.checked = self.wall_clock()
        self._set_state(summarise(unavailable=str(failure.value),
                                  mode=self.mode))

    def _set_state(self, state):
        before = self.state
        self.state = state
        if state.state == before.state:
            return
        if state.guest_message is None:
            log.info("printer: {state} ({detail})", state=state.state,
                     detail=state.detail)
        else:
            self._error("printer %s: %s" % (state.state.replace("_", " "),
                                            state.detail))

    def _error(self, text):
        self.last_error = text
        log.warn("printing: {text}", text=text)
        self.on_error(text)

    # Printing.

    def print_strip(self, name):
        """
        Queue a sheet of strip C{name}: fires with the copies it has left,
        or fails with L{PrintRefused}.
        """
        if not self.enabled:
            return defer.fail(PrintRefused(
                "printing is off (booth.print: off)", 409, "off"))
        # Only the booth's strips are printed for guests.
        if (not isinstance(name, str) or not _PHOTO.match(name)
                or not name.startswith(STRIP_PREFIX)):
            return defer.fail(self._unknown(name))
        path = os.path.join(self.photos, name)
        d = self._thread(_strip_file, path)

        def queue(found):
            if not found:
                raise self._unknown(name)
            job = self.queue.add(name, path, "fourcut " + name)
            log.info("printing: {strip} queued as print {number}",
                     strip=name, number=job.number)
            self._pump()
            return self.queue.copies_left(name)
        return d.addCallback(queue)

    def test_print(self):
        """
        Queue the test sheet
        (L{fourcut.printing.sheet.calibration_sheet}): fires
        with its job number, or fails with L{PrintRefused}.
        """
        if not self.enabled:
            return defer.fail(PrintRefused(
                "printing is off (booth.print: off)", 409, "off"))
        try:
            job = self.queue.add(None, None, "fourcut test print")
        except PrintRefused as e:
            return defer.fail(e)
        self._pump()
        return defer.succeed(job.number)

    def cancel(self, number):
        """
        The operator cancels print C{number} before CUPS has it
        (L{fourcut.printing.queue.PrintQueue.cancel}).

        @return: the job, described.
        @raise PrintRefused: as C{cancel} says.
        """
        job = self.queue.cancel(number)
        log.info("printing: print {number} canceled by the operator",
                 number=number)
        return job.describe()

    def retry(self, number):
        """
        The operator prints failed print C{number} again
        (L{fourcut.printing.queue.PrintQueue.retry}).

        @return: the new job, described.
        @raise PrintRefused: as C{retry} says, or printing is off.
        """
        if not self.enabled:
            raise PrintRefused("printing is off (booth.print: off)", 409,
                               "off")
        job = self.queue.retry(number)
        log.info("printing: print {old} again as print {number}",
                 old=number, number=job.number)
        self._pump()
        return job.describe()

    @staticmethod
    def _unknown(name):
        return PrintRefused("no such strip: %r" % (name,), 404,
                            "unknown_strip")

    def sequence_event(self, event, origin):
        """
        A booth sequence event (L{fourcut.booth.sequence.SequenceRunner}
        listener): with C{booth.print: auto}, each new strip is printed.
        """
        if self.mode != "auto" or event.get("type") != "strip_ready":
            return
        d = self.print_strip(event.get("filename"))

        def refused(failure):
            failure.trap(PrintRefused)
            log.warn("printing: strip {strip} not printed: {why}",
                     strip=event.get("filename"), why=failure.value)
        d.addErrback(refused)
        d.addErrback(lambda f: log.failure("auto print", f))

    def _pump(self):
        """
        Hand CUPS the oldest job waiting, then the next, one at a time,
        until CUPS refuses one (the next poll tries again).
        """
        job = self.queue.next_waiting()
        if self._sending or job is None:
            return
        self._sending = True
        d = self._thread(self._send, job.path, job.title)

        def sent(cups_id):
            self.queue.sent(job, cups_id)
            log.info("printing: print {number} is CUPS job {id}",
                     number=job.number, id=cups_id)
            return True

        def refused(failure):
            if failure.check(PrinterUnavailable):
                if job.attempts == 0:
                    log.warn("printing: CUPS has not taken print {number} "
                             "yet: {why}", number=job.number,
                             why=failure.value)
                self.queue.refused(job, str(failure.value))
                return False
            if failure.check(OSError, SyntaxError, ValueError):
                self.queue.fail(job, "the strip could not be read: %s"
                                % (failure.value,))
                self._error("print %d (%s): %s" % (job.number, job.strip,
                                                   job.error))
                return True
            return failure

        def next(more):
            self._sending = False
            if more:
                self._pump()
        d.addCallbacks(sent, refused)
        d.addErrback(lambda f: log.failure("printing", f))
        d.addCallback(next)

    def _send(self, path, title):
        """
        Make the sheet of the strip at C{path} (the test sheet if
        L{None}) and hand it to CUPS. Blocking.
        """
        if path is None:
            page = calibration_sheet()
        else:
            with open(path, "rb") as f:
                page = sheet(f.read())
        data = sheet_pdf(page)
        fd, spooled = tempfile.mkstemp(prefix=".fourcut-sheet-",
                                       suffix=".pdf", dir=self.temp)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return self.cups.submit(self.queue_name, spooled, title,
                                    {"media": self.media})
        finally:
            os.unlink(spooled)

    def booth_resources(self, token=None):
        """
        C{/booth/printer} and C{/booth/print}
        (L{fourcut.printing.resources}), as C{(segment, resource)} pairs;
        C{token} is C{access.token}.
        """
        return booth_resources(self, token)

    # What others show.

    def booth_view(self):
        """
        C{GET /booth/printer}: the mode, the state and the guest's words,
        nothing else.
        """
        return {"mode": self.mode, "state": self.state.state,
                "guest_message": self.state.guest_message}

    def status(self):
        """
        The C{printer} block of C{/status} and the operator page.
        """
        report = self.report
        queue = self.queue
        return {
            "mode": self.mode,
            "state": self.state.state,
            "detail": self.state.detail,
            "guest_message": self.state.guest_message,
            "queue": report.queue if report else self.queue_name,
            "model": report.model if report else None,
            "accepting": report.accepting if report else None,
            "reasons": list(report.reasons) if report else [],
            "cups_jobs_queued": report.queued if report else None,
            "jobs_waiting": queue.waiting(),
            "copies_limit": queue.copies_limit,
            "jobs": queue.describe(),
            "submitted": queue.submitted,
            "completed": queue.completed,
            "failed": queue.failed,
            "last_error": self.last_error,
            "checked": self.checked,
        }


def make_printing(reactor, config, cups, on_error=None):
    """
    The L{Printing} the C{booth:} section of C{config} asks for.
    """
    booth = config.booth
    return Printing(reactor, cups, booth.print, config.paths.photos,
                    queue_name=booth.printer,
                    copies_limit=booth.print_copies,
                    media=booth.print_media,
                    on_error=on_error)


class PrintingService(service.Service):
    """
    Polls the printer while twistd runs (L{Printing.start}, L{Printing.stop}).
    """

    def __init__(self, printing):
        self.printing = printing

    def startService(self):
        service.Service.startService(self)
        self.printing.start()

    def stopService(self):
        service.Service.stopService(self)
        self.printing.stop()
