# -*- test-case-name: tests.integration.test_bench -*-
"""
The benchmark's client process: many preview clients on one Twisted
reactor, recording every frame they receive.

    python -m fourcut.bench.clients SPEC.json RESULT.json

C{SPEC.json} names the server and the clients: C{{"host", "port",
"clients": [{"kind", "slow", "argv"}...], "tail", "ready_timeout",
"capture_at"}} (C{capture_at}: seconds into the window at which to
C{GET /capture}, a list, one capture after another). A client may also
carry C{"host"} (another address of the server, e.g. across a shaped
link), C{"path"} (an HTTP client's request path, default C{/preview}),
C{"shaped"} (it reads as fast as it can, but over a slow link: counted
apart from the others, like a slow one) and C{"label"} (its group's name
in the report). Client kinds:

 - C{http}: C{GET /preview}, HTTP/1.1 (chunked) multipart, parsed
   incrementally: only part headers and the first bytes of each JPEG (its
   COM segment) are copied, the rest is counted and dropped;
 - C{ws-binary}: WebSocket C{/ws}, C{start_preview} with C{format:
   binary}, one binary message per frame;
 - C{ws-json}: WebSocket C{/ws}, C{start_preview}, C{preview_frame} JSON
   text messages with the JPEG in base64; only the start of C{data} is
   decoded;
 - C{gphoto2}: no server: a bare C{gphoto2 --capture-movie --stdout} child
   (C{argv}) split with L{fourcut.stream.jpeg.JPEGSplitter}, the baseline.

A slow client (C{"slow": true}) stops reading for a second after each
frame it completes.

Talk with the benchmark on stdin/stdout, one line each way:

 - out C{BENCH PID N}: a gphoto2 child this process started;
 - out C{BENCH READY OK FAILED}: every client has its first frame or has
   failed (or C{ready_timeout} passed);
 - in C{GO W0 W1}: the measurement window, wall-clock nanoseconds; the
   process keeps recording until C{W1 + tail} (so frames made before W1
   can arrive), writes C{RESULT.json} and prints C{BENCH DONE};
 - in C{STOP}, or stdin closing: end every client and exit.

Each frame is recorded as its sequence number and the camera's timestamp
from the COM segment and the wall-clock time its last byte arrived.
"""

import base64
import gc
import json
import os
import sys
import threading
import time
from array import array

from twisted.internet import defer, protocol, reactor, task
from twisted.internet.error import ProcessExitedAlready

from fourcut.stream.jpeg import JPEGSplitter
from fourcut.virtualcam.scene import parse_frame_comment

__all__ = ["emit", "Recorder", "HTTPPreview", "HTTPPreviewFactory",
           "ws_factory", "GPhoto2Pipe", "OneShot", "http_get", "LoopLag",
           "Run", "main"]

#: Bytes of each frame kept to find its COM segment.
PREFIX = 512
#: Base64 characters decoded from a JSON frame (a multiple of 4).
B64_PREFIX = 684
#: Seconds a slow client pauses after each frame.
SLOW_PAUSE = 1.0


def emit(line):
    sys.stdout.write("BENCH " + line + "\n")
    sys.stdout.flush()


