# -*- test-case-name: tests.printing.test_service,tests.printing.test_cups -*-
"""
Printing the booth's strips through CUPS.

- L{fourcut.printing.sheet}: the 4x6 inch sheet, two strips side by side,
  as a one-page PDF.
- L{fourcut.printing.printer}: CUPS through pycups, blocking, one call at
  a time.
- L{fourcut.printing.state}: what the printer's state means, for the
  operator and for guests.
- L{fourcut.printing.queue}: the jobs and the copies limit.
- L{fourcut.printing.service}: all of it on the reactor, threads for CUPS
  and Pillow; L{fourcut.printing.resources}: C{/booth/printer} and
  C{/booth/print}; L{fourcut.printing.metrics}: C{/metrics}.
"""

__all__ = []
