# -*- test-case-name: tests.printing.test_cups -*-
"""
Printing against a real C{cupsd} (L{tests.support.cupsd}) with Debian's
cups-pdf printer: the whole site in memory (L{MemorySite}), its printing
talking to CUPS through pycups (L{fourcut.printing.printer.Cups}) on the
scheduler's own socket. The PDF cups-pdf writes is read back with
poppler's C{pdfinfo} and C{pdfimages}; a stopped printer, a queue that
rejects jobs, a printer out of paper and a job that fails show on
C{/booth/printer} and C{/status}. Every test stops its C{cupsd} (and
removes what it wrote) even when it fails.

The memory site's thread pool runs each CUPS call at once, in the test's
thread; the test polls the printer itself, as L{Printing} does every few
seconds.
"""

import io
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time

from PIL import Image, ImageChops, ImageDraw, ImageStat
from twisted.trial.unittest import TestCase

from fourcut.printing.printer import Cups
from fourcut.printing.sheet import sheet

from tests.support.cupsd import CupsDaemon
from tests.support.memory import Body, MemorySite

STRIP = "strip-20261207-a4c07d19e823.jpg"

#: Seconds a job may take to go through cupsd, its filters and cups-pdf
#: (about half a second on an idle machine).
JOB_TIMEOUT = 20.0


def strip_jpeg():
    """
    A 600x1800 strip of four coloured shots with a dark frame: each
    quarter of the sheet is easy to tell apart.
    """
    image = Image.new("RGB", (600, 1800), (20, 20, 20))
    draw = ImageDraw.Draw(image)
    for i, colour in enumerate([(220, 40, 40), (40, 200, 60),
                                (40, 70, 220), (240, 210, 30)]):
        top = 30 + i * 440
        draw.rectangle((30, top, 569, top + 400), fill=colour)
        draw.ellipse((200, top + 100, 400, top + 300), fill=(250, 250, 250))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def _tool(*argv):
    return subprocess.run(argv, check=True, capture_output=True,
                          timeout=30).stdout.decode("utf-8", "replace")


