# -*- test-case-name: tests.integration.test_bench -*-
"""
How long the first watcher after a gap waits for the first picture of the
body (issue 24): warm standby (the frames stopped, the viewfinder kept
on) against full standby (the viewfinder down).

    python -m fourcut.bench.comeback [--driver held|cli] [--profile
        lifelike] [--body 700D] [--tries 4] [--gap 5]

It starts the virtual Canon EOS on the USB path and C{twistd fourcut}
(C{preview.stop_grace} 2 s), then, for each try, opens C{GET /preview},
times the first frame of the body (the placeholder does not count),
watches 2 s, leaves, and waits C{--gap} seconds. Warm: C{camera.
standby_after} 60 s, so the viewfinder is still on at the next watcher;
cold: C{standby_after} 3 s, so it went down (warm-up again). The first try
of each run, a new session's start, is reported apart.
"""

import argparse
import http.client
import statistics
import sys
import tempfile
import time

from fourcut.bench import procs
from fourcut.virtualcam.scene import parse_frame_comment

__all__ = ["first_frame", "main", "run", "summary"]

#: Seconds a watcher stays before leaving.
WATCH = 2.0


def first_frame(host, port, watch=WATCH, timeout=15.0):
    """
    Open C{GET /preview}, and return the seconds until the first frame of
    the camera made after the request (a placeholder skipped, and a frame
    of the body older than the request: the stream may begin with the last
    frame it had); watch C{watch} seconds in all.
    """
    started = time.monotonic()
    wall = time.time()
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    first = None
    try:
        connection.request("GET", "/preview")
        response = connection.getresponse()
        if response.status != 200:
            raise ValueError("GET /preview: %d" % (response.status,))
        while time.monotonic() - started < max(watch, 0.0) or first is None:
            if time.monotonic() - started > timeout:
                raise ValueError("no frame of the camera in %gs" % timeout)
            length = None
            while True:
                line = response.readline()
                if not line:
                    raise ValueError("the stream ended")
                line = line.strip()
                if not line and length is not None:
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            data = response.read(length)
            found = parse_frame_comment(data)
            if (first is None and found is not None
                    and found[1] / 1e9 >= wall):
                first = time.monotonic() - started
    finally:
        connection.close()
    return first


def summary(latencies):
    """
    C{{"first": s, "after_gap": [s, ...], "median", "max"}}: the run's
    first try (a new session) apart from the others.
    """
    rest = latencies[1:]
    return {"first": latencies[0] if latencies else None,
            "after_gap": rest,
            "median": statistics.median(rest) if rest else None,
            "max": max(rest) if rest else None}


def run(workdir, driver, profile, body, standby_after, tries, gap, log):
    camera = procs.start_usb_camera(workdir, "camera-%s" % (standby_after,),
                                    body=body, profile=profile,
                                    fps=None if profile == "lifelike"
                                    else 30.0)
    server = None
    try:
        server = procs.start_server(
            workdir, None, "server-%s-%s" % (driver, standby_after),
            usb_socket=camera.socket,
            config={"camera": {"driver": driver,
                               "standby_after": standby_after},
                    "preview": {"stop_grace": 2.0}})
        latencies = []
        for n in range(tries):
            if n:
                time.sleep(gap)
            latency = first_frame(procs.LOOPBACK, server.http_port)
            log("  %s standby_after=%g try %d: first frame after %.3f s"
                % (driver, standby_after, n + 1, latency))
            latencies.append(latency)
    finally:
        if server is not None:
            server.stop()
        camera.stop()
    return summary(latencies)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fourcut.bench.comeback")
    parser.add_argument("--driver", default="held", choices=("held", "cli"))
    parser.add_argument("--profile", default="lifelike")
    parser.add_argument("--body", default="700D")
    parser.add_argument("--tries", type=int, default=4)
    parser.add_argument("--gap", type=float, default=5.0)
    args = parser.parse_args(argv)

    def log(text):
        print(text, flush=True)

    workdir = tempfile.mkdtemp(prefix="fourcut-comeback-")
    log("comeback: %s driver, %s %s, gaps of %gs, stop_grace 2 s (work "
        "in %s)" % (args.driver, args.body, args.profile, args.gap, workdir))
    results = {}
    try:
        for name, standby_after in (("warm", 60.0), ("cold", 3.0)):
            results[name] = run(workdir, args.driver, args.profile,
                                args.body, standby_after, args.tries,
                                args.gap, log)
    finally:
        procs.end_all()
    for name, result in results.items():
        log("%s: first start %.3f s; after a gap median %.3f s, max %.3f s "
            "(%s)" % (name, result["first"], result["median"], result["max"],
                      ", ".join("%.3f" % s for s in result["after_gap"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
