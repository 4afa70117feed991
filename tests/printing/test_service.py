# -*- test-case-name: tests.printing.test_service -*-
"""
Printing in memory: L{fourcut.printing.service.Printing} over a
L{tests.support.printing.FakeCups}, reached through the whole site
(L{tests.support.memory.MemorySite}): C{/booth/printer}, C{/booth/print},
the C{printer} block of C{/status}, C{/metrics}, and auto-print after a
sequence.
"""

import json
import os
import re

from twisted.trial.unittest import TestCase

from fourcut.printing.printer import PrinterUnavailable

from tests.support.fakes import small_jpeg
from tests.support.memory import Body, MemoryReactor, MemorySite

TOKEN = "printing-token-0123456789"
STRIP = "strip-20261207-5e1f0a9c3b2d.jpg"


def _post(site, strip=STRIP, headers=None, body=None):
    if body is None:
        body = json.dumps({"strip": strip}).encode("utf-8")
    headers = dict(headers or {}, **{"Content-Type": ["application/json"]})
    # A wrong token's answer may wait (fourcut.web.guesses).
    return site.guessed("POST", "/booth/print", headers=headers,
                        data=Body(body))


class PrintingTests(TestCase):

    def site(self, mode="button", **booth):
        booth = dict(booth, print=mode)
        site = MemorySite(self, {"booth": booth})
        with open(os.path.join(site.photos, STRIP), "wb") as f:
            f.write(small_jpeg((600, 1800)))
        return site

    def booth_view(self, site):
        response = site.get("/booth/printer")
        self.assertEqual(response.code, 200)
        return site.json(response)

    def test_off(self):
        """
        With C{booth.print: off} the booth hears so, and a print is a 409
        saying why.
        """
        site = self.site("off")
        self.assertEqual(self.booth_view(site), {
            "mode": "off", "state": "off", "guest_message": None})
        response = _post(site)
        self.assertEqual(response.code, 409)
        body = site.json(response)
        self.assertEqual(body["reason"], "off")
        self.assertIn("booth.print: off", body["error"])
        self.assertEqual(site.cups.submitted, [])

    def test_print(self):
        """
        A guest's print is queued (202, the copies left) and handed to
        CUPS as a one-page PDF of the 4x6 sheet, with the 4x6 media; a
        second print of the strip is refused once its copies are used.
        """
        site = self.site()
        site.printing.poll()
        self.assertEqual(self.booth_view(site), {
            "mode": "button", "state": "idle", "guest_message": None})
        response = _post(site)
        self.assertEqual(response.code, 202)
        self.assertEqual(site.json(response),
                         {"queued": True, "copies_left": 0})
        [(queue, title, options, data)] = site.cups.submitted
        self.assertIsNone(queue)
        self.assertIn(STRIP, title)
        self.assertEqual(options, {"media": "na_index-4x6_4x6in"})
        self.assertEqual(data[:5], b"%PDF-")
        # The page is 288x432 points (4x6 inches), its image the sheet.
        self.assertEqual(
            re.findall(rb"/MediaBox \[ ([0-9. ]+) \]", data),
            [b"0 0 288.0 432.0"])
        self.assertEqual(re.findall(rb"/(Width|Height) ([0-9]+)", data),
                         [(b"Width", b"1200"), (b"Height", b"1800")])
        again = _post(site)
        self.assertEqual(again.code, 409)
        self.assertEqual(site.json(again)["reason"], "copies")
        self.assertEqual(site.json(again)["copies_left"], 0)
        self.assertEqual(len(site.cups.submitted), 1)

    def test_copies_limit(self):
        """
        C{booth.print_copies} sheets per strip, then 409.
        """
        site = self.site(print_copies=2)
        self.assertEqual(site.json(_post(site))["copies_left"], 1)
        self.assertEqual(site.json(_post(site))["copies_left"], 0)
        self.assertEqual(_post(site).code, 409)

    def test_bad_requests(self):
        """
        An unknown strip, a photo that is no strip, a path, a body that is
        not C{{"strip": NAME}}: 404 or 400, saying what is wrong; C{GET} is
        a 405.
        """
        site = self.site()
        with open(os.path.join(site.photos, "fourcut-1.jpg"), "wb") as f:
            f.write(small_jpeg((30, 20)))
        for name in ("strip-19990101-000000.jpg", "fourcut-1.jpg",
                     "../" + STRIP, ".hidden"):
            response = _post(site, name)
            self.assertEqual(response.code, 404, name)
            self.assertEqual(site.json(response)["reason"], "unknown_strip")
        for body in (b"", b"{", b"[]", b'{"strip": 3}',
                     b'{"strip": "x", "copies": 9}'):
            response = _post(site, body=body)
            self.assertEqual(response.code, 400, body)
            self.assertIn("strip", site.json(response)["error"])
        self.assertEqual(site.get("/booth/print").code, 405)
        self.assertEqual(site.cups.submitted, [])

    def test_token(self):
        """
        With C{access.token} set, C{GET /booth/printer} stays public (like
        the booth page) and C{POST /booth/print} needs the token.
        """
        site = MemorySite(self, {"access": {"token": TOKEN},
                                 "booth": {"print": "button"}})
        with open(os.path.join(site.photos, STRIP), "wb") as f:
            f.write(small_jpeg((600, 1800)))
        self.assertEqual(self.booth_view(site)["mode"], "button")
        refused = _post(site)
        self.assertEqual(refused.code, 401)
        self.assertEqual(site.json(refused)["reason"], "token")
        wrong = _post(site, headers={"Authorization": ["Bearer nope"]})
        self.assertEqual(wrong.code, 401)
        right = _post(site, headers={"Authorization": ["Bearer " + TOKEN]})
        self.assertEqual(right.code, 202)

    def test_paper_out(self):
        """
        A printer out of paper: the guest reads plain words that the
        strip will print, the operator (C{/status}) CUPS' reasons, and
        C{/metrics} the state; the print is queued in CUPS all the same.
        """
        site = self.site()
        site.cups.state = "stopped"
        site.cups.reasons = ("media-empty-error",)
        site.cups.message = "Out of paper"
        site.printing.poll()
        view = self.booth_view(site)
        self.assertEqual(view["state"], "needs_paper")
        self.assertEqual(view["guest_message"], "The printer needs paper; "
                         "your strip is saved and will print.")
        self.assertNotIn("media", json.dumps(view))
        self.assertEqual(_post(site).code, 202)
        self.assertEqual(len(site.cups.submitted), 1)
        status = site.json(site.get("/status"))["printer"]
        self.assertEqual(status["state"], "needs_paper")
        self.assertIn("media-empty-error", status["detail"])
        self.assertIn("Out of paper", status["detail"])
        self.assertEqual(status["jobs"][0]["state"], "sent")
        metrics = site.content(site.get("/metrics")).decode("ascii")
        self.assertIn('fourcut_printer_state{state="needs_paper"} 1.0',
                      metrics)
        self.assertIn('fourcut_printer_state{state="idle"} 0.0', metrics)
        self.assertIn("fourcut_print_jobs_submitted_total 1.0", metrics)

    def test_rejecting(self):
        """
        A queue that rejects jobs: the print is kept (202) and handed to
        CUPS at the first poll after the queue accepts again.
        """
        site = self.site()
        site.cups.accepting = False
        site.printing.poll()
        self.assertEqual(self.booth_view(site)["state"], "rejecting")
        self.assertEqual(_post(site).code, 202)
        self.assertEqual(site.cups.submitted, [])
        status = site.json(site.get("/status"))["printer"]
        self.assertEqual(status["jobs_waiting"], 1)
        self.assertIn("not accepting jobs", status["jobs"][0]["error"])
        site.cups.accepting = True
        site.printing.poll()
        self.assertEqual(len(site.cups.submitted), 1)
        status = site.json(site.get("/status"))["printer"]
        self.assertEqual(status["jobs_waiting"], 0)
        self.assertEqual(status["state"], "idle")

    def test_job_fails(self):
        """
        A job CUPS aborts is a failure the operator reads (C{/status}'s
        C{last_error}, the job's error) and the strip gets its copy back.
        """
        site = self.site()
        _post(site)
        site.cups.jobs[1] = "aborted"
        site.printing.poll()
        status = site.json(site.get("/status"))["printer"]
        self.assertEqual(status["failed"], 1)
        self.assertEqual(status["jobs"][0]["state"], "failed")
        self.assertIn("aborted", status["last_error"])
        self.assertIn("job-canceled-at-device", status["last_error"])
        view = self.booth_view(site)
        self.assertEqual(view["state"], "print_failed")
        self.assertEqual(view["guest_message"], "The last print did not "
                         "come out; your strip is saved and can be printed "
                         "again.")
        self.assertEqual(site.json(_post(site))["copies_left"], 0)
        # The next sheet prints: all is well again.
        site.cups.jobs[2] = "completed"
        site.printing.poll()
        self.assertEqual(self.booth_view(site)["state"], "idle")

    def test_job_done(self):
        site = self.site()
        _post(site)
        site.cups.jobs[1] = "processing"
        site.printing.poll()
        self.assertEqual(site.printing.queue.jobs[0].state, "printing")
        site.cups.jobs[1] = "completed"
        site.printing.poll()
        status = site.json(site.get("/status"))["printer"]
        self.assertEqual((status["completed"], status["failed"]), (1, 0))

    def test_cups_down(self):
        """
        CUPS cannot be reached: the printer is offline, and the operator
        reads why.
        """
        site = self.site()
        site.cups.down = "CUPS cannot be reached (No such file or directory)"
        site.printing.poll()
        view = self.booth_view(site)
        self.assertEqual(view["state"], "offline")
        self.assertIn("strip is saved", view["guest_message"])
        self.assertEqual(_post(site).code, 202)
        status = site.json(site.get("/status"))["printer"]
        self.assertIn("No such file", status["detail"])
        self.assertEqual(status["jobs_waiting"], 1)

    def test_poll(self):
        """
        The printer is asked at start and every five seconds, and no
        more once stopped.
        """
        site = self.site()
        site.printing.start()
        self.assertEqual(site.cups.reports, 1)
        site.advance(5)
        self.assertEqual(site.cups.reports, 2)
        site.printing.stop()
        site.advance(10)
        self.assertEqual(site.cups.reports, 2)

    def test_auto(self):
        """
        With C{booth.print: auto}, the strip of a sequence is printed
        without anyone asking.
        """
        site = self.site("auto", layout="1x4", countdown=0)
        d = site.request("POST", "/sequence",
                         headers={"Accept": ["application/json"]})
        for _ in range(10):
            site.advance(1)
        event = site.json(self.successResultOf(d))
        [(queue, title, options, data)] = site.cups.submitted
        self.assertIn(event["filename"], title)
        self.assertEqual(
            site.json(_post(site, event["filename"]))["copies_left"], 0)

    def test_test_print(self):
        """
        The operator's test print is a sheet of its own, whatever the
        copies limit.
        """
        site = self.site()
        for _ in range(2):
            response = site.response("POST", "/admin/test-print")
            self.assertEqual(response.code, 202)
        self.assertEqual([title for _, title, _, _ in site.cups.submitted],
                         ["fourcut test print"] * 2)


