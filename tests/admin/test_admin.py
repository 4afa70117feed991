# -*- test-case-name: tests.admin.test_admin -*-
"""
The operator page C{/admin} in memory (L{tests.support.memory.MemorySite}):
the page open to all and holding nothing, everything it shows or does
behind the token, the state it reads, hide and delete of photos, the test
print, and the log's warnings in words (L{fourcut.admin.errors}).
"""

import json
import os

from twisted.logger import LogLevel, Logger
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fourcut.admin.errors import ObserverService, RecentErrors

from tests.support.access import TOKEN, bearer, check_refused
from tests.support.fakes import small_jpeg
from tests.support.memory import Body, MemorySite

PHOTO = "fourcut-20261207-201000-1.jpg"


class AdminTests(TestCase):

    def site(self, token=True, **booth):
        config = {"booth": dict({"print": "button"}, **booth)}
        if token:
            config["access"] = {"token": TOKEN}
        site = MemorySite(self, config)
        with open(os.path.join(site.photos, PHOTO), "wb") as f:
            f.write(small_jpeg((60, 40)))
        return site

    def post(self, site, path, body=b"", headers=None):
        return site.response(
            "POST", path, data=Body(body),
            headers=dict(bearer(TOKEN), **(headers or {})))

    def test_page_open(self):
        """
        The page and its files need no token: they hold nothing, and ask
        for the token as the booth's pages do.
        """
        site = self.site()
        for path in ("/admin", "/admin/"):
            response = site.get(path)
            self.assertEqual(response.code, 200, path)
            self.assertNotIn(TOKEN.encode(), site.content(response))
        # Files are sent by a producer the global reactor drives: rendered
        # without a connection.
        for name in ("admin.js", "admin.css"):
            request = site.render("GET", "/admin/static/" + name)
            self.assertEqual(request.responseCode or 200, 200, name)
            self.assertNotIn(TOKEN.encode(), b"".join(request.written))
            self.assertGreater(len(b"".join(request.written)), 1000)
        page = site.content(site.get("/admin")).decode("utf-8")
        self.assertIn('name="viewport"', page)
        self.assertIn("/booth/static/common.js", page)
        for button in ("reset", "restart", "test-print"):
            self.assertIn('id="%s"' % (button,), page)
        self.assertEqual(
            site.render("GET", "/admin/static/nothing.js").responseCode, 404)

    def test_needs_token(self):
        """
        Everything else below C{/admin} is refused without the right
        token, with the guard's own 401.
        """
        site = self.site()
        for method, path in [("GET", "/admin/state"),
                             ("POST", "/admin/test-print"),
                             ("POST", "/admin/booth"),
                             ("POST", "/admin/photos/%s/hide" % (PHOTO,)),
                             ("POST", "/admin/photos/%s/delete" % (PHOTO,)),
                             ("GET", "/admin/nothing")]:
            for headers, wrong in (({}, False), (bearer("x" * 20), True)):
                response = site.guessed(method, path, headers=headers)
                check_refused(self, response, site.content(response),
                              wrong=wrong, what=path)
        self.assertTrue(os.path.exists(os.path.join(site.photos, PHOTO)))
        self.assertEqual(site.cups.submitted, [])

    def test_state(self):
        """
        C{/admin/state}: the camera as last seen, free disk, the printer
        and its queue, recent errors, the booth's settings read-only.
        """
        site = self.site(caption="Anna & Ben")
        site.session.last_error = "[-105] Unknown model"
        site.recent_errors.add("printer needs paper: media-empty-error")
        site.booth.problems.record(
            "That photo did not work. Let's try that again.",
            "[-105] Unknown model: /usr/lib/x86_64-linux-gnu/libgphoto2")
        site.printing.poll()
        response = site.get("/admin/state", headers=bearer(TOKEN))
        self.assertEqual(response.code, 200)
        state = site.json(response)
        self.assertEqual(state["camera"]["state"], "idle")
        self.assertEqual(state["camera"]["last_error"],
                         "[-105] Unknown model")
        self.assertIsInstance(state["disk"]["free_bytes"], int)
        self.assertEqual(state["printer"]["state"], "idle")
        self.assertEqual(state["printer"]["queue"], "photo")
        self.assertEqual([entry["text"] for entry in state["errors"]],
                         ["printer needs paper: media-empty-error"])
        self.assertEqual(state["booth"]["caption"], "Anna & Ben")
        self.assertEqual(state["booth"]["print"], "button")
        # The booth's own problems beside the log's: the guests' words and
        # the detail, server paths hidden.
        [problem] = state["problems"]
        self.assertEqual(problem["source"], "booth")
        self.assertEqual(problem["what"],
                         "That photo did not work. Let's try that again.")
        self.assertIn("[-105] Unknown model", problem["detail"])
        self.assertNotIn("/usr/lib", problem["detail"])
        self.assertEqual(state["choice"]["theme"], "classic")
        self.assertEqual(state["choice"]["template"], "classic")

    def test_test_print(self):
        site = self.site()
        response = self.post(site, "/admin/test-print")
        self.assertEqual(response.code, 202)
        self.assertEqual(site.json(response), {"queued": True, "number": 1})
        [(_, title, _, data)] = site.cups.submitted
        self.assertEqual(title, "fourcut test print")
        self.assertEqual(data[:5], b"%PDF-")

    def test_test_print_off(self):
        site = self.site(print="off")
        response = self.post(site, "/admin/test-print")
        self.assertEqual(response.code, 409)
        self.assertIn("booth.print: off", site.json(response)["error"])

    def test_cancel_and_retry(self):
        """
        The operator cancels a print CUPS has not taken (CUPS refuses
        prints now) and prints a failed one again; what does not fit the
        print's state is a 409 saying why, an unknown print a 404.
        """
        site = self.site()
        site.cups.accepting = False
        self.assertEqual(self.post(site, "/admin/test-print").code, 202)
        response = self.post(site, "/admin/prints/1/cancel")
        self.assertEqual(response.code, 200)
        job = site.json(response)
        self.assertEqual((job["number"], job["state"]), (1, "canceled"))
        again = self.post(site, "/admin/prints/1/cancel")
        self.assertEqual(again.code, 409)
        self.assertEqual(site.json(again)["error"],
                         "print 1 is canceled already")
        retry = self.post(site, "/admin/prints/1/retry")
        self.assertEqual(retry.code, 409)
        self.assertIn("has not failed", site.json(retry)["error"])
        # A print that failed (its strip unreadable) goes again.
        site.printing.queue.fail(site.printing.queue.add(None, None, "t"),
                                 "could not be read")
        site.cups.accepting = True
        retry = self.post(site, "/admin/prints/2/retry")
        self.assertEqual(retry.code, 200)
        self.assertEqual(site.json(retry)["number"], 3)
        [(_, title, _, _)] = site.cups.submitted
        self.assertEqual(title, "t")
        for path, code in [("/admin/prints/99/cancel", 404),
                           ("/admin/prints/1/print", 404),
                           ("/admin/prints/one/cancel", 404),
                           ("/admin/prints/1", 404)]:
            response = self.post(site, path)
            self.assertEqual(response.code, code, path)
            self.assertIn("error", site.json(response))

    def test_prints_need_the_token(self):
        site = self.site()
        response = site.guessed("POST", "/admin/prints/1/cancel")
        self.assertEqual(response.code, 401)

    def test_prints_off(self):
        site = self.site(print="off")
        response = self.post(site, "/admin/prints/1/retry")
        self.assertEqual(response.code, 409)

    def test_hide(self):
        """
        Hide moves a photo out of every listing, into C{.hidden}.
        """
        site = self.site()
        response = self.post(site, "/admin/photos/%s/hide" % (PHOTO,))
        self.assertEqual(response.code, 200)
        self.assertEqual(site.json(response), {"hidden": PHOTO})
        self.assertFalse(os.path.exists(os.path.join(site.photos, PHOTO)))
        self.assertTrue(os.path.exists(os.path.join(site.photos, ".hidden",
                                                    PHOTO)))
        listing = site.json(site.get("/photos", headers=bearer(TOKEN)))
        self.assertEqual(listing["photos"], [])
        again = self.post(site, "/admin/photos/%s/hide" % (PHOTO,))
        self.assertEqual(again.code, 404)

    def test_delete(self):
        """
        Delete needs C{{"confirm": true}}; it removes a shown or a hidden
        photo.
        """
        site = self.site()
        path = "/admin/photos/%s/delete" % (PHOTO,)
        for body in (b"", b"{}", b'{"confirm": "yes"}', b"[true]"):
            response = self.post(site, path, body)
            self.assertEqual(response.code, 400, body)
            self.assertIn("confirm", site.json(response)["error"])
        self.assertTrue(os.path.exists(os.path.join(site.photos, PHOTO)))
        confirm = json.dumps({"confirm": True}).encode("ascii")
        response = self.post(site, path, confirm)
        self.assertEqual(response.code, 200)
        self.assertEqual(site.json(response), {"deleted": PHOTO})
        self.assertFalse(os.path.exists(os.path.join(site.photos, PHOTO)))
        self.assertEqual(self.post(site, path, confirm).code, 404)
        # A hidden one.
        with open(os.path.join(site.photos, PHOTO), "wb") as f:
            f.write(b"x")
        self.post(site, "/admin/photos/%s/hide" % (PHOTO,))
        self.assertEqual(self.post(site, path, confirm).code, 200)
        self.assertEqual(os.listdir(os.path.join(site.photos, ".hidden")),
                         [])

    def test_bad_paths(self):
        site = self.site()
        for path in ("/admin/photos/..%2fx.jpg/hide", "/admin/photos/x/hide",
                     "/admin/photos/.hidden/hide",
                     "/admin/photos/%s/rename" % (PHOTO,),
                     "/admin/photos/%s" % (PHOTO,)):
            self.assertEqual(self.post(site, path).code, 404, path)
        response = site.get("/admin/photos/%s/hide" % (PHOTO,),
                            headers=bearer(TOKEN))
        self.assertEqual(response.code, 405)

    def test_no_token_configured(self):
        site = self.site(token=False)
        self.assertEqual(site.get("/admin/state").code, 200)


