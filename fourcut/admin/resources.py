# -*- test-case-name: tests.admin.test_admin -*-
"""
C{/admin}: the operator page and what it asks. Everything the page shows
or does needs the token when C{access.token} is set: the page itself
holds nothing (like C{/booth} and C{/gallery}, it asks for the token once
and sends it as C{Authorization: Bearer}, never in a URL), and every
other path below C{/admin} is refused without the token, with the
guard's own 401 (L{fourcut.web.access.Unauthorized}). C{/admin} is one of
the site's open paths (L{OPEN_PATHS}) so that this resource, not the
guard, decides.

=====================================  ====================================
C{GET /admin}                          the page (C{static/admin.html})
C{GET /admin/state}                    JSON: the camera as last seen, free
                                       disk, the printer and its queue,
                                       recent errors, the booth's settings
                                       (read-only)
C{POST /admin/test-print}              queue the test sheet: 202
C{POST /admin/prints/N/cancel}         cancel print N (fourcut's number),
                                       which CUPS has not taken yet
C{POST /admin/prints/N/retry}          print failed print N again
C{POST /admin/photos/NAME/hide}        move a photo out of the galleries
                                       (into C{.hidden/} of the photos
                                       directory, where nothing lists it)
C{POST /admin/photos/NAME/delete}      delete a photo (shown or hidden);
                                       the body must be
                                       C{{"confirm": true}}
C{POST /admin/booth}                   choose the theme and the template:
                                       C{{"theme": NAME, "template":
                                       NAME}}, a built-in name or C{null}
                                       for the config file's; the booth
                                       follows from its next page load
                                       and its next strip
                                       (L{fourcut.booth.choice})
=====================================  ====================================

The page reads the camera from C{GET /camera/info} and uses C{GET
/reset} and C{POST /camera/restart}, C{GET /photos} and
C{/thumbnails/NAME} as any client does.
"""

import dataclasses
import json
import os
import re

from twisted.internet import threads
from twisted.web import server

from fourcut.booth.choice import ChoiceError
from fourcut.booth.resources import StaticFiles
from fourcut.metrics import free_bytes
from fourcut.photos import PHOTO_NAME
from fourcut.printing.queue import PrintRefused
from fourcut.web.access import AccessPolicy, Unauthorized
from fourcut.web.replies import (NO_CACHE_HEADERS, Reply, Resource,
                                 hide_paths, send_json)

__all__ = ["AdminResource", "HIDDEN", "OPEN_PATHS", "hide", "delete"]

#: The site's first path segments that the guard lets through to here.
OPEN_PATHS = frozenset([b"admin"])

#: The page's files.
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

#: The page.
PAGE = os.path.join(STATIC, "admin.html")

#: What below C{/admin} is open to all: the page and its files, which
#: hold nothing (the page asks for the token, as C{/booth} does).
OPEN = frozenset([b"", b"static"])

#: Where hidden photos go, inside the photos directory.
HIDDEN = ".hidden"

_PHOTO = re.compile(PHOTO_NAME)

#: The largest body an action reads.
MAX_BODY = 1024

#: What an action answers: {"hidden": NAME} or {"deleted": NAME}.
DONE = {"hide": "hidden", "delete": "deleted"}


def hide(directory, name):
    """
    Move photo C{name} of C{directory} into its L{HIDDEN} directory.
    Blocking.

    @raise FileNotFoundError: no such photo.
    """
    source = os.path.join(directory, name)
    if not os.path.isfile(source) or os.path.islink(source):
        raise FileNotFoundError(name)
    hidden = os.path.join(directory, HIDDEN)
    os.makedirs(hidden, exist_ok=True)
    os.rename(source, os.path.join(hidden, name))


def delete(directory, name):
    """
    Delete photo C{name}, shown or hidden. Blocking.

    @raise FileNotFoundError: no such photo.
    """
    for path in (os.path.join(directory, name),
                 os.path.join(directory, HIDDEN, name)):
        if os.path.isfile(path) and not os.path.islink(path):
            os.unlink(path)
            return
    raise FileNotFoundError(name)


class Page(Resource):
    isLeaf = True

    def render_GET(self, request):
        with open(PAGE, "rb") as f:
            body = f.read()
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"referrer-policy", b"no-referrer")
        for name, value in NO_CACHE_HEADERS:
            request.setHeader(name, value)
        return body


