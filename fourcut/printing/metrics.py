# -*- test-case-name: tests.printing.test_service -*-
"""
Printing on C{/metrics}, read from L{fourcut.printing.service.Printing}
at each scrape (registered with L{fourcut.metrics.Metrics}).

===================================  =====================================
Metric                               What
===================================  =====================================
C{fourcut_printer_state}             1 for the printer's state, 0 for the
                                     others, by C{state}
                                     (L{fourcut.printing.state.STATES})
C{fourcut_print_jobs_waiting}        sheets CUPS has not taken yet
C{fourcut_print_jobs_queued}         jobs in the CUPS queue, not finished
                                     (anyone's)
C{fourcut_print_jobs_submitted_total}  sheets CUPS took
C{fourcut_print_jobs_completed_total}  sheets CUPS printed
C{fourcut_print_jobs_failed_total}   sheets that ended without a print
===================================  =====================================
"""

from fourcut.printing.state import STATES

__all__ = ["PrintCollector"]


class PrintCollector:
    def __init__(self, printing):
        self.printing = printing

    def collect(self):
        # Imported at the first scrape, as fourcut.metrics does: a booth
        # nobody scrapes never loads prometheus_client.
        from prometheus_client.core import (CounterMetricFamily,
                                            GaugeMetricFamily)
        printing = self.printing
        queue = printing.queue
        current = printing.state.state
        state = GaugeMetricFamily(
            "fourcut_printer_state", "1 for the printer's state now.",
            labels=["state"])
        for name in STATES:
            state.add_metric([name], 1 if name == current else 0)
        yield state
        yield GaugeMetricFamily(
            "fourcut_print_jobs_waiting",
            "Sheets waiting for CUPS to take them.", value=queue.waiting())
        report = printing.report
        yield GaugeMetricFamily(
            "fourcut_print_jobs_queued",
            "Jobs in the CUPS queue, not finished.",
            value=report.queued if report is not None else 0)
        yield CounterMetricFamily(
            "fourcut_print_jobs_submitted", "Sheets CUPS took.",
            value=queue.submitted)
        yield CounterMetricFamily(
            "fourcut_print_jobs_completed", "Sheets CUPS printed.",
            value=queue.completed)
        yield CounterMetricFamily(
            "fourcut_print_jobs_failed",
            "Sheets that ended without a print.", value=queue.failed)
