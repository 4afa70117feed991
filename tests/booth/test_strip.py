"""
The strip (L{fourcut.booth.layout}, L{fourcut.booth.strip},
L{fourcut.booth.strips}) and its QR code (L{fourcut.booth.qr}): pixels
checked window by window, with and without artwork and caption.
"""

import io
import os
import subprocess

from PIL import Image, ImageDraw
from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fourcut.booth import qr
from fourcut.booth.layout import geometry
from fourcut.booth.sequence import SequenceRequest
from fourcut.booth.strip import (ArtworkError, StripStyle, check_artwork,
                                 compose, fit, main, parse_metadata,
                                 read_key, read_metadata, template,
                                 thumbnail)
from fourcut.booth.strips import StripIndex, StripMaker
from fourcut.config import LayoutError, parse_layout
from fourcut.photos import PhotoStore

#: Distinct shot colours: red, green, blue, yellow.
COLOURS = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (230, 220, 30)]

STYLE = StripStyle(window=(120, 80), margin=10, spacing=6,
                   background=(255, 255, 255), quality=95)


def jpeg(colour, size=(600, 400), exif_orientation=None):
    image = Image.new("RGB", size, colour)
    out = io.BytesIO()
    options = {"quality": 95}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        options["exif"] = exif
    image.save(out, "JPEG", **options)
    return out.getvalue()


def decode(data):
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def mean(image, box):
    """
    The mean colour of C{box} in C{image}, a few pixels in from its edges
    (JPEG blurs edges).
    """
    left, top, right, bottom = box
    inner = image.crop((left + 4, top + 4, right - 4, bottom - 4))
    pixels = list(inner.getdata())
    return tuple(sum(p[i] for p in pixels) / len(pixels) for i in range(3))


def close(testcase, got, expected, tolerance=12):
    testcase.assertTrue(all(abs(a - b) <= tolerance
                            for a, b in zip(got, expected)),
                        "%r is not close to %r" % (got, expected))


class LayoutTests(SynchronousTestCase):
    def test_parse(self):
        self.assertEqual(str(parse_layout("2x2")), "2x2")
        self.assertEqual(parse_layout("1x4").windows, 4)
        for text in ("", "2", "0x4", "x4", "2x2x2", "7x1", "4x4", None, 4,
                     " 2x2"):
            self.assertRaises(LayoutError, parse_layout, text)

    def test_two_by_two(self):
        shape = geometry(parse_layout("2x2"), (100, 50), 10, 4)
        self.assertEqual(shape.size, (10 + 100 + 4 + 100 + 10,
                                      10 + 50 + 4 + 50 + 10))
        self.assertEqual(shape.windows, ((10, 10, 110, 60),
                                         (114, 10, 214, 60),
                                         (10, 64, 110, 114),
                                         (114, 64, 214, 114)))
        self.assertIsNone(shape.caption)

    def test_strip_with_caption(self):
        shape = geometry(parse_layout("1x4"), (100, 50), 10, 4, 30)
        self.assertEqual(shape.windows[3], (10, 172, 110, 222))
        self.assertEqual(shape.caption, (10, 226, 110, 256))
        self.assertEqual(shape.size, (120, 266))


