"""
The Canon EOS personality driven by Debian's real gphoto2 CLI (libgphoto2
2.5.30) on the USB path, auto-detected through fourcut's port library as a
booth's body is: libgphoto2 takes its EOS code paths for it. A smaller set
runs over PTP/IP (L{PTPIPEOSTests}), as for a Wi-Fi EOS.

Every gphoto2 child gets an empty HOME of its own (libgphoto2 keeps
~/.gphoto/settings there) unless a test shares one on purpose.
"""

import statistics

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from fourcut.stream.jpeg import JPEGSplitter
from fourcut.virtualcam import eospack as eos
from fourcut.virtualcam.scene import parse_frame_comment

from tests.support import (EOS_STILL, GPhoto2Runner, USBGPhoto2Runner,
                      jpeg_size, start_camera, start_usb_camera)
from tests.support.time import sleep



async def wait_for(condition, timeout=10.0):
    deadline = reactor.seconds() + timeout
    while not condition():
        if reactor.seconds() > deadline:
            raise AssertionError("condition not met in %s s" % (timeout,))
        await sleep(0.02)


#: The 700D's choices as gphoto2 2.5.30 names them.
EOS_ISO_CHOICES = ["Auto", "100", "200", "400", "800", "1600", "3200",
                   "6400", "12800", "25600"]
EOS_APERTURES = ["3.5", "4", "4.5", "5", "5.6", "6.3", "7.1", "8", "9",
                 "10", "11", "13", "14", "16", "18", "20", "22"]
EOS_FORMATS = ["Large Fine JPEG", "Large Normal JPEG", "Medium Fine JPEG",
               "Medium Normal JPEG", "Small Fine JPEG", "Small Normal JPEG",
               "Smaller JPEG", "Tiny JPEG"]
EOS_WB_CHOICES = ["Auto", "Daylight", "Shadow", "Cloudy", "Tungsten",
                  "Fluorescent", "Flash", "Manual"]
EOS_TARGETS = ["Internal RAM", "Memory card"]


class EOSTestCase(TestCase):
    """
    A virtual EOS C{body} on USB, and a gphoto2 that auto-detects it.
    """

    body = "700D"
    profile = "fast"

    async def setUp(self):
        self.camera = await start_usb_camera(self, personality="eos",
                                             body=self.body,
                                             profile=self.profile)
        self.device = self.camera.device
        self.gphoto2 = USBGPhoto2Runner(self, self.camera)

    async def get_config(self, name, home=None):
        result = await self.gphoto2.run("--get-config", name, home=home)
        self.assertTrue(result.ok, result)
        lines = result.stdout.decode().splitlines()
        current = [line.split(": ", 1)[1] for line in lines
                   if line.startswith("Current: ")][0]
        choices = [line.split(" ", 2)[2] for line in lines
                   if line.startswith("Choice: ")]
        return current, choices

    async def timed(self, *args, **kwargs):
        started = reactor.seconds()
        result = await self.gphoto2.run(*args, **kwargs)
        return result, reactor.seconds() - started

    def movie_frames(self, result):
        splitter = JPEGSplitter()
        frames = splitter.feed(result.stdout)
        self.assertEqual(splitter.skipped, 0)
        self.assertEqual(sum(map(len, frames)), len(result.stdout))
        return frames


class EOSIdentityTests(EOSTestCase):
    async def test_auto_detect(self):
        """
        The 700D's USB ids make libgphoto2 name it.
        """
        result = await self.gphoto2.run("--auto-detect")
        self.assertTrue(result.ok, result)
        lines = result.stdout.decode().splitlines()[2:]
        self.assertEqual([line.split() for line in lines if line.strip()],
                         [["Canon", "EOS", "700D", "usb:001,007"]])
        self.assertEqual(self.device.sessions_opened, 0)

    async def test_summary(self):
        result = await self.gphoto2.run("--summary")
        self.assertTrue(result.ok, result)
        text = result.stdout.decode()
        self.assertIn("Manufacturer: Canon Inc.", text)
        self.assertIn("Model: Canon EOS 700D", text)
        self.assertIn("Vendor Extension ID: 0xb", text)
        self.assertIn("Canon EOS Capture, Canon EOS Capture 2", text)
        self.assertIn("store_00010001", text)
        self.assertEqual(self.device.sessions_opened, 1)

    async def test_list_config_has_eos_entries(self):
        result = await self.gphoto2.run("--list-config")
        self.assertTrue(result.ok, result)
        entries = result.stdout.decode().split()
        for entry in ("/main/actions/viewfinder",
                      "/main/actions/eosremoterelease",
                      "/main/settings/capturetarget",
                      "/main/imgsettings/iso",
                      "/main/imgsettings/imageformat",
                      "/main/capturesettings/aperture",
                      "/main/capturesettings/shutterspeed",
                      "/main/status/batterylevel",
                      "/main/status/availableshots"):
            self.assertIn(entry, entries)


