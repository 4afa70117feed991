# -*- test-case-name: tests.admin.test_choice -*-
"""
The operator's choice of theme and template (L{fourcut.booth.choice}),
alone and through C{POST /admin/booth} in memory
(L{tests.support.memory.MemorySite}): the booth's next page load and next
strip follow it, it outlives a restart, and it needs the token.
"""

import io
import json
import os

from PIL import Image
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fourcut.booth.choice import FILE, BoothChoice, ChoiceError
from fourcut.booth.sequence import parse_request
from fourcut.booth.themes import THEMES
from fourcut.config import parse_config

from tests.support.access import TOKEN, bearer, check_refused
from tests.support.fakes import small_jpeg
from tests.support.memory import Body, MemorySite


def booth_config(**booth):
    return parse_config({"booth": booth}).booth


class BoothChoiceTests(SynchronousTestCase):

    def test_config(self):
        """
        Nothing chosen: the config file's theme and template.
        """
        choice = BoothChoice(booth_config(theme="night", template="film"))
        self.assertEqual((choice.theme, choice.template), ("night", "film"))
        described = choice.describe()
        self.assertEqual(described["chosen"],
                         {"theme": None, "template": None})
        self.assertEqual(described["themes"], ["classic", "night", "pastel"])
        self.assertEqual(described["templates"], ["classic", "film",
                                                  "pastel"])
        self.assertFalse(described["persistent"])

    def test_choose(self):
        choice = BoothChoice(booth_config())
        choice.choose(theme="pastel", template="film")
        self.assertEqual((choice.theme, choice.template), ("pastel", "film"))
        choice.choose(theme="", template=None)
        self.assertEqual((choice.theme, choice.template),
                         ("classic", "classic"))

    def test_refused(self):
        """
        A name that is not built in (a path among them: the operator page
        never names files) changes nothing.
        """
        choice = BoothChoice(booth_config())
        choice.choose(theme="night")
        for theme, template in (("disco", None), (None, "/etc/passwd"),
                                (None, 3)):
            with self.assertRaises(ChoiceError) as caught:
                choice.choose(theme=theme, template=template)
            self.assertIn("must be one of", str(caught.exception))
        self.assertEqual(choice.chosen, {"theme": "night", "template": None})

    def test_own_template_by_name(self):
        """
        The operator's own template shows by its file's name only.
        """
        path = os.path.abspath(self.mktemp()) + ".yaml"
        described = BoothChoice(
            booth_config(template=path)).describe()
        self.assertEqual(described["config"]["template"],
                         os.path.basename(path))
        self.assertEqual(described["template"], os.path.basename(path))

    def test_kept(self):
        """
        L{BoothChoice.save} writes what L{BoothChoice.load} reads back.
        """
        path = self.mktemp()
        choice = BoothChoice(booth_config(), path)
        choice.choose(template="pastel")
        choice.save()
        again = BoothChoice.load(booth_config(), path)
        self.assertEqual(again.chosen, {"theme": None, "template": "pastel"})
        self.assertTrue(again.describe()["persistent"])

    def test_bad_file(self):
        """
        A file that is not JSON, or names what is not built in, is
        ignored with a warning: the config's values hold.
        """
        for content in (b"{not json", b'{"theme": "disco"}', b"[1, 2]"):
            path = self.mktemp()
            with open(path, "wb") as f:
                f.write(content)
            choice = BoothChoice.load(booth_config(theme="night"), path)
            self.assertEqual((choice.theme, choice.template),
                             ("night", "classic"), content)
        self.assertEqual(
            BoothChoice.load(booth_config(), self.mktemp()).chosen,
            {"theme": None, "template": None})


