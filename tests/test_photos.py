"""
L{fourcut.photos}: a photo is on disk for good (its bytes and its name
fsynced) before L{PhotoStore.save} returns, under a name of its own, and
what a client may call a photo. C{os.fsync} is watched, not trusted: each
call is recorded with what the descriptor was (a file's inode or the
directory), in the order it came with the link that names the photo.
"""

import errno
import os
import stat
import time

from twisted.trial.unittest import SynchronousTestCase

from fourcut.photos import PHOTO_NAME, PhotoStore, check_name_hint

#: 2026-12-07 20:15:00 UTC, as a clock.
NOW = 1796674500.0


class SyncLog:
    """
    Wraps C{os.fsync}, C{os.link} and C{os.unlink} in a test: each call is
    recorded as C{("fsync", "file", inode)}, C{("fsync", "dir", path)},
    C{("link", inode, path)} or C{("unlink", path)}, and then done.
    """

    def __init__(self, case):
        self.events = []
        self._fsync, self._link, self._unlink = os.fsync, os.link, os.unlink
        case.patch(os, "fsync", self.fsync)
        case.patch(os, "link", self.link)
        case.patch(os, "unlink", self.unlink)

    def fsync(self, fd):
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            self.events.append(("fsync", "dir",
                                os.readlink("/proc/self/fd/%d" % fd)))
        else:
            self.events.append(("fsync", "file", st.st_ino))
        return self._fsync(fd)

    def link(self, source, target):
        self.events.append(("link", os.stat(source).st_ino, target))
        return self._link(source, target)

    def unlink(self, path):
        self.events.append(("unlink", path))
        return self._unlink(path)


class SaveTests(SynchronousTestCase):
    def setUp(self):
        self.directory = os.path.realpath(self.mktemp())
        self.store = PhotoStore(self.directory, clock=lambda: NOW)

    def stamp(self):
        return time.strftime("%Y%m%d-%H%M%S", time.localtime(NOW))

    def test_durable_before_it_returns(self):
        """
        The photo's bytes are fsynced before its name is made, and the
        directory (which holds the name) after: both before C{save}
        returns, so a power cut after it loses neither.
        """
        log = SyncLog(self)
        name, path = self.store.save(b"\xff\xd8photo\xff\xd9")
        inode = os.stat(path).st_ino
        self.assertEqual(log.events[0], ("fsync", "file", inode))
        self.assertEqual(log.events[1], ("link", inode, path))
        self.assertEqual(log.events[2][0], "unlink")
        self.assertEqual(log.events[3:], [("fsync", "dir", self.directory)])
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"\xff\xd8photo\xff\xd9")
        self.assertEqual(name, "fourcut-%s-1.jpg" % self.stamp())
        self.assertEqual(path, os.path.join(self.directory, name))

    def test_no_temporary_left(self):
        """
        The temporary file is gone and the photo is readable by others
        (0644); nothing else is in the directory.
        """
        self.addCleanup(os.umask, os.umask(0))
        name, path = self.store.save(b"x" * 100000)
        self.assertEqual(os.listdir(self.directory), [name])
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o644)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"x" * 100000)

    def test_short_writes(self):
        """
        C{os.write} may write less than it was given: the rest follows.
        """
        write = os.write
        self.patch(os, "write", lambda fd, data: write(fd, data[:7]))
        _, path = self.store.save(b"0123456789" * 3)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"0123456789" * 3)

    def test_names_never_collide(self):
        """
        Photos in the same second get -1, -2, ...; a name hint is used as
        it is, then C{HINT-2}, C{HINT-3}; nothing is overwritten.
        """
        names = [self.store.save(b"%d" % n)[0] for n in range(3)]
        self.assertEqual(names, ["fourcut-%s-%d.jpg" % (self.stamp(), n)
                                 for n in (1, 2, 3)])
        hinted = [self.store.save(b"h%d" % n, "guest.JPEG")[0]
                  for n in range(3)]
        self.assertEqual(hinted, ["guest.jpg", "guest-2.jpg", "guest-3.jpg"])
        for name, data in [(names[0], b"0"), (hinted[2], b"h2")]:
            with open(os.path.join(self.directory, name), "rb") as f:
                self.assertEqual(f.read(), data)
        self.assertEqual(len(os.listdir(self.directory)), 6)

    def test_two_stores_one_directory(self):
        """
        Two stores of one directory (photos and strips) use temporary
        names of their own.
        """
        other = PhotoStore(self.directory, clock=lambda: NOW)
        log = SyncLog(self)
        self.store.save(b"a")
        other.save(b"b")
        removed = [e[1] for e in log.events if e[0] == "unlink"]
        self.assertEqual(len(set(removed)), 2)

    def test_directory_made(self):
        """
        A missing photos directory is made.
        """
        store = PhotoStore(os.path.join(self.directory, "a", "b"))
        name, path = store.save(b"x")
        self.assertTrue(os.path.isfile(path))

    def test_relative_directory(self):
        """
        The directory is made absolute when the store is built, so a
        later C{chdir} does not move the photos.
        """
        self.assertEqual(PhotoStore("photos").directory,
                         os.path.abspath("photos"))

    def test_failed_write_leaves_nothing(self):
        """
        A full disk: the C{OSError} is raised, no photo or temporary is
        left and the descriptor is closed.
        """
        closed = []
        close = os.close

        def full(fd, data):
            raise OSError(28, "No space left on device")

        def record_close(fd):
            closed.append(fd)
            return close(fd)

        self.patch(os, "write", full)
        self.patch(os, "close", record_close)
        error = self.assertRaises(OSError, self.store.save, b"x")
        self.assertEqual(error.errno, 28)
        self.assertEqual(os.listdir(self.directory), [])
        self.assertEqual(len(closed), 1)

    def test_bad_hint_saves_nothing(self):
        error = self.assertRaises(ValueError, self.store.save, b"x",
                                  "../etc/passwd")
        self.assertIn("letters, digits", str(error))
        self.assertFalse(os.path.exists(self.directory))

    def test_default_clock(self):
        """
        Without a clock, the store names photos by the time now.
        """
        before = time.time()
        name, _ = PhotoStore(self.directory).save(b"x")
        after = time.time()
        self.assertIn(name, {"fourcut-%s-1.jpg" % time.strftime(
            "%Y%m%d-%H%M%S", time.localtime(t)) for t in (before, after)})


