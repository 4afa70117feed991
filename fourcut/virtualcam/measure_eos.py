# -*- test-case-name: tests.virtualcam.test_eos_device -*-
"""
Time the real gphoto2 CLI against the virtual Canon EOS:

    python -m fourcut.virtualcam.measure_eos [--model 700D] [--profile realistic]

Prints how long C{--summary}, C{--list-config}, C{--capture-movie=5s} and
C{--capture-image-and-download} take (to RAM and to the card), and when,
during the capture, the picture was ready in the camera and its last byte
sent. (gphoto2's C{--stdout} to a pipe is block-buffered, so the photo only
appears on it as the process exits; the device side says when it was
complete.) Each gphoto2 gets an empty HOME of its own.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile

from twisted.internet import defer, protocol, task

from fourcut.stream.jpeg import JPEGSplitter
from fourcut.virtualcam.camera import GPHOTO2_MODEL, VirtualCamera
from fourcut.virtualcam.eosbodies import BODIES, PROFILES
from fourcut.virtualcam.scene import parse_frame_comment

__all__ = ["measure", "main"]


class _Child(protocol.ProcessProtocol):
    def __init__(self, reactor):
        self.reactor = reactor
        self.started = reactor.seconds()
        self.stdout = []
        self.stderr = b""
        self.ended = defer.Deferred()

    def outReceived(self, data):
        self.stdout.append(data)

    def errReceived(self, data):
        self.stderr += data

    def processEnded(self, reason):
        self.elapsed = self.reactor.seconds() - self.started
        self.ended.callback(self)


def _gphoto2(reactor, port, *args):
    home = tempfile.mkdtemp(prefix="gphoto2-home-")
    env = dict(os.environ, LANG="C", LC_ALL="C", LANGUAGE="C", HOME=home)
    child = _Child(reactor)
    executable = shutil.which("gphoto2")
    if executable is None:
        raise SystemExit("gphoto2 is not installed")
    reactor.spawnProcess(child, executable, [
        "gphoto2", "--camera", GPHOTO2_MODEL, "--port", port] + list(args),
        env=env)

    def clean(result):
        shutil.rmtree(home, ignore_errors=True)
        return result
    return child.ended.addBoth(clean)


async def measure(reactor, model, profile, out=sys.stdout):
    camera = VirtualCamera(reactor, personality="eos", body=model,
                           profile=profile)
    port = await camera.listen("tcp:0:interface=127.0.0.1")
    device = camera.device
    say = lambda text: print(text, file=out, flush=True)
    say("%s, %s profile, gphoto2 at %s" % (device.model, profile, port))
    try:
        for _ in range(3):
            child = await _gphoto2(reactor, port, "--summary")
            say("--summary: %.2f s" % (child.elapsed,))
        child = await _gphoto2(reactor, port, "--list-config")
        say("--list-config (init and EOS capture preparation): %.2f s"
            % (child.elapsed,))
        refused = device.not_ready_answers
        child = await _gphoto2(reactor, port, "--capture-movie=5s", "--stdout")
        frames = JPEGSplitter().feed(b"".join(child.stdout))
        stamps = [parse_frame_comment(f)[1] / 1e9 for f in frames]
        gaps = [b - a for a, b in zip(stamps, stamps[1:])]
        say("--capture-movie=5s: %d frames in %.2f s, %.1f fps once "
            "streaming (median gap %.1f ms), mean frame %d bytes, %d 0xA102 "
            "answers during the warm-up" % (
                len(frames), child.elapsed,
                (len(frames) - 1) / (stamps[-1] - stamps[0]),
                1000 * statistics.median(gaps),
                statistics.mean(map(len, frames)),
                device.not_ready_answers - refused))
        for target, extra in (("RAM", []), ("card", [
                "--set-config", "capturetarget=Memory card"])):
            for _ in range(2):
                before = len(device.capture_log)
                child = await _gphoto2(reactor, port, *extra,
                                       "--capture-image-and-download",
                                       "--stdout")
                entry = device.capture_log[before]
                start = child.started
                say("--capture-image-and-download to %s: process %.2f s; "
                    "release at %.2f s, picture ready %.2f s, last byte "
                    "sent %.2f s; %d bytes" % (
                        target, child.elapsed, entry["pressed"] - start,
                        entry["ready"] - start,
                        entry["downloaded"] - start,
                        sum(map(len, child.stdout))))
    finally:
        await camera.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m "
                                     "fourcut.virtualcam.measure_eos")
    parser.add_argument("--model", choices=sorted(BODIES), default="700D")
    parser.add_argument("--profile", choices=sorted(PROFILES),
                        default="realistic")
    args = parser.parse_args(argv)
    task.react(lambda reactor: defer.ensureDeferred(
        measure(reactor, args.model, args.profile)))


if __name__ == "__main__":
    main()
