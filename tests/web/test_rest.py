"""
The REST endpoints (L{fourcut.web.rest}: C{/status}, C{/health},
C{/camera/info}, C{/camera/restart}, C{/metrics}) over the whole site in
memory: what each answers from the session, the broadcaster and the
status, and what it asks of the camera.
"""

from twisted.trial.unittest import SynchronousTestCase

from fourcut.errors import CameraError
from fourcut import __version__
from fourcut.metrics import STATES, build_info

from tests.support.metrics import samples, value
from tests.support.fakes import NO_FOCUS, small_jpeg
from tests.support.memory import MemorySite
from tests.support.access import TOKEN, bearer


class RestTestCase(SynchronousTestCase):
    config = None

    def setUp(self):
        self.site = MemorySite(self, self.config)
        self.session = self.site.session

    def get_json(self, path, code=200, method="GET", headers=None):
        response = self.site.response(method, path, headers)
        self.assertEqual(response.code, code, path)
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["application/json"])
        return self.site.json(response)

    def watch(self):
        """
        Start a C{/preview} stream (no timeout); its response.
        """
        response = self.site.get("/preview")
        self.assertEqual(response.code, 200)
        return response

    def publish(self, count=1):
        for _ in range(count):
            self.site.broadcaster.publish(small_jpeg(),
                                          self.site.clock.seconds())
            self.site.advance(0.1)


class StatusTests(RestTestCase):
    def test_status(self):
        status = self.get_json("/status")
        self.assertEqual(status["service"], "fourcut")
        self.assertEqual(status["camera"]["state"], "idle")
        self.assertEqual(status["preview"]["subscribers"], 0)
        self.assertEqual(status["preview"]["frames"], 0)
        self.assertIsNone(status["preview"]["last_frame_age"])
        self.assertEqual(status["captures"], 0)
        self.assertEqual(status["driver"]["driver"], "held")
        self.watch()
        self.publish(6)
        status = self.get_json("/status")
        self.assertEqual(status["camera"]["state"], "previewing")
        self.assertEqual(status["preview"]["subscribers"], 1)
        self.assertEqual(status["preview"]["frames"], 6)
        self.assertEqual(status["preview"]["last_frame_age"], 0.1)
        [client] = status["preview"]["clients"]
        self.assertEqual(client["transport"], "http")
        self.assertEqual(client["peer"].split(":")[0], "127.0.0.1")

    def test_no_cache(self):
        response = self.site.get("/status")
        self.assertEqual(response.headers.getRawHeaders("cache-control")[0]
                         .split(",")[0], "no-store")
        self.site.content(response)

    def test_root_answers_json_unless_html_is_preferred(self):
        """
        Seed 001's C{GET /} is the service status: for any client that
        does not prefer C{text/html} (no C{Accept}: Node's fetch sends
        C{*/*}, so does curl); a browser gets the page.
        """
        for accept in (None, "*/*", "application/json",
                       "application/json, text/html", "text/plain",
                       "text/html;q=0.5, application/json",
                       "image/png", "garbage, */*"):
            headers = {"Accept": [accept]} if accept is not None else {}
            status = self.get_json("/", headers=headers)
            self.assertEqual(status["service"], "fourcut", accept)
        for accept in ("text/html,application/xhtml+xml,application/xml;"
                       "q=0.9,*/*;q=0.8", "text/html", "text/*",
                       "application/json;q=0.5, text/html;q=0.9",
                       "garbage, text/html"):
            response = self.site.get("/", headers={"Accept": [accept]})
            self.assertEqual(response.headers.getRawHeaders("content-type"),
                             ["text/html; charset=utf-8"], accept)
            self.assertIn(b'<img src="/preview"',
                          self.site.content(response))

    def test_counts(self):
        for _ in range(2):
            self.site.content(self.site.get("/capture"))
        self.session.mode_errors["live_view"] = ["nosuchsetting: no"]
        status = self.get_json("/status")
        self.assertEqual(status["captures"], 2)
        self.assertEqual(status["mode_errors"],
                         {"live_view": ["nosuchsetting: no"]})


