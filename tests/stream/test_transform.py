"""
Tests of L{fourcut.stream.transform}: rotation direction, mirroring, cover-and-crop
resizing and bad input for L{FrameTransform}, checked on test cards whose
quadrants have different colours; and the one-at-a-time, newest-wins
pipeline of L{ThreadedTransform} on the real reactor and thread pool.
"""

import io
import struct
import threading

from PIL import Image, ImageChops, ImageDraw, ImageOps, ImageStat
from PIL import JpegImagePlugin
from twisted.internet import defer, reactor, threads
from twisted.logger import Logger, LogLevel
from twisted.python import threadable
from twisted.trial.unittest import TestCase

from fourcut.stream.transform import FrameTransform, ThreadedTransform, TransformError
from fourcut.virtualcam.scene import LiveViewScene

#: Quadrant colours of the test card, far apart and none of them dark.
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 200, 30),
    "blue": (40, 80, 230),
    "yellow": (230, 220, 30),
}

#: The test card's quadrants: top left, top right, bottom left, bottom right.
CARD = ("red", "green", "blue", "yellow")

#: Radius of the black disc in the middle of the 960x640 test card.
DISC = 100


def card(size=(960, 640), disc=True):
    """
    A test card: four quadrants of different colours (see L{CARD}) and,
    optionally, a black disc of radius L{DISC} in the middle, to tell
    whether a resize kept the aspect ratio and the centre.
    """
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    x, y = width // 2, height // 2
    boxes = [(0, 0, x, y), (x, 0, width, y),
             (0, y, x, height), (x, y, width, height)]
    for name, (left, top, right, bottom) in zip(CARD, boxes):
        draw.rectangle((left, top, right - 1, bottom - 1), fill=COLOURS[name])
    if disc:
        draw.ellipse((x - DISC, y - DISC, x + DISC - 1, y + DISC - 1),
                     fill=(0, 0, 0))
    return image


def encode(image, quality=95, **options):
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, **options)
    return out.getvalue()


def decode(jpeg):
    image = Image.open(io.BytesIO(jpeg))
    image.load()
    return image


CARD_JPEG = encode(card())


def colour_name(pixel):
    """
    The name of the L{COLOURS} entry C{pixel} is close to, or C{"?"}.
    """
    if isinstance(pixel, int):
        pixel = (pixel,) * 3
    best, distance = "?", 60 ** 2
    for name, colour in COLOURS.items():
        d = sum((a - b) ** 2 for a, b in zip(pixel, colour))
        if d < distance:
            best, distance = name, d
    return best


def corners(image):
    """
    The colour names a tenth of the way in from each corner: top left, top
    right, bottom left, bottom right.
    """
    width, height = image.size
    left, right = width // 10, width - 1 - width // 10
    top, bottom = height // 10, height - 1 - height // 10
    rgb = image.convert("RGB")
    return tuple(colour_name(rgb.getpixel(point)) for point in [
        (left, top), (right, top), (left, bottom), (right, bottom)])


def disc_box(image):
    """
    The bounding box C{(left, top, right, bottom)} of the dark pixels.
    """
    dark = ImageOps.grayscale(image).point(lambda v: 255 if v < 40 else 0)
    return dark.getbbox()


