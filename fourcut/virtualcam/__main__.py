"""
Run the virtual camera on its own:

    python -m fourcut.virtualcam --listen tcp:15740:interface=127.0.0.1
    python -m fourcut.virtualcam --personality eos --model 700D \
        --profile realistic

It prints the gphoto2 port string once it listens.
"""

import argparse
import sys

from twisted.internet import defer, task
from twisted.logger import globalLogBeginner, textFileLogObserver

from .camera import DEFAULT_LISTEN, GPHOTO2_MODEL, PERSONALITIES, VirtualCamera
from .eosbodies import BODIES, DEFAULT_BODY, DEFAULT_PROFILE, PROFILES


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m fourcut.virtualcam",
        description="A virtual PTP/IP camera that gphoto2 drives over "
                    "loopback.")
    parser.add_argument("--listen", default=DEFAULT_LISTEN,
                        help="Twisted endpoint to listen on (default: "
                             "%(default)s)")
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
    parser.add_argument("--fps", type=float, default=30.0,
                        help="live view frames per second; 0 = unpaced "
                             "(default: %(default)s)")
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
    parser.add_argument("--quiet", action="store_true",
                        help="do not log to stderr")
    args = parser.parse_args(argv)
    if args.fps < 0:
        parser.error("--fps must be 0 or more")
    if not 1 <= args.quality <= 95:
        parser.error("--quality must be between 1 and 95")
    for name in ("shutter_delay", "startup_delay", "capture_delay"):
        if getattr(args, name) < 0:
            parser.error("--%s must not be negative" % name.replace("_", "-"))
    return args


async def run(reactor, args):
    camera = VirtualCamera(reactor, fps=args.fps, quality=args.quality,
                           shutter_delay=args.shutter_delay,
                           startup_delay=args.startup_delay,
                           personality=args.personality, body=args.model,
                           profile=args.profile)
    camera.slow_capture(args.capture_delay)
    camera.fail_captures(args.fail_captures)
    camera.busy(args.busy)
    camera.storage_full(args.storage_full)
    if args.unplugged:
        camera.unplug()
    port = await camera.listen(args.listen)
    print(port, flush=True)
    if args.personality == "eos":
        print("%s (USB %04x:%04x), %s profile" % (
            camera.device.model, camera.device.usb_ids[0],
            camera.device.usb_ids[1], args.profile),
            file=sys.stderr, flush=True)
    print("try: gphoto2 --camera %r --port %s --summary"
          % (GPHOTO2_MODEL, port), file=sys.stderr, flush=True)
    await defer.Deferred()  # until the process is told to stop


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.quiet:
        globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)],
                                        redirectStandardIO=False)
    task.react(lambda reactor: defer.ensureDeferred(run(reactor, args)))


if __name__ == "__main__":
    main()
