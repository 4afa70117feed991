# -*- test-case-name: tests.test_photos,tests.camera.test_capture,tests.booth.test_strip,tests.web.test_gallery -*-
"""
The photos directory: every capture is on disk, durably and under a name
of its own, before any client hears of it; and what a photo's name may
be, which everything that lists or serves photos checks (L{PHOTO_NAME}).
"""

import errno
import itertools
import os
import re
import time

__all__ = ["PHOTO_NAME", "PhotoStore", "check_name_hint"]

#: A photo's name: what L{PhotoStore.save} makes of a
#: C{fourcut-YYYYmmdd-HHMMSS-N} stamp or a client's name hint, plus
#: C{.jpeg} and upper-case endings for photos copied in by hand. Only such
#: names are listed or served.
PHOTO_NAME = r"\A[A-Za-z0-9_-][A-Za-z0-9._-]{0,250}(?i:\.jpe?g)\Z"

#: What a client may ask a photo to be called: letters, digits, dot, dash
#: and underscore, not starting with a dot, at most 100 characters. Nothing
#: that could name another directory or a hidden file.
_NAME_HINT = re.compile(r"\A[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}\Z")

#: Numbers the temporary files of every store in this process: two stores
#: of one directory (the camera's photos and the booth's strips) must not
#: pick the same temporary name.
_temporaries = itertools.count(1)


def check_name_hint(hint):
    """
    @return: C{hint} without a C{.jpg}/C{.jpeg} ending.
    @raise ValueError: with a message saying what a name may contain.
    """
    if not isinstance(hint, str) or not _NAME_HINT.match(hint):
        raise ValueError("filename may only use letters, digits, '.', '-' "
                         "and '_' (1 to 100 characters, not starting with "
                         "'.')")
    base = re.sub(r"\.jpe?g\Z", "", hint, flags=re.IGNORECASE)
    if not base:
        raise ValueError("filename needs more than an extension")
    return base


class PhotoStore:
    """
    Saves photos as C{fourcut-YYYYmmdd-HHMMSS-N.jpg} in C{directory}.

    A photo is written to a temporary file (in C{temp}, C{paths.temp}, or
    else in C{directory} itself as a hidden C{.incoming-*} file) and
    fsynced, then hard-linked to its final name: atomic, and the link
    fails rather than overwrite an existing photo, so concurrent captures
    and restarts never collide. A C{temp} on another filesystem (or another
    mount of the same one: C{EXDEV}) is copied into C{directory} as a
    hidden file first, fsynced, and linked from there. The directory is
    fsynced so the name survives a power cut. Blocking: call it in a
    thread.

    @ivar temp: where photos are written while they arrive, or L{None}.
    @ivar copies: photos moved in by copying (C{temp} on another
        filesystem).
    """

    def __init__(self, directory, clock=time.time, temp=None):
        self.directory = os.path.abspath(directory)
        self.temp = None if temp is None else os.path.abspath(temp)
        self._clock = clock
        self.copies = 0

    def _temporary(self, directory):
        return os.path.join(directory, ".incoming-%d-%d.tmp"
                            % (os.getpid(), next(_temporaries)))

    def save(self, data, name_hint=None):
        """
        @param name_hint: the name a client asked for (see
            L{check_name_hint}); the photo is C{HINT.jpg}, or C{HINT-2.jpg}
            and so on if that is taken.
        @return: C{(name, path)} of the saved photo.
        @raise OSError: if the disk is full, read-only or missing.
        @raise ValueError: if C{name_hint} is not an acceptable name.
        """
        base = None if name_hint is None else check_name_hint(name_hint)
        os.makedirs(self.directory, exist_ok=True)
        if self.temp is not None:
            os.makedirs(self.temp, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self._clock()))
        temp = self._temporary(self.temp or self.directory)
        copy = None
        try:
            _write(temp, data)
            source = temp
            for attempt in itertools.count(1):
                if base is None:
                    name = "fourcut-%s-%d.jpg" % (stamp, attempt)
                elif attempt == 1:
                    name = base + ".jpg"
                else:
                    name = "%s-%d.jpg" % (base, attempt)
                path = os.path.join(self.directory, name)
                try:
                    os.link(source, path)
                    break
                except FileExistsError:
                    continue
                except OSError as e:
                    if e.errno != errno.EXDEV or copy is not None:
                        raise
                    # paths.temp is on another filesystem: copy the photo
                    # next to its name, then link as on one.
                    copy = self._temporary(self.directory)
                    _write(copy, data)
                    self.copies += 1
                    source = copy
                    os.unlink(temp)
                    temp = None
                    try:
                        os.link(source, path)
                        break
                    except FileExistsError:
                        continue
        finally:
            for leftover in (temp, copy):
                if leftover is None:
                    continue
                try:
                    os.unlink(leftover)
                except FileNotFoundError:
                    pass
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return name, path


def _write(path, data):
    """
    A new file C{path} holding C{data}, fsynced.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
