# -*- test-case-name: tests.integration.test_bench -*-
"""
What a guest sees around a capture, measured from one WebSocket client of
a running fourcut: live view frames (binary), then captures (C{GET
/capture}), captures with a per-capture ISO (WebSocket C{capture_photo}
with C{settings}, whose answer carries the photo in base64), a setting
read and a setting write, one at a time with live view flowing, each
timed, with the largest gap between two live view frames around it.

    python -m fourcut.bench.session_probe PORT RESULT.json [--captures N]

A child of the benchmark (L{fourcut.bench.scenarios.Bench.session}); it
prints C{BENCH DONE} at the end. Its anchor, a bare python-gphoto2 session
doing the same, is L{fourcut.bench.bare_session}.
"""

import argparse
import json
import sys
import time

from twisted.internet import defer, reactor, task

__all__ = ["finish", "largest_gap", "main", "sessions_opened"]

#: Seconds of live view before the first operation.
SETTLE = 1.5

#: Seconds of live view after each operation (the CLI driver's live view
#: is back within them).
AFTER = 1.5


def largest_gap(times, start, end):
    """
    The largest gap between two frame arrival C{times} that overlaps
    C{start} .. C{end}, in seconds; with no frame before C{start} (or
    after C{end}) the window's end stands for it, so a gap is never
    understated.
    """
    before = [t for t in times if t <= start] or [start]
    inside = [t for t in times if start < t <= end]
    after = [t for t in times if t > end] or [end]
    points = before[-1:] + inside + after[:1]
    return max(b - a for a, b in zip(points, points[1:]))


def sessions_opened(log_path):
    """
    Camera sessions the virtual camera has opened so far, as its log says
    ("Canon EOS 700D: session 3 opened"); 0 without a log.
    """
    if not log_path:
        return 0
    count = 0
    with open(log_path, "rb") as f:
        for line in f:
            if b": session " in line and line.rstrip().endswith(b" opened"):
                count += 1
    return count


class Probe:
    def __init__(self, port, camera_log=None, after=AFTER):
        self.port = port
        self.camera_log = camera_log
        self.after = after
        self.frames = []
        self.pending = {}
        self.ids = 0
        self.client = None

    def frame(self):
        self.frames.append(time.monotonic())

    def answer(self, message):
        d = self.pending.pop(message.get("requestId"), None)
        if d is not None:
            d.callback(message)

    def request(self, message):
        self.ids += 1
        message = dict(message, requestId="probe-%d" % (self.ids,))
        d = defer.Deferred()
        self.pending[message["requestId"]] = d
        self.client.sendMessage(json.dumps(message).encode())
        return d

    async def flowing(self, count=30, timeout=30.0):
        """
        Wait until live view has sent C{count} frames in a row at a
        steady pace (an EOS answers "not ready" while live view warms
        up).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            recent = self.frames[-count:]
            if len(recent) == count and time.monotonic() - recent[0] < 2.0:
                return
            await task.deferLater(reactor, 0.1, lambda: None)
        raise RuntimeError("live view did not flow within %gs" % (timeout,))

    async def http_capture(self):
        import treq
        response = await treq.get("http://127.0.0.1:%d/capture"
                                  % (self.port,))
        data = await response.content()
        if response.code != 200 or not data.startswith(b"\xff\xd8"):
            return {"type": "error", "code": response.code,
                    "error": data[:300].decode("utf-8", "replace")}
        return {"type": "photo"}

    async def timed(self, what, message, ok_types):
        await self.flowing()
        sessions = sessions_opened(self.camera_log)
        start = time.monotonic()
        if message is None:
            reply = await self.http_capture()
        else:
            reply = await self.request(message)
        end = time.monotonic()
        if reply.get("type") not in ok_types:
            raise RuntimeError("%s: %r" % (what, {
                k: v for k, v in reply.items() if k != "image"}))
        # The gap may end well after the answer (the CLI driver starts
        # live view again, with a new session and the EVF warm-up): wait
        # for live view to be back, then a little more for the sessions
        # to be counted.
        deadline = time.monotonic() + 60
        while not (self.frames and self.frames[-1] > end):
            if time.monotonic() > deadline:
                raise RuntimeError("%s: live view did not come back" % what)
            await task.deferLater(reactor, 0.05, lambda: None)
        await task.deferLater(reactor, self.after, lambda: None)
        return {"what": what, "ms": round((end - start) * 1e3, 1),
                "gap_ms": round(largest_gap(self.frames, start, end) * 1e3,
                                1),
                "sessions": sessions_opened(self.camera_log) - sessions}


def connect(probe):
    from autobahn.twisted.websocket import (
        WebSocketClientFactory, WebSocketClientProtocol, connectWS)

    connected = defer.Deferred()

    class Client(WebSocketClientProtocol):
        def onOpen(self):
            probe.client = self
            connected.callback(self)

        def onMessage(self, payload, binary):
            if binary:
                probe.frame()
            else:
                probe.answer(json.loads(payload))

    factory = WebSocketClientFactory("ws://127.0.0.1:%d/ws" % (probe.port,))
    factory.protocol = Client
    # A photo answer is a 4 MB text message: autobahn's UTF-8 check of it
    # in Python would be the probe's cost, not fourcut's.
    factory.setProtocolOptions(maxMessagePayloadSize=0,
                               maxFramePayloadSize=0,
                               utf8validateIncoming=False)
    connectWS(factory)
    return connected


async def measure(port, captures, camera_log=None, settle=SETTLE,
                  after=AFTER):
    probe = Probe(port, camera_log, after)
    await connect(probe)
    started = await probe.request({"type": "start_preview",
                                   "format": "binary"})
    if started.get("type") != "preview_started":
        raise RuntimeError("start_preview: %r" % (started,))
    await task.deferLater(reactor, settle, lambda: None)
    steps = []
    for _ in range(captures):
        # GET /capture: the photo itself as the answer.
        steps.append(await probe.timed("capture", None, ("photo",)))
    for _ in range(captures):
        steps.append(await probe.timed(
            "capture_iso", {"type": "capture_photo",
                            "settings": {"iso": 400}}, ("photo_captured",)))
    steps.append(await probe.timed(
        "setting_read", {"type": "get_camera_setting",
                         "section": "imgsettings", "option": "iso"},
        ("setting_value",)))
    steps.append(await probe.timed(
        "setting_write", {"type": "set_camera_setting",
                          "section": "imgsettings", "option": "iso",
                          "value": 200}, ("setting_updated",)))
    probe.client.sendClose()
    return {"steps": steps, "frames": len(probe.frames)}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("result")
    parser.add_argument("--captures", type=int, default=3)
    parser.add_argument("--camera-log")
    parser.add_argument("--settle", type=float, default=SETTLE,
                        help="seconds of live view before the first "
                             "operation and after each (the smoke run's "
                             "are shorter)")
    args = parser.parse_args(argv)
    outcome = {}

    async def run():
        try:
            outcome.update(await measure(args.port, args.captures,
                                         args.camera_log, args.settle,
                                         min(AFTER, args.settle)))
        except Exception as e:
            outcome["error"] = "%s: %s" % (type(e).__name__, e)
        finally:
            reactor.stop()

    reactor.callWhenRunning(lambda: defer.ensureDeferred(run()))
    reactor.run()
    return finish(args.result, outcome)


def finish(path, outcome):
    """
    Write C{outcome} to C{path} and say so to the benchmark; the exit
    status.
    """
    with open(path, "w") as f:
        json.dump(outcome, f)
    print("BENCH DONE", flush=True)
    return 1 if "error" in outcome else 0


if __name__ == "__main__":
    sys.exit(main())
