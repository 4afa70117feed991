# -*- test-case-name: tests.integration.test_bench_pi -*-
"""
The C{pi} scenario (issue 23): live view on a Raspberry Pi's budget.

Measured on the virtual Canon EOS over USB, each figure for this checkout
and, with C{--baseline PATH} (another checkout of fourcut, e.g. before
issue 23), for that one too, side by side in one run (interleaved, fresh
camera and server each time), so that the ratios hold on a loaded
machine:

  - B{CPU per camera frame} of the server and its camera process (the
    camera worker or gphoto2 child), one HTTP screen: passthrough,
    C{preview_flip: true}, seed 001's preview block (flip and
    C{preview_resolution: [1280, 720]}) and C{/preview?width=480}; and
    the minimal relay's passthrough (L{fourcut.bench.relay});
  - B{libjpeg-turbo alone}: its own CPU per frame for each transform
    (L{fourcut.bench.codec}), and the ratio to passthrough that would
    be if nothing but it were added to passthrough: the floor under the
    targets;
  - B{memory}: resident size of the server and its camera process with
    that one screen, at the end of the window and at its peak, and their
    proportional set size (shared pages counted once) at the end; each
    checkout byte-compiled first, as installing it does (L{compiled});
  - B{a quarter core}: the server and everything it starts held to 25 ms
    of CPU every 100 ms by a cgroup (v1 C{cpu} controller, made and
    removed here), three screens with seed 001's preview block and
    captures during live view, beside the same run without the quota;
  - B{frames shown when they arrive}: for a reader that shows a part
    only when the next boundary comes, the age of a shown frame against
    the age at which its last byte came (p90), at the camera's rate on
    the loopback and, where network namespaces can be made, on a
    4 Mbit/s link (L{fourcut.bench.netns}).
"""

import compileall
import json
import os
import statistics
import subprocess
import sys
import threading
import time

from fourcut.bench import netns, procs, report

__all__ = ["CGROUP_ROOT", "QUOTA", "SEED_BLOCK", "PiBudget", "CPUQuota",
           "compiled"]

#: Where the cgroup v1 CPU controller is mounted.
CGROUP_ROOT = "/sys/fs/cgroup/cpu"

#: CPU time allowed per period: a quarter of one core.
QUOTA = (25000, 100000)

#: Seed 001's own preview block.
SEED_BLOCK = {"preview_flip": True, "preview_resolution": [1280, 720]}

#: The per-frame cost runs: name, camera settings, path.
VARIANTS = (
    ("passthrough", None, "/preview"),
    ("preview_flip", {"preview_flip": True}, "/preview"),
    ("seed 001 block", SEED_BLOCK, "/preview"),
    ("width 480", None, "/preview?width=480"),
)


class CPUQuota:
    """
    A cgroup (v1 C{cpu}) of our own with a CPU quota; processes moved
    into it take their later children with them. Removed by L{remove}
    (its processes are moved back to the root group first).
    """

    def __init__(self, quota=QUOTA, root=CGROUP_ROOT):
        self.root = root
        self.path = os.path.join(root, "fourcut-bench-%d-%d" % (
            os.getpid(), time.monotonic_ns()))
        os.mkdir(self.path)
        try:
            self._write("cpu.cfs_period_us", quota[1])
            self._write("cpu.cfs_quota_us", quota[0])
        except BaseException:
            os.rmdir(self.path)
            raise

    @staticmethod
    def unavailable(root=CGROUP_ROOT):
        """
        Why no quota can be set here, or L{None}.
        """
        if not os.path.exists(os.path.join(root, "cpu.cfs_quota_us")):
            return "no cgroup v1 cpu controller at %s" % (root,)
        if not os.access(root, os.W_OK):
            return "cannot make a cgroup in %s (not root?)" % (root,)
        return None

    def _write(self, name, value):
        with open(os.path.join(self.path, name), "w") as f:
            f.write("%d\n" % (value,))

    def add_tree(self, pid):
        """
        Move C{pid} and every process under it into the group.

        @return: the PIDs moved.
        """
        moved = []
        todo = [pid]
        while todo:
            current = todo.pop()
            try:
                with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                    f.write("%d\n" % (current,))
            except OSError:
                continue            # gone meanwhile
            moved.append(current)
            todo.extend(procs.children_of(current))
        return moved

    def throttled(self):
        """
        C{cpu.stat}: periods, throttled periods and time, as a dict.
        """
        found = {}
        with open(os.path.join(self.path, "cpu.stat")) as f:
            for line in f:
                key, value = line.split()
                found[key] = int(value)
        return found

    def remove(self):
        try:
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                left = [int(x) for x in f.read().split()]
        except OSError:
            left = []
        for pid in left:
            try:
                with open(os.path.join(self.root, "cgroup.procs"), "w") as f:
                    f.write("%d\n" % (pid,))
            except OSError:
                pass
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)


