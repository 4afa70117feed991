"""
The C{booth:} section of the config (L{fourcut.config.BoothConfig}) and
the start-up checks of L{fourcut.booth.service.check_booth}.
"""

import os

import yaml
from PIL import Image
from twisted.trial.unittest import SynchronousTestCase

from fourcut.booth.service import check_booth, open_paths
from fourcut.booth.strip import strip_style, template
from fourcut.config import (BoothConfig, ConfigError, parse_config,
                            parse_layout)
from fourcut.tap import Options, OptionsError


class SchemaTests(SynchronousTestCase):
    def test_defaults(self):
        booth = parse_config({}).booth
        self.assertEqual(booth, BoothConfig())
        self.assertEqual(booth.layout, "1x4")
        self.assertEqual(booth.template, "classic")
        self.assertEqual(booth.countdown, 3)
        self.assertTrue(booth.guest_links)

    def test_values(self):
        booth = parse_config({"booth": {
            "layout": "1x4", "countdown": 5, "countdown_interval": 0.5,
            "window": [600, 400], "margin": 0, "background": "#abc",
            "frames": {"1x4": "/x/strip.png"}, "caption": "Hi {date}",
            "public_url": "http://192.168.4.1:8080/", "guest_links": True,
        }}).booth
        self.assertEqual(booth.window, (600, 400))
        self.assertEqual(booth.frames, (("1x4", "/x/strip.png"),))
        self.assertEqual(booth.public_url, "http://192.168.4.1:8080")
        self.assertEqual(strip_style(booth).background, (0xaa, 0xbb, 0xcc))

    def test_refused(self):
        for values, text in [
                ({"layout": "2x"}, "booth.layout: a layout is COLUMNSxROWS"),
                ({"countdown": 11}, "booth.countdown: must be an integer "
                 "from 0 to 10"),
                ({"countdown_interval": 0}, "booth.countdown_interval"),
                ({"window": [10, 10]}, "booth.window: must be [width, "
                 "height]"),
                ({"background": "white"}, 'booth.background: must be a '
                 'colour "#rrggbb"'),
                ({"frames": ["a.png"]}, "booth.frames: must be a mapping"),
                ({"frames": {"9x9": "a.png"}}, "booth.frames['9x9']"),
                ({"frames": {"2x2": 3}}, "booth.frames['2x2']: must be the "
                 "path"),
                ({"caption": "two\nlines"}, "booth.caption: must be null "
                 "or one line"),
                ({"public_url": "192.168.4.1"}, "booth.public_url"),
                ({"public_url": "http://a/?x=1"}, "booth.public_url"),
                ({"guest_links": "yes"}, "booth.guest_links: must be true "
                 "or false"),
                ({"theme": "neon"}, "booth.theme: must be one of classic, "
                 "night, pastel"),
                ({"template": "strip.png"}, "booth.template: must be null, "
                 "a built-in template (classic, film, pastel)"),
                ({"accent_colour": "red"}, "booth.accent_colour: must be a "
                 'colour "#rrggbb"'),
                ({"attract_after": -1}, "booth.attract_after"),
                ({"review": "long"}, "booth.review"),
                ({"retake": 1}, "booth.retake: must be true or false"),
                ({"event_name": "a\nb"}, "booth.event_name: must be null "
                 "or one line"),
                ({"mirror": True}, "booth.mirror: unknown key (did you mean "
                 "mirror_preview?)")]:
            with self.assertRaises(ConfigError) as caught:
                parse_config({"booth": values})
            self.assertIn(text, str(caught.exception))


class StartUpTests(SynchronousTestCase):
    def setUp(self):
        self.directory = self.mktemp()
        os.makedirs(self.directory)

    def write_config(self, booth):
        path = os.path.join(self.directory, "fourcut.yaml")
        with open(path, "w") as f:
            yaml.safe_dump({"booth": booth}, f)
        return path

    def test_artwork_checked_at_start(self):
        """
        An artwork of the wrong size stops start-up, naming the key and
        the size it must have; the template's size is accepted.
        """
        small = os.path.join(self.directory, "small.png")
        Image.new("RGBA", (10, 10)).save(small)
        options = Options()
        # One line on stderr and status 1 (fourcut.tap.OptionsError).
        with self.assertRaises(OptionsError) as caught:
            options.parseOptions(["--config", self.write_config(
                {"template": None, "frames": {"1x4": small}})])
        self.assertEqual(caught.exception.code.count("\n"), 0)
        self.assertIn("booth.frames[1x4]", str(caught.exception))
        self.assertIn("is 10x10; this layout's strip is 980x2540",
                      str(caught.exception))
        good = os.path.join(self.directory, "good.png")
        config = parse_config({"booth": {"template": None}})
        with open(good, "wb") as f:
            f.write(template(parse_layout("1x4"), strip_style(config.booth)))
        Options().parseOptions(["--config", self.write_config(
            {"template": None, "frames": {"1x4": good}})])
        # The template draws 1x4 strips: artwork for 1x4 is refused.
        with self.assertRaises(OptionsError) as caught:
            Options().parseOptions(["--config", self.write_config(
                {"frames": {"1x4": good}})])
        self.assertIn("booth.frames[1x4]: the template classic draws 1x4 "
                      "strips", str(caught.exception))

    def test_theme_files_checked(self):
        """
        The operator's logo, background and font must be files of their
        kind; each fault names its key.
        """
        logo = os.path.join(self.directory, "logo.png")
        Image.new("RGB", (8, 8)).save(logo)
        check_booth(parse_config({"booth": {"logo": logo,
                                            "page_background": logo}}))
        for values, text in [
                ({"logo": logo + ".missing.png"}, "booth.logo: "),
                ({"logo": os.path.join(self.directory, "logo.txt")},
                 "must be an image"),
                ({"font": logo}, "booth.font: %s must be a font" % (logo,)),
                ({"page_background": self.directory + "/none.jpg"},
                 "booth.page_background: ")]:
            with self.assertRaises(ConfigError) as caught:
                check_booth(parse_config({"booth": values}))
            self.assertIn(text, str(caught.exception))

    def test_caption_font_checked(self):
        config = parse_config({"booth": {
            "caption_font": os.path.join(self.directory, "none.ttf")}})
        with self.assertRaises(ConfigError) as caught:
            check_booth(config)
        self.assertIn("booth.caption_font", str(caught.exception))

    def test_open_paths(self):
        self.assertEqual(open_paths(parse_config(
            {"booth": {"guest_links": False}})),
            {b"booth", b"gallery", b"favicon.ico"})
        self.assertEqual(open_paths(parse_config({})),
                         {b"booth", b"gallery", b"share", b"favicon.ico"})
