# -*- test-case-name: tests.web.test_gallery,tests.integration.test_booth_http -*-
"""
One saved photo over HTTP, served the one safe way: C{GET /photos/NAME}
(L{fourcut.web.gallery}) and a guest's C{GET /share/KEY/NAME}
(L{fourcut.booth.resources}) both answer with a L{PhotoFile}, so Range,
Last-Modified and refusals are the same on both.
"""

import errno
import os
import stat

from twisted.web import server, static

from fourcut.stream.internals import byte_ranges, range_offset_and_size
from fourcut.web.replies import NotFound, Resource, error

__all__ = ["Forbidden", "PhotoFile"]


class Forbidden(Resource):
    """
    The 403 for a photo the server may not read.
    """

    isLeaf = True

    def render(self, request):
        error(request, 403, "the photo may not be read")
        return server.NOT_DONE_YET


class PhotoFile(static.File):
    """
    One photo, served by C{twisted.web.static.File} for its Range,
    Last-Modified and If-Modified-Since handling, always as C{image/jpeg},
    and never as anything but that one regular file: no children, no
    directory listing, no symlink followed. A request for several ranges
    gets one, spanning them all.
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

    def makeProducer(self, request, fileForReading):
        # A Range of several ranges would be a multipart/byteranges answer
        # (5,000 overlapping ranges of a photo: gigabytes). Coalesce them
        # into the one range from the first byte asked for to the last;
        # twisted.web then answers it (206, or 416 if none overlaps).
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

    def getChild(self, path, request):
        return NotFound()

    def directoryListing(self):
        return NotFound()

    def redirect(self, request):
        return NotFound().render(request)