class EOS550DTests(EOSTestCase):
    body = "550D"

    async def test_summary_and_iso_range(self):
        result = await self.gphoto2.run("--summary")
        self.assertIn(b"Model: Canon EOS 550D", result.stdout)
        current, choices = await self.get_config("iso")
        self.assertEqual(current, "100")
        self.assertEqual(choices, ["Auto", "100", "200", "400", "800",
                                   "1600", "3200", "6400", "12800"])


class EOSSettingsTests(EOSTestCase):
    async def test_settings_round_trip(self):
        changes = [("iso", "800", 0xD103, 0x60),
                   ("aperture", "8", 0xD101, 0x38),
                   ("shutterspeed", "1/250", 0xD102, 0x78),
                   ("imageformat", "Medium Fine JPEG", 0xD120,
                    ((eos.IMAGE_JPEG, eos.SIZE_MEDIUM, eos.COMPRESSION_FINE),)),
                   ("whitebalance", "Tungsten", 0xD109, 3)]
        for name, value, code, raw in changes:
            result = await self.gphoto2.run("--set-config",
                                            "%s=%s" % (name, value))
            self.assertTrue(result.ok, result)
            self.assertEqual(self.device.value(code), raw, name)
            current, _ = await self.get_config(name)
            self.assertEqual(current, value, name)

    async def test_capturetarget_round_trip(self):
        """
        The capture target is libgphoto2's own setting, kept in HOME, and
        pushed to the camera (0xD11C) while a session is open.
        """
        home = self.gphoto2.new_home()
        current, choices = await self.get_config("capturetarget", home=home)
        self.assertEqual(current, "Internal RAM")
        self.assertEqual(choices, ["Internal RAM", "Memory card"])
        result = await self.gphoto2.run(
            "--set-config", "capturetarget=Memory card", home=home)
        self.assertTrue(result.ok, result)
        current, _ = await self.get_config("capturetarget", home=home)
        self.assertEqual(current, "Memory card")

    async def test_refused_values_and_the_choices(self):
        """
        For each setting a value the 700D does not list: libgphoto2 sends
        what its table can encode and the camera refuses it (0x201c; ISO
        51200, f/1.4, 1/8000 and RAW are in libgphoto2's tables), or
        libgphoto2 cannot parse it; gphoto2 exits 1, the setting stays, and
        --get-config lists the body's choices.
        """
        refused = [
            ("iso", "51200", 0xD103, b"0x201c", EOS_ISO_CHOICES),
            ("aperture", "1.4", 0xD101, b"0x201c", EOS_APERTURES),
            ("shutterspeed", "1/8000", 0xD102, b"0x201c", None),
            ("imageformat", "RAW", 0xD120, b"0x201c", EOS_FORMATS),
            ("whitebalance", "Purple", 0xD109, b"Parsing the value",
             EOS_WB_CHOICES),
            ("iso", "12345", 0xD103, b"Failed to set new configuration",
             EOS_ISO_CHOICES)]
        for name, bad, code, why, choices in refused:
            before = self.device.value(code)
            current, _ = await self.get_config(name)
            result = await self.gphoto2.run("--set-config",
                                            "%s=%s" % (name, bad))
            self.assertEqual(result.exit_code, 1, result)
            self.assertIn(why, result.stderr, name)
            self.assertEqual(self.device.value(code), before, name)
            now, listed = await self.get_config(name)
            self.assertEqual(now, current, name)
            if choices is not None:
                self.assertEqual(listed, choices, name)
        # Shutter speeds: 30 s ... 1/4000 in thirds of a stop.
        _, speeds = await self.get_config("shutterspeed")
        self.assertEqual((len(speeds), speeds[0], speeds[-1]),
                         (52, "30", "1/4000"))
        # libgphoto2 2.5.30 ignores a capture target it does not know
        # (exit 0, nothing changed): fourcut's own settings check refuses
        # it (tests.integration.test_camconfig).
        home = self.gphoto2.new_home()
        result = await self.gphoto2.run("--set-config", "capturetarget=Cloud",
                                        home=home)
        self.assertEqual(result.exit_code, 0, result)
        current, choices = await self.get_config("capturetarget", home=home)
        self.assertEqual((current, choices), ("Internal RAM", EOS_TARGETS))

    async def test_battery_level(self):
        self.assertEqual((await self.get_config("batterylevel"))[0], "100%")
        self.device.battery_low()
        self.assertEqual((await self.get_config("batterylevel"))[0], "Low")
        result = await self.gphoto2.run("--set-config", "batterylevel=50%")
        self.assertEqual(result.exit_code, 1, result)
        self.assertIn(b"read only", result.stderr)


