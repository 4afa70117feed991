"""
L{fourcut.camera.capture.PhotoTaker}: one photo from a fake driver into a
real L{fourcut.photos.PhotoStore}, under L{task.Clock} with a thread pool
that runs at once. The promise checked: the card's copy is deleted only
after the photo and its name were fsynced (C{os.fsync} watched, as in
L{tests.test_photos}), and a save that fails says where the photo still
is.
"""

import os

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from fourcut.camera.capture import PhotoTaker
from fourcut.camera.shots import Shot, on_card
from fourcut.errors import CameraError
from fourcut.photos import PhotoStore

from tests.camera.test_camera_session import FakeReactor
from tests.test_photos import SyncLog

CARD = "/store_00020001/DCIM/100CANON/IMG_0001.JPG"
RAM = "/capt0000.jpg"


class Driver:
    """
    Answers a capture with C{shot} after C{camera_seconds} of the clock;
    a delete records what had been fsynced by then.
    """

    def __init__(self, clock, shot, log=None, camera_seconds=0.5):
        self.clock = clock
        self.shot = shot
        self.log = log
        self.camera_seconds = camera_seconds
        self.captures = []
        self.deleted = []

    def capture(self, settings, deadline, mode=()):
        self.captures.append((settings, deadline, mode))
        if isinstance(self.shot, Exception):
            return defer.fail(self.shot)
        self.clock.advance(self.camera_seconds)
        return defer.succeed(self.shot)

    def delete(self, location):
        events = list(self.log.events) if self.log else []
        self.deleted.append((location, events))
        return defer.succeed(None)


class Transform:
    def __init__(self, identity=False):
        self.identity = identity

    def __call__(self, data):
        return data[::-1]


class FailingStore:
    def __init__(self, error):
        self.error = error

    def save(self, data, name_hint=None):
        raise self.error


