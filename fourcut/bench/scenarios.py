# -*- test-case-name: tests.integration.test_bench -*-
"""
The benchmark's scenarios. Each starts what it needs (a virtual camera, a
fourcut server, client processes, bare gphoto2), measures one window and
ends everything it started before it returns, also on error or Ctrl-C.
"""

import json
import shutil
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from fourcut.bench import netns, procs, report
from fourcut.bench.procs import Child, ChildError

__all__ = ["ScenarioError", "machine_cpu_ticks", "mix", "ws_probe", "Bench",
           "run_p99", "median_run", "jpeg_size", "width_probe",
           "describe_error"]


class ScenarioError(Exception):
    pass


def machine_cpu_ticks():
    """
    (busy, total) jiffies of the whole machine from C{/proc/stat}.
    """
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


def mix(count, second_kind):
    """
    Half HTTP (the odd one out too), half C{second_kind}.
    """
    http = count - count // 2
    return [{"kind": "http"}] * http + [{"kind": second_kind}] * (count // 2)


def ws_probe(port, timeout=5.0):
    """
    Whether the server answers a WebSocket upgrade at C{/ws}:
    C{(available, detail)}.
    """
    request = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % port).encode("ascii")
    try:
        with socket.create_connection((procs.LOOPBACK, port),
                                      timeout=timeout) as s:
            s.sendall(request)
            answer = b""
            while b"\r\n" not in answer:
                data = s.recv(4096)
                if not data:
                    break
                answer += data
    except OSError as e:
        return False, "ws probe failed: %s" % (e,)
    status = answer.split(b"\r\n", 1)[0].decode("latin-1")
    if " 101 " in status + " ":
        return True, "available at /ws"
    return False, "unavailable (/ws answered %r)" % (status,)


#: fourcut's config in the headroom scenario (see L{Bench.headroom}).
HEADROOM_CONFIG = {"camera": {"driver": "cli"}}


