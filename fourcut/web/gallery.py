# -*- test-case-name: tests.web.test_gallery -*-
"""
The saved photos over HTTP: C{GET /photos} lists them as JSON, newest
first and paged (C{?kind=strip}: the booth's strips only, C{?kind=photo}:
the rest); C{GET /photos/NAME} serves one as C{image/jpeg}.

Only what L{fourcut.photos.PhotoStore} could have saved is ever listed or
served: a regular file (never a symlink, directory or device) directly in
the photos directory, named with letters, digits, C{.}, C{-} and C{_}, not
starting with C{.}, ending in C{.jpg} (or C{.jpeg}, any case). Anything
else under C{/photos/}, including every spelling of C{..}, is a 404; the
store's C{.incoming-*.tmp} temporaries are hidden files and so invisible.
"""

import os
import re
import stat
from datetime import datetime, timedelta, timezone

from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import server

from fourcut.photos import PHOTO_NAME
from fourcut.web.photofile import PhotoFile
from fourcut.web.replies import Reply, Resource, error, send_json

__all__ = ["BadParameter", "Photos", "cursor", "iso_time", "parse_paging",
           "scan", "start_after"]

log = Logger()

_PHOTO_NAME = re.compile(PHOTO_NAME)
_PHOTO_NAME_BYTES = re.compile(PHOTO_NAME.encode("ascii"))

NAME_RULE = ("photo names are letters, digits, '.', '-' and '_', not "
             "starting with '.', ending in .jpg")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

_DIGITS = re.compile(rb"\A[0-9]+\Z")
_CURSOR = re.compile(rb"\A([0-9]{1,30}):(.*)\Z", re.DOTALL)


def scan(directory):
    """
    The photos in C{directory}, newest first: a list of
    C{(mtime_ns, name, size)}, sorted by modification time and then by
    name, both descending. A missing directory has no photos. Blocking:
    call it in a thread.

    @raise OSError: if C{directory} cannot be read.
    """
    try:
        entries = os.scandir(directory)
    except FileNotFoundError:
        return []
    photos = []
    with entries:
        for entry in entries:
            if not _PHOTO_NAME.match(entry.name):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode):
                photos.append((info.st_mtime_ns, entry.name, info.st_size))
    photos.sort(reverse=True)
    return photos


