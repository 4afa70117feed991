"""
Strip templates (L{fourcut.booth.templates}): the built-in ones compose
the classic four-cut strip, 600x1800, window by window; an operator's own
is checked at start-up and its faults are one line.
"""

import os
from datetime import datetime

from PIL import Image, ImageDraw
from twisted.trial.unittest import SynchronousTestCase

from fourcut.booth.service import check_booth
from fourcut.booth.strip import StripStyle, compose, strip_style
from fourcut.booth.templates import (TemplateError, check_template,
                                     load_template)
from fourcut.config import TEMPLATES, ConfigError, parse_config, parse_layout

from tests.booth.test_strip import COLOURS, close, decode, jpeg, mean

CLASSIC = parse_layout("1x4")


class BuiltInTests(SynchronousTestCase):
    def test_default_is_the_classic_strip(self):
        """
        With no config, a strip is the classic four-cut strip: four shots
        in a column, 600x1800 (2x6 inches at 300 dpi).
        """
        booth = parse_config({}).booth
        style = strip_style(booth)
        self.assertEqual(booth.layout, "1x4")
        self.assertEqual(style.geometry(CLASSIC).size, (600, 1800))
        self.assertEqual(style.template.name, "Classic")

    def test_each_built_in(self):
        """
        Every built-in template loads, passes its own check, and composes
        each shot into its own window with the caption and the date drawn
        in their boxes.
        """
        shots = [jpeg(colour) for colour in COLOURS]
        when = datetime(2026, 12, 7, 21, 4)
        for name in TEMPLATES:
            template = load_template(name)
            check_template(template)
            self.assertEqual(template.size, (600, 1800), name)
            style = StripStyle(template=template, event_name="Anna & Ben")
            strip = decode(compose(shots, CLASSIC, style, when=when))
            self.assertEqual(strip.size, (600, 1800))
            for colour, box in zip(COLOURS, template.windows):
                # Rounded corners: look at the middle of the window.
                left, top, right, bottom = box
                inner = (left + 40, top + 40, right - 40, bottom - 40)
                close(self, mean(strip, inner), colour, 16)
            for box in (template.caption, template.date):
                crop = strip.crop(box.box).convert("L")
                low, high = crop.getextrema()
                self.assertGreater(high - low, 80, (name, box))

    def test_caption_text(self):
        """
        booth.caption wins over event_name; without either, no caption
        (the date stays).
        """
        template = load_template("classic")
        shots = [jpeg(colour) for colour in COLOURS]
        bare = decode(compose(shots, CLASSIC, StripStyle(template=template)))
        low, high = bare.crop(template.caption.box).convert(
            "L").getextrema()
        self.assertGreater(low, 200)
        named = decode(compose(shots, CLASSIC, StripStyle(
            template=template, event_name="x" * 300)))
        low, high = named.crop(template.caption.box).convert(
            "L").getextrema()
        self.assertLess(low, 120)

    def test_other_layouts_use_the_grid(self):
        style = strip_style(parse_config({"booth": {
            "window": [120, 80], "margin": 10, "spacing": 6}}).booth)
        self.assertEqual(style.geometry(parse_layout("2x2")).size,
                         (266, 186))


class OperatorTemplateTests(SynchronousTestCase):
    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)

    def write(self, text, frame_size=(300, 900), transparent=True):
        frame = Image.new("RGBA", frame_size, (200, 0, 0, 255))
        if transparent:
            ImageDraw.Draw(frame).rectangle((10, 10, 289, 209),
                                            fill=(0, 0, 0, 0))
        frame.save(os.path.join(self.directory, "mine.png"))
        path = os.path.join(self.directory, "mine.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    GOOD = ("layout: 1x1\nsize: [300, 900]\nframe: mine.png\n"
            "windows: [[10, 10, 290, 210]]\n"
            "date: {box: [10, 800, 290, 880], size: 30}\n")

    def test_own_template(self):
        path = self.write(self.GOOD)
        config = parse_config({"booth": {"template": path,
                                         "layout": "1x1"}})
        check_booth(config)
        style = strip_style(config.booth)
        strip = decode(compose([jpeg(COLOURS[2])], parse_layout("1x1"),
                               style))
        self.assertEqual(strip.size, (300, 900))
        close(self, mean(strip, (10, 10, 290, 210)), COLOURS[2])
        close(self, mean(strip, (0, 300, 300, 700)), (200, 0, 0))

    def test_faults(self):
        """
        Each fault stops start-up with one line naming booth.template,
        the file and what is wrong.
        """
        cases = [
            (self.GOOD, {"frame_size": (300, 800)},
             "mine.png is 300x800; the template says 300x900"),
            (self.GOOD, {"transparent": False},
             "is not transparent in window 1"),
            (self.GOOD.replace("1x1", "1x2"), {},
             "windows must list 2 boxes"),
            (self.GOOD.replace("[10, 10, 290, 210]", "[10, 10, 390, 210]"),
             {}, "windows[0] [10, 10, 390, 210] is not inside the 300x900"),
            (self.GOOD + "colour: red\n", {}, "unknown key colour"),
            (self.GOOD.replace("mine.png", "gone.png"), {},
             "gone.png cannot be read as a PNG"),
            ("[1, 2", {}, "is not YAML"),
        ]
        for text, frame, expected in cases:
            path = self.write(text, **frame)
            with self.assertRaises(ConfigError) as caught:
                check_booth(parse_config({"booth": {"template": path}}))
            message = str(caught.exception)
            self.assertTrue(message.startswith(
                "booth.template: " + self.directory), message)
            self.assertIn(expected, message)
            self.assertNotIn("\n", message)
        with self.assertRaises(ConfigError) as caught:
            parse_config({"booth": {"template": "mine.png"}})
        self.assertIn("built-in template (classic, film, pastel)",
                      str(caught.exception))
        self.assertRaises(TemplateError, load_template,
                          os.path.join(self.directory, "none.yaml"))