class ComposeTests(SynchronousTestCase):
    def check_windows(self, strip, layout, style, colours):
        image = decode(strip)
        shape = style.geometry(parse_layout(layout))
        self.assertEqual(image.size, shape.size)
        for box, colour in zip(shape.windows, colours):
            close(self, mean(image, box), colour)
        return image, shape

    def test_each_window_holds_its_shot(self):
        shots = [jpeg(c) for c in COLOURS]
        for layout in ("2x2", "1x4", "4x1"):
            strip = compose(shots, parse_layout(layout), STYLE)
            image, shape = self.check_windows(strip, layout, STYLE, COLOURS)
            # The margins are the background.
            close(self, image.getpixel((3, 3)), (255, 255, 255), 6)
            right, bottom = shape.size
            close(self, image.getpixel((right - 3, bottom - 3)),
                  (255, 255, 255), 6)

    def test_background_colour(self):
        style = StripStyle(window=(60, 40), margin=20, spacing=20,
                           background=(10, 20, 90))
        strip = compose([jpeg(c) for c in COLOURS], parse_layout("2x2"),
                        style)
        image = decode(strip)
        close(self, mean(image, (0, 0, 20, 20)), (10, 20, 90), 6)
        # Between the windows, too.
        close(self, mean(image, (80, 0, 100, 20)), (10, 20, 90), 6)

    def test_cover_and_crop_centre(self):
        """
        A shot of another shape covers its window and keeps its centre:
        a wide picture with red ends and a blue middle fills a 3:2 window
        with blue only.
        """
        image = Image.new("RGB", (1200, 400), (220, 30, 30))
        ImageDraw.Draw(image).rectangle((300, 0, 899, 399),
                                        fill=(30, 30, 220))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=95)
        fitted = fit(out.getvalue(), (120, 80))
        self.assertEqual(fitted.size, (120, 80))
        close(self, mean(fitted, (0, 0, 120, 80)), (30, 30, 220))

    def test_exif_orientation(self):
        """
        A photo stored sideways with an EXIF orientation is upright in
        the strip: stored 400x600 with orientation 6 it is 600x400.
        """
        image = Image.new("RGB", (400, 600), (30, 200, 30))
        ImageDraw.Draw(image).rectangle((0, 0, 399, 99), fill=(220, 30, 30))
        out = io.BytesIO()
        exif = Image.Exif()
        exif[0x0112] = 6    # stored turned left: turn it right to show
        image.save(out, "JPEG", quality=95, exif=exif)
        fitted = fit(out.getvalue(), (120, 80))
        # The red band, on top as stored, is on the right when upright.
        close(self, mean(fitted, (104, 0, 120, 80)), (220, 30, 30), 30)
        close(self, mean(fitted, (0, 0, 60, 80)), (30, 200, 30))

    def test_full_size_photo_drafted(self):
        """
        A 5184x3456 photo (the 700D's Large) goes through draft mode.
        """
        big = jpeg(COLOURS[2], size=(5184, 3456))
        fitted = fit(big, (900, 600))
        self.assertEqual(fitted.size, (900, 600))
        close(self, mean(fitted, (0, 0, 900, 600)), COLOURS[2])

    def test_too_many_shots(self):
        self.assertRaises(ValueError, compose, [jpeg(c) for c in COLOURS],
                          parse_layout("1x3"), STYLE)

    def test_metadata(self):
        strip = compose([jpeg(COLOURS[0])], parse_layout("1x1"), STYLE,
                        {"shots": ["a.jpg"], "key": "k" * 22})
        self.assertEqual(parse_metadata(strip),
                         {"shots": ["a.jpg"], "key": "k" * 22})
        self.assertIsNone(parse_metadata(jpeg(COLOURS[0])))
        self.assertIsNone(parse_metadata(b"not a jpeg"))
        self.assertIsNone(parse_metadata(b"\xff\xd8\xff\xfe\x00\x10fourcut-s"))

    def test_caption(self):
        style = StripStyle(window=(120, 80), margin=10, spacing=6,
                           caption="FOURCUT {date}", caption_size=20,
                           caption_colour=(200, 0, 0))
        strip = compose([jpeg(c) for c in COLOURS], parse_layout("1x4"),
                        style)
        image, shape = self.check_windows(strip, "1x4", style, COLOURS)
        self.assertEqual(shape.caption[3] - shape.caption[1], 40)
        band = image.crop(shape.caption)
        reds = [p for p in band.getdata() if p[0] > 150 and p[1] < 90]
        self.assertGreater(len(reds), 30, "no caption text drawn")

    def test_caption_font(self):
        fonts = [path for path in (
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",) if
            os.path.exists(path)]
        font = fonts[0] if fonts else None
        style = StripStyle(window=(120, 80), caption="Hi", caption_size=20,
                           caption_font=font, caption_colour=(0, 0, 0))
        image = decode(compose([jpeg(COLOURS[0])], parse_layout("1x1"),
                               style))
        band = image.crop(style.geometry(parse_layout("1x1")).caption)
        self.assertLess(min(p[0] for p in band.getdata()), 80)


class ArtworkTests(SynchronousTestCase):
    def setUp(self):
        self.directory = self.mktemp()
        os.makedirs(self.directory)

    def artwork(self, layout, style, name="frame.png", size=None):
        """
        The template for C{layout}, with a dark-blue corner badge painted
        over each window's top-left corner.
        """
        image = Image.open(io.BytesIO(template(parse_layout(layout), style)))
        image.load()
        if size is not None:
            image = image.resize(size)
        draw = ImageDraw.Draw(image)
        for left, top, right, bottom in style.geometry(
                parse_layout(layout)).windows:
            draw.rectangle((left, top, left + 29, top + 19),
                           fill=(0, 0, 80, 255))
        path = os.path.join(self.directory, name)
        image.save(path)
        return path

    def test_template(self):
        image = Image.open(io.BytesIO(template(parse_layout("1x4"), STYLE)))
        shape = STYLE.geometry(parse_layout("1x4"))
        self.assertEqual(image.size, shape.size)
        self.assertEqual(image.mode, "RGBA")
        for left, top, right, bottom in shape.windows:
            self.assertEqual(image.getpixel((left + 5, top + 5))[3], 0)
            self.assertEqual(image.getpixel((right - 1, bottom - 1))[3], 0)
            self.assertEqual(image.getpixel((right, bottom))[3], 255)
        self.assertEqual(image.getpixel((0, 0)), (255, 255, 255, 255))

    def test_shots_show_through(self):
        style = StripStyle(window=(120, 80), margin=10, spacing=6)
        path = self.artwork("2x2", style)
        style = StripStyle(window=(120, 80), margin=10, spacing=6,
                           frames=(("2x2", path),))
        check_artwork(style, parse_layout("2x2"))
        strip = compose([jpeg(c) for c in COLOURS], parse_layout("2x2"),
                        style)
        image = decode(strip)
        for (left, top, right, bottom), colour in zip(
                style.geometry(parse_layout("2x2")).windows, COLOURS):
            # The artwork's badge covers the corner ...
            close(self, mean(image, (left, top, left + 30, top + 20)),
                  (0, 0, 80), 20)
            # ... and the shot shows through the rest.
            close(self, mean(image, (left + 40, top + 30, right, bottom)),
                  colour)

    def test_artwork_only_for_its_layout(self):
        style = StripStyle(window=(120, 80), margin=10, spacing=6)
        path = self.artwork("2x2", style)
        style = StripStyle(window=(120, 80), margin=10, spacing=6,
                           frames=(("2x2", path),))
        strip = compose([jpeg(c) for c in COLOURS], parse_layout("1x4"),
                        style)
        image = decode(strip)
        left, top, _, _ = style.geometry(parse_layout("1x4")).windows[0]
        close(self, mean(image, (left, top, left + 30, top + 20)),
              COLOURS[0])

    def test_wrong_artwork(self):
        style = StripStyle(window=(120, 80), margin=10, spacing=6)
        wrong_size = self.artwork("2x2", style, "small.png", (100, 100))
        opaque = os.path.join(self.directory, "opaque.png")
        Image.new("RGB", style.geometry(parse_layout("2x2")).size,
                  (1, 2, 3)).save(opaque)
        not_png = os.path.join(self.directory, "frame.jpg")
        with open(not_png, "wb") as f:
            f.write(jpeg(COLOURS[0]))
        missing = os.path.join(self.directory, "missing.png")
        for path, text in [(wrong_size, "is 100x100; this layout's strip "
                            "is 266x186"),
                           (opaque, "no transparent pixels"),
                           (not_png, "not a PNG"),
                           (missing, "cannot be read")]:
            bad = StripStyle(window=(120, 80), margin=10, spacing=6,
                             frames=(("2x2", path),))
            with self.assertRaises(ArtworkError) as caught:
                check_artwork(bad, parse_layout("2x2"))
            self.assertIn(text, str(caught.exception))

    def test_template_command(self):
        config = os.path.join(self.directory, "fourcut.yaml")
        with open(config, "w") as f:
            f.write("booth:\n  window: [300, 200]\n  margin: 5\n"
                    "  spacing: 5\n  template: null\n")
        output = os.path.join(self.directory, "template.png")
        out = io.StringIO()
        self.assertEqual(main(["--config", config, "--layout", "1x4",
                               output], stdout=out), 0)
        self.assertEqual(Image.open(output).size, (310, 825))
        self.assertIn("the 1x4 template, 310x825", out.getvalue())


class ThumbnailTests(SynchronousTestCase):
    def test_thumbnail(self):
        small = decode(thumbnail(jpeg(COLOURS[1], (5184, 3456)), 480))
        self.assertEqual(small.size, (480, 320))
        close(self, mean(small, (0, 0, 480, 320)), COLOURS[1])


class QRTests(SynchronousTestCase):
    URL = "http://192.168.4.1:8080/share/AbCdEfGhIjKlMnOpQrStUv/strip-1.jpg"

    def test_png_decodes(self):
        """
        zbarimg (zbar-tools) reads the URL back from the PNG.
        """
        path = self.mktemp() + ".png"
        with open(path, "wb") as f:
            f.write(qr.png(self.URL))
        decoded = subprocess.run(["zbarimg", "--quiet", "--raw", path],
                                 capture_output=True, timeout=30, check=True)
        self.assertEqual(decoded.stdout.decode().strip(), self.URL)

    def test_svg_data_uri(self):
        uri = qr.svg_data_uri(self.URL)
        self.assertTrue(uri.startswith("data:image/svg+xml"))


class StripStoreTests(TestCase):
    async def test_make_and_index(self):
        directory = self.mktemp()
        maker = StripMaker(reactor, PhotoStore(directory), lambda: STYLE,
                           wall_clock=lambda: 1718007010.0,
                           new_key=lambda: "K" * 22)
        shots = [("shot-%d.jpg" % n, "/x", jpeg(c))
                 for n, c in enumerate(COLOURS, 1)]
        fields = await maker(shots, SequenceRequest(4, 3, 1.0,
                                                    parse_layout("2x2")),
                             "seq")
        name = fields["filename"]
        # The day and a random part: no time of day a stranger could walk.
        self.assertRegex(name, r"\Astrip-20240610-[0-9a-f]{12}\.jpg\Z")
        self.assertEqual(fields["share"], "/share/%s/%s" % ("K" * 22, name))
        self.assertEqual(fields["url"], "/photos/" + name)
        self.assertEqual(os.path.getsize(fields["filepath"]), fields["size"])
        self.assertEqual(read_metadata(fields["filepath"]), {
            "shots": ["shot-1.jpg", "shot-2.jpg", "shot-3.jpg", "shot-4.jpg"],
            "layout": "2x2", "key": "K" * 22, "sequence": "seq"})
        self.assertEqual(read_key(fields["filepath"]), "K" * 22)
        # A second strip in the same second gets a name of its own.
        again = await maker(shots, SequenceRequest(
            4, 3, 1.0, parse_layout("2x2")), "seq2")
        self.assertNotEqual(again["filename"], name)

        index = StripIndex()
        photos = [(1, name, fields["size"]), (2, "shot-1.jpg", 10),
                  (3, "strip-fake.jpg", 10)]
        with open(os.path.join(directory, "strip-fake.jpg"), "wb") as f:
            f.write(jpeg(COLOURS[0]))
        found = index.annotate(directory, photos)
        self.assertEqual(found, {name: {
            "kind": "strip", "layout": "2x2",
            "shots": ["shot-1.jpg", "shot-2.jpg", "shot-3.jpg", "shot-4.jpg"],
            "share": fields["share"]}})
        # Known files are not opened again.
        # (On the instance: patching the class's staticmethod would put
        # back a plain function, a method, for the tests after this one.)
        self.patch(index, "_read",
                   lambda path, name: self.fail("read again"))
        self.assertEqual(index.annotate(directory, photos), found)