class State(Resource):
    isLeaf = True

    def __init__(self, admin):
        Resource.__init__(self)
        self.admin = admin

    def render_GET(self, request):
        admin = self.admin
        reply = Reply(request)
        d = threads.deferToThreadPool(admin.reactor,
                                      admin.reactor.getThreadPool(),
                                      free_bytes, admin.photos)
        d.addErrback(_unknown_free)
        d.addCallback(lambda free: send_json(reply, 200, admin.state(free)))
        d.addErrback(reply.fail, "operator state")
        return server.NOT_DONE_YET


def _unknown_free(failure):
    failure.trap(OSError)
    return None


#: What a print action answers when the service has no printing.
NOT_SET_UP = PrintRefused("printing is not set up", 409, "off")


def _refused(reply, refusal):
    """
    Answer a L{PrintRefused}: its status, words and reason.
    """
    send_json(reply, refusal.code, {"error": str(refusal),
                                    "status": refusal.code,
                                    "reason": refusal.reason})


class TestPrint(Resource):
    isLeaf = True
    methods = (b"POST",)

    def __init__(self, printing):
        Resource.__init__(self)
        self.printing = printing

    def render_POST(self, request):
        reply = Reply(request)
        if self.printing is None:
            _refused(reply, NOT_SET_UP)
            return server.NOT_DONE_YET
        d = self.printing.test_print()

        def refused(failure):
            failure.trap(PrintRefused)
            _refused(reply, failure.value)
        d.addCallbacks(lambda number: send_json(
            reply, 202, {"queued": True, "number": number}), refused)
        d.addErrback(reply.fail, "test print")
        return server.NOT_DONE_YET


class PrintActions(Resource):
    """
    C{POST /admin/prints/N/cancel} and C{.../retry}: 200 with the job (the
    new one for a retry); 404 for no such print, 409 when its state does
    not allow it (CUPS has it, it has not failed) or printing is not set
    up.
    """

    isLeaf = True
    subpaths = True
    methods = (b"POST",)

    ACTIONS = (b"cancel", b"retry")

    def __init__(self, printing):
        Resource.__init__(self)
        self.printing = printing

    def render_POST(self, request):
        reply = Reply(request)
        path = request.postpath
        if (len(path) != 2 or path[1] not in self.ACTIONS
                or not path[0].isdigit() or len(path[0]) > 9):
            send_json(reply, 404, {
                "error": "POST /admin/prints/N/cancel or "
                         "/admin/prints/N/retry, N a print's number",
                "status": 404, "reason": "unknown"})
            return server.NOT_DONE_YET
        if self.printing is None:
            _refused(reply, NOT_SET_UP)
            return server.NOT_DONE_YET
        action = getattr(self.printing, path[1].decode("ascii"))
        try:
            job = action(int(path[0]))
        except PrintRefused as e:
            _refused(reply, e)
        else:
            send_json(reply, 200, job)
        return server.NOT_DONE_YET


def _confirmed(request):
    body = request.content.read(MAX_BODY) if request.content else b""
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(value, dict) and value.get("confirm") is True


class PhotoActions(Resource):
    """
    C{POST /admin/photos/NAME/hide} and C{.../delete}.
    """

    isLeaf = True
    subpaths = True
    methods = (b"POST",)

    ACTIONS = {b"hide": hide, b"delete": delete}

    def __init__(self, admin):
        Resource.__init__(self)
        self.admin = admin

    def render_POST(self, request):
        reply = Reply(request)
        path = request.postpath
        if len(path) != 2 or path[1] not in self.ACTIONS:
            send_json(reply, 404, {"error": "use POST /admin/photos/NAME/"
                                   "hide or /delete", "status": 404})
            return server.NOT_DONE_YET
        name = path[0].decode("utf-8", "replace")
        if not _PHOTO.match(name):
            send_json(reply, 404, {"error": "no such photo", "status": 404})
            return server.NOT_DONE_YET
        action = path[1].decode("ascii")
        if action == "delete" and not _confirmed(request):
            send_json(reply, 400, {
                "error": 'deleting a photo needs the body {"confirm": true}',
                "status": 400})
            return server.NOT_DONE_YET
        admin = self.admin
        d = threads.deferToThreadPool(admin.reactor,
                                      admin.reactor.getThreadPool(),
                                      self.ACTIONS[path[1]], admin.photos,
                                      name)

        def missing(failure):
            failure.trap(FileNotFoundError)
            send_json(reply, 404, {"error": "no such photo: %s" % (name,),
                                   "status": 404})
            return False

        def done(ok):
            if ok is not False:
                send_json(reply, 200, {DONE[action]: name})
        d.addCallbacks(lambda _: True, missing)
        d.addCallback(done)
        d.addErrback(reply.fail, "photo " + action)
        return server.NOT_DONE_YET