class PhotoTakerTests(SynchronousTestCase):
    def setUp(self):
        self.reactor = FakeReactor()
        self.directory = os.path.realpath(self.mktemp())
        self.store = PhotoStore(self.directory)

    def take(self, taker, *args, **kwargs):
        return self.successResultOf(taker.take(*args, **kwargs))

    def test_deleted_from_card_only_once_durable(self):
        """
        With C{keep_on_card} false, the card's copy is deleted after the
        photo's file and the photos directory were fsynced.
        """
        log = SyncLog(self)
        driver = Driver(self.reactor, Shot(b"JPEG", CARD), log)
        taker = PhotoTaker(self.reactor, driver, self.store,
                           keep_on_card=False)
        photo = self.take(taker, [("iso", "100")], "guest", [("a", "b")])
        self.assertEqual(photo.path, os.path.join(self.directory,
                                                  "guest.jpg"))
        (location, synced), = driver.deleted
        self.assertEqual(location, CARD)
        inode = os.stat(photo.path).st_ino
        fsyncs = [e for e in synced if e[0] == "fsync"]
        self.assertEqual(fsyncs, [("fsync", "file", inode),
                                  ("fsync", "dir", self.directory)])
        self.assertEqual(synced.index(fsyncs[1]), len(synced) - 1)

    def test_the_photo(self):
        """
        The L{Photo}: its name, path and bytes, the mode's refusals, and
        how long the camera and the save took; the driver got the
        settings, the deadline and the mode as tuples.
        """
        shot = Shot(b"JPEG", CARD, mode_errors=["drivemode: refused"])
        driver = Driver(self.reactor, shot)
        taker = PhotoTaker(self.reactor, driver, self.store,
                           capture_timeout=12.5)
        photo = self.take(taker, [("iso", "100")], None, [("a", "b")])
        self.assertEqual(driver.captures, [((("iso", "100"),), 12.5,
                                            (("a", "b"),))])
        self.assertTrue(photo.name.startswith("fourcut-"))
        self.assertEqual(photo.path, os.path.join(self.directory,
                                                  photo.name))
        self.assertEqual(photo.data, b"JPEG")
        self.assertEqual(photo.mode_errors, ["drivemode: refused"])
        self.assertEqual(photo.camera_ms, 500.0)
        self.assertEqual(photo.save_ms, 0.0)
        self.assertEqual(driver.deleted, [])        # keep_on_card

    def test_defaults(self):
        taker = PhotoTaker(self.reactor, None, self.store)
        self.assertEqual((taker.capture_timeout, taker.keep_on_card,
                          taker.transform), (60.0, True, None))

    def test_save_time(self):
        """
        C{save_ms} is the time from the photo's bytes to its save.
        """
        clock = self.reactor

        class SlowStore:
            def save(self, data, name_hint=None):
                clock.advance(0.25)
                return "a.jpg", "/p/a.jpg"

        taker = PhotoTaker(clock, Driver(clock, Shot(b"J", CARD)),
                           SlowStore())
        photo = self.take(taker, ())
        self.assertEqual((photo.camera_ms, photo.save_ms), (500.0, 250.0))

    def test_not_deleted_from_ram(self):
        """
        A photo in an EOS's RAM (or with no location) has no card copy to
        delete.
        """
        for location in (RAM, None):
            driver = Driver(self.reactor, Shot(b"JPEG", location))
            taker = PhotoTaker(self.reactor, driver, self.store,
                               keep_on_card=False)
            self.take(taker, ())
            self.assertEqual(driver.deleted, [], location)

    def test_transform(self):
        """
        A capture transform that does something is applied to what is
        saved; an identity one is not called.
        """
        driver = Driver(self.reactor, Shot(b"abc", CARD))
        photo = self.take(PhotoTaker(self.reactor, driver, self.store,
                                     transform=Transform()), ())
        self.assertEqual(photo.data, b"cba")
        with open(photo.path, "rb") as f:
            self.assertEqual(f.read(), b"cba")
        photo = self.take(PhotoTaker(self.reactor, driver, self.store,
                                     transform=Transform(identity=True)), ())
        self.assertEqual(photo.data, b"abc")

    def test_no_camera_is_503(self):
        """
        The driver's 504 (no answer in time) is a 503 to the client; any
        other camera error goes as it is.
        """
        for status, expected in [(504, 503), (500, 500), (503, 503)]:
            driver = Driver(self.reactor, CameraError(status, "no camera"))
            taker = PhotoTaker(self.reactor, driver, self.store)
            failure = self.failureResultOf(taker.take(()), CameraError)
            self.assertEqual((failure.value.status, failure.value.text),
                             (expected, "no camera"))

    def test_save_failed_on_card(self):
        """
        A failed save says the photo is still on the card; nothing is
        deleted.
        """
        driver = Driver(self.reactor, Shot(b"J", CARD))
        taker = PhotoTaker(self.reactor, driver, FailingStore(
            OSError(28, "No space left on device")), keep_on_card=False)
        failure = self.failureResultOf(taker.take(()), OSError)
        self.assertEqual(failure.value.errno, 28)
        self.assertEqual(
            failure.value.strerror, "No space left on device; the photo is "
            "kept on the camera's card as " + CARD)
        self.assertEqual(driver.deleted, [])

    def test_save_failed_in_ram(self):
        driver = Driver(self.reactor, Shot(b"J", RAM))
        taker = PhotoTaker(self.reactor, driver, FailingStore(
            OSError(30, "Read-only file system")))
        failure = self.failureResultOf(taker.take(()), OSError)
        self.assertEqual(failure.value.errno, 30)
        self.assertEqual(
            failure.value.strerror, "Read-only file system; the camera held "
            "the photo only in its memory (/capt0000.jpg; capturetarget "
            "Internal RAM), so it is not on the card either")

    def test_save_failed_nowhere_known(self):
        error = OSError(5, "Input/output error")
        driver = Driver(self.reactor, Shot(b"J", None))
        taker = PhotoTaker(self.reactor, driver, FailingStore(error))
        failure = self.failureResultOf(taker.take(()), OSError)
        self.assertIs(failure.value, error)


class OnCardTests(SynchronousTestCase):
    def test_on_card(self):
        self.assertTrue(on_card(CARD))
        self.assertTrue(on_card("/store_00010001/x.jpg"))
        self.assertFalse(on_card(RAM))
        self.assertFalse(on_card("/mnt/store_0001/x.jpg"))

    def test_shot(self):
        shot = Shot(b"J")
        self.assertEqual((shot.data, shot.location, shot.mode_errors),
                         (b"J", None, []))
        errors = ("a",)
        self.assertEqual(Shot(b"J", CARD, errors).mode_errors, ["a"])
