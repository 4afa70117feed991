"""
The virtual camera driven by Debian's real gphoto2 CLI over loopback.
"""

import statistics

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from fourcut.stream.jpeg import JPEGSplitter
from fourcut.virtualcam.scene import parse_frame_comment

from tests.support import GPhoto2Runner, jpeg_size, start_camera
from tests.support.time import sleep



class GPhoto2CLITests(TestCase):
    """
    What a booth operator does with gphoto2 by hand works against the
    virtual camera.
    """

    async def setUp(self):
        self.camera = await start_camera(self)
        self.gphoto2 = GPhoto2Runner(self, self.camera.port)

    async def get_config(self, name):
        result = await self.gphoto2.run("--get-config", name)
        self.assertTrue(result.ok, result)
        lines = result.stdout.decode().splitlines()
        return [line.split(": ", 1)[1] for line in lines
                if line.startswith("Current: ")][0]

    async def test_summary(self):
        result = await self.gphoto2.run("--summary")
        self.assertTrue(result.ok, result)
        text = result.stdout.decode()
        self.assertIn("Model: Virtual DSLR", text)
        self.assertIn("Vendor Extension ID: 0x11", text)
        self.assertIn("store_00010001", text)
        self.assertIn("Exposure Index (film speed ISO)(0x500f)", text)

    async def test_iso_round_trip(self):
        self.assertEqual(await self.get_config("iso"), "400")
        result = await self.gphoto2.run("--set-config", "iso=800")
        self.assertTrue(result.ok, result)
        self.assertEqual(await self.get_config("iso"), "800")

    async def test_refused_iso(self):
        """
        A value outside the enumeration reaches the camera, which refuses
        it with InvalidDevicePropValue; gphoto2 fails and the setting stays.
        """
        result = await self.gphoto2.run("--set-config", "iso=12345")
        self.assertEqual(result.exit_code, 1, result)
        self.assertIn(b"0x201c", result.stderr)
        self.assertEqual(await self.get_config("iso"), "400")

    async def test_other_settings_round_trip(self):
        changes = {
            "whitebalance": ("Tungsten", "Tungsten"),
            "shutterspeed": ("1/250", "0.0040s"),
            "f-number": ("f/8", "f/8"),
            "imagesize": ("1296x864", "1296x864"),
        }
        for name, (value, shown) in changes.items():
            result = await self.gphoto2.run("--set-config", "%s=%s"
                                            % (name, value))
            self.assertTrue(result.ok, result)
            self.assertEqual(await self.get_config(name), shown, name)

    async def test_battery_level_read_only(self):
        self.assertEqual(await self.get_config("batterylevel"), "80%")
        result = await self.gphoto2.run("--set-config", "batterylevel=50")
        self.assertNotEqual(result.exit_code, 0, result)
        self.assertIn(b"read only", result.stderr)

    async def test_capture_image_and_download(self):
        """
        A capture gives a distinct full-size JPEG on stdout and, without
        --keep, removes it from the card.
        """
        first = await self.gphoto2.run(
            "--capture-image-and-download", "--stdout")
        self.assertTrue(first.ok, first)
        self.assertEqual(jpeg_size(first.stdout), (2592, 1728))
        second = await self.gphoto2.run(
            "--capture-image-and-download", "--stdout", "--keep")
        self.assertTrue(second.ok, second)
        self.assertEqual(jpeg_size(second.stdout), (2592, 1728))
        self.assertNotEqual(first.stdout, second.stdout)
        self.assertEqual(len(self.camera.device.objects), 1)
        listing = await self.gphoto2.run("--list-files")
        self.assertIn(b"IMG_0002.JPG", listing.stdout)

    async def test_capture_movie(self):
        """
        Live view arrives as back-to-back valid 960x640 JPEGs, each with
        its sequence number and time, paced near the configured 30 fps
        (an unpaced camera gives hundreds a second).
        """
        result = await self.gphoto2.run("--capture-movie=2s", "--stdout")
        self.assertTrue(result.ok, result)
        splitter = JPEGSplitter()
        frames = splitter.feed(result.stdout)
        self.assertEqual(splitter.skipped, 0)
        self.assertEqual(sum(map(len, frames)), len(result.stdout))
        self.assertGreater(len(frames), 20)
        stamps = [parse_frame_comment(frame) for frame in frames]
        sequences = [s for s, _ in stamps]
        self.assertEqual(sequences, list(range(sequences[0],
                                               sequences[0] + len(frames))))
        for frame in frames[:5] + frames[-5:]:
            self.assertEqual(jpeg_size(frame), (960, 640))
        gaps = [(b - a) / 1e9 for (_, a), (_, b) in zip(stamps, stamps[1:])]
        self.assertLess(abs(statistics.median(gaps) - 1 / 30), 0.01)

    async def test_second_session_refused(self):
        """
        While one gphoto2 holds the camera, another is refused, as with a
        USB camera already claimed.
        """
        movie = self.gphoto2.run("--capture-movie=3s", "--stdout")
        while not self.camera.session_open:
            await sleep(0.05)
        second = await self.gphoto2.run("--summary")
        self.assertNotEqual(second.exit_code, 0, second)
        self.assertIn(b"*** Error", second.stderr)
        first = await movie
        self.assertTrue(first.ok, first)

    async def test_unplug_during_movie(self):
        """
        Pulling the cable during live view ends gphoto2 with an error on
        stderr (it dies of SIGPIPE writing to the reset connection, or,
        when the reset reaches it as a failed read, ends its movie with an
        error); after a replug the camera works again.
        """
        movie = self.gphoto2.run("--capture-movie=10s", "--stdout")
        while self.camera.device.frames_served < 5:
            await sleep(0.05)
        self.camera.unplug()
        result = await movie
        self.assertFalse(result.ok, result)
        self.assertFalse(result.timed_out)
        self.assertTrue(b"Connection reset by peer" in result.stderr
                        or b"ERROR: Movie capture error" in result.stderr,
                        result)
        unplugged = await self.gphoto2.run("--summary")
        self.assertNotEqual(unplugged.exit_code, 0)
        self.camera.replug()
        replugged = await self.gphoto2.run("--summary")
        self.assertTrue(replugged.ok, replugged)