class ChooseOnAdminTests(TestCase):

    def site(self, photos=None):
        config = {"access": {"token": TOKEN}}
        if photos is not None:
            config["paths"] = {"photos": photos}
        return MemorySite(self, config)

    def choose(self, site, body):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode("utf-8")
        return site.response("POST", "/admin/booth", data=Body(body),
                             headers=bearer(TOKEN))

    def strip(self, site):
        """
        A strip the booth makes now, as an image.
        """
        request = parse_request({}, site.booth.defaults)
        shots = [("shot-%d.jpg" % (n,), None, small_jpeg((300, 200)))
                 for n in range(request.count)]
        event = self.successResultOf(site.booth.strips(shots, request, 1))
        with open(event["filepath"], "rb") as f:
            return Image.open(io.BytesIO(f.read())).convert("RGB")

    def test_needs_token(self):
        site = self.site()
        for headers, wrong in (({}, False), (bearer("x" * 20), True)):
            response = site.guessed(
                "POST", "/admin/booth", headers=headers,
                data=Body(b'{"theme": "night"}'))
            check_refused(self, response, site.content(response),
                          wrong=wrong, what="/admin/booth")
        self.assertEqual(site.choice.theme, "classic")

    def test_theme(self):
        """
        The booth's pages load the chosen theme's colours from the next
        request on, and its settings name it.
        """
        site = self.site()
        css = site.content(site.get("/booth/theme.css")).decode("utf-8")
        self.assertIn(THEMES["classic"]["page"], css)
        response = self.choose(site, {"theme": "night"})
        self.assertEqual(response.code, 200)
        answer = site.json(response)
        self.assertEqual((answer["theme"], answer["template"], answer["saved"]),
                         ("night", "classic", True))
        css = site.content(site.get("/booth/theme.css")).decode("utf-8")
        self.assertIn("--page: %s;" % (THEMES["night"]["page"],), css)
        self.assertIn("--accent: %s;" % (THEMES["night"]["accent"],), css)
        settings = site.json(site.get("/booth/config.json"))
        self.assertEqual(settings["theme"], "night")
        state = site.json(site.get("/admin/state", headers=bearer(TOKEN)))
        self.assertEqual(state["choice"]["theme"], "night")
        self.assertEqual(state["choice"]["chosen"],
                         {"theme": "night", "template": None})

    def test_template(self):
        """
        The next strip is drawn with the chosen template's frame: film's
        is black where classic's is white.
        """
        site = self.site()
        before = self.strip(site)
        response = self.choose(site, {"template": "film"})
        self.assertEqual(response.code, 200)
        after = self.strip(site)
        self.assertEqual(before.size, after.size)
        # The frame's edge, outside every window.
        corner = (5, 5)
        self.assertGreater(sum(before.getpixel(corner)), 600)
        self.assertLess(sum(after.getpixel(corner)), 150)
        # A key left out keeps its choice.
        self.choose(site, {"theme": "pastel"})
        self.assertEqual(site.choice.chosen,
                         {"theme": "pastel", "template": "film"})

    def test_survives_restart(self):
        """
        The choice is kept in the photos directory, where a booth built
        on it again finds it; no listing shows the file.
        """
        site = self.site()
        self.choose(site, {"theme": "pastel", "template": "film"})
        self.assertTrue(os.path.isfile(os.path.join(site.photos, FILE)))
        again = self.site(photos=site.photos)
        self.assertEqual((again.choice.theme, again.choice.template),
                         ("pastel", "film"))
        css = again.content(again.get("/booth/theme.css")).decode("utf-8")
        self.assertIn(THEMES["pastel"]["page"], css)
        listing = again.json(again.get("/photos", headers=bearer(TOKEN)))
        self.assertNotIn(FILE, json.dumps(listing))

    def test_bad_request(self):
        """
        A body that is not a JSON object of C{theme} and C{template}, or
        names what is not built in: 400 saying why, nothing changes.
        """
        site = self.site()
        for body, words in ((b"night", "JSON object"),
                            (b'["night"]', "JSON object"),
                            (b'{"colour": "red"}', "JSON object"),
                            (b'{"theme": "disco"}', "theme must be one of"),
                            (b'{"template": "../x.yaml"}',
                             "template must be one of")):
            response = self.choose(site, body)
            self.assertEqual(response.code, 400, body)
            self.assertIn(words, site.json(response)["error"], body)
        self.assertEqual(site.choice.chosen,
                         {"theme": None, "template": None})
        self.assertFalse(os.path.exists(os.path.join(site.photos, FILE)))
        response = site.get("/admin/booth", headers=bearer(TOKEN))
        self.assertEqual(response.code, 405)
