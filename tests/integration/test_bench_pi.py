"""
Tests of the benchmark's C{pi} scenario (L{fourcut.bench.pi}, issue 23),
cheap and in memory: the cgroup it makes (on a directory standing in for
the cgroup file system), the frame ages of a boundary-cutting reader, its
targets and report lines on figures given here; and the benchmark client's
record of when the boundary after a frame came.
"""

import os
import shutil
import sys
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from fourcut.bench import clients, pi, report
from fourcut.virtualcam.scene import com_segment, frame_comment


def _fake_cgroup_root(testcase):
    root = tempfile.mkdtemp(prefix="fourcut-test-cgroup-")
    testcase.addCleanup(shutil.rmtree, root, True)
    for name in ("cpu.cfs_quota_us", "cgroup.procs"):
        with open(os.path.join(root, name), "w") as f:
            f.write("")
    return root


class CPUQuotaTests(SynchronousTestCase):
    def test_made_and_removed(self):
        """
        The group gets the quarter-core quota, takes a process, and is
        removed, its processes handed back to the root group first.
        """
        root = _fake_cgroup_root(self)
        self.assertIsNone(pi.CPUQuota.unavailable(root))
        real_mkdir = os.mkdir

        def mkdir(path):
            # The kernel makes a group's files; a plain directory has none.
            real_mkdir(path)
            for name in ("cgroup.procs", "cpu.stat"):
                with open(os.path.join(path, name), "w") as f:
                    f.write("nr_throttled 3\n" if name == "cpu.stat" else "")
        self.patch(pi.os, "mkdir", mkdir)
        self.patch(pi.procs, "children_of", lambda pid: {})
        removed = []
        self.patch(pi.os, "rmdir", removed.append)
        group = pi.CPUQuota(root=root)
        with open(os.path.join(group.path, "cpu.cfs_quota_us")) as f:
            self.assertEqual(f.read(), "25000\n")
        with open(os.path.join(group.path, "cpu.cfs_period_us")) as f:
            self.assertEqual(f.read(), "100000\n")
        self.assertEqual(group.add_tree(4242), [4242])
        self.assertEqual(group.throttled(), {"nr_throttled": 3})
        with open(os.path.join(group.path, "cgroup.procs"), "w") as f:
            f.write("4242\n")
        group.remove()
        with open(os.path.join(root, "cgroup.procs")) as f:
            self.assertEqual(f.read(), "4242\n")
        self.assertEqual(removed, [group.path])

    def test_unavailable(self):
        self.assertIn("no cgroup v1 cpu controller",
                      pi.CPUQuota.unavailable("/nonexistent"))


class ShownAgesTests(SynchronousTestCase):
    def test_ages(self):
        """
        A frame is shown when the boundary after it came; frames whose
        boundary never came are left out.
        """
        result = {"clients": [{
            "sent_us": [0, 33000, 66000, 99000],
            "recv_us": [10000, 43000, 76000, 109000],
            "shown_us": [43500, 76500, 109500, None]}]}
        ages = pi.shown_ages([result])
        self.assertEqual(ages["frames"], 3)
        self.assertEqual(ages["arrival_ms"]["p90"], 10.0)
        self.assertEqual(ages["shown_ms"]["p90"], 43.5)
        self.assertEqual(ages["p90_gap_ms"], 33.5)
        self.assertIsNone(pi.shown_ages([{"clients": [{
            "sent_us": [0], "recv_us": [1]}]}]))


class RecorderTests(SynchronousTestCase):
    def test_shown(self):
        """
        The client records when the boundary after a parsed frame came,
        once.
        """
        recorder = clients.Recorder(0, "http")
        recorder.shown(5)              # no frame yet: nothing to show
        self.assertFalse(recorder.frame(b"not a frame", 10, 100))
        prefix = b"\xff\xd8" + com_segment(frame_comment(7, 1000))
        self.assertTrue(recorder.frame(prefix, 10, 2000))
        recorder.shown(3000)
        recorder.shown(4000)
        self.assertEqual(list(recorder.shown_ns), [3000])
        self.assertEqual(recorder.result(0)["shown_us"], [3])


def _cost(variant, code, ms):
    return {"variant": variant, "code": code, "fps": 30.0,
            "ms_per_frame": ms, "rss_mb": 58.0 if code == "now" else 90.0,
            "pss_mb": 44.5 if code == "now" else 70.0, "other_cpu": 0.1}