class MemoryWatch:
    """
    The resident size of a server and its camera process (the camera
    worker or a gphoto2 child) together, sampled in a thread while it
    runs: what the server holds when it has settled, and its peak.
    """

    def __init__(self, pid, interval=0.25):
        self.pid = pid
        self.samples = []           # bytes, summed over the processes
        self.proportional = []      # their Pss, summed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="pi-rss-%d" % pid)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            pids = [self.pid] + procs.camera_children(self.pid)
            found = [procs.memory(pid) for pid in pids]
            if found[0] is None:
                break
            self.samples.append(sum(m["rss"] for m in found if m))
            self.proportional.append(sum(
                procs.proportional_bytes(pid) or 0 for pid in pids))
            self._stop.wait(0.25)

    def stop(self):
        """
        @return: C{(last, peak, last Pss)} in MB, or C{(None, None,
            None)}.
        """
        self._stop.set()
        self._thread.join(2.0)
        if not self.samples:
            return None, None, None
        return (round(self.samples[-1] / report.MB, 1),
                round(max(self.samples) / report.MB, 1),
                round(self.proportional[-1] / report.MB, 1))


def compiled(root):
    """
    Byte-compile the checkout at C{root} (its C{fourcut} package), as
    installing it does: a server run from a checkout under
    C{PYTHONDONTWRITEBYTECODE} compiles every module it imports from
    source, every start, and the server and its camera worker keep about
    2.3 MB more resident for it (the compiler's garbage: measured on this
    checkout, 64.0 against 61.7 MiB), which is no booth's memory.
    """
    compileall.compile_dir(os.path.join(root, "fourcut"), quiet=1)


def _percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def shown_ages(results):
    """
    For HTTP clients' frames whose next boundary came: the p50 and p90
    age (ms after the camera made it) when the frame's last byte came and
    when its next boundary did (when a boundary-cutting reader shows it).
    """
    arrived, shown = [], []
    for result in results:
        for client in result["clients"]:
            for sent, recv, seen in zip(client["sent_us"], client["recv_us"],
                                        client.get("shown_us") or []):
                if seen is None:
                    continue
                arrived.append((recv - sent) / 1e3)
                shown.append((seen - sent) / 1e3)
    if not arrived:
        return None

    def figures(values):
        return {"p50": round(_percentile(values, 0.5), 1),
                "p90": round(_percentile(values, 0.9), 1),
                "max": round(max(values), 1)}
    return {"frames": len(arrived), "arrival_ms": figures(arrived),
            "shown_ms": figures(shown),
            "p90_gap_ms": round(_percentile(shown, 0.9)
                                - _percentile(arrived, 0.9), 1)}


