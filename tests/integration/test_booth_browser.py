"""
The booth page in a real browser: Debian's chromium, headless, driven by
Selenium through Debian's chromium-driver (nothing downloads a browser:
the driver's path is given, so Selenium Manager never runs). fourcut runs
in this process with the virtual Canon EOS 700D; Selenium's blocking
calls run in a thread, so that the reactor keeps serving the browser.

Screenshots are kept in C{booth-screenshots/} under trial's working
directory (C{_trial_temp/}, or C{$FOURCUT_TEST_ARTEFACTS}).
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
        # The page's own size, exactly (a headless window's size counts
        # a toolbar it does not draw).
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": size[0], "height": size[1], "deviceScaleFactor": 1,
            "mobile": False})

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
    fourcut with a token, guest links and a short countdown, and a
    chromium to look at it.
    """

    size = (1280, 800)
    config = {"booth": {"countdown": 3, "countdown_interval": 0.3,
                        "window": [300, 200], "return_after": 2,
                        "guest_links": True},
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
                            % ((name,) + self.size))
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
                         "document.getElementById('live').naturalWidth > 0",
                         what="live view on the idle booth")


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
        Open /booth, give the token, press the space bar: the countdown,
        a flash per shot, the strip and a QR code whose link downloads it
        on a phone without the token; back to the start; the token kept;
        the camera unplugged and back; the gallery.
        """
        await self.open_booth()
        await self.check_multipart_image()
        size = await self.js("return [innerWidth, innerHeight];")
        self.assertEqual(size, list(self.size))
        transform = await self.js(
            "return getComputedStyle(document.getElementById('live'))"
            ".transform;")
        self.assertEqual(transform, "matrix(-1, 0, 0, 1, 0, 0)")
        await self.screenshot("booth-idle")

        body = await self.call(self.driver.find_element, By.TAG_NAME, "body")
        await self.call(body.send_keys, Keys.SPACE)
        await self.until("!document.getElementById('countdown').hidden",
                         what="the countdown")
        shown = await self.js(
            "return document.getElementById('countdown').textContent;")
        self.assertIn(shown, ("3", "2", "1"))
        await self.screenshot("booth-countdown")
        await self.until("document.body.dataset.state === 'result' && "
                         "document.getElementById('strip').naturalWidth > 0"
                         " && document.getElementById('qr').naturalWidth > 0",
                         timeout=60, what="the strip and its QR code")
        await self.screenshot("booth-strip")
        state = await self.js("return Object.assign({}, "
                              "document.body.dataset);")
        self.assertEqual(state["countdowns"], ",".join(["3,2,1"] * 4))
        self.assertEqual(state["flashes"], "4")
        self.assertEqual(self.camera.device.captures, 4)

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
        self.assertTrue(link.startswith(self.base + "/share/"), link)
        response = await treq.get(link, **self.http_options())
        self.assertEqual(response.code, 200)
        strips = [name for name in os.listdir(self.photos)
                  if name.startswith("strip-")]
        self.assertEqual(len(strips), 1)
        with open(os.path.join(self.photos, strips[0]), "rb") as f:
            self.assertEqual(await response.content(), f.read())

        # Back to the start by itself (booth.return_after: 2).
        await self.until("document.body.dataset.state === 'idle'",
                         timeout=10, what="back to the start")

        # The token is kept: a reload asks for nothing.
        await self.open_booth(token=False)

        # The camera goes away and comes back: the page waits, then shows
        # live view again on its own.
        self.camera.unplug()
        await self.until("document.body.dataset.waiting === 'yes' && "
                         "!document.getElementById('waiting').hidden",
                         what="waiting for the camera")
        await self.screenshot("booth-waiting")
        self.camera.replug()
        frames = self.camera.device.frames_served
        await self.until("document.body.dataset.waiting === 'no'",
                         timeout=30, what="live view back")
        self.assertGreater(self.camera.device.frames_served, frames)

        # The gallery: the strip first, then its shots, each with a
        # thumbnail.
        await self.call(self.driver.get, self.base + "/gallery")
        await self.until("document.body.dataset.state === 'ready' && "
                         "document.querySelectorAll('#photos li').length === 5"
                         " && [...document.querySelectorAll('#photos img')]"
                         ".every((i) => i.naturalWidth > 0)",
                         what="the gallery with thumbnails")
        kinds = await self.js("return [...document.querySelectorAll("
                              "'#photos li')].map((li) => li.dataset.kind);")
        self.assertEqual(kinds, ["strip"] + ["photo"] * 4)
        await self.screenshot("gallery")
        # Strips only.
        box = await self.call(self.driver.find_element, By.ID, "strips-only")
        await self.call(box.click)
        await self.until("document.body.dataset.state === 'ready' && "
                         "document.querySelectorAll('#photos li').length "
                         "=== 1", what="strips only")


class LargeScreenTests(BrowserTestCase):
    size = (1920, 1080)

    async def test_layout(self):
        """
        At 1920x1080 the page fills the screen without scrolling, the
        start button is on it, and a touch starts a sequence.
        """
        await self.open_booth()
        metrics = await self.js(
            "const b = document.getElementById('start')"
            ".getBoundingClientRect();"
            "return [innerWidth, innerHeight, b.top, b.bottom, b.left, "
            "b.right, document.documentElement.scrollHeight, "
            "document.documentElement.scrollWidth];")
        width, height, top, bottom, left, right, scroll_h, scroll_w = metrics
        self.assertEqual((width, height), self.size)
        self.assertTrue(0 <= top < bottom <= height and 0 <= left < right
                        <= width, metrics)
        self.assertLessEqual(scroll_h, height)
        self.assertLessEqual(scroll_w, width)
        await self.screenshot("booth-idle")
        start = await self.call(self.driver.find_element, By.ID, "start")
        await self.call(start.click)
        await self.until("document.body.dataset.state === 'result'",
                         timeout=60, what="the strip")
        await self.screenshot("booth-strip")
