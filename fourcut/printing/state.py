# -*- test-case-name: tests.printing.test_state -*-
"""
What the printer's state means, for the operator and for the guests.

L{summarise} turns what CUPS said (a L{fourcut.printing.printer.PrinterReport},
or why it could not be asked) into one word and two texts: the detail the
operator reads on C{/admin}, in C{/status} and the log, and the plain words
a guest reads on the booth (or nothing, when all is well). A guest never
sees CUPS' own text.

=================  ====================================================
State              When
=================  ====================================================
C{off}             C{booth.print: off}
C{idle}            ready, nothing printing
C{printing}        a job is printing
C{needs_paper}     C{media-empty} or C{media-needed}
C{needs_ink}       ink, toner or ribbon is out (C{marker-supply-empty},
                   C{toner-empty})
C{jammed}          C{media-jam}
C{offline}         the printer does not answer its backend
                   (C{offline-report}), or CUPS cannot be reached or has
                   no such queue
C{stopped}         the queue is stopped (C{cupsdisable}, or CUPS stopped
                   it after a failed job)
C{rejecting}       the queue refuses new jobs (C{cupsreject})
C{print_failed}    the printer is otherwise fine, but the last sheet
                   CUPS took ended without a print (cancelled or
                   aborted), and none has printed since
=================  ====================================================

The first that applies wins, in the order of the table from
C{needs_paper} down: paper is what an operator can fix at once and what
stops a stopped printer most often.
"""

from dataclasses import dataclass
from typing import Optional

__all__ = ["PrinterState", "STATES", "summarise", "GUEST_MESSAGES"]

#: Every state, in C{/metrics} order.
STATES = ("off", "idle", "printing", "needs_paper", "needs_ink", "jammed",
          "offline", "stopped", "rejecting", "print_failed")

#: What a guest reads for each state that is not fine.
GUEST_MESSAGES = {
    "needs_paper": "The printer needs paper; your strip is saved and will "
                   "print.",
    "needs_ink": "The printer needs a new ribbon; your strip is saved and "
                 "will print.",
    "jammed": "The printer is jammed; your strip is saved and will print "
              "once it is cleared.",
    "offline": "The printer is not connected; your strip is saved and "
               "will print.",
    "stopped": "The printer is paused; your strip is saved and will print.",
    "rejecting": "The printer is paused; your strip is saved and will "
                 "print.",
    "print_failed": "The last print did not come out; your strip is saved "
                    "and can be printed again.",
}

_PAPER = ("media-empty", "media-needed", "input-tray-missing")
_INK = ("marker-supply-empty", "toner-empty", "marker-supply-missing")
_JAM = ("media-jam",)
_OFFLINE = ("offline", "shutdown", "connecting-to-device", "timed-out")


@dataclass(frozen=True)
class PrinterState:
    """
    @ivar state: one of L{STATES}.
    @ivar detail: what the operator reads: CUPS' reasons and message.
    @ivar guest_message: what a guest reads, or L{None} if all is well.
    """

    state: str
    detail: str
    guest_message: Optional[str] = None


def _bare(reason):
    """
    A C{printer-state-reasons} keyword without its C{-error},
    C{-warning} or C{-report} ending.
    """
    for suffix in ("-error", "-warning", "-report"):
        if reason.endswith(suffix):
            return reason[:-len(suffix)]
    return reason


def summarise(report=None, unavailable=None, mode="button",
              last_failed=None):
    """
    The L{PrinterState} of C{report} (a
    L{fourcut.printing.printer.PrinterReport}), or of a printer CUPS could
    not tell about (C{unavailable}, the reason), for C{booth.print}
    C{mode}; C{last_failed} is why the last sheet failed, if it did and
    none has printed since.
    """
    if mode == "off":
        return PrinterState("off", "printing is off (booth.print: off)")
    if report is None:
        text = unavailable or "the printer has not been asked yet"
        return PrinterState("offline", text, GUEST_MESSAGES["offline"])
    bare = {_bare(reason) for reason in report.reasons
            # "-warning" reasons (media-low) are only news.
            if not reason.endswith("-warning")}
    words = ["printer %s is %s" % (report.queue, report.state)]
    if report.reasons:
        words.append("reasons: " + ", ".join(report.reasons))
    if not report.accepting:
        words.append("the queue rejects new jobs")
    if report.message:
        words.append('CUPS says "%s"' % (report.message,))
    detail = "; ".join(words)
    if bare & set(_PAPER):
        state = "needs_paper"
    elif bare & set(_INK):
        state = "needs_ink"
    elif bare & set(_JAM):
        state = "jammed"
    elif bare & set(_OFFLINE):
        state = "offline"
    elif report.state == "stopped" or "paused" in bare:
        state = "stopped"
    elif not report.accepting:
        state = "rejecting"
    elif last_failed is not None:
        state = "print_failed"
        detail += "; the last print failed: " + last_failed
    elif report.state == "printing":
        state = "printing"
    else:
        state = "idle"
    return PrinterState(state, detail, GUEST_MESSAGES.get(state))
