# -*- test-case-name: tests.integration.test_virtualcam_gphoto2 -*-
"""
Run the virtual camera on its own:

    python -m fourcut.virtualcam --listen tcp:15740:interface=127.0.0.1
    python -m fourcut.virtualcam --usb /tmp/camera.sock
    python -m fourcut.virtualcam --personality eos --model 700D \
        --profile realistic
    python -m fourcut.virtualcam --usb /tmp/camera.sock --personality eos \
        --profile lifelike --evf-dies-after 180 --evf-cures toggle,session

It prints the gphoto2 port string once it listens; with C{--usb} it is a
USB camera at usb:001,007, and it also prints the environment (IOLIBS,
FOURCUT_VUSB_SOCKET) a gphoto2 in another shell needs to see it.
"""

import argparse
import json
import os
import sys

from twisted.internet import defer, task
from twisted.logger import globalLogBeginner, textFileLogObserver

from fourcut.virtualcam import usbport
from fourcut.virtualcam.camera import (DEFAULT_LISTEN, GPHOTO2_MODEL, PERSONALITIES,
                     VirtualCamera, VirtualUSBCamera)
from fourcut.virtualcam.eosbodies import BODIES, DEFAULT_BODY, DEFAULT_PROFILE, PROFILES

__all__ = ["parse_args", "run", "run_usb", "main", "stats", "STATS"]


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m fourcut.virtualcam",
        description="A virtual PTP/IP camera that gphoto2 drives over "
                    "loopback.")
    parser.add_argument("--listen", default=DEFAULT_LISTEN,
                        help="Twisted endpoint to listen on (default: "
                             "%(default)s)")
    parser.add_argument("--usb", metavar="SOCKET",
                        help="be a USB camera served on this Unix socket "
                             "(through fourcut's port library) instead of "
                             "a PTP/IP camera")
    parser.add_argument("--usb-ids", metavar="VID:PID",
                        help="USB ids to report, e.g. 04a9:3272 (Canon EOS "
                             "700D); default: none libgphoto2 knows, so the "
                             "camera is found by class")
    parser.add_argument("--personality", choices=PERSONALITIES,
                        default="generic",
                        help="what libgphoto2 sees: a generic PTP camera or "
                             "a Canon EOS (default: %(default)s)")
    parser.add_argument("--model", choices=sorted(BODIES),
                        default=DEFAULT_BODY,
                        help="EOS body (default: %(default)s)")
    parser.add_argument("--profile", choices=sorted(PROFILES),
                        default=DEFAULT_PROFILE,
                        help="EOS timing: fast for tests, realistic for a "
                             "body on USB 2.0 (default: %(default)s)")
    parser.add_argument("--fps", type=float, default=None,
                        help="live view frames per second; 0 = unpaced "
                             "(default: 30, or the body's own rate on the "
                             "lifelike profile)")
    parser.add_argument("--quality", type=int, default=85,
                        help="live view JPEG quality 1-95 (default: "
                             "%(default)s)")
    parser.add_argument("--shutter-delay", type=float, default=0.5,
                        help="seconds a capture takes (default: %(default)s)")
    parser.add_argument("--startup-delay", type=float, default=0.0,
                        help="fault: seconds before InitCommandAck")
    parser.add_argument("--capture-delay", type=float, default=0.0,
                        help="fault: extra seconds every capture takes")
    parser.add_argument("--fail-captures", type=int, default=0, metavar="N",
                        help="fault: the first N captures fail")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="fault: answer DeviceBusy to the first N "
                             "operations")
    parser.add_argument("--storage-full", action="store_true",
                        help="fault: the card is full")
    parser.add_argument("--unplugged", action="store_true",
                        help="fault: start unplugged (refuse every host)")
    parser.add_argument("--evf-dies-after", type=float, default=0.0,
                        metavar="SECONDS",
                        help="fault (EOS): live view stops delivering after "
                             "this many seconds, again after each revival; "
                             "stills keep working (default: never)")
    parser.add_argument("--evf-cures", default="toggle", metavar="LIST",
                        help="fault (EOS): what brings dead live view back, "
                             "one per death in turn, 'toggle' (EVF output "
                             "or mode off and on) or 'session' (only a new "
                             "session), e.g. toggle,toggle,session "
                             "(default: %(default)s)")
    parser.add_argument("--io-in-progress-after", type=float, default=None,
                        metavar="SECONDS",
                        help="fault (EOS): the first release of a session "
                             "more than this long after it opened answers "
                             "busy ('I/O in progress', an EOS 1300D)")
    parser.add_argument("--needs-viewfinder", action="store_true",
                        help="fault (EOS): no live view until the host "
                             "sets the EVF mode (viewfinder=1), as an EOS "
                             "750D")
    parser.add_argument("--stats-every", type=float, default=0.0,
                        metavar="SECONDS",
                        help="print the EOS body's counters as a JSON line "
                             "on stdout this often (0: never)")
    parser.add_argument("--quiet", action="store_true",
                        help="do not log to stderr")
    args = parser.parse_args(argv)
    if args.fps is not None and args.fps < 0:
        parser.error("--fps must be 0 or more")
    args.evf_cures = tuple(c.strip() for c in args.evf_cures.split(",")
                           if c.strip())
    if not args.evf_cures or set(args.evf_cures) - {"toggle", "session"}:
        parser.error("--evf-cures is a list of 'toggle' and 'session'")
    for name in ("evf_dies_after", "io_in_progress_after", "stats_every"):
        if (getattr(args, name) or 0) < 0:
            parser.error("--%s must not be negative"
                         % name.replace("_", "-"))
    if not 1 <= args.quality <= 95:
        parser.error("--quality must be between 1 and 95")
    if args.usb_ids is not None:
        try:
            vendor, product = (int(part, 16)
                               for part in args.usb_ids.split(":"))
        except ValueError:
            parser.error("--usb-ids must be VID:PID in hex, e.g. 04a9:3272")
        args.usb_ids = (vendor, product)
    for name in ("shutter_delay", "startup_delay", "capture_delay"):
        if getattr(args, name) < 0:
            parser.error("--%s must not be negative" % name.replace("_", "-"))
    return args


