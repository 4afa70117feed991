"""
Figures for the camera worker against the virtual camera, beside what
fourcut does today (a gphoto2 child per operation):

    python -m tests.support.worker_figures [--captures N] [--settings N]

  - capture during live view: the time from the request to the photo, and
    the largest gap between two live view frames around it; through the
    worker (one session held), and as L{fourcut.camera.session} does it today
    (stop C{gphoto2 --capture-movie}, run C{gphoto2
    --capture-image-and-download}, start live view again and wait for its
    first frame); each with and without a per-capture ISO (today: a
    C{--get-config} child, a camconfig C{apply} child before and one
    after); camera sessions opened per capture, counted by the camera;
  - a setting read and write: inside the worker (and the live view gap it
    causes) and through a camconfig child.

Not a test: it prints a table. Run it on a quiet machine.
"""

import argparse
import json
import statistics
import sys
import time

from twisted.internet import defer, task

from fourcut.camera import processes
from fourcut.camera.workerclient import WorkerClient
from fourcut.camera.gphoto2 import GPhoto2
from fourcut.camera.cli import LiveViewProtocol
from fourcut.camera.settings import CameraSettings
from fourcut.virtualcam.camera import GPHOTO2_MODEL, VirtualCamera


class Gaps:
    """
    Arrival times of live view frames.
    """

    def __init__(self, reactor):
        self.reactor = reactor
        self.times = []

    def frame(self, *args):
        self.times.append(self.reactor.seconds())

    def largest(self, start, end):
        """
        The largest gap between frames (or the window's ends) that
        overlaps C{start} .. C{end}.
        """
        before = [t for t in self.times if t <= start]
        inside = [t for t in self.times if start < t <= end]
        after = [t for t in self.times if t > end]
        points = before[-1:] + inside + after[:1]
        return max(b - a for a, b in zip(points, points[1:]))


def sleep(reactor, seconds):
    return task.deferLater(reactor, seconds, lambda: None)


def ms(seconds):
    return "%6.0f ms" % (seconds * 1000,)


def summary(values):
    return "median %s  max %s" % (ms(statistics.median(values)),
                                  ms(max(values)))


#: A bare python-gphoto2 session held across live view and captures,
#: the anchor: no protocol, no server; prints JSON.
BARE = r"""
import json, sys, time
import gphoto2 as gp
port, model, captures, iso = sys.argv[1:5]
captures = int(captures)
camera = gp.Camera()
ports = gp.PortInfoList(); ports.load()
camera.set_port_info(ports[ports.lookup_path(port)])
abilities = gp.CameraAbilitiesList(); abilities.load()
camera.set_abilities(abilities[abilities.lookup_model(model)])
camera.init()
def frames(seconds):
    end = time.monotonic() + seconds
    last = None
    while time.monotonic() < end:
        camera.capture_preview()
        last = time.monotonic()
    return last
times, gaps = [], []
frames(1.0)
for _ in range(captures):
    before = frames(0.5)
    start = time.monotonic()
    if iso != "-":
        widget = camera.get_single_config("iso")
        old = widget.get_value()
        widget.set_value(iso)
        camera.set_single_config("iso", widget)
    path = camera.capture(gp.GP_CAPTURE_IMAGE)
    data = camera.file_get(path.folder, path.name, gp.GP_FILE_TYPE_NORMAL)
    if iso != "-":
        widget.set_value(old)
        camera.set_single_config("iso", widget)
    end = time.monotonic()
    camera.capture_preview()
    after = time.monotonic()
    times.append(end - start)
    gaps.append(after - before)
    camera.file_delete(path.folder, path.name)
camera.exit()
print(json.dumps({"times": times, "gaps": gaps}))
"""


async def bare(reactor, gphoto2, captures, iso):
    env = dict(gphoto2.env(python=True))
    result = await processes.run(reactor, [
        sys.executable, "-c", BARE, gphoto2.port, gphoto2.model,
        str(captures), str(iso) if iso else "-"], 120, env=env)
    assert result.ok, result
    return json.loads(result.stdout)