class NameTests(SynchronousTestCase):
    def test_hints(self):
        for hint, base in [("guest", "guest"), ("guest.jpg", "guest"),
                           ("Guest_1.JPEG", "Guest_1"), ("a.b.jpeg", "a.b"),
                           ("a.jpg.png", "a.jpg.png"), ("x" * 100, "x" * 100),
                           ("-a", "-a"), ("_", "_")]:
            self.assertEqual(check_name_hint(hint), base, hint)

    def test_bad_hints(self):
        for hint in ["", ".hidden", "../x", "a/b", "a b", "x" * 101, "é",
                     None, 3, b"bytes", "a\n"]:
            error = self.assertRaises(ValueError, check_name_hint, hint)
            self.assertEqual(
                str(error), "filename may only use letters, digits, '.', "
                "'-' and '_' (1 to 100 characters, not starting with '.')")

    def test_photo_name(self):
        import re
        for name in ["fourcut-20261207-201500-1.jpg", "a.JPG", "x.jpeg",
                     "_.Jpeg", "a" * 246 + ".jpg"]:
            self.assertTrue(re.match(PHOTO_NAME, name), name)
        for name in [".a.jpg", "a.png", "a.jpg\n", "a/b.jpg", "jpg",
                     "a" * 252 + ".jpg", "a.jpg.txt", "é.jpg"]:
            self.assertFalse(re.match(PHOTO_NAME, name), name)


PHOTO = b"\xff\xd8" + b"photo" * 1000 + b"\xff\xd9"