class GPhoto2FaultTests(TestCase):
    """
    The fault controls make gphoto2 fail the way a troubled camera does.
    """

    async def setUp(self):
        self.camera = await start_camera(self)
        self.gphoto2 = GPhoto2Runner(self, self.camera.port)

    async def test_storage_full(self):
        self.camera.storage_full()
        result = await self.gphoto2.run("--capture-image-and-download",
                                        "--stdout")
        self.assertNotEqual(result.exit_code, 0, result)
        self.assertIn(b"ran full", result.stderr)
        self.assertEqual(self.camera.device.objects, {})

    async def test_failing_capture(self):
        self.camera.fail_captures(1)
        failed = await self.gphoto2.run("--capture-image-and-download",
                                        "--stdout")
        self.assertIn(b"Could not capture", failed.stderr)
        self.assertEqual(failed.stdout, b"")
        retried = await self.gphoto2.run("--capture-image-and-download",
                                         "--stdout")
        self.assertTrue(retried.ok, retried)
        self.assertEqual(jpeg_size(retried.stdout), (2592, 1728))

    async def test_slow_capture(self):
        self.camera.slow_capture(1.0)
        started = reactor.seconds()
        result = await self.gphoto2.run("--capture-image-and-download",
                                        "--stdout")
        self.assertTrue(result.ok, result)
        self.assertGreaterEqual(reactor.seconds() - started, 1.5)

    async def test_busy(self):
        """
        DeviceBusy answers fail gphoto2; once the burst is over the camera
        answers again.
        """
        self.camera.busy(3)
        busy = await self.gphoto2.run("--get-config", "iso")
        self.assertNotEqual(busy.exit_code, 0, busy)
        self.assertEqual(self.camera.device.faults.busy, 0)
        result = await self.gphoto2.run("--get-config", "iso")
        self.assertTrue(result.ok, result)

    async def test_slow_start(self):
        """
        A camera that takes longer than libgphoto2's 2.5 s PTP/IP timeout
        to acknowledge fails the connection.
        """
        self.camera.slow_start(4.0)
        result = await self.gphoto2.run("--summary")
        self.assertNotEqual(result.exit_code, 0, result)
        self.assertIn(b"timed out", result.stderr)
        self.camera.slow_start(0)
        while self.camera.session_open:
            await sleep(0.1)
        result = await self.gphoto2.run("--summary")
        self.assertTrue(result.ok, result)

    async def test_hang(self):
        """
        An operation the camera never answers times gphoto2 out.
        """
        self.camera.hang(1)
        result = await self.gphoto2.run("--summary")
        self.assertNotEqual(result.exit_code, 0, result)
        self.assertIn(b"Timeout", result.stderr)