class HealthTests(RestTestCase):
    def test_health(self):
        health = self.get_json("/health")
        self.assertEqual(health, {"status": "ok", "state": "idle"})
        self.assertEqual(len(self.session.called("refresh_info")), 1)
        self.session.unplug()
        # The healthy answer is reused for a few seconds; a new probe
        # after that finds the camera gone.
        health = self.get_json("/health")
        self.assertEqual(health["status"], "ok")
        self.assertEqual(len(self.session.called("refresh_info")), 1)
        self.site.advance(self.site.status.probe_interval)
        health = self.get_json("/health", code=503)
        self.assertEqual(health["status"], "unhealthy")
        self.assertIn("Could not detect any camera", health["reason"])
        self.assertEqual(self.session.called("refresh_info"),
                         [(0,), (0,)])
        self.session.replug()
        self.site.advance(self.site.status.probe_interval)
        health = self.get_json("/health")
        self.assertEqual(health["status"], "ok")

    def test_health_while_previewing(self):
        """
        Live view that delivers frames is proof enough: the camera is not
        asked.
        """
        self.watch()
        self.publish(3)
        health = self.get_json("/health")
        self.assertEqual(health, {"status": "ok", "state": "previewing",
                                  "last_frame_age": 0.1})
        self.assertEqual(self.session.called("refresh_info"), [])
        # No frame for longer than the stall timeout: unhealthy.
        self.site.advance(self.site.config.preview.stall_timeout)
        health = self.get_json("/health", code=503)
        self.assertIn("no frame", health["reason"])

    def test_health_while_recovering(self):
        self.session.set_state("recovering", "*** Error ***\nI/O problem\n")
        health = self.get_json("/health", code=503)
        self.assertEqual(health, {"status": "unhealthy",
                                  "state": "recovering",
                                  "reason": "*** Error ***\nI/O problem\n"})


class CameraInfoTests(RestTestCase):
    def test_camera_info(self):
        info = self.get_json("/camera/info")
        self.assertEqual(info["model"], "Canon EOS 700D")
        self.assertEqual(info["manufacturer"], "Canon Inc.")
        self.assertEqual(info["port"], "usb:001,007")
        self.assertEqual(info["battery"], "100%")
        self.assertEqual(info["state"], "idle")
        self.assertIsNone(info["last_error"])
        self.assertTrue(info["preview_supported"])
        self.assertEqual(self.session.called("refresh_info"), [(None,)])

    def test_last_error(self):
        self.session.fail_next("capture", CameraError(503, NO_FOCUS))
        response = self.site.get("/capture")
        self.assertEqual(response.code, 503)
        self.assertIn(b"Perhaps no focus?", self.site.content(response))
        info = self.get_json("/camera/info")
        self.assertEqual(info["last_error"], NO_FOCUS.strip())


class RestartTests(RestTestCase):
    def test_only_post(self):
        for method in ("GET", "HEAD"):
            response = self.site.response(method, "/camera/restart")
            self.assertEqual(response.code, 405, method)
            self.assertEqual(response.headers.getRawHeaders("allow"),
                             ["POST, OPTIONS"])
            self.site.content(response)
        for method in ("GET", "HEAD"):
            response = self.site.response(method, "/camera")
            self.assertEqual(response.code, 404, method)
            self.site.content(response)
        self.assertEqual(self.session.calls, [])

    def test_restart(self):
        self.session.last_error = "gone"
        body = self.get_json("/camera/restart", method="POST")
        self.assertEqual(body["status"], "restarted")
        self.assertIsNone(body["camera"]["last_error"])
        self.assertEqual(self.session.called("restart"), [()])


