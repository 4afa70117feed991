# -*- test-case-name: tests.integration.test_night -*-
"""
A night at a venue, compressed (issue 24): the lifelike Canon EOS 700D on
the USB path, its live view dying every few minutes (cured by a toggle,
sometimes only by a new session), its first capture of a session late
("I/O in progress"), three screens watching C{/preview}, a C{GET
/capture} every 15 s and a four-shot C{POST /sequence} every minute.

    python -m fourcut.bench --only night [--night-duration SECONDS]

What it checks and reports:

  - every capture and sequence is answered, a photo or a clear error
    (HTTP status and text), never a hang (a request past its deadline);
  - no photo lost: photo files on disk = photos answered;
  - each screen's share of the body's frames while live view streams
    (frames received / (intervals between them, up to 0.5 s, x the body's
    rate)): pauses longer than that, captures and recoveries, are not
    streaming time; and the share of the body's served frames (its JPEG
    sequence numbers) each screen got;
  - per death of live view: the outage (last camera frame before it to
    the first after) and the freeze (the longest time the screen got no
    picture at all, the placeholder counting as a picture), per screen;
  - the server's (and its camera worker's) memory and descriptors,
    sampled every few seconds: growth from the first five minutes (or
    the first sixth of a shorter run) to the end;
  - the body's counters: sessions opened, 0xA102 answers to early polls,
    deaths and how each was cured, busy answers to a late first capture.
"""

import http.client
import json
import os
import re
import statistics
import threading
import time

from fourcut.bench import procs
from fourcut.virtualcam.scene import parse_frame_comment

__all__ = ["Screen", "Requester", "Night", "analyse_screen",
           "parse_camera_log", "text", "PAUSE"]

#: Seconds between two camera frames above which live view is taken to be
#: paused (a capture, a recovery) rather than streaming.
PAUSE = 0.5

#: The body's live view rate on the lifelike profile (700D).
BODY_FPS = 13.4


class Screen(threading.Thread):
    """
    One screen watching C{GET /preview}: records, for every picture, when
    it came and the camera's sequence number (L{None}: the placeholder).
    Reconnects if the stream ends.
    """

    def __init__(self, name, host, port, stop):
        threading.Thread.__init__(self, name=name, daemon=True)
        self.host = host
        self.port = port
        self.stop_event = stop
        self.frames = []            # (monotonic time, seq or None)
        self.reconnects = 0
        self.errors = []

    def run(self):
        while not self.stop_event.is_set():
            try:
                self._watch()
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.errors.append("%s: %s" % (type(e).__name__, e))
            if not self.stop_event.is_set():
                self.reconnects += 1
                time.sleep(0.5)

    def _watch(self):
        connection = http.client.HTTPConnection(self.host, self.port,
                                                timeout=10)
        try:
            connection.request("GET", "/preview")
            response = connection.getresponse()
            if response.status != 200:
                raise ValueError("GET /preview: %d" % (response.status,))
            while not self.stop_event.is_set():
                length = None
                while True:
                    line = response.readline()
                    if not line:
                        return
                    line = line.strip()
                    if not line and length is not None:
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                data = response.read(length)
                if len(data) < length:
                    return
                found = parse_frame_comment(data)
                self.frames.append((time.monotonic(),
                                    None if found is None else found[0]))
        finally:
            connection.close()