class TempDirectoryTests(SynchronousTestCase):
    """
    C{paths.temp}: a photo is whole under its name or not there, with
    the temporary directory on the same filesystem or another.
    """

    def setUp(self):
        self.photos = self.mktemp()
        self.temp = self.mktemp()
        self.links = []
        real_link = os.link

        def link(source, target):
            self.links.append((os.path.dirname(source), target))
            return real_link(source, target)

        self.patch(os, "link", link)
        self.store = PhotoStore(self.photos, clock=lambda: 0, temp=self.temp)

    def assertSaved(self, names):
        self.assertEqual(sorted(os.listdir(self.photos)), sorted(names))
        for name in names:
            with open(os.path.join(self.photos, name), "rb") as f:
                self.assertEqual(f.read(), PHOTO)
        self.assertEqual(os.listdir(self.temp), [])

    def test_written_in_temp(self):
        """
        The photo arrives in C{paths.temp}, both directories are created,
        and it is linked into place from there: nothing is left in temp.
        """
        name, path = self.store.save(PHOTO)
        self.assertEqual(os.path.dirname(path), os.path.abspath(self.photos))
        self.assertSaved([name])
        self.assertEqual(self.links, [(os.path.abspath(self.temp), path)])
        self.assertEqual(self.store.copies, 0)
        second, _ = self.store.save(PHOTO)
        self.assertNotEqual(second, name)
        self.assertSaved([name, second])

    def test_other_filesystem(self):
        """
        A C{paths.temp} on another filesystem (C{EXDEV}) is copied into the
        photos directory, fsynced and linked from there; both temporary
        files are gone; taken names are still never overwritten.
        """
        real_link = os.link

        def link(source, target):
            if os.path.dirname(source) == os.path.abspath(self.temp):
                raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
            self.links.append((os.path.dirname(source), target))
            return real_link(source, target)

        self.patch(os, "link", link)
        first, _ = self.store.save(PHOTO, "guest")
        removed = []
        unlink = os.unlink

        def record_unlink(path):
            removed.append(path)
            return unlink(path)

        self.patch(os, "unlink", record_unlink)
        second, path = self.store.save(PHOTO, "guest")
        self.assertEqual((first, second), ("guest.jpg", "guest-2.jpg"))
        self.assertSaved([first, second])
        self.assertEqual(self.store.copies, 2)
        self.assertEqual(self.links[-1], (os.path.abspath(self.photos), path))
        # Exactly its two temporary files are removed, each once: the
        # one in temp, then the copy beside the photo.
        self.assertEqual([os.path.dirname(p) for p in removed],
                         [os.path.abspath(self.temp),
                          os.path.abspath(self.photos)])

    def test_other_error_not_copied(self):
        """
        Only C{EXDEV} means another filesystem: any other error linking
        the photo into place is raised, with no copy tried.
        """
        real_link = os.link
        calls = []

        def link(source, target):
            calls.append(source)
            if len(calls) == 1:
                raise OSError(errno.EACCES, os.strerror(errno.EACCES))
            return real_link(source, target)

        self.patch(os, "link", link)
        error = self.assertRaises(OSError, self.store.save, PHOTO)
        self.assertEqual(error.errno, errno.EACCES)
        self.assertEqual(len(calls), 1)
        self.assertEqual(self.store.copies, 0)
        self.assertEqual(os.listdir(self.photos), [])
        self.assertEqual(os.listdir(self.temp), [])

    def test_second_exdev_raised(self):
        """
        C{EXDEV} linking the copy (which is beside the photo) is a real
        error: raised, not copied again.
        """
        def link(source, target):
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

        self.patch(os, "link", link)
        error = self.assertRaises(OSError, self.store.save, PHOTO)
        self.assertEqual(error.errno, errno.EXDEV)
        self.assertEqual(self.store.copies, 1)
        self.assertEqual(os.listdir(self.photos), [])
        self.assertEqual(os.listdir(self.temp), [])

    def test_failure_leaves_nothing(self):
        def link(source, target):
            raise OSError(errno.EIO, os.strerror(errno.EIO))

        self.patch(os, "link", link)
        self.assertRaises(OSError, self.store.save, PHOTO)
        self.assertEqual(os.listdir(self.photos), [])
        self.assertEqual(os.listdir(self.temp), [])

    def test_without_temp(self):
        store = PhotoStore(self.photos, clock=lambda: 0)
        name, path = store.save(PHOTO)
        self.assertEqual(os.listdir(self.photos), [name])
        self.assertEqual(self.links, [(os.path.abspath(self.photos), path)])
