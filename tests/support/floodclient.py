# -*- test-case-name: tests.integration.test_flood -*-
"""
A hostile WebSocket client, run as its own process so that its memory is
not the test's: it connects, completes the handshake, and then sends as
fast as the connection takes (or, C{slow}, a few a second) without ever
reading again.

    python -m tests.support.floodclient PORT PATH MODE SECONDS

C{MODE}: C{requests} (small requests, each worth an answer), C{pings}
(ping frames of 125 bytes, each worth a pong), C{big} (requests whose error
answer echoes 60 KB), C{slow} (five requests a second, under the rate
limit). It prints C{OPEN} after the handshake, then C{CLOSED sent N} when
the server closes the connection, or C{TIMEOUT sent N} after C{SECONDS}.
"""

import base64
import json
import os
import socket
import struct
import sys
import time

__all__ = ["frame", "main"]


def frame(opcode, payload):
    """
    One masked (client) WebSocket frame.
    """
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    key = (mask * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")
              ).to_bytes(length, "big")
    return head + mask + masked


def messages(mode):
    n = 0
    if mode == "pings":
        ping = frame(0x9, b"p" * 125)
        while True:
            yield ping
    elif mode == "big":
        big = frame(0x1, json.dumps({"type": "x" * 60000}).encode())
        while True:
            yield big
    else:
        while True:
            n += 1
            yield frame(0x1, json.dumps({"type": "get_camera_info",
                                         "requestId": n}).encode())


def main(argv):
    port, path, mode, seconds = int(argv[0]), argv[1], argv[2], float(argv[3])
    sock = socket.socket()
    # A small receive buffer: what the server writes piles up on its side.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                  % (path, port, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(1)
        if not data:
            print("REFUSED", flush=True)
            return
        head += data
    if not head.startswith(b"HTTP/1.1 101"):
        print("REFUSED %s" % head.split(b"\r\n")[0].decode(), flush=True)
        return
    print("OPEN", flush=True)
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    sent = 0
    pending = b""
    source = messages(mode)
    while time.monotonic() < deadline:
        if not pending:
            pending = next(source)
            sent += 1
            if mode == "slow":
                time.sleep(0.2)
        try:
            pending = pending[sock.send(pending):]
        except socket.timeout:
            continue
        except OSError:
            print("CLOSED sent %d" % (sent,), flush=True)
            return
    print("TIMEOUT sent %d" % (sent,), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