class Requester(threading.Thread):
    """
    Makes one request every C{every} seconds (the first after C{first})
    until told to stop, and records each outcome: C{{"at", "took",
    "status", "kind", "photos", "error"}}.
    """

    def __init__(self, name, host, port, method, path, every, first,
                 deadline, stop, headers=None):
        threading.Thread.__init__(self, name=name, daemon=True)
        self.host = host
        self.port = port
        self.method = method
        self.path = path
        self.every = every
        self.first = first
        self.deadline = deadline
        self.stop_event = stop
        self.headers = headers or {}
        self.outcomes = []
        self.windows = []           # (start, end) monotonic, each request

    def run(self):
        due = time.monotonic() + self.first
        while not self.stop_event.wait(max(0.0, due - time.monotonic())):
            due += self.every
            self.outcomes.append(self.once())

    def once(self):
        started = time.monotonic()
        outcome = {"at": round(started, 3), "status": None, "photos": 0,
                   "error": None, "names": []}
        connection = http.client.HTTPConnection(self.host, self.port,
                                                timeout=self.deadline)
        try:
            connection.request(self.method, self.path, headers=self.headers)
            response = connection.getresponse()
            body = response.read()
            outcome["status"] = response.status
            kind = response.getheader("Content-Type", "")
            if response.status == 200:
                outcome.update(self.photos(kind, body, response))
            else:
                outcome["error"] = body[:300].decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as e:
            # A timeout is a hang: the deadline is far above any capture.
            outcome["error"] = "%s: %s" % (type(e).__name__, e)
            outcome["hang"] = isinstance(e, TimeoutError) or \
                "timed out" in str(e)
        finally:
            connection.close()
        ended = time.monotonic()
        outcome["took"] = round(ended - started, 3)
        self.windows.append((started, ended))
        return outcome

    def photos(self, kind, body, response):
        if self.path.startswith("/capture"):
            ok = kind.startswith("image/jpeg") and body[:2] == b"\xff\xd8"
            return {"photos": 1 if ok else 0,
                    "error": None if ok else "not a JPEG"}
        answer = json.loads(body)
        shots = answer.get("shots") or []
        return {"photos": len(shots),
                "names": [os.path.basename(str(s.get("filename", s))
                                           if isinstance(s, dict)
                                           else str(s)) for s in shots],
                "strip": os.path.basename(str(answer.get("filename")))}


def analyse_screen(frames, deaths, fps, captures=()):
    """
    One screen's figures from its C{(time, seq)} list; C{deaths}: the
    monotonic times live view died; C{captures}: the C{(start, end)}
    monotonic times live view paused for a picture, whose gaps are not
    counted as a recovery's freeze (a body shows no live view while it
    takes a still; the booth shows its countdown and flash).
    """
    camera = [(t, s) for t, s in frames if s is not None]
    streaming = 0.0
    counted = 0
    for (t0, _), (t1, _) in zip(camera, camera[1:]):
        if t1 - t0 <= PAUSE:
            streaming += t1 - t0
            counted += 1
    seqs = sorted({s for _, s in camera})
    served = (seqs[-1] - seqs[0] + 1) if seqs else 0
    recoveries = []
    for died in deaths:
        before = [t for t, _ in camera if t <= died]
        after = [t for t, _ in camera if t > died]
        if not before or not after:
            continue
        start, end = before[-1], after[0]
        pictures = [t for t, _ in frames if start <= t <= end]
        gaps = [(b - a, a, b) for a, b in zip(pictures, pictures[1:])]
        frozen = [gap for gap, a, b in gaps
                  if not any(a < c1 and b > c0 for c0, c1 in captures)]
        recoveries.append({
            "outage_s": round(end - start, 2),
            "freeze_s": round(max(frozen), 2) if frozen else 0.0,
            "freeze_with_captures_s": round(max(g for g, _, _ in gaps), 2)
            if gaps else 0.0,
            "captures": sum(1 for c0, c1 in captures
                            if c0 < end and c1 > start),
            "placeholders": len(pictures) - 2})
    return {
        "frames": len(camera),
        "placeholders": len(frames) - len(camera),
        "streaming_s": round(streaming, 1),
        "share_of_body": round(counted / (streaming * fps), 3)
        if streaming else None,
        "share_of_served": round(len(seqs) / served, 3) if served else None,
        "recoveries": recoveries,
        "longest_outage_s": max((r["outage_s"] for r in recoveries),
                                default=None),
        "longest_freeze_s": max((r["freeze_s"] for r in recoveries),
                                default=None),
    }


_DEATH = re.compile(r"live view stops delivering \(death (\d+); cured by "
                    r"(\w+)\) at t=([0-9.]+)")
_BACK = re.compile(r"live view back \((\w+)\) at t=([0-9.]+)")
_CAPTURED = re.compile(r"pressed t=([0-9.]+), ready t=([0-9.]+)")

#: Seconds before a picture's release (focus) and after it is ready
#: (download, the EVF back) during which live view pauses for it.
CAPTURE_BEFORE = 1.0
CAPTURE_AFTER = 1.0


def parse_camera_log(text):
    """
    The deaths (C{(wall time, cure)}), revivals and last counters a
    camera's log holds.
    """
    deaths = [(float(m.group(3)), m.group(2))
              for m in _DEATH.finditer(text)]
    revivals = [(float(m.group(2)), m.group(1))
                for m in _BACK.finditer(text)]
    captures = [(float(m.group(1)), float(m.group(2)))
                for m in _CAPTURED.finditer(text)]
    stats = None
    for line in text.splitlines():
        if line.startswith('{"stats"'):
            stats = json.loads(line)["stats"]
    return {"deaths": deaths, "revivals": revivals, "captures": captures,
            "stats": stats}