def iso_time(mtime_ns):
    """
    C{mtime_ns} as ISO 8601 in UTC with microseconds, as
    C{2024-06-10T08:15:02.123456+00:00}.
    """
    seconds, nanoseconds = divmod(mtime_ns, 10 ** 9)
    return (datetime.fromtimestamp(seconds, timezone.utc)
            + timedelta(microseconds=nanoseconds // 1000)).isoformat(
                timespec="microseconds")


def cursor(photo):
    """
    The C{before} value that continues a listing after C{photo}.
    """
    mtime_ns, name, size = photo
    return "%d:%s" % (mtime_ns, name)


def start_after(photos, key):
    """
    The index of the first photo in C{photos} (sorted descending) that
    sorts after C{key}, a C{(mtime_ns, name)} pair, in listing order.
    """
    low, high = 0, len(photos)
    while low < high:
        middle = (low + high) // 2
        if photos[middle][:2] < key:
            high = middle
        else:
            low = middle + 1
    return low


class BadParameter(ValueError):
    """
    A query parameter that cannot be used; the message says why.
    """


def _shown(value):
    text = value.decode("utf-8", "replace")
    if len(text) > 40:
        text = text[:40] + "..."
    return repr(text)


def _one(args, name):
    values = args.get(name.encode("ascii"))
    if not values:
        return None
    if len(values) > 1:
        raise BadParameter("%s given more than once" % (name,))
    return values[0]


def parse_paging(args):
    """
    C{limit}, C{offset} and C{before} from a request's query arguments.

    @return: C{(limit, offset, before)}, C{before} a C{(mtime_ns, name)}
        pair or L{None}.
    @raise BadParameter: saying which parameter is wrong and how.
    """
    limit, offset, before = DEFAULT_LIMIT, 0, None
    value = _one(args, "limit")
    if value is not None:
        if (not _DIGITS.match(value) or len(value) > 4
                or not 1 <= int(value) <= MAX_LIMIT):
            raise BadParameter("limit must be an integer from 1 to %d "
                               "(got %s)" % (MAX_LIMIT, _shown(value)))
        limit = int(value)
    value = _one(args, "offset")
    if value is not None:
        if not _DIGITS.match(value) or len(value) > 15:
            raise BadParameter("offset must be an integer, 0 or more "
                               "(got %s)" % (_shown(value),))
        offset = int(value)
    value = _one(args, "before")
    if value is not None:
        match = _CURSOR.match(value)
        if match is None or not _PHOTO_NAME_BYTES.match(match.group(2)):
            raise BadParameter("before must be a cursor from a listing's "
                               "next link, MTIME_NS:NAME (got %s)"
                               % (_shown(value),))
        before = (int(match.group(1)), match.group(2).decode("ascii"))
    return limit, offset, before


#: What C{kind} may ask for: the booth's strips, or every other photo.
KINDS = ("strip", "photo")


def _kind(args):
    """
    C{kind} from a request's query arguments: one of L{KINDS}, or L{None}
    for everything.

    @raise BadParameter: for anything else.
    """
    value = _one(args, "kind")
    if value is None:
        return None
    text = value.decode("ascii", "replace")
    if text not in KINDS:
        raise BadParameter("kind must be %s (got %s)"
                           % (" or ".join(KINDS), _shown(value)))
    return text


class Photos(Resource):
    """
    C{/photos} and C{/photos/NAME}.

    Listing scans the directory in a thread of C{threadpool} (the
    reactor's by default). At most one scan runs at a time: requests that
    arrive while one runs share the next one, which starts when it ends,
    so a burst of gallery clients costs one thread, and a listing never
    predates its request (a photo saved before the request is in it).

    @ivar directory: the photos directory.
    @ivar annotate: L{None}, or C{annotate(directory, photos)} run in the
        scan's thread after each scan, returning C{{name: fields}} added
        to those photos' entries (the booth marks its strips so).
    """

    isLeaf = True
    subpaths = True

    def __init__(self, directory, reactor, threadpool=None, annotate=None):
        Resource.__init__(self)
        self.directory = os.path.abspath(directory)
        self.annotate = annotate
        self._reactor = reactor
        self._threadpool = threadpool
        self._scanning = False
        self._waiting = []
        self._details = {}

    def render_GET(self, request):
        path = request.postpath
        if not path or path == [b""]:
            return self._list(request)
        if len(path) == 1:
            return self._photo(request, path[0])
        return self._not_found(request, NAME_RULE)

    render_HEAD = render_GET

    def _base(self, request):
        return "/" + "/".join(segment.decode("utf-8", "replace")
                              for segment in request.prepath)

    def _not_found(self, request, why):
        error(request, 404, "no such photo: " + why)
        return server.NOT_DONE_YET

    # One photo

    def _photo(self, request, name):
        if not _PHOTO_NAME_BYTES.match(name):
            return self._not_found(request, NAME_RULE)
        name = name.decode("ascii")
        path = os.path.join(self.directory, name)
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return self._not_found(request, name)
        except OSError as e:
            log.failure("photo {name} could not be read", Failure(),
                        name=name)
            error(request, 500, "the photo could not be read: %s"
                  % (e.strerror,))
            return server.NOT_DONE_YET
        if not stat.S_ISREG(info.st_mode):
            return self._not_found(request, name)
        request.setHeader(b"content-disposition",
                          b'inline; filename="%s"' % name.encode("ascii"))
        # Names can be reused once a photo is deleted: revalidate (cheap,
        # with Last-Modified) rather than trust a cached copy.
        request.setHeader(b"cache-control", b"no-cache")
        request.setHeader(b"x-content-type-options", b"nosniff")
        return PhotoFile(path).render(request)

    # The listing

    def _list(self, request):
        reply = Reply(request)
        try:
            limit, offset, before = parse_paging(request.args)
        except BadParameter as e:
            reply.error(400, str(e))
            return server.NOT_DONE_YET
        try:
            kind = _kind(request.args)
        except BadParameter as e:
            reply.error(400, str(e))
            return server.NOT_DONE_YET
        base = self._base(request)

        def answer(photos):
            if kind is not None:
                photos = [photo for photo in photos
                          if self._details.get(photo[1], {}).get(
                              "kind", "photo") == kind]
            start = 0 if before is None else start_after(photos, before)
            start += offset
            page = photos[start:start + limit]
            more = page and start + limit < len(photos)
            send_json(reply, 200, {
                "photos": [dict({
                    "name": name,
                    "kind": "photo",
                    "size": size,
                    "time": iso_time(mtime_ns),
                    "mtime": mtime_ns / 10 ** 9,
                    "url": "%s/%s" % (base, name),
                }, **self._details.get(name, {}))
                    for mtime_ns, name, size in page],
                "total": len(photos),
                "limit": limit,
                "offset": offset,
                "before": None if before is None else "%d:%s" % before,
                "next": "%s?limit=%d&before=%s%s" % (
                    base, limit, cursor(page[-1]),
                    "" if kind is None else "&kind=" + kind)
                if more else None,
            })

        def failed(failure):
            if not failure.check(OSError):
                return reply.fail(failure, "photo listing")
            log.failure("the photos directory could not be read", failure)
            reply.error(500, "the photos directory could not be read: %s"
                        % (failure.value.strerror,))

        d = self.listing()
        d.addCallbacks(answer, failed)
        d.addErrback(reply.fail, "photo listing")
        return server.NOT_DONE_YET

    def listing(self):
        """
        A fresh L{scan} of the directory, started no earlier than now.

        @return: a L{Deferred} firing with the list of photos.
        """
        d = defer.Deferred()
        self._waiting.append(d)
        if not self._scanning:
            self._scan()
        return d

    def _scan(self):
        waiting, self._waiting = self._waiting, []
        self._scanning = True
        pool = self._threadpool
        if pool is None:
            pool = self._reactor.getThreadPool()

        def done(result):
            self._scanning = False
            if not isinstance(result, Failure):
                result, self._details = result
            if self._waiting:
                self._scan()
            for d in waiting:
                if isinstance(result, Failure):
                    d.errback(result)
                else:
                    d.callback(result)

        threads.deferToThreadPool(self._reactor, pool, self._scan_thread,
                                  self.directory).addBoth(done)

    def _scan_thread(self, directory):
        photos = scan(directory)
        annotate = self.annotate
        return photos, ({} if annotate is None
                        else annotate(directory, photos))
