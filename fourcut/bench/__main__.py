# -*- test-case-name: tests.integration.test_bench -*-
"""
C{python -m fourcut.bench}: run the benchmark, print the tables, optionally
write JSON (C{--json PATH}) and a chart (C{--plot PATH}, needs matplotlib).

C{--smoke} runs every scenario with tiny counts and windows in a few
seconds, to keep the tool working (CI runs it); its figures mean nothing.
"""

import argparse
import datetime
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time

from fourcut.bench import night, procs, report
from fourcut.bench.pi import PiBudget
from fourcut.bench.scenarios import Bench, describe_error

__all__ = ["rates", "counts", "parse_args", "public", "run", "main"]

SCENARIOS = ("fanout", "json", "headroom", "capture", "slow", "eos",
             "session", "slowlink", "relay", "pi", "night")

#: Scenarios run only when named in C{--only}: C{pi} (issue 23) takes
#: minutes, wants root (its cgroup and network namespaces) and a
#: C{--baseline} checkout to be worth reading; the night (issue 24) takes
#: 30 minutes.
ASKED_ONLY = ("pi", "night")

#: Seconds between captures during live view.
LIVE_SPACING = 3.0


def rates(text):
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of Mbit/s")
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError("rates must be more than 0")
    return values


def counts(text):
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of numbers")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("client counts must be 1 or more")
    return values


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m fourcut.bench",
        description="Benchmark fourcut against the bare gphoto2 CLI with "
                    "the virtual camera: fan-out, latency, headroom, "
                    "capture and slow clients.")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny counts and windows, a few seconds per "
                             "scenario: checks the tool works (CI)")
    parser.add_argument("--clients", type=counts, default=None,
                        help="fan-out client counts (default 1,10,50,100; "
                             "smoke 1,4)")
    parser.add_argument("--json-clients", type=int, default=None,
                        help="clients in the WebSocket JSON run, half "
                             "HTTP, half JSON; 0 skips it (default 100)")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds measured per run (default 15)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds after every client has its first "
                             "frame before measuring (default 1.5)")
    parser.add_argument("--tail", type=float, default=None,
                        help="seconds clients keep reading after the window "
                             "so its last frames arrive (default 0.5)")
    parser.add_argument("--camera", choices=("eos", "ptpip"), default="eos",
                        help="the virtual camera of every scenario: eos, a "
                             "Canon EOS 700D on the USB path, auto-detected "
                             "as a booth's body is (default), or ptpip, the "
                             "generic PTP/IP camera of earlier runs (the "
                             "eos and session scenarios always use the "
                             "EOS)")
    parser.add_argument("--camera-profile", choices=("realistic", "fast"),
                        default=None,
                        help="the EOS's timing (default realistic; smoke "
                             "fast)")
    parser.add_argument("--fps", type=float, default=30.0,
                        help="virtual camera frame rate (default 30)")
    parser.add_argument("--headroom-duration", type=float, default=None,
                        help="seconds per headroom run (default 3)")
    parser.add_argument("--headroom-rounds", type=int, default=2,
                        help="headroom rounds of bare, fourcut, fourcut, "
                             "bare runs (default 2)")
    parser.add_argument("--captures", type=int, default=None,
                        help="idle captures of each kind (default 5)")
    parser.add_argument("--live-captures", type=int, default=None,
                        help="captures taken while a client watches live "
                             "view, %g s apart (default 3)" % LIVE_SPACING)
    parser.add_argument("--slow", type=int, default=None,
                        help="slow clients (default 10)")
    parser.add_argument("--slow-normal", type=int, default=None,
                        help="normal clients beside them (default 50)")
    parser.add_argument("--slowlink-rates", type=rates, default=None,
                        help="download rates of the slow links, Mbit/s "
                             "(default 2,4,8; smoke 8)")
    parser.add_argument("--slowlink-fast", type=int, default=None,
                        help="fast clients beside the slow ones (default "
                             "10; smoke 2)")
    parser.add_argument("--slowlink-many", type=int, default=None,
                        help="fast clients in the run beside slow links at "
                             "4 Mbit/s; 0 skips it (default 100; smoke 0)")
    parser.add_argument("--relay-clients", type=int, default=None,
                        help="multipart clients of the relay and of fourcut "
                             "in the relay scenario (default 100; smoke 4)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs of each fan-out, JSON and slow-client "
                             "measurement; the one with the median p99 is "
                             "reported (default 3; smoke 1)")
    parser.add_argument("--client-procs", default="auto",
                        help="client processes per run, or 'auto' (one per "
                             "60 clients, at most 2)")
    parser.add_argument("--night-duration", type=float, default=None,
                        help="seconds the night scenario runs (default "
                             "1800; smoke 20)")
    parser.add_argument("--night-die-every", type=float, default=None,
                        help="seconds of live view after which the body's "
                             "live view dies, each time (default 180; "
                             "smoke 6)")
    parser.add_argument("--night-cures", default="toggle,toggle,session",
                        help="what brings each death back in turn "
                             "(default: %(default)s)")
    parser.add_argument("--night-screens", type=int, default=3,
                        help="screens watching /preview (default 3)")
    parser.add_argument("--night-capture-every", type=float, default=None,
                        help="seconds between GET /capture (default 15; "
                             "smoke 5)")
    parser.add_argument("--night-sequence-every", type=float, default=None,
                        help="seconds between four-shot POST /sequence "
                             "(default 60; smoke 12)")
    parser.add_argument("--night-io-after", type=float, default=5.0,
                        help="the body answers busy to a session's first "
                             "capture this long after it opened, as an EOS "
                             "1300D (default 5; negative: never)")
    parser.add_argument("--baseline", metavar="PATH", default=None,
                        help="pi scenario: the root of another checkout of "
                             "fourcut (e.g. before issue 23) whose server "
                             "is measured beside this one's, side by side")
    parser.add_argument("--only", default=",".join(
                            s for s in SCENARIOS if s not in ASKED_ONLY),
                        help="scenarios to run (default: %(default)s; "
                             "also: " + ", ".join(ASKED_ONLY) + ")")
    parser.add_argument("--json", metavar="PATH",
                        help="write the results as JSON")
    parser.add_argument("--plot", metavar="PATH",
                        help="write a PNG chart (needs matplotlib)")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the children's logs and raw results")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress lines on stderr")
    args = parser.parse_args(argv)
    smoke = args.smoke
    defaults = {
        "clients": [1, 4] if smoke else [1, 10, 50, 100],
        "json_clients": 4 if smoke else 100,
        "duration": 1.0 if smoke else 15.0,
        "warmup": 0.2 if smoke else 1.5,
        "tail": 0.3 if smoke else 0.5,
        "headroom_duration": 1.0 if smoke else 3.0,
        "captures": 1 if smoke else 5,
        "live_captures": 1 if smoke else 3,
        "slow": 2 if smoke else 10,
        "slow_normal": 2 if smoke else 50,
        "repeat": 1 if smoke else 3,
        "slowlink_rates": [8.0] if smoke else [2.0, 4.0, 8.0],
        "slowlink_fast": 2 if smoke else 10,
        "slowlink_many": 0 if smoke else 100,
        "relay_clients": 4 if smoke else 100,
        "camera_profile": "fast" if smoke else "realistic",
        "night_duration": 20.0 if smoke else 1800.0,
        "night_die_every": 6.0 if smoke else 180.0,
        "night_capture_every": 5.0 if smoke else 15.0,
        "night_sequence_every": 12.0 if smoke else 60.0,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    first = 0.3 if smoke else 0.5
    args.capture_at = [first + LIVE_SPACING * i
                       for i in range(args.live_captures)]
    args.capture_window = first + LIVE_SPACING * args.live_captures - (
        0.8 if smoke else 0.5)
    args.ready_timeout = 30.0
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        parser.error("unknown scenarios: %s" % ", ".join(sorted(unknown)))
    args.only = only
    if args.baseline is not None and not os.path.isfile(os.path.join(
            args.baseline, "fourcut", "tap.py")):
        parser.error("--baseline must be the root of a fourcut checkout "
                     "(no fourcut/tap.py in %s)" % (args.baseline,))
    if args.night_io_after < 0:
        args.night_io_after = None
    if (args.night_duration <= 0 or args.night_die_every <= 0
            or args.night_screens < 1 or args.night_capture_every <= 0
            or args.night_sequence_every <= 0):
        parser.error("the --night-* durations must be more than 0, "
                     "--night-screens 1 or more")
    for name in ("duration", "headroom_duration"):
        if getattr(args, name) <= 0:
            parser.error("--%s must be more than 0" % name.replace("_", "-"))
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    if args.slowlink_fast < 1 or args.slowlink_many < 0 \
            or args.relay_clients < 1:
        parser.error("--slowlink-fast and --relay-clients must be 1 or "
                     "more, --slowlink-many 0 or more")
    if args.headroom_rounds < 1:
        parser.error("--headroom-rounds must be 1 or more")
    if args.captures < 1 or args.live_captures < 1:
        parser.error("--captures and --live-captures must be 1 or more")
    if args.client_procs != "auto":
        try:
            if int(args.client_procs) < 1:
                raise ValueError
        except ValueError:
            parser.error("--client-procs must be 'auto' or a number >= 1")
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        parser.error("--plot needs matplotlib: pip install matplotlib "
                     "(or pip install 'fourcut[bench]')")
    return args


def public(value):
    """
    Results without the raw per-frame data (keys starting with _).
    """
    if isinstance(value, dict):
        return {k: public(v) for k, v in value.items()
                if not k.startswith("_")}
    if isinstance(value, list):
        return [public(v) for v in value]
    return value


def run(args):
    log = (lambda text: None) if args.quiet else (
        lambda text: print("[%s] %s" % (time.strftime("%H:%M:%S"), text),
                           file=sys.stderr, flush=True))
    workdir = tempfile.mkdtemp(prefix="fourcut-bench-")
    started = time.time()
    results = {
        "tool": "python -m fourcut.bench",
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "machine": procs.machine(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "config": {
            "smoke": args.smoke, "fps": args.fps, "clients": args.clients,
            "camera": args.camera, "camera_profile": args.camera_profile,
            "json_clients": args.json_clients, "duration": args.duration,
            "warmup": args.warmup, "tail": args.tail,
            "headroom_duration": args.headroom_duration,
            "headroom_rounds": args.headroom_rounds,
            "captures": args.captures, "live_captures": args.live_captures,
            "slow": args.slow, "slow_normal": args.slow_normal,
            "client_procs": args.client_procs, "only": args.only,
            "repeat": args.repeat, "slowlink_rates": args.slowlink_rates,
            "slowlink_fast": args.slowlink_fast,
            "slowlink_many": args.slowlink_many,
            "relay_clients": args.relay_clients,
            "baseline": args.baseline,
            "night_duration": args.night_duration,
            "night_die_every": args.night_die_every,
            "night_cures": args.night_cures,
            "night_screens": args.night_screens,
            "night_capture_every": args.night_capture_every,
            "night_sequence_every": args.night_sequence_every,
            "night_io_after": args.night_io_after,
        },
        "scenarios": {},
        "errors": [],
    }
    bench = Bench(args, workdir, log)
    scenarios = results["scenarios"]
    failed = False

    def attempt(name, call, *a):
        nonlocal failed
        try:
            return call(*a)
        except KeyboardInterrupt:
            raise
        except Exception as e:
            failed = True
            text = describe_error(e)
            results["errors"].append("%s: %s" % (name, text))
            log("  %s failed: %s" % (name, text))
            return {"error": text}

    try:
        if "fanout" in args.only:
            if not args.smoke:
                scenarios["bare"] = attempt("bare gphoto2 latency",
                                            bench.bare_latency)
            scenarios["fanout"] = []
            for count in args.clients:
                outcome = attempt("fan-out %d" % count, bench.fanout, count)
                outcome.setdefault("clients", count)
                scenarios["fanout"].append(outcome)
        if "json" in args.only and args.json_clients > 0:
            scenarios["json"] = attempt("fan-out JSON", bench.fanout_json,
                                        args.json_clients)
            scenarios["json"].setdefault("clients", args.json_clients)
        if "headroom" in args.only:
            scenarios["headroom"] = attempt("headroom", bench.headroom)
        if "capture" in args.only:
            scenarios["capture"] = attempt("capture", bench.capture)
        if "slow" in args.only:
            scenarios["slow"] = attempt("slow clients", bench.slow,
                                        scenarios.get("fanout", []))
        if "eos" in args.only:
            scenarios["eos"] = attempt("eos", bench.eos)
        if "session" in args.only:
            scenarios["session"] = attempt("session", bench.session)
        if "slowlink" in args.only:
            scenarios["slowlink"] = attempt("slowlink", bench.slowlink)
        if "relay" in args.only:
            scenarios["relay"] = attempt("relay", bench.relay)
        if "pi" in args.only:
            scenarios["pi"] = attempt("pi", PiBudget(
                bench, args.baseline).run)
        if "night" in args.only:
            log("night: %g s, live view dying every %g s" % (
                args.night_duration, args.night_die_every))
            scenarios["night"] = attempt(
                "night", night.Night(args, workdir, log, bench._name).run)
    except KeyboardInterrupt:
        log("interrupted: ending every child")
        procs.end_all()
        raise
    finally:
        procs.end_all()
        if bench.ws is not None:
            results["ws"] = {"available": bench.ws[0], "detail": bench.ws[1]}
        else:
            results["ws"] = {"available": None, "detail": "not probed"}
        if args.keep_logs or failed:
            log("logs and raw results kept in %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["elapsed_s"] = round(time.time() - started, 1)
    results = public(results)
    results["targets"] = report.evaluate(results["scenarios"])
    return results, failed


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    procs.terminate_as_interrupt()
    try:
        results, failed = run(args)
    except KeyboardInterrupt:
        sys.exit(130)
    print(report.text(results))
    if "night" in results["scenarios"]:
        print(night.text(results["scenarios"]["night"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
            f.write("\n")
    if args.plot:
        report.plot(results, args.plot)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