def _fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


class Night:
    """
    Runs the night with C{options}: C{night_duration}, C{night_die_every},
    C{night_cures}, C{night_screens}, C{night_capture_every},
    C{night_sequence_every}, C{night_io_after}.
    """

    def __init__(self, options, workdir, log, name):
        self.options = options
        self.workdir = workdir
        self.log = log
        self.name = name

    def run(self):
        o = self.options
        extra = ["--evf-dies-after", repr(float(o.night_die_every)),
                 "--evf-cures", o.night_cures, "--stats-every", "5"]
        if o.night_io_after is not None:
            extra += ["--io-in-progress-after", repr(float(o.night_io_after))]
        camera = procs.start_usb_camera(self.workdir, self.name("camera"),
                                        profile="lifelike", fps=None,
                                        extra=extra)
        self.log("  camera pid %d: Canon EOS 700D (lifelike), live view "
                 "dies every %gs (cures %s)" % (camera.pid, o.night_die_every,
                                                o.night_cures))
        server = None
        camera_log = None
        stop = threading.Event()
        threads = []
        try:
            # The night's sequences are an API client's (POST /sequence):
            # no booth page shows each shot, so no review pause between
            # shots (booth.review), which would only stretch each sequence.
            server = procs.start_server(self.workdir, None,
                                        self.name("server"),
                                        usb_socket=camera.socket,
                                        config={"booth": {"review": 0}})
            self.log("  server pid %d on port %d" % (server.pid,
                                                     server.http_port))
            host, port = procs.LOOPBACK, server.http_port
            screens = [Screen("screen-%d" % i, host, port, stop)
                       for i in range(o.night_screens)]
            captures = Requester("captures", host, port, "GET", "/capture",
                                 o.night_capture_every, o.night_capture_every,
                                 90.0, stop)
            sequences = Requester(
                "sequences", host, port, "POST",
                "/sequence?count=4&countdown=1", o.night_sequence_every,
                o.night_sequence_every / 2, 180.0, stop,
                headers={"Accept": "application/json"})
            threads = screens + [captures, sequences]
            started = time.monotonic()
            wall_offset = time.time() - started
            for thread in threads:
                thread.start()
            samples = self._sample(server, started, o.night_duration)
            stop.set()
            for thread in threads:
                thread.join(200.0)
            ended = time.monotonic()
            camera_log = open(camera.log_path, encoding="utf-8",
                              errors="replace").read()
        finally:
            stop.set()
            if server is not None:
                server.stop()
            camera.stop()
        found = parse_camera_log(camera_log)
        deaths = [t - wall_offset for t, _ in found["deaths"]]
        paused = [(p - wall_offset - CAPTURE_BEFORE,
                   r - wall_offset + CAPTURE_AFTER)
                  for p, r in found["captures"]]
        return self._report(screens, captures, sequences, found, deaths,
                            paused, samples, server, BODY_FPS,
                            ended - started)

    def _sample(self, server, started, duration):
        samples = []
        while True:
            now = time.monotonic()
            if now - started >= duration:
                return samples
            sample = {"t": round(now - started, 1)}
            pids = [server.pid] + procs.camera_children(server.pid)
            rss = fds = 0
            for pid in pids:
                memory = procs.memory(pid)
                rss += memory["rss"] if memory else 0
                fds += _fds(pid) or 0
            sample.update(rss_mb=round(rss / 1e6, 1), fds=fds,
                          processes=len(pids))
            samples.append(sample)
            time.sleep(min(5.0, max(0.1, duration - (now - started))))

    def _report(self, screens, captures, sequences, found, deaths, paused,
                samples, server, fps, elapsed):
        answered = captures.outcomes + sequences.outcomes
        photos = sum(o["photos"] for o in answered)
        strips = {o.get("strip") for o in sequences.outcomes
                  if o.get("strip")}
        photo_dir = os.path.join(self.workdir, os.path.basename(
            server.log_path)[:-len(".log")] + "-photos")
        files = [f for f in os.listdir(photo_dir)
                 if f.lower().endswith((".jpg", ".jpeg"))
                 and f not in strips] if os.path.isdir(photo_dir) else []
        settle = min(300.0, elapsed / 6)
        later = [s for s in samples if s["t"] >= settle]
        growth = None
        if len(later) >= 2:
            growth = {"rss_mb": round(later[-1]["rss_mb"]
                                      - later[0]["rss_mb"], 1),
                      "fds": later[-1]["fds"] - later[0]["fds"],
                      "from_s": later[0]["t"], "to_s": later[-1]["t"]}
        screen_results = [analyse_screen(s.frames, deaths, fps, paused)
                          for s in screens]
        for screen, result in zip(screens, screen_results):
            result["reconnects"] = screen.reconnects
            result["errors"] = screen.errors[-3:]
        stats = found["stats"] or {}
        cures = [c for _, c in found["deaths"]]
        return {
            "duration_s": round(elapsed, 1),
            "body_fps": fps,
            "deaths": len(found["deaths"]),
            "death_cures": {c: cures.count(c) for c in set(cures)},
            "revivals": {c: [h for _, h in found["revivals"]].count(c)
                         for c in ("toggle", "session")},
            "camera": stats,
            "captures": self._requests(captures.outcomes),
            "sequences": self._requests(sequences.outcomes),
            "photos_answered": photos,
            "photo_files": len(files),
            "photos_lost": photos - len(files),
            "screens": screen_results,
            "min_share_of_body": min(
                (r["share_of_body"] for r in screen_results
                 if r["share_of_body"] is not None), default=None),
            "longest_freeze_s": max(
                (r["longest_freeze_s"] for r in screen_results
                 if r["longest_freeze_s"] is not None), default=None),
            "longest_outage_s": max(
                (r["longest_outage_s"] for r in screen_results
                 if r["longest_outage_s"] is not None), default=None),
            "resources": samples,
            "growth_after_settling": growth,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        }

    @staticmethod
    def _requests(outcomes):
        took = [o["took"] for o in outcomes if o["status"] == 200]
        return {
            "made": len(outcomes),
            "ok": sum(1 for o in outcomes if o["status"] == 200),
            "errors": [{"status": o["status"], "error": (o["error"] or "")
                        [:200]} for o in outcomes
                       if o["status"] != 200],
            "hangs": sum(1 for o in outcomes if o.get("hang")),
            "median_s": round(statistics.median(took), 2) if took else None,
            "max_s": max(took) if took else None,
        }


