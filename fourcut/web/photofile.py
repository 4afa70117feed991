# -*- test-case-name: tests.web.test_gallery,tests.web.test_ranges,tests.integration.test_booth_http -*-
"""
Files over HTTP, served the one safe way: C{GET /photos/NAME}
(L{fourcut.web.gallery}) and a guest's C{GET /share/KEY/NAME}
(L{fourcut.booth.resources}) both answer with a L{PhotoFile}, the booth's
page files (C{/booth/static/}) with a L{SafeFile}, so Range,
Last-Modified and refusals are the same on all of them.

twisted.web's L{static.File} answers a C{Range} of several ranges with a
multipart producer that raises on overlapping ones: a 4 KB request of a
thousand C{0-0} ranges was never answered, kept two descriptors and a
connection slot, and logged a critical traceback (issue 25). A L{SafeFile}
coalesces them into the one range from the first byte asked for to the
last (L{OneRange}), and refuses a name twisted.web cannot look up (a NUL
byte: a 500 before) with a 400.
"""

import errno
import os
import stat

from twisted.web import server, static

from fourcut.stream.internals import byte_ranges, range_offset_and_size
from fourcut.web.replies import NotFound, Resource, error

__all__ = ["BadName", "Forbidden", "OneRange", "PhotoFile", "SafeFile"]


class Forbidden(Resource):
    """
    The 403 for a photo the server may not read.
    """

    isLeaf = True

    def render(self, request):
        error(request, 403, "the photo may not be read")
        return server.NOT_DONE_YET


class BadName(Resource):
    """
    The 400 for a file name no file can have (a NUL byte, a slash).
    """

    isLeaf = True

    def render(self, request):
        error(request, 400, "not a file name: it holds a NUL byte or a "
              "slash")
        return server.NOT_DONE_YET


class OneRange:
    """
    A mixin for L{static.File}: a C{Range} of several ranges is answered
    as the one range from the first byte asked for to the last
    (twisted.web then answers it: 206, or 416 if none overlaps the file),
    never as twisted.web's multipart answer, which could be gigabytes
    (5,000 overlapping ranges of a photo) or raise (overlapping ranges).
    """

    def makeProducer(self, request, fileForReading):
        header = request.getHeader(b"range")
        if header is not None and b"," in header:
            try:
                ranges = byte_ranges(self, header)
            except ValueError:
                ranges = None
            if ranges is not None and len(ranges) > 1:
                spans = [range_offset_and_size(self, start, end)
                         for start, end in ranges]
                spans = [(offset, offset + size) for offset, size in spans
                         if size > 0]
                if spans:
                    one = b"bytes=%d-%d" % (min(s[0] for s in spans),
                                            max(s[1] for s in spans) - 1)
                else:
                    one = b"bytes=%d-" % (self.getFileSize(),)
                request.requestHeaders.setRawHeaders(b"range", [one])
        return static.File.makeProducer(self, request, fileForReading)


class SafeFile(OneRange, static.File):
    """
    A directory of files (the booth's pages) or one of them, served by
    twisted.web's L{static.File} with fourcut's answers: a Range of
    several ranges is one range (L{OneRange}), a name with a NUL byte is a
    400 (L{BadName}), a missing file fourcut's 404, and no directory is
    listed.
    """

    childNotFound = NotFound()

    def getChild(self, path, request):
        if b"\0" in path or b"/" in path:
            return BadName()
        return static.File.getChild(self, path, request)

    def directoryListing(self):
        return NotFound()


class PhotoFile(OneRange, static.File):
    """
    One photo, served by C{twisted.web.static.File} for its Range,
    Last-Modified and If-Modified-Since handling, always as C{image/jpeg},
    and never as anything but that one regular file: no children, no
    directory listing, no symlink followed. A request for several ranges
    gets one, spanning them all (L{OneRange}).
    """

    #: A photo that went away, or that may not be read, between the check
    #: and the read: fourcut's answers, not twisted.web's pages.
    childNotFound = NotFound()
    forbidden = Forbidden()

    def __init__(self, path):
        static.File.__init__(self, path, defaultType="image/jpeg")
        self.type = "image/jpeg"
        self.encoding = None

    def openForReading(self):
        # The name was checked with lstat a moment ago; if it has become
        # a symlink or a FIFO since, refuse instead of following or
        # blocking.
        fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                     | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.ENOENT, "not a regular file", self.path)
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def getChild(self, path, request):
        return NotFound()

    def directoryListing(self):
        return NotFound()

    def redirect(self, request):
        return NotFound().render(request)
