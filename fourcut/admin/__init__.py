# -*- test-case-name: tests.admin.test_admin -*-
"""
The operator page, C{/admin}: the camera, the disk, the printer, recent
errors in words, the gallery with hide and delete, a test print, reset
and restart, on a phone as well as a laptop.

- L{fourcut.admin.errors}: the last warnings and errors of the log.
- L{fourcut.admin.resources}: C{/admin} and its JSON and actions.
- C{static/admin.html}: the page, one file (it is served behind the
  token, so it loads nothing else).
"""

__all__ = []
