"""
L{fourcut.photos.PhotoStore}: a photo is whole under its name or not
there, with C{paths.temp} on the same filesystem or another.
"""

import errno
import os

from twisted.trial.unittest import SynchronousTestCase

from fourcut.photos import PhotoStore

PHOTO = b"\xff\xd8" + b"photo" * 1000 + b"\xff\xd9"


class PhotoStoreTests(SynchronousTestCase):
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
        second, path = self.store.save(PHOTO, "guest")
        self.assertEqual((first, second), ("guest.jpg", "guest-2.jpg"))
        self.assertSaved([first, second])
        self.assertEqual(self.store.copies, 2)
        self.assertEqual(self.links[-1], (os.path.abspath(self.photos), path))

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