class EOSLiveViewTests(EOSTestCase):
    async def test_viewfinder_on(self):
        result = await self.gphoto2.run("--set-config", "viewfinder=1")
        self.assertTrue(result.ok, result)
        self.assertEqual(self.device.liveview_starts, 1)

    async def test_capture_movie(self):
        """
        Through the 0xA102 warm-up, live view arrives as valid 960x640
        JPEGs with consecutive sequence numbers at about 30 fps.
        """
        result = await self.gphoto2.run("--capture-movie=2s", "--stdout")
        self.assertTrue(result.ok, result)
        frames = self.movie_frames(result)
        self.assertGreater(self.device.not_ready_answers, 0)
        self.assertGreater(len(frames), 40)
        self.assertEqual(len(frames), self.device.frames_served)
        stamps = [parse_frame_comment(frame) for frame in frames]
        sequences = [s for s, _ in stamps]
        self.assertEqual(sequences, list(range(1, len(frames) + 1)))
        for frame in frames[:3] + frames[-3:]:
            self.assertEqual(jpeg_size(frame), (960, 640))
        gaps = [(b - a) / 1e9 for (_, a), (_, b) in zip(stamps, stamps[1:])]
        self.assertLess(abs(statistics.median(gaps) - 1 / 30), 0.01)

    async def test_busy_and_not_ready_bursts(self):
        """
        Bursts of 0x2019 and 0xA102 in the middle of live view are ridden
        out by libgphoto2's retries (it sleeps 5 ms longer each time, for
        up to 3 s per frame): the movie goes on. (The sleeps grow within one
        frame's retries: back-to-back bursts add up.)
        """
        movie = self.gphoto2.run("--capture-movie=4s", "--stdout")
        await wait_for(lambda: self.device.frames_served >= 10)
        for burst in (self.device.evf_busy, self.device.evf_not_ready):
            served = self.device.frames_served
            burst(15)
            await wait_for(lambda: self.device.frames_served > served + 5)
        result = await movie
        self.assertTrue(result.ok, result)
        self.assertIn(b"Movie capture finished", result.stderr)
        self.assertNotIn(b"ERROR", result.stderr)
        frames = self.movie_frames(result)
        self.assertEqual(len(frames), self.device.frames_served)
        self.assertGreater(len(frames), 60)

    async def test_endless_not_ready_fails(self):
        """
        A body that stays not ready past libgphoto2's 3 s ends the movie
        with an error on stderr, though gphoto2 2.5.28 still exits 0.
        """
        movie = self.gphoto2.run("--capture-movie=10s", "--stdout")
        await wait_for(lambda: self.device.frames_served >= 5)
        started = reactor.seconds()
        self.device.evf_not_ready(10 ** 6)
        result = await movie
        self.assertGreater(reactor.seconds() - started, 2.9)
        self.assertEqual(result.exit_code, 0, result)
        self.assertIn(b"ERROR: Movie capture error", result.stderr)
        self.assertGreater(len(self.movie_frames(result)), 4)


