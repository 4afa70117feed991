# -*- test-case-name: tests.integration.test_bench -*-
"""
The minimal relay the benchmark measures fourcut against (issue 13): plain
asyncio, no Twisted, the same C{gphoto2 --capture-movie --stdout} output
split by the same L{JPEGSplitter}, the same latest-frame rule, the same
multipart parts; nothing else (no camera session, no limits, no status,
no C{TCP_NOTSENT_LOWAT}).

    python -m fourcut.bench.relay PORT GPHOTO2 ARGS...

Serves C{GET /preview} on 127.0.0.1:PORT (0: any free port) and prints
C{RELAY LISTENING N}, and C{BENCH PID N} for its gphoto2 child. SIGINT or
SIGTERM ends gphoto2 (SIGINT, then SIGKILL after 3 s) and the relay.
"""

import asyncio
import ctypes
import signal
import sys
import time

from fourcut.stream.jpeg import JPEGSplitter

__all__ = ["Hub", "serve", "die_with_parent", "camera", "main"]

HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; "
        b"boundary=frame\r\nCache-Control: no-cache\r\nConnection: close"
        b"\r\n\r\n")


class Hub:
    """
    The latest part and a future that the next one resolves.
    """

    def __init__(self):
        self.part, self.number = None, 0
        self.next = asyncio.get_running_loop().create_future()

    def publish(self, part):
        self.part, self.number = part, self.number + 1
        self.next.set_result(None)
        self.next = asyncio.get_running_loop().create_future()


async def serve(reader, writer, hub):
    try:
        request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        if not request.startswith(b"GET /preview"):
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            return
        writer.write(HEAD)
        sent = 0
        while True:
            if hub.number == sent:
                await hub.next
            # Whatever came while the last write drained: the newest only.
            sent = hub.number
            writer.write(hub.part)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            asyncio.TimeoutError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


def die_with_parent():
    ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)   # PR_SET_PDEATHSIG


async def camera(argv, hub, children):
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, preexec_fn=die_with_parent)
    children.append(proc)
    print("BENCH PID %d" % proc.pid, flush=True)
    splitter = JPEGSplitter()
    while True:
        data = await proc.stdout.read(1 << 16)
        if not data:
            return "gphoto2 exited: %s" % (await proc.wait(),)
        for jpeg in splitter.feed(data):
            hub.publish(b"--frame\r\nContent-Type: image/jpeg\r\nContent-"
                        b"Length: %d\r\nX-Timestamp: %.6f\r\n\r\n%s\r\n"
                        % (len(jpeg), time.time(), jpeg))


async def main(port, argv):
    loop, hub, children = asyncio.get_running_loop(), Hub(), []
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = await asyncio.start_server(
        lambda r, w: serve(r, w, hub), "127.0.0.1", port, backlog=512)
    print("RELAY LISTENING %d" % server.sockets[0].getsockname()[1],
          flush=True)
    feed = asyncio.ensure_future(camera(argv, hub, children))
    await asyncio.wait([feed, asyncio.ensure_future(stop.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    server.close()
    for proc in children:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 3)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
    return None if stop.is_set() else feed.result()


if __name__ == "__main__":
    why = asyncio.run(main(int(sys.argv[1]), sys.argv[2:]))
    sys.exit(why)