FIGURES = {
    "codes": ["baseline", "now"],
    "cost": [_cost("passthrough", "baseline", 2.0),
             _cost("passthrough", "now", 2.0),
             _cost("preview_flip", "now", 5.0),
             _cost("seed 001 block", "now", 8.0),
             _cost("width 480", "now", 3.0)],
    "quota": {"quota": "25000/100000 us", "runs": [
        {"code": "now", "limited": False, "fps_min": 30.0,
         "capture_median_ms": 600.0, "captures_ok": True, "other_cpu": 0.1},
        {"code": "now", "limited": True, "fps_min": 29.5,
         "capture_median_ms": 700.0, "captures_ok": True,
         "other_cpu": 0.1}]},
    "shown": {"loopback": [{"code": "now", "p90_gap_ms": 0.4,
                            "arrival_ms": {"p90": 9}, "shown_ms": {
                                "p50": 5, "p90": 9.4}}],
              "slow": {"skipped": "not root"}},
    "codec": {"frame_bytes": 169800, "preview_flip": 3.0,
              "seed 001 block": 3.5, "width 480": 2.25,
              "entropy decoding": 1.75},
}


class TargetsTests(SynchronousTestCase):
    def test_targets(self):
        """
        Each of issue 23's targets, judged on the figures.
        """
        found = {t["target"]: t["pass"] for t in report.evaluate(
            {"pi": FIGURES}) if t["scenario"] == "issue 23"}
        self.assertEqual(found, {
            "CPU per frame, preview_flip / passthrough": True,
            "CPU per frame, seed 001 block / passthrough": False,
            "CPU per frame, width 480 / passthrough": True,
            "server + camera process RSS, one screen": True,
            "three screens, seed 001 block, a quarter core: every "
            "screen's fps": True,
            "capture during live view, a quarter core - unconstrained "
            "(median)": True,
            "boundary reader: shown - arrival age p90, loopback": True,
        })

    def test_lines(self):
        text = "\n".join(report._pi_lines(FIGURES))
        self.assertIn("seed 001 block", text)
        self.assertIn("25000/100000 us", text)
        self.assertIn("slow: skipped: not root", text)
        self.assertIn("PSS MB", text)
        self.assertIn("44.5", text)

    def test_codec_floor(self):
        """
        libjpeg-turbo's own cost beside passthrough: the lowest ratio each
        transform could have, next to the measured one.
        """
        import re
        lines = report._pi_codec_lines(FIGURES)
        rows = {}
        for line in lines[0].splitlines()[2:]:
            cells = re.split(r"\s{2,}", line.strip())
            rows[cells[0]] = [float(cell) for cell in cells[1:]]
        self.assertEqual(rows, {"preview_flip": [3.0, 2.0, 2.5, 2.5],
                                "seed 001 block": [3.5, 2.0, 2.75, 4.0],
                                "width 480": [2.25, 2.0, 2.12, 1.5]})
        self.assertIn("entropy decoding alone: 1.75 ms", lines[1])
        self.assertEqual(report._pi_codec_lines({"codec": {"error": "x"}}),
                         ["  libjpeg-turbo alone: x"])

    def test_codec_measures(self):
        """
        C{python -m fourcut.bench.codec} times each transform on the
        virtual camera's frames and prints it as JSON.
        """
        import json
        import subprocess
        import sys
        from tests.support import ROOT
        done = subprocess.run([sys.executable, "-m", "fourcut.bench.codec",
                               "4"], cwd=ROOT, stdout=subprocess.PIPE,
                              timeout=120, check=True)
        found = json.loads(done.stdout.decode("utf-8"))
        self.assertEqual(sorted(found), [
            "entropy decoding", "frame_bytes", "preview_flip",
            "seed 001 block", "width 480"])
        self.assertGreater(found["frame_bytes"], 50000)
        for name in ("preview_flip", "seed 001 block", "width 480",
                     "entropy decoding"):
            self.assertGreater(found[name], 0, name)

    def test_memory_watch(self):
        """
        The watch samples a process's resident and proportional sizes;
        the proportional one counts shared pages once, so it is smaller.
        """
        import os
        import time
        from fourcut.bench.pi import MemoryWatch
        watch = MemoryWatch(os.getpid())
        time.sleep(0.3)
        last, peak, proportional = watch.stop()
        self.assertGreater(last, 10)
        self.assertGreaterEqual(peak, last)
        self.assertGreater(proportional, 1)
        self.assertLess(proportional, last)


class CompiledTests(SynchronousTestCase):
    def test_byte_compiles_the_package(self):
        """
        L{pi.compiled} writes the checkout's bytecode, as installing it
        does, even where C{PYTHONDONTWRITEBYTECODE} is set.
        """
        root = self.mktemp()
        package = os.path.join(root, "fourcut")
        os.makedirs(os.path.join(package, "camera"))
        for name in ("__init__.py", os.path.join("camera", "__init__.py")):
            with open(os.path.join(package, name), "w") as f:
                f.write("X = 1\n")
        self.patch(sys, "dont_write_bytecode", True)
        pi.compiled(root)
        tag = sys.implementation.cache_tag
        for where in (package, os.path.join(package, "camera")):
            self.assertTrue(os.path.exists(os.path.join(
                where, "__pycache__", "__init__.%s.pyc" % (tag,))), where)
