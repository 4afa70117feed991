# -*- test-case-name: tests.integration.test_admin_browser -*-
"""
The operator page in a real browser at a phone's size: Debian's chromium,
headless, through Selenium (L{tests.integration.test_booth_browser}'s
L{Browser}). The site is the in-memory one (L{MemorySite}) on the real
reactor, listening on 127.0.0.1, with no camera and a fake CUPS whose
printer is out of paper: the page is what is tested, not the camera.

The screenshots are kept as C{booth-screenshots/admin-390x844.png} and
C{admin-390-whole-page.png} under trial's working directory.
"""

import os
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from twisted.internet import reactor, threads
from twisted.trial.unittest import TestCase

from tests.integration.test_booth_browser import Browser, artefacts
from tests.support.fakes import small_jpeg
from tests.support.memory import MemorySite
from tests.support.time import sleep

TOKEN = "operator-token-0123456789"
SIZE = (390, 844)
PHOTOS = ["fourcut-20261207-201000-1.jpg", "fourcut-20261207-201001-1.jpg"]


class AdminPageTests(TestCase):

    async def test_phone(self):
        """
        On a phone: the token asked for once, the camera, the printer out
        of paper, the booth's problems, the gallery, nothing wider than
        the screen; a theme and template chosen; a waiting print
        cancelled; Hide, and Delete after the confirm.
        """
        site = MemorySite(self, {"access": {"token": TOKEN},
                                 "booth": {"print": "button"}},
                          reactor=reactor)
        for i, name in enumerate(PHOTOS):
            with open(os.path.join(site.photos, name), "wb") as f:
                f.write(small_jpeg((300, 200)))
            os.utime(os.path.join(site.photos, name), (1e9 + i, 1e9 + i))
        site.cups.state = "stopped"
        site.cups.reasons = ("media-empty-error",)
        await site.printing.poll()
        # A test print CUPS does not take: it waits here, and may be
        # cancelled.
        site.cups.accepting = False
        await site.printing.test_print()
        site.booth.problems.record(
            "That photo did not work. Let's try that again.",
            "[-105] Unknown model: Could not detect any camera")
        port = reactor.listenTCP(0, site.factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        base = "http://127.0.0.1:%d" % (port.getHost().port,)
        browser = await threads.deferToThread(Browser, SIZE)
        self.addCleanup(threads.deferToThread, browser.quit)
        driver = browser.driver

        def call(function, *args):
            return threads.deferToThread(function, *args)

        async def until(script, what, timeout=20.0):
            deadline = time.monotonic() + timeout
            while True:
                value = await call(driver.execute_script,
                                   "return (" + script + ");")
                if value:
                    return value
                if time.monotonic() > deadline:
                    await call(driver.save_screenshot, os.path.join(
                        artefacts(), "admin-timeout.png"))
                    self.fail("%s did not happen within %gs"
                              % (what, timeout))
                await sleep(0.05)

        await call(driver.get, base + "/admin")
        await until("!document.getElementById('auth').hidden",
                    "the token form")
        field = await call(driver.find_element, By.ID, "auth-token")
        await call(field.send_keys, TOKEN + Keys.ENTER)
        await until("document.body.dataset.state === 'ready' && "
                    "document.querySelectorAll('#photos img').length === 2 "
                    "&& [...document.querySelectorAll('#photos img')]"
                    ".every((i) => i.naturalWidth > 0)",
                    "the state and the gallery")
        texts = await call(driver.execute_script, """
            const text = (id) => document.getElementById(id).textContent;
            return {camera: text('camera-state'),
                    printer: text('printer-state'),
                    detail: text('printer-detail'),
                    disk: text('disk-free'),
                    problems: text('problems'),
                    theme: document.getElementById('theme').value,
                    themes: [...document.getElementById('theme').options]
                        .map((o) => o.value),
                    width: document.documentElement.scrollWidth,
                    inner: innerWidth};""")
        self.assertEqual(texts["camera"], "idle")
        self.assertEqual(texts["printer"], "needs paper")
        self.assertIn("media-empty-error", texts["detail"])
        self.assertRegex(texts["disk"], r"^[0-9.]+ [kMGT]?B$")
        # The booth's own problems, the guests' words and the detail.
        self.assertIn("booth: That photo did not work", texts["problems"])
        self.assertIn("[-105] Unknown model", texts["problems"])
        self.assertEqual(texts["theme"], "")
        self.assertEqual(texts["themes"], ["", "classic", "night", "pastel"])
        # Nothing wider than the phone's screen.
        self.assertLessEqual(texts["width"], texts["inner"])
        path = os.path.join(artefacts(), "admin-%dx%d.png" % SIZE)
        await call(driver.save_screenshot, path)
        # And the whole page, as tall as it is.
        height = await call(driver.execute_script,
                            "return document.documentElement.scrollHeight;")
        await call(driver.execute_cdp_cmd,
                   "Emulation.setDeviceMetricsOverride", {
                       "width": SIZE[0], "height": height,
                       "deviceScaleFactor": 1, "mobile": True})
        await call(driver.save_screenshot, os.path.join(
            artefacts(), "admin-%d-whole-page.png" % (SIZE[0],)))

        # Choose the night theme and the film strip.
        await call(driver.execute_script, """
            document.getElementById('theme').value = 'night';
            document.getElementById('template').value = 'film';
            document.getElementById('choose').click();""")
        await until("document.getElementById('look-result').textContent"
                    ".startsWith('Now:')", "the choice made")
        self.assertEqual((site.choice.theme, site.choice.template),
                         ("night", "film"))

        # Cancel the waiting print.
        await call(driver.execute_script,
                   "document.querySelector('#print-jobs button').click();")
        await until("document.getElementById('printer-result').textContent"
                    " === 'Print 1 canceled.'", "the print canceled")
        self.assertEqual(site.printing.queue.jobs[0].state, "canceled")

        # Hide the newest photo; delete the other after the confirm.
        await call(driver.execute_script, """
            window.confirmed = [];
            window.confirm = (text) => { confirmed.push(text); return true; };
            document.querySelector('#photos li .quiet').click();""")
        await until("document.querySelectorAll('#photos li').length === 1",
                    "the hidden photo gone from the page")
        self.assertTrue(os.path.exists(os.path.join(
            site.photos, ".hidden", PHOTOS[1])))
        await call(driver.execute_script,
                   "document.querySelector('#photos li .danger').click();")
        await until("document.querySelectorAll('#photos li').length === 0",
                    "the deleted photo gone from the page")
        self.assertEqual(await call(driver.execute_script,
                                    "return window.confirmed;"),
                         ["Delete %s for good?" % (PHOTOS[0],)])
        self.assertFalse(os.path.exists(os.path.join(site.photos,
                                                     PHOTOS[0])))