def text(result):
    """
    The night's figures as a few lines for the report.
    """
    if "error" in result:
        return "night: failed: %s" % (result["error"],)
    c, q = result["captures"], result["sequences"]
    camera = result["camera"] or {}
    growth = result["growth_after_settling"] or {}
    lines = [
        "night (%.0f s, Canon EOS 700D lifelike, %g fps): live view died "
        "%d times %s; revived %s" % (
            result["duration_s"], result["body_fps"], result["deaths"],
            result["death_cures"], result["revivals"]),
        "  captures %d/%d answered with a photo, errors %s, hangs %d; "
        "median %s s, max %s s" % (c["ok"], c["made"],
                                   [e["status"] for e in c["errors"]],
                                   c["hangs"], c["median_s"], c["max_s"]),
        "  sequences %d/%d, errors %s, hangs %d; median %s s" % (
            q["ok"], q["made"], [e["status"] for e in q["errors"]],
            q["hangs"], q["median_s"]),
        "  photos answered %d, files on disk %d (lost %d)" % (
            result["photos_answered"], result["photo_files"],
            result["photos_lost"]),
        "  screens: share of the body's frames while streaming %s; of "
        "its served frames %s" % (
            [s["share_of_body"] for s in result["screens"]],
            [s["share_of_served"] for s in result["screens"]]),
        "  per death: longest freeze %s s (no picture at all), longest "
        "outage %s s (no camera frame)" % (result["longest_freeze_s"],
                                            result["longest_outage_s"]),
        "  camera: sessions %s, 0xA102 to early polls %s (all 0xA102 %s), "
        "busy first captures %s, mirror left up %s" % (
            camera.get("sessions_opened"), camera.get("early_answers"),
            camera.get("not_ready_answers"),
            camera.get("io_in_progress_answers"),
            camera.get("mirror_left_up")),
        "  server + worker after settling: RSS %+.1f MB, descriptors %+d "
        "(%s s to %s s)" % (growth.get("rss_mb", 0), growth.get("fds", 0),
                            growth.get("from_s"), growth.get("to_s")),
    ]
    return "\n".join(lines)