class FrameTransformTests(TestCase):
    """
    Tests of L{FrameTransform}.
    """

    def assertTransforms(self, transform, size, expected_corners,
                         source=CARD_JPEG):
        """
        C{transform(source)} is a JPEG of C{size} with the given corners.

        @return: the decoded output.
        """
        output = transform(source)
        self.assertIsInstance(output, bytes)
        image = decode(output)
        self.assertEqual(image.format, "JPEG")
        self.assertEqual(image.size, size)
        self.assertEqual(corners(image), expected_corners)
        return image

    def assertRound(self, image, radius, centre):
        """
        The black disc in C{image} is a circle of C{radius} around
        C{centre}, give or take a few pixels of resampling and JPEG blur.
        """
        left, top, right, bottom = disc_box(image)
        for measured, expected in [(right - left, 2 * radius),
                                   (bottom - top, 2 * radius),
                                   ((left + right) / 2, centre[0]),
                                   ((top + bottom) / 2, centre[1])]:
            self.assertLessEqual(abs(measured - expected), 4,
                                 "disc box %r, expected radius %r at %r"
                                 % ((left, top, right, bottom), radius,
                                    centre))

    def test_card(self):
        """
        The test card and the helpers agree with each other, so the tests
        below measure the transform and not the fixtures.
        """
        image = decode(CARD_JPEG)
        self.assertEqual(image.size, (960, 640))
        self.assertEqual(corners(image), CARD)
        self.assertRound(image, DISC, (480, 320))

    def test_identity(self):
        """
        With nothing configured the input comes back as the very same
        object, without being decoded: even garbage passes through.
        """
        for transform in [FrameTransform(), FrameTransform(quality=10)]:
            self.assertTrue(transform.identity)
            self.assertIs(transform(CARD_JPEG), CARD_JPEG)
            garbage = b"not a jpeg at all"
            self.assertIs(transform(garbage), garbage)

    def test_not_identity(self):
        """
        Any rotation, mirror or resolution makes a transform non-identity.
        """
        for transform in [FrameTransform(rotation=90),
                          FrameTransform(rotation=180),
                          FrameTransform(flip=True),
                          FrameTransform(resolution=(960, 640))]:
            self.assertFalse(transform.identity, transform)

    def test_rotate_90(self):
        """
        Rotation 90 turns the picture clockwise: the top-left corner goes
        top right, and landscape becomes portrait.
        """
        self.assertTransforms(FrameTransform(rotation=90), (640, 960),
                              ("blue", "red", "yellow", "green"))

    def test_rotate_180(self):
        """
        Rotation 180 turns the picture upside down.
        """
        self.assertTransforms(FrameTransform(rotation=180), (960, 640),
                              ("yellow", "blue", "green", "red"))

    def test_rotate_270(self):
        """
        Rotation 270 turns the picture clockwise by three quarters, that is
        counter-clockwise by one: the top-left corner goes bottom left.
        """
        self.assertTransforms(FrameTransform(rotation=270), (640, 960),
                              ("green", "yellow", "red", "blue"))

    def test_flip(self):
        """
        Flip mirrors left to right: top stays top.
        """
        self.assertTransforms(FrameTransform(flip=True), (960, 640),
                              ("green", "red", "yellow", "blue"))

    def test_rotate_90_flip(self):
        """
        With a rotation, the mirror is applied after it: left and right of
        the turned picture swap (not top and bottom).
        """
        self.assertTransforms(FrameTransform(rotation=90, flip=True),
                              (640, 960), ("red", "blue", "green", "yellow"))

    def test_rotate_180_flip(self):
        """
        Rotation 180 then a mirror is an upside-down picture, mirrored.
        """
        self.assertTransforms(FrameTransform(rotation=180, flip=True),
                              (960, 640), ("blue", "yellow", "red", "green"))

    def test_rotate_270_flip(self):
        """
        Rotation 270 then a mirror.
        """
        self.assertTransforms(FrameTransform(rotation=270, flip=True),
                              (640, 960), ("yellow", "green", "blue", "red"))

    def test_matches_rotate_then_mirror(self):
        """
        Every combination agrees with an independent reference: Pillow's
        C{rotate} by minus the angle (clockwise, expanded, exact for right
        angles) and then a mirror.
        """
        source = card()
        for rotation in (0, 90, 180, 270):
            for flip in (False, True):
                if not rotation and not flip:
                    continue
                expected = source.rotate(-rotation, expand=True)
                if flip:
                    expected = ImageOps.mirror(expected)
                self.assertTransforms(
                    FrameTransform(rotation=rotation, flip=flip),
                    expected.size, corners(expected))

    def test_downscale(self):
        """
        A resolution of the same aspect ratio scales the whole picture.
        """
        image = self.assertTransforms(FrameTransform(resolution=(480, 320)),
                                      (480, 320), CARD)
        self.assertRound(image, DISC / 2, (240, 160))

    def test_upscale(self):
        """
        A resolution larger than the frame scales it up.
        """
        image = self.assertTransforms(
            FrameTransform(resolution=(1920, 1280)), (1920, 1280), CARD)
        self.assertRound(image, DISC * 2, (960, 640))

    def test_same_size(self):
        """
        A resolution equal to the frame's size gives that size back (and a
        re-encoded JPEG).
        """
        self.assertTransforms(FrameTransform(resolution=(960, 640)),
                              (960, 640), CARD)

    def test_narrower_aspect_crops_sides(self):
        """
        A narrower output is cut from the middle of the frame, not
        squeezed: the disc stays round and centred.  3:2 to 1:1 by 0.75
        keeps the middle 640x640 of the frame.
        """
        image = self.assertTransforms(FrameTransform(resolution=(480, 480)),
                                      (480, 480), CARD)
        self.assertRound(image, DISC * 0.75, (240, 240))

    def test_wider_aspect_crops_top_and_bottom(self):
        """
        A wider output is cut from the middle of the frame, not stretched.
        3:2 to 16:9 scales by 4/3 to cover the width.
        """
        image = self.assertTransforms(FrameTransform(resolution=(1280, 720)),
                                      (1280, 720), CARD)
        self.assertRound(image, DISC * 4 / 3, (640, 360))

    def test_crop_removes_the_outside(self):
        """
        Cropping takes the same amount from both sides: a card whose
        outer quarters on the left and right are a different colour loses
        exactly those to a square output.
        """
        image = card(disc=False)
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0, 159, 639), fill=(0, 0, 0))
        draw.rectangle((800, 0, 959, 639), fill=(0, 0, 0))
        output = decode(FrameTransform(resolution=(640, 640))(encode(image)))
        self.assertEqual(output.size, (640, 640))
        self.assertIsNone(disc_box(output))
        self.assertEqual(corners(output), CARD)

    def test_resolution_is_after_rotation(self):
        """
        The resolution is that of the turned picture: portrait output from
        a landscape frame turned by 90, round and centred.
        """
        image = self.assertTransforms(
            FrameTransform(rotation=90, resolution=(720, 1280)),
            (720, 1280), ("blue", "red", "yellow", "green"))
        self.assertRound(image, DISC * 4 / 3, (360, 640))

    def test_resolution_after_rotation_and_mirror(self):
        """
        Rotation, mirror and resize together.
        """
        image = self.assertTransforms(
            FrameTransform(rotation=270, flip=True, resolution=(320, 480)),
            (320, 480), ("yellow", "green", "blue", "red"))
        self.assertRound(image, DISC / 2, (160, 240))

    def recordDrafts(self):
        """
        Record the size the JPEG decoder is drafted to, each time.
        """
        drafted = []
        original = JpegImagePlugin.JpegImageFile.draft

        def draft(image, mode, size):
            result = original(image, mode, size)
            drafted.append(image.size)
            return result
        self.patch(JpegImagePlugin.JpegImageFile, "draft", draft)
        return drafted

    def test_draft_large_downscale(self):
        """
        A large reduction decodes the JPEG at a reduced scale, no smaller
        than the output, in the frame's own orientation: 160x240 after
        turning by 90 is 240x160 before, a quarter of 960x640.
        """
        drafted = self.recordDrafts()
        image = self.assertTransforms(
            FrameTransform(rotation=90, resolution=(160, 240)), (160, 240),
            ("blue", "red", "yellow", "green"))
        self.assertEqual(drafted, [(240, 160)])
        self.assertRound(image, DISC / 4, (80, 120))

    def test_draft_never_below_output(self):
        """
        A reduction by less than half, or an enlargement, decodes at full
        size.
        """
        drafted = self.recordDrafts()
        FrameTransform(resolution=(500, 340))(CARD_JPEG)
        FrameTransform(resolution=(1920, 1280))(CARD_JPEG)
        self.assertEqual(drafted, [(960, 640), (960, 640)])

    def test_draft_quality(self):
        """
        Drafting costs practically nothing in quality, on a picture with
        fine detail: its output is about as close to a full decode resized
        with Lanczos as the same transform without drafting, and much
        closer than a nearest-neighbour resize.
        """
        source = LiveViewScene().frame(0)
        full = decode(source)
        reference = full.resize((240, 160), Image.Resampling.LANCZOS)
        nearest = full.resize((240, 160), Image.Resampling.NEAREST)
        transform = FrameTransform(resolution=(240, 160))
        drafted = self.recordDrafts()
        with_draft = decode(transform(source))
        self.assertEqual(drafted, [(240, 160)])
        self.patch(JpegImagePlugin.JpegImageFile, "draft",
                   lambda image, mode, size: None)
        without_draft = decode(transform(source))

        def error(image):
            return max(ImageStat.Stat(
                ImageChops.difference(image, reference)).mean)
        self.assertLess(error(with_draft), error(without_draft) + 1)
        self.assertLess(error(with_draft) * 2, error(nearest))

    def test_quality(self):
        """
        The quality setting is the output's JPEG quality: lower is smaller.
        """
        low = FrameTransform(flip=True, quality=20)(CARD_JPEG)
        high = FrameTransform(flip=True, quality=95)(CARD_JPEG)
        self.assertLess(len(low) * 1.5, len(high))
        self.assertEqual(corners(decode(low)), corners(decode(high)))

    def test_grayscale(self):
        """
        A greyscale JPEG stays greyscale.
        """
        source = encode(card().convert("L"))
        image = decode(FrameTransform(rotation=90)(source))
        self.assertEqual(image.mode, "L")
        self.assertEqual(image.size, (640, 960))

    def test_exif_orientation_ignored(self):
        """
        An EXIF orientation tag neither changes what is done nor reaches
        the output (where a viewer would turn the picture again).
        """
        exif = Image.Exif()
        exif[0x0112] = 6                        # "rotate 90 to display"
        source = encode(card(), exif=exif.tobytes())
        self.assertEqual(decode(source).getexif().get(0x0112), 6)
        image = self.assertTransforms(FrameTransform(flip=True), (960, 640),
                                      ("green", "red", "yellow", "blue"),
                                      source=source)
        self.assertIsNone(image.getexif().get(0x0112))

    def test_icc_profile_kept(self):
        """
        An ICC colour profile is carried over.
        """
        profile = decode(CARD_JPEG).info.get("icc_profile")
        self.assertIsNone(profile)
        fake = b"\0" * 128                     # Pillow does not parse it
        source = encode(card(), icc_profile=fake)
        output = decode(FrameTransform(rotation=180)(source))
        self.assertEqual(output.info.get("icc_profile"), fake)

    def test_bad_input(self):
        """
        Anything but a decodable JPEG raises L{TransformError}, a
        L{ValueError}, saying how many bytes it was given and what is
        wrong.
        """
        png = io.BytesIO()
        card().save(png, "PNG")
        for data in [b"", b"hello", b"\xff\xd8\xff\xe0garbage" * 10,
                     png.getvalue(), CARD_JPEG[:len(CARD_JPEG) // 2],
                     CARD_JPEG[:-2]]:
            error = self.assertRaises(
                TransformError, FrameTransform(rotation=90), data)
            self.assertIsInstance(error, ValueError)
            self.assertIn("cannot decode JPEG (%d bytes)" % (len(data),),
                          str(error))
        self.assertIsInstance(error.__cause__, OSError)

    def test_bad_input_with_resize(self):
        """
        Bad input raises L{TransformError} with a resolution too (the
        decoder is drafted first).
        """
        self.assertRaises(TransformError,
                          FrameTransform(resolution=(100, 100)),
                          CARD_JPEG[:1000])

    def test_decompression_bomb(self):
        """
        A JPEG header claiming an enormous picture raises L{TransformError}
        (not Pillow's L{Image.DecompressionBombError}, which is no
        L{OSError}) before anything is decoded.
        """
        sof = CARD_JPEG.index(b"\xff\xc0")
        bomb = (CARD_JPEG[:sof + 5] + struct.pack(">HH", 60000, 60000)
                + CARD_JPEG[sof + 9:])
        error = self.assertRaises(TransformError,
                                  FrameTransform(flip=True), bomb)
        self.assertIsInstance(error.__cause__, Image.DecompressionBombError)

    def test_bad_settings(self):
        """
        Impossible settings are refused when the transform is made.
        """
        for settings in [dict(rotation=45), dict(rotation=-90),
                         dict(rotation=True), dict(rotation=False),
                         dict(rotation="90"),
                         dict(flip=1), dict(resolution=(0, 100)),
                         dict(resolution=(100,)), dict(resolution=(1.5, 2)),
                         dict(resolution=(70000, 100)), dict(resolution=100),
                         dict(quality=0), dict(quality=101),
                         dict(quality=9.5)]:
            self.assertRaises(ValueError, FrameTransform, **settings)

    def test_resolution_list(self):
        """
        A resolution given as a list (as YAML gives it) becomes a tuple.
        """
        self.assertEqual(FrameTransform(resolution=[4, 3]).resolution, (4, 3))

    def test_describe(self):
        """
        L{FrameTransform.describe} and C{repr} say what is done, briefly.
        """
        transform = FrameTransform(rotation=90, flip=True,
                                   resolution=(1280, 720), quality=80)
        self.assertEqual(transform.describe(),
                         "rotate 90, mirror, resize 1280x720")
        self.assertEqual(
            repr(transform),
            "<FrameTransform rotate 90, mirror, resize 1280x720, quality 80>")
        self.assertEqual(FrameTransform(flip=True).describe(), "mirror")
        self.assertEqual(FrameTransform().describe(), "no change")
        self.assertEqual(repr(FrameTransform()), "<FrameTransform no change>")

    async def test_threads(self):
        """
        One transform can run in several threads at once, each getting the
        same result as a call on its own.
        """
        transform = FrameTransform(rotation=90, flip=True,
                                   resolution=(320, 480))
        expected = transform(CARD_JPEG)
        pool = reactor.getThreadPool()
        results = await defer.gatherResults([
            threads.deferToThreadPool(reactor, pool, transform, CARD_JPEG)
            for _ in range(8)])
        self.assertEqual(results, [expected] * 8)


class Publisher:
    """
    A C{publish} callable that records frames and whether it was called on
    the reactor thread, and can be waited on.
    """

    def __init__(self, fail=0):
        """
        @param fail: how many of the first frames to raise for.
        """
        self.frames = []
        self.in_reactor_thread = []
        self._fail = fail
        self._waiting = []

    def __call__(self, jpeg, timestamp):
        self.frames.append((jpeg, timestamp))
        self.in_reactor_thread.append(threadable.isInIOThread())
        waiting, self._waiting = self._waiting, []
        for count, waiter in waiting:
            if len(self.frames) >= count:
                waiter.callback(None)
            else:
                self._waiting.append((count, waiter))
        if self._fail:
            self._fail -= 1
            raise ZeroDivisionError("publisher failed")

    @property
    def data(self):
        return [jpeg for jpeg, timestamp in self.frames]

    def wait_for(self, count, timeout=10):
        """
        @return: a L{Deferred} that fires when C{count} frames in all have
            been published, or fails after C{timeout} seconds.
        """
        if len(self.frames) >= count:
            return defer.succeed(None)
        waiter = defer.Deferred()
        self._waiting.append((count, waiter))
        return waiter.addTimeout(timeout, reactor)


class GatedTransform:
    """
    A transform that blocks each call until L{gate} is set, and records
    which frames it was called with, in which thread, and how many calls
    ran at once.

    @ivar fail: frames to raise L{RuntimeError} for.
    """

    identity = False

    def __init__(self, fail=()):
        self.gate = threading.Event()
        self.started = threading.Event()
        self.calls = []
        self.in_reactor_thread = []
        self.fail = fail
        self.most_at_once = 0
        self._running = 0
        self._lock = threading.Lock()

    def __call__(self, jpeg):
        with self._lock:
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
        try:
            self.calls.append(jpeg)
            self.in_reactor_thread.append(threadable.isInIOThread())
            self.started.set()
            if not self.gate.wait(10):
                raise RuntimeError("gate never opened")
            if jpeg in self.fail:
                raise RuntimeError("cannot transform %r" % (jpeg,))
            return b"T" + jpeg
        finally:
            with self._lock:
                self._running -= 1


class ThreadedTransformTests(TestCase):
    """
    Tests of L{ThreadedTransform} on the real reactor and thread pool.
    """

    # A pipeline that never goes idle should fail fast, not in 120 seconds.
    timeout = 30

    def threaded(self, transform, publish, **options):
        """
        A L{ThreadedTransform} that is drained when the test ends, pass or
        fail, opening the gate of a L{GatedTransform} first so that no
        thread is left blocked and no result arrives during another test.
        """
        threaded = ThreadedTransform(reactor, transform, publish, **options)

        def drain():
            gate = getattr(transform, "gate", None)
            if gate is not None:
                gate.set()
            return threaded.when_idle().addTimeout(10, reactor)
        self.addCleanup(drain)
        return threaded

    def test_identity_is_synchronous(self):
        """
        With an identity transform, C{submit} publishes the same object
        with the same timestamp before it returns, on the reactor thread.
        """
        publisher = Publisher()
        threaded = self.threaded(FrameTransform(), publisher)
        threaded.submit(CARD_JPEG, 1234.5)
        self.assertEqual(len(publisher.frames), 1)
        jpeg, timestamp = publisher.frames[0]
        self.assertIs(jpeg, CARD_JPEG)
        self.assertEqual(timestamp, 1234.5)
        self.assertEqual(publisher.in_reactor_thread, [True])
        self.assertEqual((threaded.transformed, threaded.skipped,
                          threaded.failed), (1, 0, 0))

    def test_identity_publish_fails(self):
        """
        A publisher that raises for an identity frame is logged, and
        C{submit} does not raise.
        """
        publisher = Publisher(fail=1)
        threaded = self.threaded(FrameTransform(), publisher)
        threaded.submit(b"one", 1.0)
        threaded.submit(b"two", 2.0)
        self.assertEqual(publisher.data, [b"one", b"two"])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    async def test_transform_in_thread(self):
        """
        A real transform runs in the thread pool and its output is
        published on the reactor thread with the timestamp unchanged.
        """
        publisher = Publisher()
        transform = FrameTransform(rotation=90)
        threaded = self.threaded(transform, publisher)
        threaded.submit(CARD_JPEG, 1700000000.125)
        self.assertEqual(publisher.frames, [])
        await publisher.wait_for(1)
        jpeg, timestamp = publisher.frames[0]
        self.assertEqual(timestamp, 1700000000.125)
        self.assertEqual(jpeg, transform(CARD_JPEG))
        self.assertEqual(decode(jpeg).size, (640, 960))
        self.assertEqual(publisher.in_reactor_thread, [True])
        self.assertEqual((threaded.transformed, threaded.skipped,
                          threaded.failed), (1, 0, 0))

    async def test_off_reactor_thread(self):
        """
        The transform is called in another thread than the reactor's.
        """
        transform = GatedTransform()
        transform.gate.set()
        publisher = Publisher()
        self.threaded(transform, publisher).submit(b"1", 1.0)
        await publisher.wait_for(1)
        self.assertEqual(transform.in_reactor_thread, [False])
        self.assertEqual(publisher.frames, [(b"T1", 1.0)])

    async def test_newest_wins(self):
        """
        While one frame is being transformed, frames submitted meanwhile
        replace each other in one pending slot: of 1, 2, 3 and 4 submitted
        while 1 is in flight, 1 and 4 are transformed and published, in
        order, and 2 and 3 are skipped.
        """
        transform = GatedTransform()
        publisher = Publisher()
        threaded = self.threaded(transform, publisher)
        for number in range(1, 5):
            threaded.submit(b"%d" % (number,), float(number))
        await threads.deferToThread(transform.started.wait, 10)
        self.assertEqual(transform.calls, [b"1"])
        self.assertEqual(threaded.skipped, 2)
        self.assertEqual(publisher.frames, [])
        transform.gate.set()
        await publisher.wait_for(2)
        await threaded.when_idle()
        self.assertEqual(publisher.frames, [(b"T1", 1.0), (b"T4", 4.0)])
        self.assertEqual(transform.calls, [b"1", b"4"])
        self.assertEqual(transform.most_at_once, 1)
        self.assertEqual(publisher.in_reactor_thread, [True, True])
        self.assertEqual((threaded.transformed, threaded.skipped,
                          threaded.failed), (2, 2, 0))

    async def test_one_at_a_time(self):
        """
        However fast frames come, at most one transform runs at a time,
        frames are published in order, the last one always is, and every
        frame is either published or counted as skipped.
        """
        transform = GatedTransform()
        transform.gate.set()
        publisher = Publisher()
        threaded = self.threaded(transform, publisher)
        for number in range(100):
            threaded.submit(b"%d" % (number,), float(number))
            if number % 10 == 0:
                # Let some results in between submissions.
                await threads.deferToThread(lambda: None)
        await threaded.when_idle()
        published = [timestamp for jpeg, timestamp in publisher.frames]
        self.assertEqual(published, sorted(published))
        self.assertEqual(published[-1], 99.0)
        self.assertEqual(transform.most_at_once, 1)
        self.assertEqual(threaded.transformed, len(published))
        self.assertEqual(threaded.transformed + threaded.skipped, 100)
        self.assertGreater(threaded.skipped, 0)

    async def test_bad_frame_skipped(self):
        """
        A frame that is not a JPEG is logged as a warning and counted, and
        the next frame is still transformed and published.
        """
        events = []
        publisher = Publisher()
        threaded = self.threaded(FrameTransform(flip=True), publisher,
                                 log=Logger(observer=events.append))
        threaded.submit(b"garbage", 1.0)
        await threaded.when_idle()
        threaded.submit(CARD_JPEG, 2.0)
        await publisher.wait_for(1)
        self.assertEqual([timestamp for _, timestamp in publisher.frames],
                         [2.0])
        self.assertEqual(corners(decode(publisher.data[0])),
                         ("green", "red", "yellow", "blue"))
        self.assertEqual((threaded.transformed, threaded.skipped,
                          threaded.failed), (1, 0, 1))
        [event] = events
        self.assertEqual(event["log_level"], LogLevel.warn)
        self.assertIsInstance(event["error"], TransformError)
        self.assertIn("cannot decode JPEG (7 bytes)", str(event["error"]))

    async def test_transform_crash_logged(self):
        """
        A transform that raises something unexpected is logged with its
        traceback, and the pending frame is transformed next.
        """
        transform = GatedTransform(fail=[b"1"])
        publisher = Publisher()
        threaded = self.threaded(transform, publisher)
        threaded.submit(b"1", 1.0)
        threaded.submit(b"2", 2.0)
        transform.gate.set()
        await publisher.wait_for(1)
        await threaded.when_idle()
        self.assertEqual(publisher.frames, [(b"T2", 2.0)])
        self.assertEqual((threaded.transformed, threaded.skipped,
                          threaded.failed), (1, 0, 1))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    async def test_publish_fails(self):
        """
        A publisher that raises is logged and does not stop the next
        frames.
        """
        transform = GatedTransform()
        transform.gate.set()
        publisher = Publisher(fail=1)
        threaded = self.threaded(transform, publisher)
        threaded.submit(b"1", 1.0)
        await threaded.when_idle()
        threaded.submit(b"2", 2.0)
        await publisher.wait_for(2)
        self.assertEqual(publisher.data, [b"T1", b"T2"])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    async def test_clear(self):
        """
        L{ThreadedTransform.clear} drops the pending frame and discards the
        result of the one in flight; later frames are published, after
        the discarded one has finished.
        """
        transform = GatedTransform()
        publisher = Publisher()
        threaded = self.threaded(transform, publisher)
        threaded.submit(b"1", 1.0)
        threaded.submit(b"2", 2.0)
        threaded.clear()
        self.assertEqual(threaded.skipped, 1)
        threaded.submit(b"3", 3.0)
        await threads.deferToThread(transform.started.wait, 10)
        self.assertEqual(transform.calls, [b"1"])
        transform.gate.set()
        await publisher.wait_for(1)
        await threaded.when_idle()
        self.assertEqual(publisher.frames, [(b"T3", 3.0)])
        self.assertEqual(transform.calls, [b"1", b"3"])
        self.assertEqual(transform.most_at_once, 1)
        self.assertEqual((threaded.transformed, threaded.skipped,
                          threaded.failed), (1, 2, 0))

    async def test_stop(self):
        """
        L{ThreadedTransform.stop} discards the frame in flight: nothing is
        published, even after it finishes.
        """
        transform = GatedTransform()
        publisher = Publisher()
        threaded = self.threaded(transform, publisher)
        threaded.submit(b"1", 1.0)
        threaded.stop()
        transform.gate.set()
        await threaded.when_idle()
        self.assertEqual(transform.calls, [b"1"])
        self.assertEqual(publisher.frames, [])
        self.assertEqual((threaded.transformed, threaded.skipped,
                          threaded.failed), (0, 1, 0))

    def test_when_idle(self):
        """
        L{ThreadedTransform.when_idle} has fired already when nothing is
        being transformed, and not while something is.
        """
        transform = GatedTransform()
        threaded = self.threaded(transform, Publisher())
        self.successResultOf(threaded.when_idle())
        threaded.submit(b"1", 1.0)
        waiting = threaded.when_idle()
        self.assertNoResult(waiting)
        transform.gate.set()
        return waiting
