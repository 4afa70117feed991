# -*- test-case-name: tests.integration.test_booth_ws,tests.integration.test_booth_http -*-
"""
The booth in integration tests: its configuration, the checks of a
composed strip and of the countdown as a client received it, and a
WebSocket client that notes when each message arrived.
"""

import io
import os
import time

from PIL import Image, ImageChops
from twisted.logger import Logger

from fourcut.config import parse_layout
from fourcut.booth.strip import fit, read_metadata

__all__ = ["BOOTH", "INTERVAL", "TOLERANCE", "WINDOW", "BoothTestMixin",
           "TimedClient", "sequence_reply", "window_difference"]

#: The countdown's interval in these tests, and how far from it a client
#: may see a tick (the issue's 100 ms).
INTERVAL = 0.3
TOLERANCE = 0.1

#: Small windows: composing is quick, and each still differs enough.
WINDOW = [240, 160]

log = Logger()

BOOTH = {"countdown": 3, "countdown_interval": INTERVAL, "window": WINDOW,
         "margin": 12, "spacing": 8, "background": "#203040",
         "template": None, "review": 0}


def window_difference(strip, box, shot):
    """
    How far the strip's window C{box} is from C{shot} (JPEG bytes) fitted
    to it: the mean absolute difference of the two at 24x16, 0 to 255.
    """
    left, top, right, bottom = box
    seen = strip.crop(box).resize((24, 16))
    expected = fit(shot, (right - left, bottom - top)).resize((24, 16))
    difference = ImageChops.difference(seen, expected).convert("L")
    pixels = list(difference.getdata())
    return sum(pixels) / len(pixels)


class BoothTestMixin:
    """
    Checks shared by the WebSocket and HTTP tests of the booth.
    """

    def check_strip(self, path, shots, layout="2x2"):
        """
        The strip at C{path} holds each of C{shots} (names in the photos
        directory) in its own window, in order: each window is nearest to
        its own shot of them all, and near it.
        """
        with open(path, "rb") as f:
            strip = Image.open(io.BytesIO(f.read()))
            strip.load()
        strip = strip.convert("RGB")
        style = self.service.booth.style()
        shape = style.geometry(parse_layout(layout))
        self.assertEqual(strip.size, shape.size)
        datas = []
        for name in shots:
            with open(os.path.join(self.photos, name), "rb") as f:
                datas.append(f.read())
        for index, box in enumerate(shape.windows):
            differences = [window_difference(strip, box, data)
                           for data in datas]
            self.assertLess(differences[index], 12, (index, differences))
            self.assertEqual(differences.index(min(differences)), index,
                             (index, differences))
        # The margin is the configured background.
        r, g, b = strip.getpixel((3, 3))
        self.assertTrue(abs(r - 0x20) < 8 and abs(g - 0x30) < 8
                        and abs(b - 0x40) < 8, (r, g, b))
        metadata = read_metadata(path)
        self.assertEqual(metadata["shots"], list(shots))
        self.assertEqual(metadata["layout"], layout)

    def check_ticks(self, timed_events, count=4, countdown=3):
        """
        The C{(arrival time, event)} pairs a client got: C{countdown}
        ticks before each shot, one interval apart, and the capture one
        interval after the last.
        """
        ticks = [(when, e) for when, e in timed_events
                 if e["type"] == "countdown"]
        self.assertEqual([e["value"] for _, e in ticks],
                         list(range(countdown, 0, -1)) * count)
        capturing = [when for when, e in timed_events
                     if e["type"] == "capturing"]
        self.assertEqual(len(capturing), count)
        gaps = []
        for shot in range(1, count + 1):
            times = [when for when, e in ticks if e["shot"] == shot]
            times.append(capturing[shot - 1])
            gaps += [b - a for a, b in zip(times, times[1:])]
        log.info("booth ticks, seconds apart as received: {gaps}",
                 gaps=" ".join("%.3f" % gap for gap in gaps))
        for gap in gaps:
            self.assertTrue(abs(gap - INTERVAL) <= TOLERANCE,
                            "a tick %.3f s after the last (interval %.1f s): "
                            "%s" % (gap, INTERVAL, gaps))
        return gaps


async def sequence_reply(client, message, timeout=60):
    """
    Send C{capture_sequence} C{message} and return its reply: the
    C{strip_ready} or C{error} with its C{requestId} (the events before it
    carry the C{requestId} too).
    """
    request_id = message["requestId"]

    def final():
        for m in client.messages:
            if (m.get("requestId") == request_id
                    and m["type"] in ("strip_ready", "error")):
                return m
        return None
    client.request(dict(message, type="capture_sequence"))
    await client.wait_for(final, timeout)
    return final()


class TimedClient:
    """
    Records when each message of a L{tests.support.wsclient.TestClient} arrives.
    """

    def __init__(self, client):
        self.client = client
        self.timed = []
        original = client.onMessage

        def onMessage(payload, isBinary):
            original(payload, isBinary)
            if not isBinary:
                self.timed.append((time.monotonic(), client.messages[-1]))
        client.onMessage = onMessage

    def sequence_events(self):
        return [(when, m) for when, m in self.timed if "sequenceId" in m]
