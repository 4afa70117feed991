# -*- test-case-name: tests.web -*-
"""
Every transport fourcut serves on its one port, laid out as the data flows:

  - L{fourcut.web.site}: the whole resource tree in one place, and the
    guards around it;
  - L{fourcut.web.replies}: one way to answer (text, JSON, every error);
  - L{fourcut.web.live}: live view over HTTP (C{/preview}, C{/snapshot},
    the page C{/}), L{fourcut.web.actions}: seed 000's camera actions
    (C{/capture}, C{/reset}, C{/cmd}), L{fourcut.web.rest}: seed 001's
    REST endpoints and C{/metrics}, L{fourcut.web.gallery}: the saved
    photos, L{fourcut.web.ws}: seed 001's WebSocket protocol;
  - what guards them: the access token (L{fourcut.web.access}), other
    origins (L{fourcut.web.cors}) and the connection limits
    (L{fourcut.web.limits}).
"""

__all__ = []