class MetricsTests(RestTestCase):
    config = {"access": {"token": TOKEN}}

    def scrape(self):
        response = self.site.get("/metrics", headers=bearer(TOKEN))
        self.assertEqual(response.code, 200)
        [kind] = response.headers.getRawHeaders("content-type")
        self.assertTrue(kind.startswith("text/plain; version="), kind)
        return samples(self.site.content(response).decode("utf-8"))

    def test_same_access_rule_as_status(self):
        for path in ("/metrics", "/status", "/metrics?token=" + TOKEN):
            response = self.site.get(path)
            self.assertEqual(response.code, 401, path)
            self.assertEqual(self.site.json(response)["status"], 401)

    def test_against_what_happened(self):
        found = self.scrape()
        self.assertEqual(value(found, "fourcut_camera_frames_total"), 0)
        self.assertEqual(value(found, "fourcut_captures_total"), 0)
        self.assertEqual(value(found, "fourcut_camera_state", state="idle"),
                         1)
        self.assertEqual(value(found, "fourcut_clients", transport="http"), 0)
        self.assertEqual(value(found, "fourcut_clients",
                               transport="websocket"), 0)

        stream = self.site.get("/preview?timeout=1&token=" + TOKEN)
        body = stream.content()
        self.publish(4)
        found = self.scrape()
        self.assertEqual(value(found, "fourcut_clients", transport="http"), 1)
        self.assertEqual(value(found, "fourcut_camera_state",
                               state="previewing"), 1)
        self.assertEqual(sum(value(found, "fourcut_camera_state", state=s)
                             for s in STATES), 1)
        self.assertEqual(value(found, "fourcut_live_view_demand"), 1)
        self.site.advance(1)
        self.successResultOf(body)

        for _ in range(2):
            response = self.site.get("/capture", headers=bearer(TOKEN))
            self.assertEqual(response.code, 200)
            self.site.content(response)
        found = self.scrape()
        self.assertEqual(value(found, "fourcut_camera_frames_total"), 4)
        self.assertEqual(value(found, "fourcut_frames_sent_total",
                               transport="http"), 4)
        self.assertEqual(value(found, "fourcut_frames_skipped_total",
                               transport="http"), 0)
        self.assertEqual(value(found, "fourcut_clients", transport="http"), 0)
        self.assertEqual(value(found, "fourcut_captures_total"), 2)
        self.assertEqual(value(found, "fourcut_live_view_restarts_total"), 0)
        self.assertEqual(value(found, "fourcut_gphoto2_children"), 0)
        self.assertGreater(value(found, "fourcut_photos_free_bytes"), 0)

    def test_capture_timings(self):
        """
        What the session reports of its captures (it times each itself,
        L{tests.camera.test_camera_session}) is on C{/metrics}: durations
        of the photos taken, failures counted apart.
        """
        self.site.captures.captured(0.7)
        self.site.captures.captured(2.5)
        self.site.captures.capture_failed(0.2)
        self.site.captures.capture_refused(0.1)
        self.site.captures.capture_refused(0.1)
        found = self.scrape()
        self.assertEqual(value(found, "fourcut_capture_duration_seconds_"
                               "count"), 2)
        self.assertEqual(value(found, "fourcut_capture_duration_seconds_"
                               "bucket", le="1.0"), 1)
        self.assertEqual(value(found, "fourcut_capture_duration_seconds_"
                               "bucket", le="+Inf"), 2)
        self.assertEqual(value(found, "fourcut_capture_failures_total"), 1)
        self.assertEqual(value(found, "fourcut_capture_refusals_total"), 2)

    def test_process_and_build(self):
        """
        prometheus_client's standard process, platform and garbage
        collector figures, on fourcut's own registry, and what is running.
        """
        found = self.scrape()
        self.assertGreater(value(found, "process_start_time_seconds"), 0)
        self.assertGreater(value(found, "process_open_fds"), 2)
        self.assertGreater(value(found, "process_resident_memory_bytes"), 0)
        self.assertGreaterEqual(value(found, "process_cpu_seconds_total"), 0)
        self.assertIn(("python_gc_collections_total",
                       frozenset({("generation", "0")})), found)
        [python] = [labels for name, labels in found if name == "python_info"]
        self.assertIn(("implementation", "CPython"), python)
        info = build_info()
        self.assertEqual(info["version"], __version__)
        self.assertEqual(value(found, "fourcut_build_info", **info), 1)

    def test_failed_capture(self):
        self.session.unplug()
        response = self.site.get("/capture", headers=bearer(TOKEN))
        self.assertEqual(response.code, 503)
        self.site.content(response)
        found = self.scrape()
        self.assertEqual(value(found, "fourcut_captures_total"), 0)