class EOSCaptureTests(EOSTestCase):
    async def test_capture_to_ram(self):
        """
        The default target is the camera's RAM: RequestObjectTransfer,
        1 MiB GetPartialObject blocks, TransferComplete; nothing is left on
        the card. The camera goes idle after the transfer, which libgphoto2
        reports as capture complete, so the CLI does not wait its 3 s.
        """
        result, elapsed = await self.timed("--capture-image-and-download",
                                           "--stdout")
        self.assertTrue(result.ok, result)
        self.assertEqual(jpeg_size(result.stdout), (5184, 3456))
        self.assertEqual(self.device.captures, 1)
        self.assertEqual(self.device.objects, {})
        self.assertEqual(self.device.ram_objects, {})
        [entry] = self.device.capture_log
        self.assertEqual(entry["target"], "RAM")
        self.assertIsNotNone(entry["transferred"])
        self.assertLess(elapsed, 2.5)
        second = await self.gphoto2.run("--capture-image-and-download",
                                        "--stdout")
        self.assertTrue(second.ok, second)
        self.assertNotEqual(second.stdout, result.stdout)

    async def test_capture_to_card(self):
        """
        With capturetarget=card the picture lands on the card
        (ObjectAddedEx) and is fetched with GetObjectInfo/GetObject; without
        --keep the CLI deletes it. No capture-complete arrives after it, so
        the CLI polls its full 3 s before exiting.
        """
        result, elapsed = await self.timed(
            "--set-config", "capturetarget=Memory card",
            "--capture-image-and-download", "--stdout")
        self.assertTrue(result.ok, result)
        self.assertEqual(jpeg_size(result.stdout), (5184, 3456))
        self.assertEqual(self.device.objects, {})
        self.assertEqual(self.device.capture_log[0]["target"], "card")
        self.assertGreaterEqual(elapsed, 3.0)
        kept = await self.gphoto2.run(
            "--set-config", "capturetarget=Memory card",
            "--capture-image-and-download", "--stdout", "--keep")
        self.assertTrue(kept.ok, kept)
        [stored] = self.device.objects.values()
        self.assertEqual(stored.data, kept.stdout)
        listing = await self.gphoto2.run("--list-files")
        self.assertIn(stored.filename.encode(), listing.stdout)

    async def test_no_focus(self):
        """
        A half press that does not focus: "Perhaps no focus?", no picture.
        gphoto2 2.5.28 exits 0 after a failed capture; only stderr and the
        missing picture tell.
        """
        self.device.no_focus()
        result = await self.gphoto2.run("--capture-image-and-download",
                                        "--stdout")
        self.assertFalse(result.timed_out)
        self.assertIn(b"Canon EOS Capture failed to release: Perhaps no focus?",
                      result.stderr)
        self.assertIn(b"ERROR: Could not capture image.", result.stderr)
        self.assertEqual(result.stdout, b"")
        self.assertEqual(self.device.captures, 0)
        retried = await self.gphoto2.run("--capture-image-and-download",
                                         "--stdout")
        self.assertTrue(retried.ok, retried)

    async def test_manual_focus_skips_autofocus(self):
        self.device.manual_focus()
        self.device.no_focus()           # would fail if it focused
        result = await self.gphoto2.run("--capture-image-and-download",
                                        "--stdout")
        self.assertTrue(result.ok, result)

    async def test_card_full(self):
        """
        A full card reads 0 shots and refuses a release to it; capture to
        the PC's RAM still works.
        """
        self.device.card_full()
        result = await self.gphoto2.run(
            "--set-config", "capturetarget=Memory card",
            "--capture-image-and-download", "--stdout")
        self.assertIn(b"Canon EOS Full-Press failed (0x200c: PTP Store Full)",
                      result.stderr)
        self.assertEqual(result.stdout, b"")
        self.assertEqual(self.device.captures, 0)
        to_ram = await self.gphoto2.run("--capture-image-and-download",
                                        "--stdout")
        self.assertTrue(to_ram.ok, to_ram)

    async def test_capture_during_live_view(self):
        """
        Live view on, then a capture in the same session: the body leaves
        live view for the still (0xA102 meanwhile) and takes it.
        """
        result = await self.gphoto2.run(
            "--set-config", "viewfinder=1", "--capture-image-and-download",
            "--stdout")
        self.assertTrue(result.ok, result)
        self.assertEqual(jpeg_size(result.stdout), (5184, 3456))