class UnavailableTests(TestCase):
    def test_text(self):
        self.assertEqual(str(PrinterUnavailable("why")), "why")


class HeldThreadPool:
    """
    A thread pool whose calls run only when the test lets them: a CUPS
    that does not answer until then.
    """

    def __init__(self):
        self.held = []

    def callInThreadWithCallback(self, on_result, function, *args,
                                 **kwargs):
        self.held.append((on_result, function, args, kwargs))

    def release(self):
        on_result, function, args, kwargs = self.held.pop(0)
        on_result(True, function(*args, **kwargs))


class HeldReactor(MemoryReactor):
    """
    A reactor in memory whose thread pool is a L{HeldThreadPool}.
    """

    def __init__(self):
        MemoryReactor.__init__(self)
        self.pool = HeldThreadPool()

    def getThreadPool(self):
        return self.pool


class HungCupsTests(TestCase):
    """
    pycups has no timeout: a CUPS that does not answer is shown as such
    after the deadline, and holds one thread, not one a poll.
    """

    def setUp(self):
        from fourcut.printing.service import Printing
        from tests.support.printing import FakeCups
        self.clock = HeldReactor()
        self.pool = self.clock.pool
        self.cups = FakeCups()
        self.printing = Printing(self.clock, self.cups, "button",
                                 self.mktemp(), interval=5, deadline=20)

    def test_offline_after_the_deadline(self):
        self.printing.start()
        self.assertEqual(len(self.pool.held), 1)
        self.clock.advance(19.9)
        self.assertIn("not been asked yet", self.printing.status()["detail"])
        self.clock.advance(0.1)
        self.assertEqual(self.printing.state.state, "offline")
        self.assertIn("CUPS has not answered for 20 s",
                      self.printing.status()["detail"])
        # The polls due meanwhile start no thread of their own.
        self.clock.advance(60)
        self.assertEqual(len(self.pool.held), 1)
        # CUPS answers at last: the printer is back, and polling goes on.
        self.pool.release()
        self.assertEqual(self.printing.state.state, "idle")
        self.assertEqual(self.cups.reports, 1)
        self.clock.advance(5)
        self.assertEqual(len(self.pool.held), 1)

    def test_answer_in_time(self):
        """
        An answer within the deadline leaves no timer behind.
        """
        self.printing.start()
        self.clock.advance(1)
        self.pool.release()
        self.assertEqual(self.printing.state.state, "idle")
        self.assertEqual([call for call in self.clock.getDelayedCalls()
                          if call.func == self.printing._silent], [])
        self.printing.stop()