class Bench:
    """
    Runs scenarios with one set of options; C{log} reports progress.
    """

    def __init__(self, options, workdir, log):
        self.options = options
        self.workdir = workdir
        self.log = log
        self.ws = None          # (available, detail), from the first probe
        self._serial = 0

    def _name(self, base):
        self._serial += 1
        return "%02d-%s" % (self._serial, base)

    # Building blocks ---------------------------------------------------

    def camera(self, fps=None):
        """
        A fresh virtual camera of C{--camera}: the Canon EOS 700D on the
        USB path (C{--camera-profile} timing), or the generic PTP/IP one.
        """
        options = self.options
        fps = options.fps if fps is None else fps
        if options.camera == "eos":
            camera = procs.start_usb_camera(
                self.workdir, self._name("camera"),
                profile=options.camera_profile, fps=fps)
            what = "Canon EOS 700D (%s)" % (options.camera_profile,)
        else:
            camera = procs.start_camera(self.workdir, self._name("camera"),
                                        fps=fps)
            what = "PTP/IP camera"
        self.log("  camera pid %d: %s at %s, %g fps" % (
            camera.pid, what, camera.port, fps))
        return camera

    def gphoto2(self, camera, *args):
        """
        A client spec for a bare C{gphoto2 ARGS} on C{camera}.
        """
        argv, env = procs.camera_gphoto2(camera, *args)
        return {"kind": "gphoto2", "argv": argv, "env": env}

    def server(self, camera, interface=procs.LOOPBACK, name="server",
               config=None):
        """
        A fresh fourcut on C{camera}: a USB camera auto-detected, a
        PTP/IP one named; C{config} is its YAML config as a dict.
        """
        usb = getattr(camera, "socket", None)
        server = procs.start_server(self.workdir,
                                    None if usb else camera.port,
                                    self._name(name), interface=interface,
                                    usb_socket=usb, config=config)
        self.log("  server pid %d on port %d" % (server.pid,
                                                 server.http_port))
        return server

    def check_ws(self, server):
        if self.ws is None:
            self.ws = ws_probe(server.http_port)
            self.log("  WebSocket: %s" % (self.ws[1],))
        return self.ws[0]

    def client_mix(self, clients, server):
        """
        Replace WebSocket clients by HTTP ones when the server has no
        C{/ws}, so the load stays what was asked; say so.
        """
        if server is None or not any(c["kind"].startswith("ws")
                                     for c in clients):
            return clients, None
        if self.check_ws(server):
            return clients, None
        return [dict(c, kind="http") if c["kind"].startswith("ws") else c
                for c in clients], "ws " + self.ws[1] + ": HTTP clients instead"

    def client_procs(self, count):
        wanted = self.options.client_procs
        if wanted == "auto":
            return max(1, min(2, (count + 59) // 60))
        return max(1, int(wanted))

    def stream(self, name, clients, camera=None, server=None,
               use_server=True, duration=None, warmup=None,
               capture_at=None, server_interface=procs.LOOPBACK,
               server_config=None):
        """
        One measurement window: start what is missing (camera, server),
        the client processes, wait until every client has a frame, then
        measure. Ends what it started.

        Clients with a C{"netns"} (the C{ip netns exec} prefix of another
        network namespace, as a list) run in a client process of their own
        there, with their own C{"host"}.
        """
        options = self.options
        duration = options.duration if duration is None else duration
        warmup = options.warmup if warmup is None else warmup
        started = []
        clients_procs = []
        sampler = None
        try:
            if camera is None:
                camera = self.camera()
                started.append(camera)
            if use_server and server is None:
                server = self.server(camera, server_interface,
                                     config=server_config)
                started.append(server)
            if server is not None:
                sampler = procs.RSSSampler(server.pid)
            clients, note = self.client_mix(clients, server)
            here = [c for c in clients if not c.get("netns")]
            count = self.client_procs(len(here))
            shares = [(here[i::count], []) for i in range(count)]
            elsewhere = {}
            for client in clients:
                if client.get("netns"):
                    elsewhere.setdefault(tuple(client["netns"]), []).append(
                        {k: v for k, v in client.items() if k != "netns"})
            shares += [(share, list(prefix))
                       for prefix, share in elsewhere.items()]
            for index, (share, prefix) in enumerate(shares):
                if not share:
                    continue
                base = os.path.join(self.workdir, self._name(
                    "%s-clients%d" % (name, index)))
                spec = {
                    "host": procs.LOOPBACK,
                    "port": server.http_port if server else None,
                    "clients": share,
                    "tail": options.tail,
                    "ready_timeout": options.ready_timeout,
                    "capture_at": capture_at if index == 0 else None,
                }
                with open(base + ".spec.json", "w") as f:
                    json.dump(spec, f)
                child = Child(
                    os.path.basename(base),
                    prefix + [sys.executable, "-m", "fourcut.bench.clients",
                              base + ".spec.json", base + ".result.json"],
                    base + ".log", stdin=True)
                child.result_path = base + ".result.json"
                clients_procs.append(child)
            ready = []
            for child in clients_procs:
                line = child.expect(
                    lambda line: line.startswith("BENCH READY"),
                    options.ready_timeout + 30, "READY")
                ok, failed = (int(x) for x in line.split()[2:4])
                ready.append((ok, failed))
                self._track_strays(child)
            start_ns = time.time_ns() + int(warmup * 1e9)
            end_ns = start_ns + int(duration * 1e9)
            for child in clients_procs:
                child.send("GO %d %d" % (start_ns, end_ns))
            measured = self._sample(start_ns, end_ns, server, camera,
                                    clients_procs)
            results = []
            for child in clients_procs:
                child.expect(lambda line: line.startswith("BENCH DONE"),
                             options.tail + 60, "DONE")
                child.proc.wait(30)
                with open(child.result_path) as f:
                    results.append(json.load(f))
        finally:
            if sampler is not None:
                sampler.stop()
            for child in reversed(clients_procs):
                child.stop()
            for child in reversed(started):
                child.stop()
            procs.end_strays()
        run = report.analyse(results, duration)
        run.update(measured)
        run["clients"] = len(clients)
        run["client_cpu"] = [r["client_cpu"] for r in results]
        ours = [run["server"].get("cpu"), run["gphoto2_cpu"],
                run["camera_cpu"]] + run["client_cpu"]
        if run["machine_cpu"] is not None:
            # Load on the machine that is not the benchmark's: noise.
            run["other_cpu"] = round(max(0.0, run["machine_cpu"] - sum(
                x for x in ours if x is not None)), 2)
        run["client_loop_lag_ms"] = [r["loop_lag_ms"] for r in results]
        run["ready"] = ready
        if sampler is not None:
            peak = sampler.peak(until=end_ns / 1e9)
            inside = sampler.peak(since=start_ns / 1e9, until=end_ns / 1e9)
            if peak:
                # When the server's RSS peaked, in seconds from the window's
                # start (negative: during start-up, connection or warm-up).
                run["server"]["rss_sampled_peak_mb"] = round(
                    peak[1] / report.MB, 1)
                run["server"]["rss_peak_at_s"] = round(
                    peak[0] - start_ns / 1e9, 2)
            if inside:
                run["server"]["rss_max_mb"] = round(inside[1] / report.MB, 1)
        if note:
            run["note"] = note
        run["_results"] = results
        return run

    def _track_strays(self, child):
        # The client process said "BENCH PID N" for its gphoto2 children
        # before READY; they are in its log.
        try:
            with open(child.log_path) as f:
                for line in f:
                    if line.startswith("BENCH PID "):
                        procs.track_stray(int(line.split()[2]))
        except (OSError, ValueError):
            pass

    def _sample(self, start_ns, end_ns, server, camera, clients_procs):
        """
        CPU of the server, its gphoto2 child, the camera and the machine
        over the window; the server's RSS during it and its peak.
        """
        def sleep_until(ns):
            delay = (ns - time.time_ns()) / 1e9
            if delay > 0:
                time.sleep(delay)

        def cpu_of(pids):
            values = [procs.cpu_seconds(pid) for pid in pids]
            return None if None in values else sum(values)

        sleep_until(start_ns)
        server_pid = server.pid if server else None
        # fourcut's live view child, or a client process's bare gphoto2.
        parents = [p.pid for p in clients_procs] + (
            [server_pid] if server else [])
        gphoto2 = procs.camera_cpu(parents)
        begin = {
            "server": cpu_of([server_pid]) if server else None,
            "camera": cpu_of([camera.pid]),
            "machine": machine_cpu_ticks(),
        }
        sleep_until(end_ns)
        elapsed = (time.time_ns() - start_ns) / 1e9
        camera_used = procs.camera_cpu_between(gphoto2,
                                               procs.camera_cpu(parents))
        end = {
            "server": cpu_of([server_pid]) if server else None,
            "camera": cpu_of([camera.pid]),
            "machine": machine_cpu_ticks(),
        }

        def rate(key):
            if begin[key] is None or end[key] is None:
                return None
            return round((end[key] - begin[key]) / elapsed, 3)

        busy = end["machine"][0] - begin["machine"][0]
        total = end["machine"][1] - begin["machine"][1]
        measured = {
            "server": {},
            "camera_cpu": rate("camera"),
            "gphoto2_cpu": None if camera_used is None
            else round(camera_used / elapsed, 3),
            "machine_cpu": round(busy / total * (os.cpu_count() or 1), 2)
            if total else None,
            "loadavg": os.getloadavg()[0],
        }
        if server:
            memory = procs.memory(server_pid) or {}
            measured["server"] = {
                "cpu": rate("server"),
                "rss_peak_mb": round(memory.get("peak", 0) / report.MB, 1)
                if memory else None,
            }
        return measured

    # Scenarios ---------------------------------------------------------

    def repeated(self, run_once):
        """
        Run C{run_once()} C{--repeat} times and keep the run with the
        median latency p99 of its normal clients, so that a burst of other
        load on the machine during one run does not decide the result; the
        others' key figures are kept under C{repeats}.
        """
        runs = [run_once() for _ in range(self.options.repeat)]
        if len(runs) == 1:
            return runs[0]
        chosen = median_run(runs)
        chosen["repeats"] = [{
            "chosen": run is chosen,
            "p99_ms": run_p99(run),
            "delivery_min": (run.get("normal") or {}).get("delivery_min"),
            "server_cpu": run["server"].get("cpu"),
            "server_rss_peak_mb": run["server"].get("rss_peak_mb"),
            "gphoto2_cpu": run.get("gphoto2_cpu"),
            "ingest_p99_ms": ((run.get("normal") or {}).get("ingest_ms")
                              or {}).get("p99"),
            "onward_p99_ms": ((run.get("normal") or {}).get(
                "server_to_client_ms") or {}).get("p99"),
            "other_cpu": run.get("other_cpu"),
        } for run in runs]
        return chosen

    def bare_latency(self):
        """
        The latency floor: a bare C{gphoto2 --capture-movie --stdout} pipe
        from the same paced camera, read by a client process as fourcut
        reads it.
        """
        self.log("bare gphoto2 pipe at %g fps (latency floor)"
                 % self.options.fps)

        def once():
            camera = self.camera()
            try:
                run = self.stream("bare-paced", [self.gphoto2(
                    camera, "--capture-movie", "--stdout")],
                    camera=camera, use_server=False)
            finally:
                camera.stop()
            run["clients"] = 1
            return run

        return self.repeated(once)

    def fanout(self, count):
        self.log("fan-out: %d clients" % count)
        return self.repeated(lambda: self.stream(
            "fanout%d" % count, mix(count, "ws-binary")))

    def fanout_json(self, count):
        self.log("fan-out: %d clients, WebSocket JSON" % count)
        if self.ws is None:
            camera = self.camera()
            server = None
            try:
                server = self.server(camera)
                self.check_ws(server)
            finally:
                if server is not None:
                    server.stop()
                camera.stop()
        if not self.ws[0]:
            return {"clients": count, "skipped": "ws " + self.ws[1]}
        return self.repeated(lambda: self.stream(
            "json%d" % count, mix(count, "ws-json")))

    def headroom(self):
        options = self.options
        self.log("headroom: unpaced camera, bare gphoto2 and fourcut")
        camera = self.camera(fps=0)
        runs = []
        try:
            bare_pipe = self.gphoto2(camera, "--capture-movie", "--stdout")
            # Bare and fourcut runs in the order A B B A, so that a drift
            # in the machine's speed weighs on both alike, after an
            # unmeasured bare run that warms the fresh camera up.
            order = ["bare", "fourcut"] if options.smoke else (
                ["warm-up"] + ["bare", "fourcut", "fourcut", "bare"]
                * options.headroom_rounds)
            seen = {}
            for what in order:
                seen[what] = seen.get(what, 0) + 1
                if what in ("bare", "warm-up"):
                    run = self.stream("bare-movie", [bare_pipe], camera=camera,
                        use_server=False,
                        duration=1.0 if what == "warm-up"
                        else options.headroom_duration)
                    label = "bare gphoto2 #%d" % seen[what]
                else:
                    # The CLI driver: its gphoto2 child reads the
                    # camera as fast as it goes, as the bare one does;
                    # the held session's worker keeps live view to 30
                    # fps by design (fourcut.camera.child.worker), so it would
                    # measure its cap, not fourcut's headroom.
                    run = self.stream("headroom", [{"kind": "http"}],
                                      camera=camera,
                                      duration=options.headroom_duration,
                                      server_config=HEADROOM_CONFIG)
                    label = "fourcut #%d" % seen[what]
                if what == "warm-up":
                    continue
                group = next(iter(run["groups"].values()))
                errors = group["errors"]
                if errors:
                    raise ScenarioError("%s: %s" % (label, errors))
                runs.append({
                    "label": label,
                    "fps": group["fps_mean"],
                    "produced": run["produced"],
                    "latency_ms": group["latency_ms"],
                    "server_cpu": run["server"].get("cpu"),
                    "server_rss_peak_mb": run["server"].get("rss_peak_mb"),
                    "gphoto2_cpu": run["gphoto2_cpu"],
                    "camera_cpu": run["camera_cpu"],
                    "client_cpu": run["client_cpu"],
                    "machine_cpu": run["machine_cpu"],
                    "other_cpu": run.get("other_cpu"),
                })
        finally:
            camera.stop()
        bare = [r["fps"] for r in runs if r["label"].startswith("bare")]
        ours = [r["fps"] for r in runs if not r["label"].startswith("bare")]
        ratio = None
        # Medians: a burst of other load during one run does not move them.
        if bare and ours and statistics.median(bare):
            ratio = round(statistics.median(ours) / statistics.median(bare),
                          3)
        return {"runs": runs, "ratio": ratio,
                "bare_median_fps": round(statistics.median(bare), 1)
                if bare else None,
                "fourcut_median_fps": round(statistics.median(ours), 1)
                if ours else None}

    def capture(self):
        """
        Idle captures, bare gphoto2 and fourcut, then captures while two
        clients watch live view. Interleaved bare and fourcut on the
        PTP/IP camera; on the USB camera every bare capture comes first,
        before fourcut starts: fourcut's held session keeps the body
        claimed, as it does in a booth, and a second program cannot claim
        a USB camera that is.
        """
        options = self.options
        self.log("capture: idle, bare gphoto2 and fourcut; then during "
                 "live view")
        camera = self.camera()
        usb = getattr(camera, "socket", None) is not None
        server = None
        bare, ours = [], []
        try:
            argv, env = procs.camera_gphoto2(
                camera, "--capture-image-and-download", "--stdout", "--keep")
            env = procs.child_env(env)
            if usb:
                if not options.smoke:
                    self._bare_capture(argv, env=env)       # unmeasured
                bare = [self._bare_capture(argv, env=env)
                        for _ in range(options.captures)]
            server = self.server(camera)
            url = "http://%s:%d/capture" % (procs.LOOPBACK, server.http_port)
            if not options.smoke:
                # Unmeasured: the first of each warms caches and threads.
                if not usb:
                    self._bare_capture(argv, env=env)
                self._fourcut_capture(url)
            for round_ in range(options.captures):
                pair = [("fourcut", url)] if usb else [("bare", argv),
                                                       ("fourcut", url)]
                if round_ % 2:
                    pair.reverse()
                for what, target in pair:
                    if what == "bare":
                        bare.append(self._bare_capture(target, env=env))
                    else:
                        ours.append(self._fourcut_capture(target))
            watchers = [{"kind": "http"}, {"kind": "ws-binary"}]
            run = self.stream("live-capture", watchers, camera=camera,
                              server=server,
                              duration=options.capture_window,
                              capture_at=options.capture_at)
        finally:
            if server is not None:
                server.stop()
            camera.stop()
        live = report.capture_gaps(run.pop("_results"))
        result = {
            "bare_ms": bare, "fourcut_ms": ours,
            "bare_median_ms": round(statistics.median(bare), 1),
            "fourcut_median_ms": round(statistics.median(ours), 1),
            "bare_min_ms": min(bare), "bare_max_ms": max(bare),
            "fourcut_min_ms": min(ours), "fourcut_max_ms": max(ours),
            "live": live,
            "live_run": run,
        }
        result["delta_ms"] = round(result["fourcut_median_ms"]
                                   - result["bare_median_ms"], 1)
        return result

    def eos(self):
        """
        The Canon EOS 700D on the USB path with the realistic profile, as a
        booth runs it: the bare gphoto2 CLI (auto-detecting, as fourcut
        does) and fourcut, side by side on one camera.
        """
        options = self.options
        self.log("eos: Canon EOS 700D on USB, realistic timing; bare "
                 "gphoto2, then fourcut")
        camera = procs.start_usb_camera(self.workdir, self._name("camera"))
        self.log("  camera pid %d at %s" % (camera.pid, camera.port))
        server = None
        rounds = max(1, options.captures)
        try:
            env = procs.child_env(camera.env)
            summary = [self._bare_run(["gphoto2", "--summary"], env)[0]
                       for _ in range(rounds)]
            movie_s = 2.0 if options.smoke else 5.0
            took, movie = self._bare_run(
                ["gphoto2", "--capture-movie=%gs" % movie_s, "--stdout"],
                env, check=lambda out: out.startswith(b"\xff\xd8"))
            frames = movie.count(b"\xff\xd9")
            bare = [self._bare_capture(
                ["gphoto2", "--capture-image-and-download", "--stdout"],
                env=env) for _ in range(rounds)]
            server = procs.start_server(self.workdir, None,
                                        self._name("server"),
                                        usb_socket=camera.socket)
            self.log("  server pid %d on port %d" % (server.pid,
                                                     server.http_port))
            url = "http://%s:%d/capture" % (procs.LOOPBACK, server.http_port)
            ours = [self._fourcut_capture(url) for _ in range(rounds)]
            run = self.stream("eos-live-capture", [{"kind": "http"}],
                              camera=camera, server=server,
                              duration=options.capture_window,
                              capture_at=options.capture_at)
        finally:
            if server is not None:
                server.stop()
            camera.stop()
        return {
            "summary_ms": summary,
            "summary_median_ms": round(statistics.median(summary), 1),
            "movie_s": movie_s, "movie_ms": took, "movie_frames": frames,
            "movie_fps": round(frames / movie_s, 1),
            "movie_frame_kb": round(len(movie) / max(1, frames) / 1e3, 1),
            "bare_ms": bare,
            "bare_median_ms": round(statistics.median(bare), 1),
            "fourcut_ms": ours,
            "fourcut_median_ms": round(statistics.median(ours), 1),
            "live": report.capture_gaps(run.pop("_results")),
            "live_run": run,
        }

    def session(self):
        """
        The held camera session (issue 11), side by side in one run on one
        realistic Canon EOS 700D on USB: a bare python-gphoto2 session held
        across live view and captures (the anchor), fourcut with the held
        session, fourcut with C{driver: cli}; each plain and with
        C{capture_iso}/C{preview_iso}. Then live view fan-out through each
        driver, on the paced camera as the fan-out scenario runs it.
        """
        options = self.options
        captures = 1 if options.smoke else max(2, options.captures)
        # The smoke run only shows that it works: the fast profile, no
        # ISO modes.
        profile = "fast" if options.smoke else "realistic"
        variants = [("plain", {})]
        if not options.smoke:
            variants.append(("iso", {"preview_iso": 800, "capture_iso": 100}))
        self.log("session: bare python-gphoto2, held and cli on the EOS "
                 "700D on USB (%s), %d captures each" % (profile, captures))
        camera = procs.start_usb_camera(self.workdir, self._name("camera"),
                                        profile=profile)
        self.log("  camera pid %d at %s" % (camera.pid, camera.port))
        runs = {}
        try:
            for modes, iso in variants:
                runs["bare-" + modes] = self._session_child(
                    "bare-" + modes, camera,
                    [sys.executable, "-m", "fourcut.bench.bare_session"],
                    captures, iso, None)
                for driver in ("held", "cli"):
                    server = procs.start_server(
                        self.workdir, None, self._name("server-" + driver),
                        usb_socket=camera.socket,
                        config={"camera": dict(iso, driver=driver)})
                    try:
                        runs[driver + "-" + modes] = self._session_child(
                            driver + "-" + modes, camera,
                            [sys.executable, "-m",
                             "fourcut.bench.session_probe",
                             str(server.http_port)], captures, {}, server)
                    finally:
                        server.stop()
        finally:
            camera.stop()
        clients = 4 if options.smoke else 100
        # Interleaved (cli, held, held, cli, ...) --repeat times, and the
        # run with the median p99 kept for each: load from outside the
        # benchmark then falls on both drivers alike.
        runs_of = {"cli": [], "held": []}
        for index in range(options.repeat):
            order = ("cli", "held") if index % 2 == 0 else ("held", "cli")
            for driver in order:
                runs_of[driver].append(self._driver_fanout(driver, clients))
        fanout = {driver: median_run(found)
                  for driver, found in runs_of.items()}
        return {"captures": captures, "profile": profile, "runs": runs,
                "summary": report.session_summary(runs),
                "fanout_clients": clients, "fanout": fanout}

    def _session_child(self, name, camera, argv, captures, iso, server):
        """
        Run a session probe (or the bare anchor) to its end; its result.
        """
        base = os.path.join(self.workdir, self._name("session-" + name))
        argv = argv + [base + ".result.json", "--captures", str(captures),
                       "--camera-log", camera.log_path]
        if self.options.smoke:
            # Enough live view around each step to show the gap and count
            # the sessions, not to measure them well.
            argv += ["--settle", "0.5"]
        for key in ("preview_iso", "capture_iso"):
            if key in iso:
                argv += ["--" + key.replace("_", "-"), str(iso[key])]
        from fourcut.virtualcam import usbport
        env = procs.child_env(usbport.child_env(camera.socket,
                                                usbport.PYTHON, {}))
        env["HOME"] = tempfile.mkdtemp(prefix="fourcut-bench-home-")
        child = Child(os.path.basename(base), argv, base + ".log", env=env)
        try:
            child.expect(lambda line: line.startswith("BENCH DONE"), 300,
                         "DONE")
            child.proc.wait(30)
        finally:
            child.stop()
            shutil.rmtree(env["HOME"], ignore_errors=True)
        with open(base + ".result.json") as f:
            result = json.load(f)
        if "error" in result:
            raise ScenarioError("%s: %s" % (name, result["error"]))
        self.log("  %s: %s" % (name, ", ".join(
            "%s %.0f ms (gap %.0f ms, %d sessions)" % (
                step["what"], step["ms"], step["gap_ms"], step["sessions"])
            for step in result["steps"])))
        return result

    def _driver_fanout(self, driver, clients):
        """
        C{clients} WebSocket and HTTP live view clients through C{driver}
        on the paced camera of the fan-out scenario.
        """
        self.log("  live view fan-out through the %s driver, %d clients"
                 % (driver, clients))
        camera = self.camera()
        server = None
        try:
            server = self.server(camera, name="server-" + driver,
                                 config={"camera": {"driver": driver}})
            run = self.stream("fanout-" + driver, mix(clients, "ws-binary"),
                              camera=camera, server=server)
        finally:
            if server is not None:
                server.stop()
            camera.stop()
        run.pop("_results", None)
        return run

    def _bare_run(self, argv, env, check=None, timeout=60.0):
        """
        Run a gphoto2 CLI C{argv} to the end: C{(milliseconds, stdout)}.
        """
        started = time.monotonic()
        try:
            done = subprocess.run(argv, capture_output=True, env=env,
                                  stdin=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ScenarioError("%s overran %gs" % (argv[1], timeout))
        took = round((time.monotonic() - started) * 1e3, 1)
        if done.returncode != 0 or (check and not check(done.stdout)):
            raise ScenarioError("%s failed (%s): %s" % (
                argv[1], done.returncode,
                done.stderr.decode("utf-8", "replace")[-300:]))
        return took, done.stdout

    def _bare_capture(self, argv, timeout=60.0, env=None):
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env=env or procs.child_env(),
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
                procs.signal_pid(proc.pid, sig)
                try:
                    proc.wait(3)
                    break
                except subprocess.TimeoutExpired:
                    continue
            raise ScenarioError("bare gphoto2 capture overran %gs" % timeout)
        finally:
            if proc.poll() is None:
                procs.signal_pid(proc.pid, signal.SIGKILL)
                proc.wait()
        took = round((time.monotonic() - started) * 1e3, 1)
        if proc.returncode != 0 or not out.startswith(b"\xff\xd8"):
            raise ScenarioError("bare gphoto2 capture failed (%s): %s" % (
                proc.returncode, err.decode("utf-8", "replace")[-300:]))
        return took

    def _fourcut_capture(self, url, timeout=60.0):
        started = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:
                data = answer.read()
                status = answer.status
        except OSError as e:
            raise ScenarioError("GET /capture failed: %s" % (e,))
        took = round((time.monotonic() - started) * 1e3, 1)
        if status != 200 or not data.startswith(b"\xff\xd8"):
            raise ScenarioError("GET /capture answered %s" % (status,))
        return took

    def slow(self, reference):
        """
        Slow clients beside normal ones. C{reference}: the fan-out runs so
        far, for the RSS allowance.
        """
        options = self.options
        normal, slow = options.slow_normal, options.slow
        self.log("slow clients: %d normal + %d reading 1 frame/s"
                 % (normal, slow))
        clients = mix(normal, "ws-binary") + [
            dict(c, slow=True) for c in mix(slow, "ws-binary")]
        run = self.repeated(lambda: self.stream("slow", clients))
        run["normal_clients"] = normal
        run["slow_clients"] = slow
        usable = [r for r in reference if "error" not in r
                  and r["server"].get("rss_peak_mb")]
        if usable:
            # The fan-out run with as many clients as the normal ones, or
            # the nearest.
            ref = min(usable, key=lambda r: (abs(r["clients"] - normal),
                                             -r["clients"]))
            frame = run.get("frame_bytes") or ref.get("frame_bytes") or 0
            run["rss_reference_clients"] = ref["clients"]
            run["rss_reference_mb"] = ref["server"]["rss_peak_mb"]
            run["rss_limit_mb"] = round(
                ref["server"]["rss_peak_mb"]
                + slow * report.SLOW_FRAMES_PER_CLIENT * frame / report.MB, 1)
        return run

    # The slow-link scenario and the minimal relay (issue 13) -------------

    def slowlink(self):
        """
        Slow screens on shaped links beside fast ones: in a private network
        (L{fourcut.bench.netns}), one HTTP multipart and one WebSocket
        binary client, each on a link of its own whose download is shaped
        by HTB to each rate in turn, beside C{--slowlink-fast} clients on
        the namespace's loopback; first those fast clients alone, the
        reference. Then, if the server honours C{/preview?width=W}, the
        same at C{width=480}; then C{--slowlink-many} fast clients beside
        the slow ones at 4 Mbit/s.
        """
        options = self.options
        why = netns.unavailable()
        if why:
            self.log("slowlink: skipped: " + why)
            return {"skipped": why}
        rates = options.slowlink_rates
        fast = options.slowlink_fast
        self.log("slowlink: %d fast clients, slow HTTP and WebSocket clients "
                 "at %s Mbit/s" % (fast, ", ".join("%g" % r for r in rates)))
        try:
            lab = netns.Lab(links=2)
            lab.__enter__()
        except netns.Unavailable as e:
            self.log("slowlink: skipped: %s" % (e,))
            return {"skipped": str(e)}
        try:
            result = {"setup": lab.describe(), "fps": options.fps,
                      "fast_clients": fast, "rates_mbit": rates}
            self.log("  namespaces %s and %s; TCP %s" % (
                lab.bench, lab.far, result["setup"]["congestion_control"]))
            everywhere = "0.0.0.0"
            camera = self.camera()
            server = None
            try:
                server = self.server(camera, everywhere)
                result["width"] = width_probe(procs.LOOPBACK,
                                              server.http_port, 480)
                self.log("  /preview?width=480: %s" % (
                    result["width"]["detail"],))
                result["reference"] = self._strip(self.stream(
                    "slowlink-ref", mix(fast, "ws-binary"), camera=camera,
                    server=server))
            finally:
                if server is not None:
                    server.stop()
                camera.stop()
            result["runs"] = []
            variants = [None]
            if result["width"]["supported"]:
                variants.append(480)
            for width in variants:
                for rate in rates:
                    result["runs"].append(self._slowlink_run(
                        lab, rate, mix(fast, "ws-binary"), width))
            if options.slowlink_many:
                result["many"] = self._slowlink_run(
                    lab, 4.0, mix(options.slowlink_many, "ws-binary"), None)
        finally:
            lab.__exit__(None, None, None)
        return result

    def _slowlink_run(self, lab, rate, fast_clients, width):
        self.log("  slow links at %g Mbit/s%s beside %d fast clients" % (
            rate, "" if width is None else ", width=%d" % width,
            len(fast_clients)))
        lab.shape(rate * 1e6)
        suffix = "%g Mbit/s" % rate + ("" if width is None
                                       else " w%d" % width)
        slow = [{"kind": "http", "shaped": True, "netns": lab.exec_argv(),
                 "host": lab.server_address(0),
                 "label": "http slow " + suffix},
                {"kind": "ws-binary", "shaped": True,
                 "netns": lab.exec_argv(),
                 "host": lab.server_address(1),
                 "label": "ws-binary slow " + suffix}]
        if width is not None:
            slow[0]["path"] = "/preview?width=%d" % width
            slow[1]["width"] = width
        run = self._strip(self.stream(
            "slowlink-%g%s" % (rate, "" if width is None else "-w%d" % width),
            fast_clients + slow, server_interface="0.0.0.0"))
        run["rate_mbit"] = rate
        run["width"] = width
        run["links"] = lab.link_stats()
        run["slow"] = {label: report.link_figures(
            group, rate * 1e6, self.options.fps)
            for label, group in run["groups"].items() if " slow " in label}
        for label, figures in run["slow"].items():
            age = figures["age_ms"] or {}
            self.log("    %s: %s fps of %s, age p50/p90/max %s/%s/%s ms, "
                     "ideal %s ms%s" % (
                         label, figures["fps"], figures["link_fps"],
                         age.get("p50"), age.get("p90"), age.get("max"),
                         figures["ideal_ms"], "" if not figures["error"]
                         else "; " + figures["error"]))
        return run

    @staticmethod
    def _strip(run):
        run.pop("_results", None)
        return run

    def relay(self):
        """
        fourcut against the minimal asyncio relay (L{fourcut.bench.relay}),
        C{--relay-clients} HTTP multipart clients each, interleaved
        (relay, fourcut, fourcut, relay, ...) C{--repeat} times on fresh
        cameras; the run with the median p99 of each is kept.
        """
        options = self.options
        clients = options.relay_clients
        self.log("relay: %d multipart clients, minimal asyncio relay and "
                 "fourcut, %d runs each" % (clients, options.repeat))
        runs_of = {"relay": [], "fourcut": []}
        for index in range(options.repeat):
            order = ("relay", "fourcut") if index % 2 == 0 else (
                "fourcut", "relay")
            for what in order:
                runs_of[what].append(self._relay_fanout(what, clients))
        chosen = {what: median_run(found) for what, found in runs_of.items()}
        for what, run in chosen.items():
            normal = run.get("normal") or {}
            self.log("  %s: p99 %s ms, server CPU %s core" % (
                what, (normal.get("latency_ms") or {}).get("p99"),
                run["server"].get("cpu")))
        return {"clients": clients, "runs": chosen,
                "cpu": {what: [r["server"].get("cpu") for r in found]
                        for what, found in runs_of.items()}}

    def _relay_fanout(self, what, clients):
        camera = self.camera()
        server = None
        try:
            if what == "relay":
                server = procs.start_relay(self.workdir, camera,
                                           self._name("relay"))
                self.log("  relay pid %d on port %d" % (server.pid,
                                                       server.http_port))
            else:
                server = self.server(camera)
            run = self.stream("relay-" + what, [{"kind": "http"}] * clients,
                              camera=camera, server=server)
        finally:
            if server is not None:
                server.stop()
            camera.stop()
        return self._strip(run)


def run_p99(run):
    """
    The p99 latency of a fan-out run's normal clients, or L{None}.
    """
    return ((run.get("normal") or {}).get("latency_ms") or {}).get("p99")


def median_run(runs):
    """
    Of fan-out C{runs}, the one with the median p99 latency of its
    clients (one without a p99 counts as the worst), with every run's p99
    under C{p99s_ms}.
    """
    def key(run):
        value = run_p99(run)
        return float("inf") if value is None else value

    ordered = sorted(runs, key=key)
    chosen = ordered[(len(ordered) - 1) // 2]
    chosen["p99s_ms"] = [run_p99(r) for r in runs]
    return chosen


def jpeg_size(data):
    """
    C{(width, height)} of a JPEG from its SOF segment, or L{None}.
    """
    position = 2
    while position + 9 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            position += 2
            continue
        length = int.from_bytes(data[position + 2:position + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[position + 5:position + 7], "big")
            width = int.from_bytes(data[position + 7:position + 9], "big")
            return width, height
        position += 2 + length
    return None


def width_probe(host, port, width, timeout=10.0):
    """
    Whether the server sends frames C{width} pixels wide for
    C{/preview?width=W}: C{{"supported", "detail"}}.
    """
    request = ("GET /preview?width=%d&timeout=3 HTTP/1.0\r\nHost: %s:%d"
               "\r\n\r\n" % (width, host, port)).encode("ascii")
    data = b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(request)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                size = _first_part(data)
                if size is not None and size[1] <= len(data):
                    break
    except OSError as e:
        return {"supported": False, "detail": "probe failed: %s" % (e,)}
    status = data.split(b"\r\n", 1)[0].decode("latin-1")
    if " 200 " not in status + " ":
        return {"supported": False, "detail": "not implemented yet: the "
                "server answered %r" % (status,)}
    part = _first_part(data)
    found = jpeg_size(data[part[0]:part[1]]) if part else None
    if found is None:
        return {"supported": False, "detail": "no frame in its answer"}
    if found[0] != width:
        return {"supported": False, "detail": "not implemented yet: the "
                "server ignored width=%d and sent %dx%d frames"
                % ((width,) + found)}
    return {"supported": True, "detail": "%dx%d frames" % found}


def _first_part(data):
    """
    Where the first multipart part's JPEG lies in C{data}: C{(start,
    end)}, or L{None} before its headers are in.
    """
    head = data.find(b"\r\n\r\n")
    if head < 0:
        return None
    part = data.find(b"\r\n\r\n", head + 4)
    if part < 0:
        return None
    headers = data[head + 4:part].lower()
    at = headers.find(b"content-length:")
    if at < 0:
        return None
    length = int(headers[at + 15:].split(b"\r\n", 1)[0])
    return part + 4, part + 4 + length


def describe_error(error):
    if isinstance(error, (ChildError, ScenarioError)):
        return str(error)
    return "%s: %s" % (type(error).__name__, error)