class CLILiveView:
    """
    Live view as fourcut runs it today: a C{gphoto2 --capture-movie
    --stdout} child.
    """

    def __init__(self, reactor, gphoto2, on_frame):
        self.reactor = reactor
        self.gphoto2 = gphoto2
        self.on_frame = on_frame
        self.protocol = None
        self.transport = None

    def start(self):
        self.protocol = LiveViewProtocol(lambda data, when: self.on_frame())
        self.transport = self.reactor.spawnProcess(
            self.protocol, self.gphoto2.executable,
            self.gphoto2.argv("--capture-movie", "--stdout"),
            env=self.gphoto2.env())
        return self.protocol.started

    def stop(self):
        ended = defer.Deferred()
        self.protocol.ended.addBoth(lambda r: (ended.callback(None), r)[1])
        return processes.stop(self.reactor, self.transport, ended)


async def cli_capture(reactor, gphoto2, settings, live, iso):
    """
    One capture the way L{fourcut.camera.session.CameraSession} does it.
    """
    await live.stop()
    if iso is not None:
        result = await processes.run(reactor, gphoto2.argv(
            "--get-config", "iso"), 30, env=gphoto2.env())
        old = [line[len("Current: "):] for line in
               result.stdout.decode().splitlines()
               if line.startswith("Current: ")][0]
        await settings.apply([("iso", iso)])
    result = await processes.run(reactor, gphoto2.argv(
        "--capture-image-and-download", "--stdout", "--keep"), 60,
        env=gphoto2.env())
    assert result.ok and result.stdout[:2] == b"\xff\xd8", result
    if iso is not None:
        await settings.apply([("iso", old)])
    photo_at = reactor.seconds()
    await live.start()
    return photo_at