class PiBudget:
    """
    Runs the C{pi} scenario with a L{fourcut.bench.scenarios.Bench}.
    """

    def __init__(self, bench, baseline=None):
        """
        @param baseline: the root of another checkout of fourcut to
            measure beside this one, or L{None}.
        """
        self.bench = bench
        self.options = bench.options
        self.codes = [("now", None)]
        if baseline:
            self.codes.insert(0, ("baseline", {
                "PYTHONPATH": os.path.abspath(baseline)}))

    def _server(self, camera, name, env, camera_settings=None,
                interface=procs.LOOPBACK):
        config = {"camera": dict(camera_settings)} if camera_settings \
            else None
        server = procs.start_server(
            self.bench.workdir, None, self.bench._name(name),
            usb_socket=camera.socket, config=config, env=env,
            interface=interface)
        self.bench.log("  server pid %d on port %d (%s)" % (
            server.pid, server.http_port, name))
        return server

    def run(self):
        bench = self.bench
        bench.log("pi: per-frame cost, memory, a quarter core, frames "
                  "shown on arrival (%s)" % ", ".join(c for c, _ in self.codes))
        result = {"codes": [c for c, _ in self.codes],
                  "fps": self.options.fps}
        for code, env in self.codes:
            compiled(env["PYTHONPATH"] if env else procs.checkout_root())
        result["cost"] = self.cost()
        result["codec"] = self.codec()
        result["quota"] = self.quota()
        result["shown"] = self.shown()
        return result

    # Per-frame cost and memory ---------------------------------------

    def cost(self):
        rows = []
        for name, settings, path in VARIANTS:
            for code, env in self.codes:
                rows.append(self._cost_run(name, settings, path, code, env))
        rows.append(self._relay_run())
        return rows

    def _figures(self, run, memory):
        normal = run.get("normal") or {}
        fps = normal.get("fps_mean") or 0
        cpu = (run["server"].get("cpu") or 0) + (run.get("gphoto2_cpu") or 0)
        return {
            "fps": fps,
            "server_cpu": run["server"].get("cpu"),
            "camera_process_cpu": run.get("gphoto2_cpu"),
            "cpu_core": round(cpu, 3),
            "ms_per_frame": round(cpu / fps * 1e3, 2) if fps else None,
            "rss_mb": memory[0],
            "rss_peak_mb": memory[1],
            "pss_mb": memory[2],
            "latency_p50_ms": (normal.get("latency_ms") or {}).get("p50"),
            "frame_bytes": normal.get("frame_bytes"),
            "other_cpu": run.get("other_cpu"),
        }

    def _cost_run(self, name, settings, path, code, env):
        bench = self.bench
        bench.log("  %s, %s" % (name, code))
        camera = bench.camera()
        server = None
        try:
            server = self._server(camera, "pi-" + code, env, settings)
            watch = MemoryWatch(server.pid)
            try:
                run = bench.stream("pi-cost", [{"kind": "http",
                                                "path": path}],
                                   camera=camera, server=server)
            finally:
                memory = watch.stop()
            row = self._figures(run, memory)
        finally:
            if server is not None:
                server.stop()
            camera.stop()
        row.update(variant=name, code=code)
        bench.log("    %s fps, %s ms/frame, %s MB" % (
            row["fps"], row["ms_per_frame"], row["rss_mb"]))
        return row

    def codec(self):
        """
        libjpeg-turbo's own CPU per frame for each transform, alone, in a
        child of this checkout (L{fourcut.bench.codec}): the floor under
        the rows above.
        """
        self.bench.log("  libjpeg-turbo alone (python -m fourcut.bench.codec)")
        try:
            done = subprocess.run(
                [sys.executable, "-m", "fourcut.bench.codec"],
                env=procs.child_env(), stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, timeout=300, check=True)
            found = json.loads(done.stdout.decode("utf-8").splitlines()[-1])
        except (OSError, ValueError, IndexError,
                subprocess.SubprocessError) as e:
            self.bench.log("    failed: %s" % (e,))
            return {"error": str(e)}
        self.bench.log("    %s" % (found,))
        return found

    def _relay_run(self):
        bench = self.bench
        bench.log("  passthrough, the minimal relay")
        camera = bench.camera()
        server = None
        try:
            server = procs.start_relay(bench.workdir, camera,
                                       bench._name("pi-relay"))
            watch = MemoryWatch(server.pid)
            try:
                run = bench.stream("pi-relay", [{"kind": "http"}],
                                   camera=camera, server=server)
            finally:
                memory = watch.stop()
            row = self._figures(run, memory)
        finally:
            if server is not None:
                server.stop()
            camera.stop()
        row.update(variant="passthrough", code="relay")
        bench.log("    %s fps, %s ms/frame, %s MB" % (
            row["fps"], row["ms_per_frame"], row["rss_mb"]))
        return row

    # A quarter core -----------------------------------------------------

    def quota(self):
        why = CPUQuota.unavailable()
        if why:
            self.bench.log("  quota: skipped: " + why)
            return {"skipped": why}
        rows = []
        for code, env in self.codes:
            for limited in (False, True):
                rows.append(self._quota_run(code, env, limited))
        return {"quota": "%d/%d us" % QUOTA, "screens": 3, "runs": rows}

    def _quota_run(self, code, env, limited):
        bench = self.bench
        options = self.options
        bench.log("  three screens, seed 001 block, %s, %s" % (
            code, "a quarter core" if limited else "no quota"))
        camera = bench.camera()
        server = None
        group = None
        try:
            server = self._server(camera, "pi-quota-" + code, env,
                                  SEED_BLOCK)
            moved = None
            if limited:
                group = CPUQuota()
                moved = group.add_tree(server.pid)
            # Live view alone, then with captures: a capture stops live
            # view for a moment, which is not what the fps is about.
            live = bench.stream("pi-quota", [{"kind": "http"}] * 3,
                                camera=camera, server=server)
            run = bench.stream(
                "pi-quota-capture", [{"kind": "http"}] * 3, camera=camera,
                server=server, duration=options.capture_window,
                capture_at=options.capture_at)
            if limited:
                # What started since (the camera process) went in too.
                moved = sorted(set(moved) | set(group.add_tree(server.pid)))
                stat = group.throttled()
            else:
                stat = None
        finally:
            if server is not None:
                server.stop()
            camera.stop()
            if group is not None:
                group.remove()
        duration = options.duration
        fps = [len([r for r in c["recv_us"] if 0 <= r <= duration * 1e6])
               / duration
               for result in live.pop("_results")
               for c in result["clients"]]
        gaps = report.capture_gaps(run.pop("_results")) or {}
        captures = [c["capture_ms"] for c in gaps.get("captures", [])
                    if c.get("capture_ms") is not None]
        row = {
            "code": code, "limited": limited,
            "fps_min": round(min(fps), 1) if fps else None,
            "fps_mean": round(sum(fps) / len(fps), 1) if fps else None,
            "capture_ms": captures,
            "capture_median_ms": round(statistics.median(captures), 1)
            if captures else None,
            "captures_ok": gaps.get("all_ok"),
            "server_cpu": live["server"].get("cpu"),
            "camera_process_cpu": live.get("gphoto2_cpu"),
            "other_cpu": live.get("other_cpu"),
            "throttled": stat,
            "pids_in_group": moved,
        }
        bench.log("    fps min %s, mean %s; captures %s ms" % (
            row["fps_min"], row["fps_mean"], captures))
        return row

    # Frames shown on arrival ------------------------------------------

    def shown(self):
        rows = []
        for code, env in self.codes:
            rows.append(self._shown_run(code, env))
        why = netns.unavailable()
        if why:
            self.bench.log("  slow link: skipped: " + why)
            return {"loopback": rows, "slow": {"skipped": why}}
        try:
            lab = netns.Lab(links=1)
            lab.__enter__()
        except netns.Unavailable as e:
            return {"loopback": rows, "slow": {"skipped": str(e)}}
        slow = []
        try:
            lab.shape(4e6)
            for code, env in self.codes:
                slow.append(self._shown_run(code, env, lab))
        finally:
            lab.__exit__(None, None, None)
        return {"loopback": rows, "slow": slow}

    def _shown_run(self, code, env, lab=None):
        bench = self.bench
        bench.log("  frames shown at the next boundary, %s, %s" % (
            code, "4 Mbit/s link" if lab else "loopback"))
        camera = bench.camera()
        server = None
        try:
            if lab is None:
                server = self._server(camera, "pi-shown-" + code, env)
                client = {"kind": "http"}
            else:
                server = self._server(camera, "pi-shown-" + code, env,
                                      interface="0.0.0.0")
                client = {"kind": "http", "shaped": True,
                          "netns": lab.exec_argv(),
                          "host": lab.server_address(0),
                          "label": "http slow 4 Mbit/s"}
            run = bench.stream("pi-shown", [client], camera=camera,
                               server=server,
                               server_interface="0.0.0.0" if lab
                               else procs.LOOPBACK)
        finally:
            if server is not None:
                server.stop()
            camera.stop()
        row = shown_ages(run.pop("_results")) or {}
        row["code"] = code
        if lab is not None:
            group = next(iter(run["groups"].values()), {})
            figures = report.link_figures(group, 4e6, self.options.fps)
            row["ideal_ms"] = figures.get("ideal_ms")
            row["fps"] = figures.get("fps")
        bench.log("    age p90 on arrival %s ms, shown %s ms" % (
            (row.get("arrival_ms") or {}).get("p90"),
            (row.get("shown_ms") or {}).get("p90")))
        return row
