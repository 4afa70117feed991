"""
Unit tests of the virtual camera's pictures (L{fourcut.virtualcam.scene}):
spliced live view frames and full-size captures.
"""

import io
from datetime import datetime

from PIL import Image, ImageChops
from twisted.trial.unittest import SynchronousTestCase

from fourcut.virtualcam.scene import (
    LOOP_FRAMES, LiveViewScene, parse_frame_comment, render_capture)


def decode(jpeg):
    """
    Decode C{jpeg} fully (raising if it is broken) and return the image.
    """
    image = Image.open(io.BytesIO(jpeg))
    image.load()
    return image


class LiveViewSceneTests(SynchronousTestCase):
    """
    L{LiveViewScene} frames are valid, distinct 960x640 JPEGs of live view
    size, stamped with their sequence number and the clock.
    """

    def setUp(self):
        self.scene = LiveViewScene(wall_clock_ns=lambda: 123)

    def test_frames_decode_at_size(self):
        for sequence in (0, 1, LOOP_FRAMES - 1, LOOP_FRAMES, 1000):
            image = decode(self.scene.frame(sequence))
            self.assertEqual((image.format, image.size), ("JPEG", (960, 640)))

    def test_frame_comment(self):
        """
        The COM segment carries the sequence number and the time from the
        injected clock.
        """
        for sequence in (0, 7, 123456):
            self.assertEqual(parse_frame_comment(self.scene.frame(sequence)),
                             (sequence, 123))

    def test_frame_comment_follows_clock(self):
        times = iter([10 ** 18, 10 ** 18 + 33_000_000])
        scene = LiveViewScene(wall_clock_ns=lambda: next(times))
        self.assertEqual(parse_frame_comment(scene.frame(0)), (0, 10 ** 18))
        self.assertEqual(parse_frame_comment(scene.frame(1)),
                         (1, 10 ** 18 + 33_000_000))

    def test_no_comment(self):
        self.assertIsNone(parse_frame_comment(
            render_capture(1, size=(64, 48))))

    def test_consecutive_frames_differ(self):
        """
        Consecutive frames differ in pixels, both in the moving background
        and in the stamped strip; so do frames a loop apart (the counter).
        """
        first = decode(self.scene.frame(0))
        for other in (1, LOOP_FRAMES):
            image = decode(self.scene.frame(other))
            difference = ImageChops.difference(first, image)
            self.assertIsNotNone(difference.getbbox(),
                                 "frames 0 and %d are identical" % (other,))
        top = ImageChops.difference(
            first.crop((0, 0, 960, 600)),
            decode(self.scene.frame(1)).crop((0, 0, 960, 600)))
        self.assertIsNotNone(top.getbbox(), "the background does not move")

    def test_frame_sizes(self):
        """
        Every frame of the loop is 100-200 KB at the default quality, like
        a real camera's live view.
        """
        self.assertEqual(self.scene.quality, 85)
        for sequence in range(LOOP_FRAMES):
            size = len(self.scene.frame(sequence))
            self.assertTrue(100_000 <= size <= 200_000,
                            "frame %d is %d bytes" % (sequence, size))

    def test_lower_quality_smaller(self):
        low = LiveViewScene(quality=50, wall_clock_ns=lambda: 123)
        for sequence in (0, 30):
            small = low.frame(sequence)
            self.assertEqual(decode(small).size, (960, 640))
            self.assertLess(len(small), len(self.scene.frame(sequence)))

    def test_other_size(self):
        scene = LiveViewScene(size=(320, 240), wall_clock_ns=lambda: 5)
        frame = scene.frame(3)
        self.assertEqual(decode(frame).size, (320, 240))
        self.assertEqual(parse_frame_comment(frame), (3, 5))

    def test_invalid_size(self):
        for size in ((950, 640), (960, 630), (961, 641)):
            self.assertRaises(ValueError, LiveViewScene, size=size)


class RenderCaptureTests(SynchronousTestCase):
    """
    L{render_capture} makes a decodable still of the requested size,
    different for each shot.
    """

    when = datetime(2024, 5, 17, 12, 30, 0)

    def test_size(self):
        for size in ((640, 432), (2592, 1728)):
            image = decode(render_capture(1, size=size, when=self.when))
            self.assertEqual((image.format, image.size), ("JPEG", size))

    def test_shots_differ(self):
        first = render_capture(1, size=(640, 432), when=self.when)
        second = render_capture(2, size=(640, 432), when=self.when)
        self.assertNotEqual(first, second)
        # Not just the noise: the colour of the picture changes.
        colours = [decode(jpeg).resize((1, 1)).getpixel((0, 0))
                   for jpeg in (first, second)]
        self.assertGreater(
            max(abs(a - b) for a, b in zip(*colours)), 10, colours)
