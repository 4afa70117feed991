# -*- test-case-name: tests.printing.test_service,tests.printing.test_cups -*-
"""
Printing over HTTP, for the booth page (mounted below C{/booth} by
L{fourcut.booth.service.Booth.resources}).

=========================  ==============================================
C{GET /booth/printer}      C{{"mode", "state", "guest_message"}}: public,
                           like the booth page; the guest's words only,
                           never CUPS' text
C{POST /booth/print}       JSON C{{"strip": NAME}} (the C{filename} of
                           C{strip_ready}): queues a sheet of that strip;
                           needs the token when C{access.token} is set
=========================  ==============================================

C{POST /booth/print} answers 202 C{{"queued": true, "copies_left": N}}
once the sheet is queued (CUPS takes it later, even if the printer is out
of paper now), or an error C{{"error", "status", "reason"}}: 400 a body
that is not C{{"strip": NAME}}, 401 no token, 404 (C{unknown_strip}) no
such strip, 409 (C{off}) printing is off or (C{copies}) the strip has had
its copies, 503 (C{full}) too many prints waiting.
"""

import json

from twisted.web import server

from fourcut.printing.queue import PrintRefused
from fourcut.web.access import AccessPolicy
from fourcut.web.replies import NO_CACHE_HEADERS, Reply, Resource, send_json

__all__ = ["PrintResource", "PrinterResource", "booth_resources"]

#: The largest body C{POST /booth/print} reads.
MAX_BODY = 4096


class PrinterResource(Resource):
    """
    C{GET /booth/printer}.
    """

    isLeaf = True

    def __init__(self, printing):
        Resource.__init__(self)
        self.printing = printing

    def render_GET(self, request):
        request.setHeader(b"content-type", b"application/json")
        for name, value in NO_CACHE_HEADERS:
            request.setHeader(name, value)
        return json.dumps(self.printing.booth_view()).encode("utf-8")


def _strip_of(request):
    """
    The strip name of a C{{"strip": NAME}} body, or raise L{ValueError}
    saying what is wrong.
    """
    body = request.content.read(MAX_BODY + 1) if request.content else b""
    if len(body) > MAX_BODY:
        raise ValueError("the body is too long")
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError('the body must be JSON: {"strip": "strip-....jpg"}')
    if not isinstance(value, dict) or not isinstance(value.get("strip"),
                                                     str):
        raise ValueError('the body must be {"strip": NAME}, NAME the '
                         'filename of the strip_ready event')
    unknown = sorted(set(value) - {"strip"})
    if unknown:
        raise ValueError("unknown field %r; known: strip" % (unknown[0],))
    return value["strip"]


class PrintResource(Resource):
    """
    C{POST /booth/print}.

    @param token: C{access.token}, or L{None}.
    """

    isLeaf = True
    methods = (b"POST",)

    def __init__(self, printing, token=None):
        Resource.__init__(self)
        self.printing = printing
        self.access = AccessPolicy(token)

    def render_POST(self, request):
        reply = Reply(request)
        if not self.access.authenticated(request):
            request.setHeader(b"www-authenticate", b'Bearer realm="fourcut"')
            send_json(reply, 401, {
                "error": "printing needs the access token: send "
                         "'Authorization: Bearer TOKEN'",
                "status": 401, "reason": "token"})
            return server.NOT_DONE_YET
        try:
            name = _strip_of(request)
        except ValueError as e:
            send_json(reply, 400, {"error": str(e), "status": 400,
                                   "reason": "bad_request"})
            return server.NOT_DONE_YET
        d = self.printing.print_strip(name)

        def queued(copies_left):
            send_json(reply, 202, {"queued": True,
                                   "copies_left": copies_left})

        def refused(failure):
            failure.trap(PrintRefused)
            e = failure.value
            body = {"error": str(e), "status": e.code, "reason": e.reason}
            if e.copies_left is not None:
                body["copies_left"] = e.copies_left
            send_json(reply, e.code, body)
        d.addCallbacks(queued, refused)
        d.addErrback(reply.fail, "print")
        return server.NOT_DONE_YET


def booth_resources(printing, token=None):
    """
    The C{(segment, resource)} pairs to mount below C{/booth}.
    """
    return [(b"printer", PrinterResource(printing)),
            (b"print", PrintResource(printing, token))]