class RecentErrorsTests(SynchronousTestCase):
    def test_observes(self):
        """
        Warnings and worse from the log, newest first, repeats folded,
        paths hidden; info is left out.
        """
        now = [1796670000.0]
        recent = RecentErrors(keep=3, clock=lambda: now[0])
        log = Logger(observer=recent)
        log.info("all fine")
        log.warn("printer {name} needs paper", name="photo")
        log.warn("printer {name} needs paper", name="photo")
        log.error("cannot write /srv/photos/x.jpg")
        try:
            1 / 0
        except ZeroDivisionError:
            log.failure("printing")
        recent.add("added by hand")
        entries = recent.recent()
        self.assertEqual([entry["text"] for entry in entries][:2], [
            "added by hand", "printing: division by zero"])
        self.assertIn("x.jpg", entries[2]["text"])
        self.assertNotIn("/srv/photos", entries[2]["text"])
        self.assertEqual(len(entries), 3)
        # The time of the log event, or now.
        self.assertEqual(entries[0]["time"], "2026-12-07T19:00:00+00:00")
        self.assertEqual(entries[0]["count"], 1)

    def test_repeats(self):
        recent = RecentErrors(clock=lambda: 0)
        log = Logger(observer=recent)
        log.warn("printer {name} needs paper", name="photo")
        log.warn("printer {name} needs paper", name="photo")
        log.info("all fine")
        [entry] = recent.recent()
        self.assertEqual((entry["text"], entry["count"]),
                         ("printer photo needs paper", 2))
        self.assertEqual(LogLevel.warn.name, "warn")

    def test_keep(self):
        recent = RecentErrors(keep=2, clock=lambda: 0)
        for i in range(4):
            recent.add("error %d" % (i,))
        self.assertEqual([entry["text"] for entry in recent.recent()],
                         ["error 3", "error 2"])

    def test_service(self):
        published = []

        class Publisher:
            def addObserver(self, observer):
                published.append(observer)

            def removeObserver(self, observer):
                published.remove(observer)

        recent = RecentErrors()
        service = ObserverService(Publisher(), recent)
        service.startService()
        self.assertEqual(published, [recent])
        service.stopService()
        self.assertEqual(published, [])
