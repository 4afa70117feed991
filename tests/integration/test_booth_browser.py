"""
The booth page in a real browser: Debian's chromium, headless, driven by
Selenium through Debian's chromium-driver (nothing downloads a browser:
the driver's path is given, so Selenium Manager never runs). fourcut runs
in this process with the virtual Canon EOS 700D; Selenium's blocking
calls run in a thread, so that the reactor keeps serving the browser.

One browser session goes through every screen size in turn (1280x800, a
10" touch screen; 1920x1080; a portrait 1080x1920 kiosk; a phone for the
share page): starting chromium is the slow part.

Screenshots are kept in C{booth-screenshots/} under trial's working
directory (C{_trial_temp/}, or C{$FOURCUT_TEST_ARTEFACTS}), named
C{SCREEN-WIDTHxHEIGHT.png}; look at them after a change to the pages.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import treq
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from twisted.internet import threads

from fourcut.booth.themes import THEMES

from tests.support.service import WebSocketTestCase
from tests.support.time import sleep

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TOKEN = "browser-token-0123456789"

#: Chromium as root on a closed network: no sandbox (root), no GPU, and
#: nothing that phones home (it would hammer refused connections).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars"]


FAKE_PRINTER = """
(() => {
  const real = window.fetch;
  window.printed = [];
  window.fetch = (url, options) => {
    const path = String(url);
    if (window.fakePrinter && path === "/booth/printer") {
      return Promise.resolve(new Response(JSON.stringify(window.fakePrinter),
        {status: 200, headers: {"Content-Type": "application/json"}}));
    }
    if (window.fakePrinter && path === "/booth/print") {
      window.printed.push(JSON.parse(options.body));
      return Promise.resolve(new Response('{"queued": true}',
        {status: 202, headers: {"Content-Type": "application/json"}}));
    }
    return real(url, options);
  };
})();
"""

#: Screen sizes the booth is tried at, in this order.
SIZES = [(1280, 800), (1920, 1080), (1080, 1920)]
PHONE = (390, 844)


def artefacts():
    directory = os.environ.get("FOURCUT_TEST_ARTEFACTS") or os.path.abspath(
        "booth-screenshots")
    os.makedirs(directory, exist_ok=True)
    return directory


def descendants(pid):
    """
    The PIDs of C{pid}'s children, grandchildren and so on, from /proc.
    """
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Browser:
    """
    A headless chromium at C{size}, through chromedriver; L{quit} ends
    both and, by PID, anything of theirs still running.
    """

    def __init__(self, size):
        self.profile = tempfile.mkdtemp(prefix="fourcut-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS + ["--window-size=%d,%d" % size,
                             "--user-data-dir=" + self.profile]:
            options.add_argument(flag)
        self.service = Service(executable_path=CHROMEDRIVER,
                               log_output=subprocess.DEVNULL)
        self.driver = None
        try:
            self.driver = webdriver.Chrome(service=self.service,
                                           options=options)
        except BaseException:
            self.quit()
            raise
        self.driver.set_script_timeout(10)
        self.resize(size)
        # The printer's side of the booth page (GET /booth/printer, POST
        # /booth/print) is answered here when the test sets
        # window.fakePrinter: the page's half of that contract, whatever
        # the server has.
        self.driver.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument", {"source": FAKE_PRINTER})

    def resize(self, size, mobile=False):
        """
        The page's own size, exactly (a headless window's size counts a
        toolbar it does not draw).
        """
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": size[0], "height": size[1], "deviceScaleFactor": 1,
            "mobile": mobile})

    def quit(self):
        process = getattr(self.service, "process", None)
        pids = descendants(process.pid) if process is not None else []
        try:
            if self.driver is not None:
                self.driver.quit()
        finally:
            try:
                self.service.stop()
            finally:
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait(10)
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                shutil.rmtree(self.profile, ignore_errors=True)


class BrowserTestCase(WebSocketTestCase):
    """
    fourcut with a token, guest links, a short countdown, a short review
    of each shot with retakes, an event name, and a chromium to look at it.
    """

    size = SIZES[0]
    config = {"booth": {"countdown": 3, "countdown_interval": 0.3,
                        "review": 0.6, "retake": True,
                        "event_name": "Anna & Ben", "theme": "classic",
                        "return_after": 30, "attract_after": 0},
              "access": {"token": TOKEN},
              "camera": {"restart_delay": 0.5}}

    async def setUp(self):
        await WebSocketTestCase.setUp(self)
        self.browser = await threads.deferToThread(Browser, self.size)
        self.addCleanup(threads.deferToThread, self.browser.quit)
        self.driver = self.browser.driver

    def call(self, function, *args):
        return threads.deferToThread(function, *args)

    def js(self, script, *args):
        return self.call(self.driver.execute_script, script, *args)

    async def resize(self, size, mobile=False):
        self.size = size
        await self.call(self.browser.resize, size, mobile)

    async def until(self, script, timeout=20.0, what=None):
        """
        Poll C{script} (an expression) in the page until it is truthy;
        return its value.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = await self.js("return (" + script + ");")
            if value:
                return value
            if time.monotonic() > deadline:
                await self.screenshot("timeout")
                self.fail("%s did not happen within %gs"
                          % (what or script, timeout))
            await sleep(0.05)

    async def screenshot(self, name):
        path = os.path.join(artefacts(), "%s-%dx%d.png"
                            % ((name,) + tuple(self.size)))
        await self.call(self.driver.save_screenshot, path)
        return path

    async def open_booth(self, token=True):
        await self.call(self.driver.get, self.base + "/booth")
        if token:
            await self.until("!document.getElementById('auth').hidden",
                             what="the token form")
            field = await self.call(self.driver.find_element, By.ID,
                                    "auth-token")
            await self.call(field.send_keys, TOKEN + Keys.ENTER)
        await self.idle_with_live_view()

    async def idle_with_live_view(self):
        await self.until("document.body.dataset.state === 'idle' && "
                         "document.body.dataset.waiting === 'no' && "
                         "!document.getElementById('start').disabled && "
                         "document.getElementById('live').naturalWidth > 0",
                         what="live view on the idle booth")

    async def visible(self, element_id):
        return await self.js(
            "const e = document.getElementById(arguments[0]);"
            "const r = e.getBoundingClientRect();"
            "return !!(e.offsetParent || getComputedStyle(e).position "
            "=== 'fixed') && r.width > 0 && r.height > 0 && "
            "getComputedStyle(e).visibility !== 'hidden';", element_id)

    async def fits(self):
        """
        The page fills the screen without scrolling.
        """
        width, height, scroll_w, scroll_h = await self.js(
            "return [innerWidth, innerHeight, "
            "document.documentElement.scrollWidth, "
            "document.documentElement.scrollHeight];")
        self.assertEqual((width, height), tuple(self.size))
        self.assertLessEqual(scroll_w, width)
        self.assertLessEqual(scroll_h, height)

    async def above_banner(self, element_id):
        """
        C{element_id} ends above the printer's banner.
        """
        bottom, banner = await self.js(
            "return [document.getElementById(arguments[0])"
            ".getBoundingClientRect().bottom, document.getElementById("
            "'printer').getBoundingClientRect().top];", element_id)
        self.assertLessEqual(bottom, banner, element_id)

    async def inside(self, element_id):
        """
        C{element_id} is wholly on the screen.
        """
        box = await self.js(
            "const r = document.getElementById(arguments[0])"
            ".getBoundingClientRect();"
            "return [r.left, r.top, r.right, r.bottom];", element_id)
        left, top, right, bottom = box
        self.assertTrue(0 <= left < right <= self.size[0] and
                        0 <= top < bottom <= self.size[1], (element_id, box))

    async def sequence(self, press, name, retake=False):
        """
        One sequence from the idle booth to its strip, screenshots of its
        screens named after C{name}; returns the page's dataset then.
        """
        await press()
        await self.until("!document.getElementById('countdown').hidden",
                         what="the countdown")
        # Big digits only: the shot's number above, nothing under them.
        shown = await self.js(
            "return [document.getElementById('countdown').textContent, "
            "document.getElementById('progress').textContent, "
            "document.body.innerText.includes('Hold still')];")
        self.assertIn(shown[0], ("3", "2", "1"))
        self.assertRegex(shown[1], r"\APhoto [1-4] of 4\Z")
        self.assertFalse(shown[2])
        await self.screenshot(name + "-countdown")
        await self.until("!document.getElementById('review').hidden && "
                         "document.getElementById('review-photo')"
                         ".naturalWidth > 0", what="the photo after a shot")
        if retake:
            # Touched at once (the shot is shown for booth.review only).
            await self.until("!document.getElementById('retake').hidden && "
                             "(document.getElementById('retake').click(), "
                             "true)", what="the retake button")
        else:
            await self.screenshot(name + "-review")
        await self.until("document.body.dataset.state === 'result' && "
                         "document.getElementById('strip').naturalWidth > 0"
                         " && document.getElementById('qr').naturalWidth > 0",
                         timeout=60, what="the strip and its QR code")
        # The strip is wholly on the screen, with nothing showing through.
        await self.until("document.getElementById('strip')"
                         ".getBoundingClientRect().height > 100",
                         what="the strip laid out")
        self.assertFalse(await self.visible("live"))
        for element in ("strip", "qr", "done"):
            await self.inside(element)
        await self.fits()
        await self.screenshot(name + "-result")
        return await self.js("return Object.assign({}, "
                             "document.body.dataset);")


    async def check_multipart_image(self):
        """
        Chromium's <img> on C{/preview} (each part's start sent ahead of
        its frame, issue 23) shows the camera's frames and keeps showing
        new ones: three pictures of it a quarter second apart all differ.
        """
        await self.js(
            "const img = new Image(); img.id = 'mjpeg';"
            "img.src = '/preview?token=' + arguments[0];"
            "document.body.appendChild(img);", TOKEN)
        await self.until("document.getElementById('mjpeg').naturalWidth",
                         what="the multipart image")
        seen = []
        for _ in range(3):
            seen.append(await self.js(
                "const img = document.getElementById('mjpeg');"
                "const c = document.createElement('canvas');"
                "c.width = img.naturalWidth; c.height = img.naturalHeight;"
                "c.getContext('2d').drawImage(img, 0, 0);"
                "return [c.width, c.height, c.toDataURL('image/png')];"))
            await sleep(0.25)
        self.assertEqual([s[:2] for s in seen], [[960, 640]] * 3)
        self.assertEqual(len({s[2] for s in seen}), 3)
        await self.js("document.getElementById('mjpeg').remove();")


