# -*- test-case-name: tests.printing.test_state -*-
"""
What CUPS' printer states mean (L{fourcut.printing.state.summarise}).
"""

from twisted.trial.unittest import SynchronousTestCase

from fourcut.printing.printer import PrinterReport
from fourcut.printing.state import GUEST_MESSAGES, STATES, summarise


def report(state="idle", reasons=(), accepting=True, message=""):
    return PrinterReport("photo", state, tuple(reasons), accepting, message)


class SummariseTests(SynchronousTestCase):
    def state(self, *args, **kwargs):
        return summarise(report(*args, **kwargs)).state

    def test_fine(self):
        self.assertEqual(summarise(report()).guest_message, None)
        self.assertEqual(self.state(), "idle")
        self.assertEqual(self.state("printing"), "printing")
        # A warning is only news.
        self.assertEqual(self.state(reasons=["media-low-warning"]), "idle")

    def test_reasons(self):
        """
        Each reason CUPS or a driver gives maps to a state, whatever its
        C{-error}/C{-report} ending, paper first.
        """
        cases = [
            (["media-empty-error"], "needs_paper"),
            (["media-needed"], "needs_paper"),
            (["marker-supply-empty-error"], "needs_ink"),
            (["toner-empty-error"], "needs_ink"),
            (["media-jam-error"], "jammed"),
            (["offline-report"], "offline"),
            (["connecting-to-device"], "offline"),
            (["paused"], "stopped"),
            (["media-jam-error", "media-empty-error"], "needs_paper"),
        ]
        for reasons, expected in cases:
            self.assertEqual(self.state("stopped", reasons), expected,
                             reasons)

    def test_stopped_and_rejecting(self):
        self.assertEqual(self.state("stopped"), "stopped")
        self.assertEqual(self.state(accepting=False), "rejecting")
        self.assertEqual(self.state("stopped", accepting=False), "stopped")

    def test_detail_and_words(self):
        """
        The operator's detail carries CUPS' reasons and message; the
        guest's words never do.
        """
        summary = summarise(report("stopped", ["media-empty-error"],
                                   message="Tray 1 empty"))
        self.assertIn("media-empty-error", summary.detail)
        self.assertIn("Tray 1 empty", summary.detail)
        self.assertEqual(summary.guest_message, GUEST_MESSAGES["needs_paper"])
        for words in GUEST_MESSAGES.values():
            self.assertIn("saved", words)
            self.assertNotIn("-", words)

    def test_last_failed(self):
        """
        A failed sheet shows while the printer is otherwise fine; a
        printer that needs the operator says that first.
        """
        summary = summarise(report(), last_failed="CUPS job 3 aborted")
        self.assertEqual(summary.state, "print_failed")
        self.assertIn("CUPS job 3 aborted", summary.detail)
        self.assertEqual(summarise(report("stopped", ["media-jam"]),
                                   last_failed="x").state, "jammed")

    def test_unavailable_and_off(self):
        summary = summarise(unavailable="CUPS cannot be reached")
        self.assertEqual((summary.state, summary.detail),
                         ("offline", "CUPS cannot be reached"))
        self.assertEqual(summarise(report("stopped"), mode="off").state,
                         "off")
        self.assertEqual(set(GUEST_MESSAGES) | {"off", "idle", "printing"},
                         set(STATES))