class Recorder:
    """
    What one client saw.
    """

    def __init__(self, index, kind, slow=False, shaped=False, label=None):
        self.index = index
        self.kind = kind
        self.slow = slow
        self.shaped = shaped
        self.label = label
        self.seq = array("q")
        self.sent_ns = array("q")
        self.recv_ns = array("q")
        # When fourcut read each frame from gphoto2 (HTTP's X-Timestamp),
        # 0 where unknown: splits latency into camera-to-server and
        # server-to-client.
        self.server_ns = array("q")
        # HTTP: when the boundary after each frame came, 0 until it has:
        # when a reader that cuts the stream at boundaries (and ignores
        # Content-Length) can show the frame (issue 23).
        self.shown_ns = array("q")
        self.bytes = 0
        self.unparsed = 0
        self.error = None
        self.closed = None
        self.first_ns = None
        self.connection = None      # something with a stop() method
        self.ending = False

    @property
    def settled(self):
        return self.first_ns is not None or self.error is not None

    def frame(self, prefix, size, now, server_ns=0):
        parsed = parse_frame_comment(prefix)
        self.bytes += size
        if parsed is None:
            self.unparsed += 1
            return False
        if self.first_ns is None:
            self.first_ns = now
        self.seq.append(parsed[0])
        self.sent_ns.append(parsed[1])
        self.recv_ns.append(now)
        self.server_ns.append(server_ns)
        self.shown_ns.append(0)
        return True

    def shown(self, now):
        """
        The boundary after the last frame came at C{now}.
        """
        if self.shown_ns and not self.shown_ns[-1]:
            self.shown_ns[-1] = now

    def fail(self, text):
        if self.error is None and not self.ending:
            self.error = text

    def result(self, origin_ns):
        result = {
            "index": self.index,
            "kind": self.kind,
            "slow": self.slow,
            "shaped": self.shaped,
            "label": self.label,
            "error": self.error,
            "closed": self.closed,
            "bytes": self.bytes,
            "unparsed": self.unparsed,
            "seq": list(self.seq),
            "sent_us": [(t - origin_ns) // 1000 for t in self.sent_ns],
            "recv_us": [(t - origin_ns) // 1000 for t in self.recv_ns],
        }
        if any(self.shown_ns):
            result["shown_us"] = [(t - origin_ns) // 1000 if t else None
                                  for t in self.shown_ns]
        if any(self.server_ns):
            result["server_us"] = [(t - origin_ns) // 1000 if t else None
                                   for t in self.server_ns]
        return result


# HTTP multipart ------------------------------------------------------------

class HTTPPreview(protocol.Protocol):
    """
    C{GET /preview} over HTTP/1.1, the multipart body parsed as it comes.
    """

    def __init__(self, recorder, host, port, path=b"/preview"):
        self.rec = recorder
        self.request = (b"GET " + path + b" HTTP/1.1\r\nHost: "
                        + ("%s:%d" % (host, port)).encode("ascii")
                        + b"\r\nUser-Agent: fourcut-bench\r\n\r\n")
        self._response = bytearray()
        self._in_body = False
        self._chunked = False
        self._chunk_left = 0
        self._line = bytearray()
        self._part_head = bytearray()
        self._body_left = 0
        self._size = 0
        self._server_ns = 0
        self._prefix = bytearray()
        self._prefix_need = 0
        self._resume = None
        self._boundary_due = False

    def connectionMade(self):
        self.rec.connection = self
        self.transport.write(self.request)

    def stop(self):
        self.rec.ending = True
        if self._resume is not None and self._resume.active():
            self._resume.cancel()
        self.transport.abortConnection()

    def connectionLost(self, reason):
        if self._resume is not None and self._resume.active():
            self._resume.cancel()
        if not self.rec.ending:
            self.rec.closed = "connection lost: %s" % (
                reason.getErrorMessage(),)
            self.rec.fail(self.rec.closed)

    def dataReceived(self, data):
        if not self._in_body:
            self._response += data
            end = self._response.find(b"\r\n\r\n")
            if end < 0:
                if len(self._response) > 65536:
                    self._fail("no end to the response headers")
                return
            head = bytes(self._response[:end])
            data = bytes(self._response[end + 4:])
            self._response = None
            status = head.split(b"\r\n", 1)[0].split(None, 2)
            if len(status) < 2 or status[1] != b"200":
                self._fail("HTTP %s: %s" % (
                    b" ".join(status[1:]).decode("ascii", "replace"),
                    data[:200].decode("utf-8", "replace").strip()))
                return
            self._chunked = b"transfer-encoding: chunked" in head.lower()
            self._in_body = True
            if not data:
                return
        if self._chunked:
            self._dechunk(data)
        else:
            self._parts(data, 0, len(data))

    def _fail(self, text):
        self.rec.fail(text)
        self.rec.ending = True
        self.transport.abortConnection()

    def _dechunk(self, data):
        position, end = 0, len(data)
        while position < end:
            left = self._chunk_left
            if left:
                take = left if left <= end - position else end - position
                self._parts(data, position, position + take)
                position += take
                self._chunk_left = left - take
                continue
            # A chunk-size line, after the CRLF that ended the last chunk.
            newline = data.find(b"\n", position, position + 64)
            if newline < 0:
                stop = min(end, position + 64)
                self._line += data[position:stop]
                position = stop
                if len(self._line) > 1024:
                    return self._fail("bad chunk header")
                continue
            self._line += data[position:newline]
            position = newline + 1
            line = self._line.strip()
            self._line.clear()
            if not line:
                continue
            try:
                size = int(line.split(b";", 1)[0], 16)
            except ValueError:
                return self._fail("bad chunk size %r" % (bytes(line[:40]),))
            if size == 0:
                self.rec.closed = "stream ended"
                return
            self._chunk_left = size

    def _parts(self, data, position, end):
        while position < end:
            left = self._body_left
            if left:
                take = left if left <= end - position else end - position
                need = self._prefix_need
                if need:
                    keep = need if need <= take else take
                    self._prefix += data[position:position + keep]
                    self._prefix_need = need - keep
                position += take
                self._body_left = left - take
                if take == left:
                    self._frame_done()
                continue
            stop = min(end, position + 1024)
            self._part_head += data[position:stop]
            if self._boundary_due:
                dashes = self._part_head.find(b"--")
                if dashes >= 0 and self._part_head.find(b"\r\n",
                                                        dashes) >= 0:
                    self._boundary_due = False
                    self.rec.shown(time.time_ns())
            found = self._part_head.find(b"\r\n\r\n")
            if found < 0:
                position = stop
                if len(self._part_head) > 16384:
                    return self._fail("no end to a part's headers")
                continue
            # The headers end inside what was just appended.
            position = stop - (len(self._part_head) - (found + 4))
            headers = bytes(self._part_head[:found]).lower()
            self._part_head.clear()
            at = headers.find(b"content-length:")
            if at < 0:
                return self._fail("a part without Content-Length")
            line_end = headers.find(b"\r\n", at)
            self._size = self._body_left = int(
                headers[at + 15:line_end if line_end >= 0 else None])
            at = headers.find(b"x-timestamp:")
            self._server_ns = 0
            if at >= 0:
                line_end = headers.find(b"\r\n", at)
                try:
                    self._server_ns = int(float(
                        headers[at + 12:line_end if line_end >= 0 else None])
                        * 1e9)
                except ValueError:
                    pass
            self._prefix.clear()
            self._prefix_need = PREFIX

    def _frame_done(self):
        self._boundary_due = self.rec.frame(
            self._prefix, self._size, time.time_ns(), self._server_ns)
        if self.rec.slow and self._resume is None:
            self.transport.pauseProducing()
            self._resume = reactor.callLater(SLOW_PAUSE, self._wake)

    def _wake(self):
        self._resume = None
        if not self.rec.ending:
            self.transport.resumeProducing()


class HTTPPreviewFactory(protocol.ClientFactory):
    def __init__(self, recorder, host, port, path=b"/preview"):
        self.rec = recorder
        self.host = host
        self.port = port
        self.path = path

    def buildProtocol(self, addr):
        return HTTPPreview(self.rec, self.host, self.port, self.path)

    def clientConnectionFailed(self, connector, reason):
        self.rec.fail("connect failed: %s" % (reason.getErrorMessage(),))


# WebSocket ---------------------------------------------------------------

def ws_factory(recorder, host, port, binary, width=None):
    """
    An autobahn client factory for one C{/ws} preview client; with
    C{width}, of the stream downscaled to it.
    """
    from autobahn.twisted.websocket import (
        WebSocketClientFactory, WebSocketClientProtocol)

    class WSPreview(WebSocketClientProtocol):
        def onConnect(self, response):
            recorder.connection = self

        def onOpen(self):
            request = {"type": "start_preview", "requestId": "1"}
            if binary:
                request["format"] = "binary"
            if width is not None:
                request["width"] = width
            self.sendMessage(json.dumps(request).encode("utf-8"),
                             isBinary=False)

        def onMessage(self, payload, isBinary):
            now = time.time_ns()
            if isBinary:
                recorder.frame(payload[:PREFIX], len(payload), now)
            elif len(payload) > 4096 and self._json_frame(payload, now):
                pass
            else:
                self._control(payload, now)
            if recorder.slow and not getattr(self, "_paused", False):
                self._paused = True
                self.transport.pauseProducing()
                reactor.callLater(SLOW_PAUSE, self._wake)

        def _wake(self):
            self._paused = False
            if not recorder.ending:
                self.transport.resumeProducing()

        def _json_frame(self, payload, now):
            """
            A C{preview_frame}: decode only the start of C{data}.
            """
            key = payload.find(b'"data"')
            if key < 0:
                return False
            colon = payload.find(b":", key + 6)
            quote = payload.find(b'"', colon + 1)
            if colon < 0 or quote < 0:
                return False
            text = payload[quote + 1:quote + 1 + B64_PREFIX]
            if b"\\" in text or b'"' in text:
                return False
            try:
                prefix = base64.b64decode(text)
            except ValueError:
                return False
            size = (payload.find(b'"', quote + 1) - quote - 1) * 3 // 4
            recorder.frame(prefix, size, now)
            return True

        def _control(self, payload, now):
            try:
                message = json.loads(payload)
            except ValueError:
                recorder.fail("ws: a text message that is not JSON")
                return
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "preview_frame":
                try:
                    jpeg = base64.b64decode(message["data"])
                except (KeyError, TypeError, ValueError):
                    recorder.fail("ws: preview_frame without valid data")
                    return
                recorder.frame(jpeg[:PREFIX], len(jpeg), now)
            elif kind == "error":
                recorder.fail("ws error: %s" % (json.dumps(message)[:300],))

        def stop(self):
            recorder.ending = True
            self.dropConnection(abort=True)

        def onClose(self, wasClean, code, reason):
            if recorder.ending:
                return
            if recorder.connection is None:
                recorder.fail("ws unavailable: %s" % (reason,))
            else:
                recorder.closed = "ws closed: %s %s" % (code, reason)
                recorder.fail(recorder.closed)

    factory = WebSocketClientFactory("ws://%s:%d/ws" % (host, port))
    factory.protocol = WSPreview
    factory.setProtocolOptions(
        utf8validateIncoming=False, maxFramePayloadSize=0,
        maxMessagePayloadSize=0, openHandshakeTimeout=15,
        closeHandshakeTimeout=1, autoPingInterval=0)

    def failed(connector, reason):
        recorder.fail("ws unavailable: connect failed: %s"
                      % (reason.getErrorMessage(),))

    factory.clientConnectionFailed = failed
    return factory


# The bare gphoto2 pipe -------------------------------------------------------

class GPhoto2Pipe(protocol.ProcessProtocol):
    """
    C{gphoto2 --capture-movie --stdout}, split as fourcut splits it.
    """

    def __init__(self, recorder):
        self.rec = recorder
        self.splitter = JPEGSplitter()
        self.stderr = bytearray()
        self.ended = defer.Deferred()
        self.transport = None

    def connectionMade(self):
        self.rec.connection = self

    def outReceived(self, data):
        now = time.time_ns()
        for frame in self.splitter.feed(data):
            self.rec.frame(frame[:PREFIX], len(frame), now)

    def errReceived(self, data):
        self.stderr += data
        del self.stderr[:-4096]

    def processEnded(self, reason):
        if not self.rec.ending:
            self.rec.fail("gphoto2 ended: %s %s" % (
                reason.getErrorMessage(),
                self.stderr.decode("utf-8", "replace").strip()[-300:]))
        self.ended.callback(None)

    def stop(self):
        """
        SIGINT, SIGTERM, SIGKILL by PID; fires once the child is gone.
        """
        self.rec.ending = True
        calls = []

        def send(name):
            try:
                self.transport.signalProcess(name)
            except (ProcessExitedAlready, OSError):
                pass

        def gone(result):
            for call in calls:
                if call.active():
                    call.cancel()
            return result

        if not self.ended.called:
            send("INT")
            calls.append(reactor.callLater(3.0, send, "TERM"))
            calls.append(reactor.callLater(5.0, send, "KILL"))
        done = defer.Deferred()
        self.ended.addBoth(lambda r: (gone(r), done.callback(None))[0])
        return done


# Capture ---------------------------------------------------------------------

class OneShot(protocol.Protocol):
    """
    An HTTP/1.0 GET read to the end of the connection.
    """

    def __init__(self, request, done):
        self.request = request
        self.done = done
        self.data = bytearray()

    def connectionMade(self):
        self.transport.write(self.request)

    def dataReceived(self, data):
        self.data += data

    def connectionLost(self, reason):
        self.done.callback(bytes(self.data))


def http_get(host, port, path, timeout=60.0):
    """
    Fire with C{(status, body)}.
    """
    done = defer.Deferred()
    request = ("GET %s HTTP/1.0\r\nHost: %s:%d\r\n\r\n"
               % (path, host, port)).encode("ascii")
    factory = protocol.ClientFactory()
    factory.protocol = lambda: OneShot(request, done)
    factory.clientConnectionFailed = lambda c, r: done.errback(r)
    reactor.connectTCP(host, port, factory, timeout=timeout)

    def parse(raw):
        head, _, body = raw.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].split(None, 2)
        return (int(status[1]) if len(status) > 1 else 0), body

    return done.addCallback(parse)


# The run -----------------------------------------------------------------

class LoopLag:
    """
    How late a 10 ms timer fires: the client process's own delay, which
    adds to every latency it measures.
    """

    PERIOD = 0.01

    def __init__(self):
        self.samples = array("d")
        self._expected = None
        self._call = task.LoopingCall(self._tick)

    def start(self):
        self._expected = time.monotonic() + self.PERIOD
        self._call.start(self.PERIOD, now=False)

    def _tick(self):
        now = time.monotonic()
        self.samples.append(max(0.0, now - self._expected))
        self._expected = now + self.PERIOD

    def stop(self):
        if self._call.running:
            self._call.stop()


class Run:
    def __init__(self, spec, result_path):
        self.spec = spec
        self.result_path = result_path
        self.host = spec.get("host", "127.0.0.1")
        self.port = spec.get("port")
        self.recorders = []
        self.window = None
        self.cpu = None
        self.captures = []
        self._capturing = False
        self.lag = LoopLag()
        self._commands = defer.DeferredQueue()
        self._stopping = False
        self._done = False

    # stdin, in a thread: the reactor never blocks on it.
    def read_commands(self):
        for line in sys.stdin:
            reactor.callFromThread(self._commands.put, line.strip())
        reactor.callFromThread(self._commands.put, "EOF")

    def connect(self, index, client):
        kind = client["kind"]
        recorder = Recorder(index, kind, client.get("slow", False),
                            client.get("shaped", False), client.get("label"))
        self.recorders.append(recorder)
        host = client.get("host", self.host)
        if kind == "http":
            path = client.get("path", "/preview").encode("ascii")
            reactor.connectTCP(host, self.port, HTTPPreviewFactory(
                recorder, host, self.port, path), timeout=15)
        elif kind in ("ws-binary", "ws-json"):
            try:
                factory = ws_factory(recorder, host, self.port,
                                     binary=kind == "ws-binary",
                                     width=client.get("width"))
            except ImportError as e:
                recorder.fail("ws unavailable: %s" % (e,))
                return
            reactor.connectTCP(host, self.port, factory, timeout=15)
        elif kind == "gphoto2":
            pipe = GPhoto2Pipe(recorder)
            transport = reactor.spawnProcess(
                pipe, client["argv"][0], client["argv"],
                env=dict(os.environ, **client.get("env", {})))
            pipe.transport = transport
            emit("PID %d" % transport.pid)
        else:
            recorder.fail("unknown client kind %r" % (kind,))

    @defer.inlineCallbacks
    def run(self):
        threading.Thread(target=self.read_commands, daemon=True).start()
        clients = self.spec["clients"]
        # A few connections at a time: a burst of 100 would overflow the
        # server's listen backlog and wait for SYN retries.
        for index, client in enumerate(clients):
            self.connect(index, client)
            if index % 10 == 9:
                yield task.deferLater(reactor, 0.01, lambda: None)
        self.lag.start()
        deadline = time.monotonic() + self.spec.get("ready_timeout", 30.0)
        while (not all(r.settled for r in self.recorders)
               and time.monotonic() < deadline):
            yield task.deferLater(reactor, 0.02, lambda: None)
        ok = sum(1 for r in self.recorders if r.first_ns is not None)
        emit("READY %d %d" % (ok, len(self.recorders) - ok))

        command = yield self._commands.get()
        if not command.startswith("GO "):
            yield self.stop_all()
            return 1
        start_ns, end_ns = (int(x) for x in command.split()[1:3])
        self.window = (start_ns, end_ns)
        capture_at = self.spec.get("capture_at") or []
        for offset in capture_at:
            reactor.callLater(max(0.0, (start_ns - time.time_ns()) / 1e9
                                  + offset), self.take_capture)
        watch = self._commands.get()
        watch.addCallback(self._abort)
        # No cyclic-GC pause of ours inside the window: it would show as
        # latency. What was allocated so far is frozen out of the way.
        gc.collect()
        gc.freeze()
        gc.disable()
        yield self.sleep_until(start_ns)
        cpu_start, lag_start = os.times(), len(self.lag.samples)
        yield self.sleep_until(end_ns)
        cpu_end, lag_end = os.times(), len(self.lag.samples)
        self.cpu = ((cpu_end.user + cpu_end.system)
                    - (cpu_start.user + cpu_start.system)) / max(
                        1e-9, (end_ns - start_ns) / 1e9)
        lag = sorted(self.lag.samples[lag_start:lag_end])
        self.loop_lag_ms = {
            "p99": round(lag[int(0.99 * (len(lag) - 1))] * 1e3, 2)
            if lag else None,
            "max": round(lag[-1] * 1e3, 2) if lag else None,
        }
        yield self.sleep_until(end_ns + int(self.spec.get("tail", 0.5) * 1e9))
        if capture_at:
            yield self._captures_done_or(len(capture_at), 30.0)
        gc.enable()
        if self._stopping:
            return 1
        self._done = True
        self.lag.stop()
        yield self.stop_all()
        self.write_result()
        emit("DONE")
        return 0

    def _abort(self, command):
        if command in ("STOP", "EOF") and not self._stopping \
                and not self._done:
            self._stopping = True

            def leave(_):
                if reactor.running:
                    reactor.stop()

            self.stop_all().addBoth(leave)

    def sleep_until(self, wall_ns):
        return task.deferLater(reactor, max(0.0, (wall_ns - time.time_ns())
                                            / 1e9), lambda: None)

    def take_capture(self):
        """
        C{GET /capture}, after the one before it has been answered.
        """
        if self._capturing:
            reactor.callLater(0.05, self.take_capture)
            return
        self._capturing = True
        started = time.time_ns()

        def done(result):
            status, body = result
            self.captures.append({
                "start_ns": started, "end_ns": time.time_ns(),
                "status": status, "bytes": len(body),
                "jpeg": body[:2] == b"\xff\xd8"})

        def failed(failure):
            self.captures.append({
                "start_ns": started, "end_ns": time.time_ns(), "status": 0,
                "error": failure.getErrorMessage()})

        def finished(_):
            self._capturing = False

        http_get(self.host, self.port, "/capture").addCallbacks(
            done, failed).addBoth(finished)

    @defer.inlineCallbacks
    def _captures_done_or(self, count, timeout):
        deadline = time.monotonic() + timeout
        while len(self.captures) < count and time.monotonic() < deadline:
            yield task.deferLater(reactor, 0.05, lambda: None)

    def stop_all(self):
        waits = []
        for recorder in self.recorders:
            recorder.ending = True
            connection = recorder.connection
            if connection is not None:
                try:
                    result = connection.stop()
                except Exception:
                    continue
                if isinstance(result, defer.Deferred):
                    waits.append(result)
        return defer.DeferredList(waits)

    def write_result(self):
        origin = self.window[0]
        result = {
            "window_ns": list(self.window),
            "client_cpu": self.cpu,
            "loop_lag_ms": self.loop_lag_ms,
            "pid": os.getpid(),
            "clients": [r.result(origin) for r in self.recorders],
            "captures": [],
        }
        for capture in self.captures:
            capture = dict(capture)
            capture["start_us"] = (capture.pop("start_ns") - origin) // 1000
            capture["end_us"] = (capture.pop("end_ns") - origin) // 1000
            result["captures"].append(capture)
        tmp = self.result_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, separators=(",", ":"))
        os.replace(tmp, self.result_path)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        sys.exit("usage: python -m fourcut.bench.clients SPEC.json "
                 "RESULT.json")
    with open(argv[0]) as f:
        spec = json.load(f)
    run = Run(spec, argv[1])
    status = []

    def go():
        d = run.run()

        def finished(code):
            status.append(code)
            if reactor.running:
                reactor.stop()

        def crashed(failure):
            sys.stderr.write(failure.getTraceback())
            status.append(2)
            if reactor.running:
                reactor.stop()

        d.addCallbacks(finished, crashed)

    # Twisted's own signal handlers: its SIGCHLD handler is what notices
    # that a gphoto2 child has exited. SIGINT and SIGTERM stop the reactor,
    # and this trigger ends every client (and gphoto2 child, by PID)
    # before it does.
    reactor.addSystemEventTrigger("before", "shutdown", run.stop_all)
    reactor.callWhenRunning(go)
    reactor.run()
    sys.exit(status[0] if status else 1)


if __name__ == "__main__":
    main()