def _break_as_asked(camera, args):
    """
    The faults the command line asked for, from the start.
    """
    camera.slow_capture(args.capture_delay)
    camera.fail_captures(args.fail_captures)
    camera.busy(args.busy)
    camera.storage_full(args.storage_full)
    if args.unplugged:
        camera.unplug()
    device = camera.device
    if args.personality == "eos":
        device.evf_dies(args.evf_dies_after, args.evf_cures)
        device.io_in_progress_after(args.io_in_progress_after)
        device.needs_viewfinder(args.needs_viewfinder)


#: The EOS counters C{--stats-every} prints.
STATS = ("sessions_opened", "captures", "frames_served", "liveview_starts",
         "not_ready_answers", "early_answers", "deaths", "revived",
         "io_in_progress_answers", "mirror_left_up", "mirror_up")


def stats(device):
    """
    The EOS body's counters, for C{--stats-every}.
    """
    return {name: getattr(device, name) for name in STATS}


def _report_stats(reactor, camera, args):
    if not args.stats_every or args.personality != "eos":
        return

    def report():
        print(json.dumps({"stats": stats(camera.device),
                          "time": reactor.seconds()}), flush=True)
    loop = task.LoopingCall(report)
    loop.clock = reactor
    loop.start(args.stats_every, now=False)


def _say_body(camera, args):
    if args.personality == "eos":
        print("%s (USB %04x:%04x), %s profile" % (
            camera.device.model, camera.device.usb_ids[0],
            camera.device.usb_ids[1], args.profile),
            file=sys.stderr, flush=True)


async def run(reactor, args):
    if args.usb:
        await run_usb(reactor, args)
        return
    camera = VirtualCamera(reactor, fps=args.fps, quality=args.quality,
                           shutter_delay=args.shutter_delay,
                           startup_delay=args.startup_delay,
                           personality=args.personality, body=args.model,
                           profile=args.profile)
    _break_as_asked(camera, args)
    port = await camera.listen(args.listen)
    print(port, flush=True)
    _say_body(camera, args)
    _report_stats(reactor, camera, args)
    print("try: gphoto2 --camera %r --port %s --summary"
          % (GPHOTO2_MODEL, port), file=sys.stderr, flush=True)
    await defer.Deferred()  # until the process is told to stop


async def run_usb(reactor, args):
    camera = VirtualUSBCamera(reactor, fps=args.fps, quality=args.quality,
                              shutter_delay=args.shutter_delay,
                              usb_ids=args.usb_ids,
                              personality=args.personality, body=args.model,
                              profile=args.profile)
    _break_as_asked(camera, args)
    path = os.path.abspath(args.usb)
    if os.path.exists(path):
        os.unlink(path)     # a socket left by an earlier run
    port = await camera.listen(path)
    env = camera.env(base={})
    print(port, flush=True)
    _say_body(camera, args)
    _report_stats(reactor, camera, args)
    print("try: env IOLIBS=%s %s=%s HOME=$(mktemp -d) gphoto2 "
          "--auto-detect --summary"
          % (env["IOLIBS"], usbport.SOCKET_ENV, env[usbport.SOCKET_ENV]),
          file=sys.stderr, flush=True)
    try:
        await defer.Deferred()
    finally:
        await camera.stop()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.quiet:
        globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)],
                                        redirectStandardIO=False)
    task.react(lambda reactor: defer.ensureDeferred(run(reactor, args)))


if __name__ == "__main__":
    main()