class BoothPageTests(BrowserTestCase):
    async def test_booth(self):
        """
        The whole booth, in one browser at each screen size: the idle
        screen, a sequence (countdown, a retake, the strip and a QR code
        whose link opens the share page on a phone without the token),
        the printer's banner and Print button, the camera waking up, a
        failed shot in plain words, the attract screen, the gallery.
        """
        # 1280x800 -----------------------------------------------------
        await self.open_booth()
        await self.check_multipart_image()
        await self.fits()
        transform = await self.js(
            "return getComputedStyle(document.getElementById('live'))"
            ".transform;")
        self.assertEqual(transform, "matrix(-1, 0, 0, 1, 0, 0)")
        title = await self.js(
            "return document.getElementById('event-name').textContent;")
        self.assertEqual(title, "Anna & Ben")
        await self.inside("start")
        await self.screenshot("booth-idle")

        body = await self.call(self.driver.find_element, By.TAG_NAME, "body")
        state = await self.sequence(
            lambda: self.call(body.send_keys, Keys.SPACE), "booth",
            retake=True)
        # Shot 1 taken twice (a retake), then 2 to 4.
        self.assertEqual(state["countdowns"], ",".join(["3,2,1"] * 5))
        self.assertEqual(state["flashes"], "5")
        self.assertEqual(self.camera.device.captures, 5)

        # The QR code as the browser shows it, read by zbarimg.
        qr = await self.call(self.driver.find_element, By.ID, "qr")
        png = await self.call(lambda: qr.screenshot_as_png)
        path = os.path.join(artefacts(), "booth-qr-%dx%d.png" % self.size)
        with open(path, "wb") as f:
            f.write(png)
        decoded = await threads.deferToThread(
            subprocess.run, ["zbarimg", "--quiet", "--raw", path],
            capture_output=True, timeout=30)
        self.assertEqual(decoded.returncode, 0, decoded.stderr)
        link = decoded.stdout.decode().strip()
        self.assertEqual(link, state["shareUrl"])
        # The server listens on 127.0.0.1 only: the screen's own address.
        self.assertTrue(link.startswith(self.base + "/share/"), link)
        response = await treq.get(link, **self.http_options())
        self.assertEqual(response.code, 200)
        strips = sorted(name for name in os.listdir(self.photos)
                        if name.startswith("strip-"))
        self.assertEqual(len(strips), 1)
        with open(os.path.join(self.photos, strips[0]), "rb") as f:
            self.assertEqual(await response.content(), f.read())

        # The same screen at 1920x1080, and the printer wants paper: its
        # banner and a Print button (print's GET /booth/printer, answered
        # by the page's fake here).
        await self.resize(SIZES[1])
        await self.js("window.fakePrinter = {mode: 'button', "
                      "state: 'media-empty', guest_message: 'The printer "
                      "needs paper; your strip is saved and will print.'};")
        await self.until("!document.getElementById('printer').hidden && "
                         "!document.getElementById('print').hidden",
                         timeout=10, what="the printer's banner")
        await self.fits()
        for element in ("strip", "qr", "done", "print"):
            await self.inside(element)
        await self.above_banner("strip")
        await self.screenshot("booth-result")
        printed = await self.call(self.driver.find_element, By.ID, "print")
        await self.call(printed.click)
        await self.until("window.printed.length === 1", what="a print")
        asked = await self.js("return window.printed[0];")
        self.assertEqual(asked, {"strip": strips[0]})
        # The printer needs paper: queued, not "ready in a minute".
        await self.until("document.getElementById('print-status')"
                         ".textContent.startsWith('Your strip is in the "
                         "queue')")
        await self.screenshot("booth-printed")

        # A portrait kiosk: the strip above, the QR code below.
        await self.resize(SIZES[2])
        await self.fits()
        for element in ("strip", "qr", "done", "print"):
            await self.inside(element)
        await self.above_banner("strip")
        await self.screenshot("booth-result")

        # The operator chooses the pastel theme meanwhile (/admin).
        self.service.booth.choice.choose(theme="pastel")

        # Done: back to the start, the printer's banner on it, in the
        # theme chosen now.
        done = await self.call(self.driver.find_element, By.ID, "done")
        await self.call(done.click)
        await self.idle_with_live_view()
        await self.until("getComputedStyle(document.documentElement)"
                         ".getPropertyValue('--page').trim() === '%s'"
                         % (THEMES["pastel"]["page"],), timeout=10,
                         what="the theme chosen on /admin")
        await self.fits()
        await self.inside("start")
        await self.screenshot("booth-idle")
        self.service.booth.choice.choose(theme=None)
        await self.js("window.fakePrinter = null;")
        await self.until("document.getElementById('printer').hidden",
                         timeout=10, what="the printer's banner gone")

        # The camera wakes up: Start waits for it.
        self.camera.unplug()
        await self.until("document.body.dataset.waiting === 'yes' && "
                         "!document.getElementById('waiting').hidden && "
                         "document.getElementById('start').disabled",
                         what="the camera waking up, Start disabled")
        words = await self.js("return document.body.innerText;")
        self.assertIn("The camera is waking up", words)
        await self.screenshot("booth-waiting")
        self.camera.replug()
        frames = self.camera.device.frames_served
        await self.idle_with_live_view()
        self.assertGreater(self.camera.device.frames_served, frames)

        # A shot fails: plain words, and an offer to try again.
        self.camera.fail_captures(1)
        await self.call(body_of(self.driver).send_keys, Keys.SPACE)
        await self.until("!document.getElementById('countdown').hidden",
                         what="the countdown")
        await self.screenshot("booth-countdown")
        await self.until("document.body.dataset.state === 'message'",
                         timeout=30, what="the failed shot's message")
        words = await self.js(
            "return document.getElementById('message').innerText;")
        self.assertIn("try that again", words)
        for technical in ("[-", "gphoto", "Error", "failed", "shot 1 of"):
            self.assertNotIn(technical, words)
        await self.screenshot("booth-failed")
        errors = self.service.booth.problems()
        self.assertIn("shot 1 of 4 failed", errors[0]["detail"])

        # Tried again at 1920x1080.
        await self.resize(SIZES[1])
        again = await self.call(self.driver.find_element, By.ID, "try-again")
        await self.sequence(lambda: self.call(again.click), "booth-again")

        # The attract screen after attract_after idle seconds (1 here,
        # for this page): the recent strips, "touch to start".
        await self.js("document.getElementById('done').click();")
        await self.idle_with_live_view()
        await self.js("window.fourcutBooth.configure({attract_after: 1});")
        await self.until("document.body.dataset.state === 'attract' && "
                         "document.querySelectorAll('#slides img.shown')"
                         ".length === 1 && document.querySelector("
                         "'#slides img.shown').naturalWidth > 0",
                         timeout=20, what="the attract screen's slideshow")
        await self.call(time.sleep, 1.3)
        await self.fits()
        await self.screenshot("booth-attract")
        await self.resize(SIZES[2])
        await self.fits()
        await self.screenshot("booth-attract")
        await self.call(body_of(self.driver).click)
        await self.until("document.body.dataset.state === 'idle'",
                         what="touch to start")
        await self.js("window.fourcutBooth.configure({attract_after: 0});")

        # The gallery: strips only (a capture through the API stays out),
        # newest first, dates as 2026-12-07 21:04 on one line.
        response = await treq.get(
            self.base + "/capture",
            headers={"Authorization": ["Bearer " + TOKEN]},
            **self.http_options())
        self.assertEqual(response.code, 200, await response.content())
        await self.resize(SIZES[1])
        await self.call(self.driver.get, self.base + "/gallery")
        await self.until("document.body.dataset.state === 'ready' && "
                         "document.querySelectorAll('#photos li').length === 2"
                         " && [...document.querySelectorAll('#photos img')]"
                         ".every((i) => i.naturalWidth > 0)",
                         what="the gallery's strips")
        cards = await self.js(
            "return [...document.querySelectorAll('#photos li')].map((li) "
            "=> [li.dataset.kind, li.dataset.name, li.querySelector("
            "'.when').textContent, li.querySelector('.when')"
            ".getBoundingClientRect().height]);")
        self.assertEqual([kind for kind, _, _, _ in cards], ["strip"] * 2)
        names = [name for _, name, _, _ in cards]
        # Newest first: by the time each was saved (strip names carry no
        # time of day, issue 25).
        self.assertEqual(names, sorted(names, reverse=True, key=lambda n: (
            os.stat(os.path.join(self.photos, n)).st_mtime_ns, n)))
        line = await self.js("return parseFloat(getComputedStyle("
                             "document.querySelector('.when')).lineHeight)"
                             " || 20;")
        for _, _, when, height in cards:
            self.assertRegex(when, r"\A\d{4}-\d\d-\d\d \d\d:\d\d\Z")
            self.assertLess(height, 1.6 * line)
        page = await self.js("return document.body.innerText;")
        self.assertNotIn(".jpg", page)
        self.assertTrue(await self.js(
            "return document.getElementById('auth').hidden;"))
        await self.screenshot("gallery")

        # The share page on a phone, without the token.
        await self.resize(PHONE, mobile=True)
        await self.js("localStorage.clear();")
        await self.call(self.driver.get, link)
        await self.until("document.querySelectorAll('img').length === 5 && "
                         "[...document.querySelectorAll('img')]"
                         ".every((i) => i.naturalWidth > 0)",
                         what="the share page's strip and shots")
        links = await self.js(
            "return [...document.querySelectorAll('a.download')]"
            ".map((a) => a.getAttribute('href'));")
        path = link[len(self.base):]
        self.assertEqual(links, [path + "?download=1"] + [
            "%s?shot=%d&download=1" % (path, n) for n in range(1, 5)])
        await self.screenshot("share-page")
        await self.call(self.driver.execute_script, "window.scrollTo(0, "
                        "document.body.scrollHeight);")
        await self.screenshot("share-page-shots")


def body_of(driver):
    return driver.find_element(By.TAG_NAME, "body")
