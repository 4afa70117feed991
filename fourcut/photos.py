"""
The photos directory: every capture is on disk, durably and under a name
of its own, before any client hears of it.
"""

import itertools
import os
import time


class PhotoStore:
    """
    Saves photos as C{fourcut-YYYYmmdd-HHMMSS-N.jpg} in C{directory}.

    A photo is written to a temporary file, fsynced, then hard-linked to
    its final name (the link fails rather than overwrite an existing
    photo, so concurrent captures and restarts never collide), and the
    directory is fsynced so the name survives a power cut. Blocking: call
    it in a thread.
    """

    def __init__(self, directory, clock=time.time):
        self.directory = os.path.abspath(directory)
        self._clock = clock
        self._counter = itertools.count(1)

    def save(self, data):
        """
        @return: C{(name, path)} of the saved photo.
        @raise OSError: if the disk is full, read-only or missing.
        """
        os.makedirs(self.directory, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self._clock()))
        temp = os.path.join(self.directory, ".incoming-%d-%d.tmp"
                            % (os.getpid(), next(self._counter)))
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            for attempt in itertools.count(1):
                name = "fourcut-%s-%d.jpg" % (stamp, attempt)
                path = os.path.join(self.directory, name)
                try:
                    os.link(temp, path)
                    break
                except FileExistsError:
                    continue
        finally:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return name, path