class BoothChoiceResource(Resource):
    """
    C{POST /admin/booth}: the operator's choice of theme and template.
    Answers 200 with what the booth now uses
    (L{fourcut.booth.choice.BoothChoice.describe}), 400 for a body that
    is not a JSON object of known keys or names a theme or template that
    is not built in.
    """

    isLeaf = True
    methods = (b"POST",)

    KEYS = frozenset(["theme", "template"])

    def __init__(self, admin):
        Resource.__init__(self)
        self.admin = admin

    def render_POST(self, request):
        reply = Reply(request)
        choice = self.admin.choice
        body = request.content.read(MAX_BODY) if request.content else b""
        try:
            value = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            value = None
        if not isinstance(value, dict) or not set(value) <= self.KEYS:
            send_json(reply, 400, {
                "error": 'the body must be a JSON object {"theme": NAME, '
                         '"template": NAME}, each a built-in name or null '
                         "for the config file's", "status": 400})
            return server.NOT_DONE_YET
        # A key left out keeps what is chosen now.
        wanted = dict(choice.chosen, **value)
        try:
            choice.choose(**wanted)
        except ChoiceError as e:
            send_json(reply, 400, {"error": str(e), "status": 400})
            return server.NOT_DONE_YET
        admin = self.admin
        d = threads.deferToThreadPool(admin.reactor,
                                      admin.reactor.getThreadPool(),
                                      choice.save)

        def unsaved(failure):
            # In use until a restart all the same: say so.
            failure.trap(OSError)
            admin.recent.add("the theme and template chosen cannot be "
                             "kept for after a restart: %s"
                             % (failure.getErrorMessage(),))
            return False

        d.addCallbacks(lambda _: True, unsaved)
        d.addCallback(lambda saved: send_json(
            reply, 200, dict(choice.describe(), saved=saved)))
        d.addErrback(reply.fail, "booth choice")
        return server.NOT_DONE_YET


class AdminResource(Resource):
    """
    C{/admin}.

    @param camera_info: gives the camera as last seen
        (L{fourcut.status.CameraSummary.camera_info}).
    @param printing: the L{fourcut.printing.service.Printing}, or L{None}.
    @param recent: the L{fourcut.admin.errors.RecentErrors}.
    @param booth: the C{booth:} section of the config, shown read-only.
    @param choice: the L{fourcut.booth.choice.BoothChoice} the booth
        follows, which C{POST /admin/booth} changes.
    @param problems: the booth's own problems, newest first
        (C{problems()}: L{fourcut.booth.plain.BoothProblems}), or L{None}.
    @param token: C{access.token}, or L{None}.
    """

    def __init__(self, reactor, photos, camera_info, printing, recent, booth,
                 choice, problems=None, token=None):
        Resource.__init__(self)
        self.access = AccessPolicy(token)
        self.reactor = reactor
        self.photos = os.path.abspath(photos)
        self.camera_info = camera_info
        self.printing = printing
        self.recent = recent
        self.booth = booth
        self.choice = choice
        self.problems = problems
        self.page = Page()
        self.putChild(b"", self.page)
        self.putChild(b"static", StaticFiles(STATIC))
        self.putChild(b"state", State(self))
        self.putChild(b"test-print", TestPrint(printing))
        self.putChild(b"prints", PrintActions(printing))
        self.putChild(b"photos", PhotoActions(self))
        self.putChild(b"booth", BoothChoiceResource(self))

    def getChildWithDefault(self, name, request):
        if name not in OPEN:
            # The guard's own judgement, for a path it never sees.
            why = self.access.verdict(b"admin", request)
            if why is not None:
                return Unauthorized(why, self.access)
        return Resource.getChildWithDefault(self, name, request)

    def render_GET(self, request):
        return self.page.render_GET(request)

    def state(self, free):
        """
        The body of C{GET /admin/state}, C{free} the photos' free bytes
        (or L{None}).
        """
        errors = self.recent.recent()
        problems = [dict(problem, detail=hide_paths(problem["detail"])
                         if problem.get("detail") else None)
                    for problem in (self.problems() if self.problems
                                    is not None else [])]
        camera = self.camera_info()
        return {
            "camera": camera,
            "disk": {"free_bytes": free},
            "printer": (self.printing.status() if self.printing is not None
                        else None),
            "errors": errors,
            # The booth's failed sequences: in the guests' words, with the
            # technical detail (fourcut.booth.plain.BoothProblems).
            "problems": problems,
            "booth": dataclasses.asdict(self.booth),
            "choice": self.choice.describe(),
        }
