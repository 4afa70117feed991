"""
Tests of L{fourcut.stream.turbo}: live view turned, mirrored, cropped and
scaled through libjpeg-turbo gives the picture Pillow's
L{fourcut.stream.transform.FrameTransform} gives (same geometry), losslessly
where the geometry allows, never enlarged, keeping the frame's comment.
"""


from PIL import Image, ImageChops, ImageStat
from twisted.trial.unittest import TestCase

from fourcut.stream import turbo
from fourcut.stream.transform import FrameTransform, TransformError
from fourcut.stream.turbo import LiveTransform, fitted_size, lossless_crop
from fourcut.virtualcam.scene import LiveViewScene, parse_frame_comment
from tests.stream.test_transform import card, decode, encode


def difference(one, other):
    """
    The mean absolute difference of two pictures' pixels (0 to 255).
    """
    return sum(ImageStat.Stat(ImageChops.difference(
        one.convert("RGB"), other.convert("RGB"))).mean) / 3


# A 4:2:0 card, as cameras send live view (Pillow's default).
CARD = encode(card(), quality=90)


class GeometryTests(TestCase):
    """
    The sizes a configuration asks for.
    """

    def test_fitted_smaller(self):
        """
        A resolution that fits in the frame is the output size.
        """
        self.assertEqual(fitted_size((960, 640), (480, 320)), (480, 320))

    def test_fitted_never_larger(self):
        """
        A resolution wider or taller than the frame means "at most":
        seed 001's 1280x720 on a 960x640 body is 960x540.
        """
        self.assertEqual(fitted_size((960, 640), (1280, 720)), (960, 540))
        self.assertEqual(fitted_size((640, 960), (720, 1280)), (540, 960))
        self.assertEqual(fitted_size((960, 640), (2000, 2000)), (640, 640))

    def test_lossless_crop_on_mcu(self):
        """
        A centred crop starts at the nearest MCU boundary.
        """
        self.assertEqual(lossless_crop((960, 640), (960, 540), (16, 16)),
                         (0, 48, 960, 540))
        self.assertEqual(lossless_crop((960, 640), (640, 640), (16, 16)),
                         (160, 0, 640, 640))
        self.assertIsNone(lossless_crop((960, 640), (970, 540), (16, 16)))

    def test_plan_seed_001(self):
        """
        Seed 001's preview block on a 960x640 4:2:0 body: a mirror and a
        crop, in one lossless pass.
        """
        self.assertEqual(LiveTransform(0, True, (1280, 720)).plan(
            (960, 640), 2), (1, (0, 48, 960, 540), (960, 540)))

    def test_plan_scaled(self):
        """
        A smaller size of another aspect goes through pixels.
        """
        op, crop, output = LiveTransform(90, False, (320, 320)).plan(
            (960, 640), 2)
        self.assertEqual((op, crop, output), (5, None, (320, 320)))