async def figures(reactor, captures, settings_runs, startup_delay,
                  options):
    camera = VirtualCamera(reactor, startup_delay=startup_delay, **options)
    port = await camera.listen("tcp:0:interface=127.0.0.1")
    gphoto2 = GPhoto2(port, GPHOTO2_MODEL)
    rows = []

    # The anchor: bare python-gphoto2 ------------------------------------
    for label, iso in (("bare session", None),
                       ("bare session, ISO 1600", 1600)):
        before = camera.sessions_opened
        found = await bare(reactor, gphoto2, captures, iso)
        rows.append((label, found["times"], found["gaps"],
                     [(camera.sessions_opened - before - 1) / captures]))

    # The worker ---------------------------------------------------------
    gaps = Gaps(reactor)
    worker = WorkerClient(reactor, gphoto2,
                          on_frame=lambda *a: gaps.frame())
    await worker.start()
    await worker.live_view(True)
    await sleep(reactor, 1.0)
    for label, iso in (("worker", None), ("worker, ISO 1600", 1600)):
        times, holes, sessions = [], [], []
        for _ in range(captures):
            before = camera.sessions_opened
            start = reactor.seconds()
            photo = await worker.capture([("iso", iso)] if iso else [])
            end = reactor.seconds()
            assert photo["data"][:2] == b"\xff\xd8"
            await sleep(reactor, 0.7)
            times.append(end - start)
            holes.append(gaps.largest(start, end))
            sessions.append(camera.sessions_opened - before)
            await worker.delete(photo["path"])
        rows.append((label, times, holes, sessions))

    # Settings inside the worker, during live view.
    setting_rows = []
    for label, call in (
            ("get iso, worker", lambda i: worker.get("imgsettings", "iso")),
            ("set iso, worker", lambda i: worker.set(
                "imgsettings", "iso", ("800", "400")[i % 2]))):
        times, holes = [], []
        for i in range(settings_runs):
            start = reactor.seconds()
            await call(i)
            end = reactor.seconds()
            await sleep(reactor, 0.2)
            times.append(end - start)
            holes.append(gaps.largest(start, end))
        setting_rows.append((label, times, holes))
    frames_before = len(gaps.times)
    start = reactor.seconds()
    await sleep(reactor, 3.0)
    fps = (len(gaps.times) - frames_before) / (reactor.seconds() - start)
    await worker.stop()

    # Today: the gphoto2 CLI ---------------------------------------------
    settings = CameraSettings(reactor, gphoto2)
    gaps = Gaps(reactor)
    live = CLILiveView(reactor, gphoto2, gaps.frame)
    await live.start()
    await sleep(reactor, 1.0)
    for label, iso in (("CLI (today)", None), ("CLI, ISO 1600", 1600)):
        times, holes, sessions = [], [], []
        for _ in range(captures):
            before = camera.sessions_opened
            start = reactor.seconds()
            photo_at = await cli_capture(reactor, gphoto2, settings, live,
                                         iso)
            resumed = reactor.seconds()
            await sleep(reactor, 0.7)
            times.append(photo_at - start)
            holes.append(gaps.largest(start, resumed))
            # Less the live view restarted after it.
            sessions.append(camera.sessions_opened - before - 1)
        rows.append((label, times, holes, sessions))
    frames_before = len(gaps.times)
    start = reactor.seconds()
    await sleep(reactor, 3.0)
    cli_fps = (len(gaps.times) - frames_before) / (reactor.seconds() - start)
    await live.stop()

    for label, call in (
            ("get iso, camconfig child",
             lambda i: settings.get("imgsettings", "iso")),
            ("set iso, camconfig child", lambda i: settings.set(
                "imgsettings", "iso", ("800", "400")[i % 2]))):
        times = []
        for i in range(settings_runs):
            start = reactor.seconds()
            await call(i)
            times.append(reactor.seconds() - start)
        setting_rows.append((label, times, None))

    await camera.stop()

    print("Virtual camera over PTP/IP (%s, %g s to acknowledge a host), "
          "%d captures each, %s"
          % (", ".join("%s=%s" % item for item in sorted(options.items()))
             or "30 fps, 0.5 s shutter", startup_delay, captures,
             time.strftime("%Y-%m-%d %H:%M")))
    print()
    print("%-24s %-32s %-32s %s" % ("capture", "request to photo",
                                    "largest live view gap",
                                    "sessions/capture"))
    for label, times, holes, sessions in rows:
        print("%-24s %-32s %-32s %s" % (label, summary(times),
                                        summary(holes),
                                        statistics.mean(sessions)))
    print()
    print("%-26s %-32s %s" % ("setting", "request to answer",
                              "largest live view gap"))
    for label, times, holes in setting_rows:
        print("%-26s %-32s %s" % (label, summary(times),
                                  summary(holes) if holes else "(live view "
                                  "must stop: the camera is the child's)"))
    print()
    print("live view: worker %.1f fps, CLI %.1f fps" % (fps, cli_fps))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.support.worker_figures")
    parser.add_argument("--captures", type=int, default=5)
    parser.add_argument("--settings", type=int, default=10)
    parser.add_argument("--startup-delay", type=float, default=0.0,
                        help="seconds the camera takes to acknowledge a "
                        "host (a real body's initialisation is about 1 s)")
    parser.add_argument("--camera", action="append", default=[],
                        metavar="OPTION=VALUE",
                        help="an option of the VirtualCamera (such as "
                        "personality=eos, profile=realistic where the "
                        "camera has them); repeatable")
    args = parser.parse_args(argv)
    options = {}
    for text in args.camera:
        key, _, value = text.partition("=")
        try:
            value = float(value)
        except ValueError:
            pass
        options[key] = value
    task.react(lambda reactor: defer.ensureDeferred(
        figures(reactor, args.captures, args.settings, args.startup_delay,
                options)))


if __name__ == "__main__":
    main(sys.argv[1:])
