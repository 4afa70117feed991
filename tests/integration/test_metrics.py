"""
C{GET /metrics} (L{fourcut.metrics}) over a real listening fourcut with its
virtual camera: parsed with C{prometheus_client}'s own text parser and
checked against what the test did (frames received, captures taken,
clients connected). Its access rule and a failed capture are tested in
memory (L{tests.web.test_rest.MetricsTests}).
"""

import os

import treq
from twisted.internet import defer

from fourcut.metrics import STATES, build_info

from tests.support.metrics import samples, value
from tests.support.access import TOKEN, bearer
from tests.support.service import ServiceTestCase, parse_multipart
from tests.support.wsclient import connect


class MetricsTests(ServiceTestCase):
    config = {"access": {"token": TOKEN}}

    async def scrape(self):
        response = await treq.get(self.base + "/metrics", pool=self.pool,
                                  headers=bearer(TOKEN))
        self.assertEqual(response.code, 200)
        [kind] = response.headers.getRawHeaders("content-type")
        self.assertTrue(kind.startswith("text/plain; version="), kind)
        return samples((await response.content()).decode("utf-8"))

    async def test_against_what_happened(self):
        found = await self.scrape()
        self.assertEqual(value(found, "fourcut_camera_frames_total"), 0)
        self.assertEqual(value(found, "fourcut_captures_total"), 0)
        self.assertEqual(value(found, "fourcut_camera_state", state="idle"),
                         1)
        self.assertEqual(value(found, "fourcut_clients",
                               transport="websocket"), 0)

        # Two WebSocket clients, one watching; an HTTP stream beside.
        watcher = await connect(self, self.port, "/ws?token=" + TOKEN)
        other = await connect(self, self.port, "/ws?token=" + TOKEN)
        await watcher.reply({"type": "start_preview", "requestId": 1,
                             "format": "binary"})
        await watcher.wait_for(lambda: len(watcher.frames) >= 10)
        stream = treq.get(self.base + "/preview?timeout=1", pool=self.pool)
        response = await stream
        body = defer.ensureDeferred(response.content())
        found = await self.scrape()
        self.assertEqual(value(found, "fourcut_clients", transport="http"),
                         1)
        self.assertEqual(value(found, "fourcut_clients",
                               transport="websocket"), 2)
        self.assertEqual(value(found, "fourcut_camera_state",
                               state="previewing"), 1)
        self.assertEqual(sum(value(found, "fourcut_camera_state", state=s)
                             for s in STATES), 1)
        self.assertEqual(value(found, "fourcut_gphoto2_children"), 1)
        self.assertGreaterEqual(value(found, "fourcut_live_view_demand"), 2)
        parts, closed = parse_multipart(await body)
        self.assertTrue(closed)
        await watcher.reply({"type": "stop_preview", "requestId": 2})
        received = len(watcher.frames)

        for _ in range(2):
            response = await treq.get(self.base + "/capture",
                                      pool=self.pool, headers=bearer(TOKEN))
            self.assertEqual(response.code, 200)
            await response.content()
        reply = await other.reply({"type": "capture_photo",
                                   "requestId": "c"}, timeout=30)
        self.assertEqual(reply["type"], "photo_captured")
        # The client's own mistake: an ISO the camera does not have.
        reply = await other.reply({"type": "capture_photo", "requestId": "m",
                                   "settings": {"iso": 12345}}, timeout=30)
        self.assertEqual(reply["type"], "error", reply)

        found = await self.scrape()
        camera_frames = value(found, "fourcut_camera_frames_total")
        self.assertEqual(camera_frames, self.broadcaster.camera_frames)
        self.assertGreaterEqual(camera_frames, max(received, len(parts)))
        sent_ws = value(found, "fourcut_frames_sent_total",
                        transport="websocket")
        sent_http = value(found, "fourcut_frames_sent_total",
                          transport="http")
        self.assertEqual(sent_ws, received)
        self.assertEqual(sent_http, len(parts))
        for transport in ("http", "websocket"):
            self.assertGreaterEqual(value(found, "fourcut_frames_skipped_"
                                          "total", transport=transport), 0)
        self.assertEqual(value(found, "fourcut_captures_total"), 3)
        self.assertEqual(value(found, "fourcut_capture_duration_seconds_"
                               "count"), 3)
        self.assertGreater(value(found, "fourcut_capture_duration_seconds_"
                                 "sum"), 0)
        self.assertEqual(value(found, "fourcut_capture_duration_seconds_"
                               "bucket", le="+Inf"), 3)
        self.assertEqual(value(found, "fourcut_capture_failures_total"), 0)
        self.assertEqual(value(found, "fourcut_capture_refusals_total"), 1)
        self.assertGreater(value(found, "process_start_time_seconds"), 0)
        self.assertEqual(value(found, "fourcut_build_info",
                               **build_info()), 1)
        self.assertEqual(value(found, "fourcut_live_view_restarts_total"),
                         self.session.restarts)
        self.assertEqual(value(found, "fourcut_clients", transport="http"),
                         0)
        info = os.statvfs(self.photos)
        free = value(found, "fourcut_photos_free_bytes")
        self.assertGreater(free, 0)
        self.assertLess(abs(free - info.f_bavail * info.f_frsize),
                        64 * 1024 * 1024)