class TransformTests(TestCase):
    """
    What comes out of L{LiveTransform}.
    """

    def test_identity(self):
        """
        Nothing configured: the frame itself, not even read.
        """
        transform = LiveTransform()
        self.assertTrue(transform.identity)
        self.assertIs(transform(b"not a jpeg"), b"not a jpeg")

    def test_same_picture_as_pillow(self):
        """
        Every rotation and mirror gives the picture Pillow's
        L{FrameTransform} gives, and the frame's size turned.
        """
        for rotation in (0, 90, 180, 270):
            for flip in (False, True):
                if not rotation and not flip:
                    continue
                ours = decode(LiveTransform(rotation, flip)(CARD))
                theirs = decode(FrameTransform(rotation, flip)(CARD))
                self.assertEqual(ours.size, theirs.size,
                                 (rotation, flip))
                self.assertLess(difference(ours, theirs), 3,
                                (rotation, flip))

    def test_flip_is_lossless(self):
        """
        A mirror moves coefficients: mirrored back, the camera's frame
        comes out as it went in, decoded pixel for pixel.
        """
        once = LiveTransform(0, True)(CARD)
        twice = LiveTransform(0, True)(once)
        self.assertEqual(decode(twice).tobytes(), decode(CARD).tobytes())

    def test_crop_is_lossless(self):
        """
        Seed 001's block on 960x640: 960x540, the frame's rows 48 to 587
        mirrored, exactly.
        """
        out = decode(LiveTransform(0, True, (1280, 720))(CARD))
        self.assertEqual(out.size, (960, 540))
        expected = decode(CARD).crop((0, 48, 960, 588)).transpose(
            Image.Transpose.FLIP_LEFT_RIGHT)
        self.assertLess(difference(out, expected), 1)

    def test_turned_and_cropped(self):
        """
        A crop after a quarter turn is made in the turned frame, on its
        MCU boundaries, in the same lossless pass: the picture Pillow
        gives.
        """
        transform = LiveTransform(90, True, (640, 800))
        self.assertEqual(transform.plan((960, 640), 2),
                         (3, (0, 80, 640, 800), (640, 800)))
        ours = decode(transform(CARD))
        theirs = decode(FrameTransform(90, True, (640, 800))(CARD))
        self.assertEqual(ours.size, (640, 800))
        self.assertLess(difference(ours, theirs), 3)

    def test_422(self):
        """
        4:2:2 frames (many Canon bodies' live view) have 16x8 MCUs: seed
        001's block crops from row 48, losslessly.
        """
        jpeg = encode(card(), quality=90, subsampling=1)
        transform = LiveTransform(0, True, (1280, 720))
        self.assertEqual(transform.plan((960, 640), 1),
                         (1, (0, 48, 960, 540), (960, 540)))
        out = decode(transform(jpeg))
        expected = decode(jpeg).crop((0, 48, 960, 588)).transpose(
            Image.Transpose.FLIP_LEFT_RIGHT)
        self.assertEqual(out.size, (960, 540))
        self.assertLess(difference(out, expected), 1)

    def test_downscaled(self):
        """
        A smaller resolution of the same aspect: scaled while decoding,
        the picture Pillow gives.
        """
        ours = decode(LiveTransform(0, True, (480, 320))(CARD))
        theirs = decode(FrameTransform(0, True, (480, 320))(CARD))
        self.assertEqual(ours.size, (480, 320))
        self.assertLess(difference(ours, theirs), 4)

    def test_other_aspect_scaled(self):
        """
        A smaller resolution of another aspect, turned: covered and
        centre-cropped like Pillow's.
        """
        ours = decode(LiveTransform(90, False, (300, 300))(CARD))
        theirs = decode(FrameTransform(90, False, (300, 300))(CARD))
        self.assertEqual(ours.size, (300, 300))
        self.assertLess(difference(ours, theirs), 6)

    def test_not_whole_mcus(self):
        """
        A frame whose size is not a whole number of MCUs cannot be
        mirrored exactly in the DCT domain: it is mirrored through pixels.
        """
        jpeg = encode(card((950, 630)), quality=90)
        ours = decode(LiveTransform(0, True)(jpeg))
        theirs = decode(FrameTransform(0, True)(jpeg))
        self.assertEqual(ours.size, (950, 630))
        self.assertLess(difference(ours, theirs), 3)

    def test_comment_kept(self):
        """
        The camera's comment segment survives every path (the benchmark
        reads a frame's number and time from it); EXIF does not.
        """
        frame = LiveViewScene().frame(7)
        for transform in (LiveTransform(0, True),
                          LiveTransform(0, True, (1280, 720)),
                          LiveTransform(0, False, (480, 320))):
            out = transform(frame)
            self.assertEqual(parse_frame_comment(out)[0], 7, transform)
        exif = encode(card(), exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08"
                      b"\x00\x00\x00\x00\x00\x00")
        self.assertNotIn(b"Exif\x00\x00", LiveTransform(0, True)(exif))

    def test_downscale(self):
        """
        L{turbo.downscale}: the width asked for, the height following;
        a frame not wider passes as it is.
        """
        out = turbo.downscale(CARD, 480, 80)
        self.assertEqual(decode(out).size, (480, 320))
        self.assertLess(difference(decode(out), decode(
            FrameTransform(0, False, (480, 320))(CARD))), 4)
        grey = encode(card().convert("L"), quality=90)
        self.assertEqual(decode(turbo.downscale(grey, 240, 80)).size,
                         (240, 160))
        self.assertIs(turbo.downscale(CARD, 960, 80), CARD)
        self.assertEqual(decode(turbo.downscale(CARD, 300, 80)).size,
                         (300, 200))

    def test_bad_jpeg(self):
        """
        Bytes that are not a JPEG: L{TransformError}.
        """
        self.assertRaises(TransformError, LiveTransform(0, True),
                          b"nope" * 100)
        self.assertRaises(TransformError, LiveTransform(0, True),
                          CARD[:300])
        self.assertRaises(TransformError, turbo.downscale, b"x" * 50, 48, 80)

    def test_bad_settings(self):
        """
        Settings are checked as L{FrameTransform} checks them.
        """
        self.assertRaises(ValueError, LiveTransform, 45)
        self.assertRaises(ValueError, LiveTransform, 0, "yes")
        self.assertRaises(ValueError, LiveTransform, 0, False, (0, 10))
        self.assertRaises(ValueError, LiveTransform, 0, False, None, 0)

    def test_describe(self):
        self.assertEqual(LiveTransform(90, True, (1280, 720)).describe(),
                         "rotate 90, mirror, at most 1280x720 "
                         "(libjpeg-turbo)")
        self.assertEqual(repr(LiveTransform()), "<LiveTransform no change>")