class CupsTests(TestCase):

    def setUp(self):
        if os.getuid() != 0:
            self.fail("cupsd runs cups-pdf only as root: run the printing "
                      "tests as root, as CI does")
        # Not under _trial_temp: cupsd's filters run as lp, who must
        # reach them, and a socket's path must be short.
        root = tempfile.mkdtemp(prefix="fourcut-cupsd-")
        self.addCleanup(shutil.rmtree, root, ignore_errors=True)
        os.chmod(root, 0o755)
        self.cupsd = CupsDaemon(root)
        self.addCleanup(self.cupsd.stop)
        self.cupsd.start()
        self.strip = strip_jpeg()

    def queue_name(self):
        return "fourcut-%d-%s" % (os.getpid(), secrets.token_hex(3))

    def site(self, queue, **booth):
        site = MemorySite(self, {"booth": dict(
            {"print": "button", "printer": queue}, **booth)},
            cups=Cups(server=self.cupsd.socket))
        with open(os.path.join(site.photos, STRIP), "wb") as f:
            f.write(self.strip)
        return site

    def post(self, site):
        return site.response(
            "POST", "/booth/print",
            headers={"Content-Type": ["application/json"]},
            data=Body(json.dumps({"strip": STRIP}).encode("ascii")))

    def printer(self, site):
        site.printing.poll()
        booth = site.json(site.get("/booth/printer"))
        status = site.json(site.get("/status"))["printer"]
        return booth, status

    def wait(self, site, done, what):
        deadline = time.monotonic() + JOB_TIMEOUT
        while time.monotonic() < deadline:
            booth, status = self.printer(site)
            if done(status):
                return booth, status
            time.sleep(0.05)
        self.fail("%s: not within %s s: %r\n%s" % (
            what, JOB_TIMEOUT, status, self.cupsd.log()))

    def pdf(self, out):
        """
        The one PDF cups-pdf wrote into C{out}.
        """
        [name] = [name for name in os.listdir(out) if name.endswith(".pdf")]
        return os.path.join(out, name)

    def check_pdf(self, path, expected=None):
        """
        The PDF at C{path} is one 4x6 inch page whose only image is the
        1200x1800 sheet at 300 dpi, and that image is C{expected} (if
        given: extracting and comparing it takes a moment).
        """
        info = _tool("pdfinfo", path)
        fields = dict(line.split(":", 1) for line in info.splitlines()
                      if ":" in line)
        self.assertEqual(fields["Pages"].strip(), "1")
        self.assertEqual(fields["Page size"].strip(), "288 x 432 pts")
        images = [line.split() for line in
                  _tool("pdfimages", "-list", path).splitlines()[2:]]
        self.assertEqual(len(images), 1, images)
        # page num type width height color comp bpc enc interp object ID
        # x-ppi y-ppi size ratio
        image = images[0]
        self.assertEqual(image[2:6], ["image", "1200", "1800", "rgb"])
        self.assertEqual(image[12:14], ["300", "300"])
        if expected is None:
            return None
        prefix = os.path.join(os.path.dirname(path), "sheet")
        _tool("pdfimages", "-png", path, prefix)
        with Image.open(prefix + "-000.png") as printed:
            printed = printed.convert("RGB")
        self.assertEqual(printed.size, (1200, 1800))
        difference = ImageStat.Stat(ImageChops.difference(printed, expected))
        # JPEG twice (fourcut's PDF, then cups-pdf's Ghostscript): a few
        # levels of 255 on average, never a shifted or scaled picture.
        self.assertLess(max(difference.mean), 2.0, difference.mean)
        left = printed.crop((0, 0, 600, 1800))
        right = printed.crop((600, 0, 1200, 1800))
        self.assertLess(max(ImageStat.Stat(
            ImageChops.difference(left, right)).mean), 4.0)
        return difference.mean

    def test_sheet(self):
        """
        A guest's print goes through CUPS and cups-pdf: the PDF is one 4x6
        page, the sheet image at full size (1200x1800, 300 dpi), the
        strip twice. The booth sees the printer idle, and cupsd is gone
        once stopped, with nothing it started left behind.
        """
        queue = self.queue_name()
        out = self.cupsd.add_pdf_queue(queue)
        site = self.site(queue)
        booth, status = self.printer(site)
        self.assertEqual(booth, {"mode": "button", "state": "idle",
                                 "guest_message": None})
        self.assertEqual(status["queue"], queue)
        self.assertIn("CUPS-PDF", status["model"])
        response = self.post(site)
        self.assertEqual(response.code, 202)
        self.assertEqual(site.json(response),
                         {"queued": True, "copies_left": 0})
        self.wait(site, lambda status: status["completed"] == 1,
                  "the job completed")
        self.check_pdf(self.pdf(out), sheet(self.strip))
        pid = self.cupsd.process.pid
        process = self.cupsd.process
        self.cupsd.stop()
        self.assertIsNotNone(process.returncode)
        self.assertEqual(
            [entry for entry in os.listdir("/proc") if entry.isdigit()
             and _parent(entry) == pid], [])
        self.assertFalse(os.path.exists("/etc/cups/cups-pdf-%s.conf"
                                        % (queue,)))
        booth, status = self.printer(site)
        self.assertEqual(booth["state"], "offline")
        self.assertIn("CUPS", status["detail"])

    def test_stopped(self):
        """
        A stopped printer (C{cupsdisable}): the guest reads that it is
        paused and the strip will print; the operator reads CUPS' reason.
        The print waits in CUPS' queue and prints once it is enabled.
        """
        queue = self.queue_name()
        out = self.cupsd.add_pdf_queue(queue)
        self.cupsd.run("cupsdisable", "-r", "changing the paper roll", queue)
        site = self.site(queue)
        booth, status = self.printer(site)
        self.assertEqual(booth["state"], "stopped")
        self.assertEqual(booth["guest_message"], "The printer is paused; "
                         "your strip is saved and will print.")
        self.assertNotIn("paper roll", json.dumps(booth))
        self.assertIn("changing the paper roll", status["detail"])
        self.assertEqual(self.post(site).code, 202)
        booth, status = self.wait(
            site, lambda status: status["cups_jobs_queued"] == 1,
            "the job queued in CUPS")
        self.assertEqual(status["jobs"][0]["state"], "sent")
        self.assertEqual(status["jobs_waiting"], 0)
        self.assertEqual(os.listdir(out), [])
        self.cupsd.run("cupsenable", queue)
        # CUPS may still call the printer "processing" for a moment after
        # the job it printed is "completed": the booth says printing, then
        # idle (CI saw "printing" here once).
        booth, status = self.wait(
            site, lambda status: status["completed"] == 1
            and status["state"] == "idle", "the job printed, the printer idle")
        self.assertEqual(booth["state"], "idle")
        self.check_pdf(self.pdf(out))

    def test_rejecting(self):
        """
        A queue that rejects jobs (C{cupsreject}): the print is kept by
        fourcut and handed to CUPS once the queue accepts again.
        """
        queue = self.queue_name()
        out = self.cupsd.add_pdf_queue(queue)
        self.cupsd.run("cupsreject", "-r", "closed for the speeches", queue)
        site = self.site(queue)
        booth, status = self.printer(site)
        self.assertEqual(booth["state"], "rejecting")
        self.assertIn("strip is saved", booth["guest_message"])
        self.assertFalse(status["accepting"])
        self.assertEqual(self.post(site).code, 202)
        booth, status = self.printer(site)
        self.assertEqual(status["jobs_waiting"], 1)
        self.assertIn("not accepting jobs", status["jobs"][0]["error"])
        self.cupsd.run("cupsaccept", queue)
        # CUPS may still call the printer "processing" for a moment after
        # the job it printed is "completed": the booth says printing, then
        # idle (CI saw "printing" here once).
        booth, status = self.wait(
            site, lambda status: status["completed"] == 1
            and status["state"] == "idle", "the job printed, the printer idle")
        self.assertEqual(booth["state"], "idle")
        self.assertEqual(status["jobs_waiting"], 0)
        self.check_pdf(self.pdf(out))

    def test_paper_out(self):
        """
        A job that fails because the printer is out of paper (its backend
        says C{media-empty-error} and stops the queue, keeping the job):
        the guest reads that the printer needs paper and the strip will
        print; the operator reads the backend's words.
        """
        queue = self.queue_name()
        self.cupsd.add_paper_out_queue(queue)
        site = self.site(queue)
        self.assertEqual(self.post(site).code, 202)
        booth, status = self.wait(
            site, lambda status: status["state"] == "needs_paper",
            "the printer out of paper")
        self.assertEqual(booth, {
            "mode": "button", "state": "needs_paper",
            "guest_message": "The printer needs paper; your strip is saved "
                             "and will print."})
        self.assertIn("media-empty-error", status["detail"])
        self.assertIn("the paper tray is empty", status["detail"])
        self.assertEqual(status["jobs"][0]["state"], "sent")
        self.assertIn("needs paper", status["last_error"])

    def test_job_fails(self):
        """
        A job cups-pdf cannot write (its output directory cannot be
        made): CUPS cancels it; the operator reads that it failed, the
        guest that the print did not come out and may be printed again.
        """
        queue = self.queue_name()
        self.cupsd.add_pdf_queue(queue, out="/dev/null/nowhere")
        site = self.site(queue)
        self.assertEqual(self.post(site).code, 202)
        booth, status = self.wait(site, lambda status: status["failed"] == 1,
                                  "the job failed")
        self.assertEqual(status["jobs"][0]["state"], "failed")
        self.assertIn("CUPS job", status["last_error"])
        self.assertIn("canceled", status["last_error"])
        self.assertEqual(booth["state"], "print_failed")
        self.assertIn("can be printed again", booth["guest_message"])
        self.assertNotIn("CUPS", json.dumps(booth))
        self.assertIn("the last print failed", status["detail"])
        again = self.post(site)
        self.assertEqual(again.code, 202)
        self.assertEqual(site.json(again)["copies_left"], 0)


def _parent(pid):
    try:
        with open("/proc/%s/stat" % (pid,)) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