class EOSFaultTests(EOSTestCase):
    async def test_sleep_and_wake(self):
        """
        A body that fell asleep between two sessions answers nothing but
        OpenSession, which wakes it: the next gphoto2 works. (Asleep
        during a session, libgphoto2 on USB waits out its 20 s read
        timeout; L{PTPIPEOSTests.test_sleep_in_session}, and fourcut's
        stall watchdog in L{tests.integration.test_supervision}.)
        """
        result = await self.gphoto2.run("--get-config", "batterylevel")
        self.assertTrue(result.ok, result)
        self.device.sleep()
        woken = await self.gphoto2.run("--get-config", "batterylevel")
        self.assertTrue(woken.ok, woken)
        self.assertFalse(self.device.faults.asleep)
        self.assertEqual(self.device.sessions_opened, 2)

    async def test_busy(self):
        self.device.busy(3)
        busy = await self.gphoto2.run("--summary")
        self.assertNotEqual(busy.exit_code, 0, busy)
        self.assertEqual(self.device.faults.busy, 0)
        result = await self.gphoto2.run("--summary")
        self.assertTrue(result.ok, result)

    async def test_hang(self):
        """
        A body that stops answering: on USB libgphoto2 rides out one
        operation that times out (it retries after 1.5 s), not a body that
        never answers again.
        """
        self.device.hang(1)
        result = await self.gphoto2.run("--summary")
        self.assertTrue(result.ok, result)
        self.assertEqual(self.device.faults.hang, 0)
        self.device.hang(1000)
        result = await self.gphoto2.run("--summary")
        self.assertEqual(result.exit_code, 1, result)
        self.assertIn(b"PTP I/O Error", result.stderr)

    async def test_unplug_mid_capture(self):
        """
        The cable out while the picture is being taken: the session ends
        with the capture in progress, which is abandoned quietly (trial
        fails the test on any logged error); gphoto2 2.5.28 exits 0 from a
        failed capture, only stderr and the missing picture tell. After a
        replug all works.
        """
        self.device.faults.capture_delay = 2.0
        capture = self.gphoto2.run("--capture-image-and-download", "--stdout")
        await wait_for(lambda: self.device._capturing)
        self.camera.unplug()
        result = await capture
        self.assertIn(b"ERROR: Could not capture image.", result.stderr)
        self.assertEqual(result.stdout, b"")
        self.assertEqual(self.device.captures, 0)
        self.assertFalse(self.device._timers)
        self.camera.replug()
        self.device.faults.capture_delay = 0
        result = await self.gphoto2.run("--capture-image-and-download",
                                        "--stdout")
        self.assertTrue(result.ok, result)
        self.assertEqual(jpeg_size(result.stdout), EOS_STILL)


class EOSRealisticProfileTests(EOSTestCase):
    """
    The realistic profile shows through the CLI: session open, autofocus,
    release and a download paced to about 30 MB/s.
    """

    profile = "realistic"

    async def test_summary_and_capture(self):
        started = reactor.seconds()
        result = await self.gphoto2.run("--summary")
        self.assertTrue(result.ok, result)
        self.assertGreaterEqual(reactor.seconds() - started, 0.45)
        result = await self.gphoto2.run("--capture-image-and-download",
                                        "--stdout")
        self.assertTrue(result.ok, result)
        [entry] = self.device.capture_log
        self.assertGreaterEqual(entry["ready"] - entry["pressed"], 0.3)
        # about 3 MB at 30 MB/s
        self.assertGreaterEqual(entry["downloaded"] - entry["ready"], 0.09)


class PTPIPEOSTests(EOSTestCase):
    """
    The same body over PTP/IP, as a Wi-Fi EOS is reached: libgphoto2's
    PTP/IP transport has no vendor logic, the EOS code paths are the same.
    """

    async def setUp(self):
        self.camera = await start_camera(self, personality="eos",
                                         body=self.body, profile="fast")
        self.device = self.camera.device
        self.gphoto2 = GPhoto2Runner(self, self.camera.port, fresh_home=True)

    test_summary = EOSIdentityTests.test_summary
    test_capture_to_ram = EOSCaptureTests.test_capture_to_ram

    async def test_sleep_in_session(self):
        """
        A body that falls asleep stops answering: the host in session times
        out. The next session's OpenSession wakes it.
        """
        movie = self.gphoto2.run("--capture-movie=20s", "--stdout")
        await wait_for(lambda: self.device.frames_served >= 5)
        self.device.sleep()
        result = await movie
        self.assertFalse(result.timed_out)
        self.assertIn(b"Connection timed out", result.stderr)
        self.assertIn(b"ERROR: Movie capture error", result.stderr)
        await wait_for(lambda: not self.camera.session_open)
        woken = await self.gphoto2.run("--get-config", "batterylevel")
        self.assertTrue(woken.ok, woken)
        self.assertFalse(self.device.faults.asleep)
        self.assertEqual(self.device.sessions_opened, 2)

    async def test_hang(self):
        self.device.hang(1)
        result = await self.gphoto2.run("--summary")
        self.assertNotEqual(result.exit_code, 0, result)
        self.assertIn(b"Timeout", result.stderr)
