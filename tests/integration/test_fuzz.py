"""
A fuzz test of the running service: thousands of generated HTTP requests
(raw bytes over TCP, so that malformed ones reach the server as sent) and
WebSocket messages are thrown at one service with the virtual Canon EOS
700D on USB behind it, as a booth runs it (but for the bounds on
unauthenticated connections, raised above the fuzzer's own: see
L{UNAUTHENTICATED_BOUND}), and then the service must still stream, still
capture, and have logged no unhandled error.

The inputs are generated up front by hypothesis, derandomized, by a
synchronous C{@given} function that only collects them; the asynchronous
test then sends them over real connections. Requests and messages that
would make the camera work (a capture, a reset, an allowed C{/cmd}, a
camera setting) are only sent a few times each: the rest of that kind is
skipped and counted, so that the barrage tests the server rather than
queues up camera time. A few hundred systematic inputs come first: every
method on every path, and troublesome text (NUL, lone surrogates, ...) in
each field that reaches the camera session.

What must hold:

  - HTTP: every complete request gets a well-formed response, never a 500
    (or another 5xx but 501, 503, 504 and 507), and never one that says
    "internal error"; requests that are incomplete by construction (a body
    shorter than its Content-Length, say) may go unanswered.
  - WebSocket: messages go one at a time per connection, and each gets
    exactly one reply (broadcasts aside), which echoes a valid
    C{requestId} and is never an "internal error"; the connection stays
    open except after a protocol error (text that is not UTF-8: 1007; a
    message over the hard size limit: 1009), after which the client
    reconnects.
  - Afterwards: live view streams, a capture gives a JPEG, a new WebSocket
    client is answered, every subscription is gone, live view stops and no
    gphoto2 child is left; and nothing was logged as an unhandled error
    (the report lists what was in flight when it was).

The counts, timings and distributions go to stderr, with a digest of the
inputs. The same inputs are sent on every run until this file, hypothesis,
or the constants in the loaded project modules change: hypothesis also
draws constants it finds in them (fourcut's limits and names), so the
inputs differ a little when the whole suite is loaded. C{FOURCUT_FUZZ_SCALE}
(a float, default 1) scales the number of generated inputs;
C{FOURCUT_FUZZ_SEED} (an integer) draws other ones.
"""

import base64
import hashlib
import json
import os
import sys
import time
from collections import Counter
from urllib.parse import quote

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.logger import formatEvent, globalLogPublisher
from twisted.web.http import parse_qs, unquote

from fourcut.camera.commands import CommandRefused, parse_cmd_args
from fourcut.photos import check_name_hint
from fourcut.web.ws.protocol import RequestError, capture_settings

from tests.support.fuzzclient import BROADCAST_TYPES, http_probe, ws_connect
from tests.support import EOS_STILL, EOS_USB, jpeg_size
from tests.support.service import ServiceTestCase, gphoto2_children
from tests.support.time import sleep

SCALE = float(os.environ.get("FOURCUT_FUZZ_SCALE", "1"))

#: C{FOURCUT_FUZZ_SEED}: an integer to draw other inputs than the
#: derandomized default (a new seed finds other bugs; the same seed sends
#: the same inputs again).
SEED = os.environ.get("FOURCUT_FUZZ_SEED")

#: Generated HTTP requests and WebSocket messages.
HTTP_EXAMPLES = int(1500 * SCALE)
WS_EXAMPLES = int(3000 * SCALE)

#: HTTP requests in flight at once.
HTTP_CONCURRENCY = 24

#: WebSocket connections the messages are spread over.
WS_CONNECTIONS = 4

#: The service's bounds on unauthenticated connections, on all and from
#: one address: well above the fuzzer's own connections, all from
#: 127.0.0.1 (a closed one may linger on the server's side a moment). With
#: the defaults (8 from one address) the fuzzer is a flood from one
#: address, and when the machine is loaded its client, on the service's
#: own reactor, may connect and not send its request for a second: the
#: service then rightly closes that idle connection for a newcomer
#: (L{fourcut.web.limits}), and the request goes unanswered. The bounds
#: are tested in tests.web.test_limits and tests.integration.test_limits.
UNAUTHENTICATED_BOUND = 4 * (HTTP_CONCURRENCY + WS_CONNECTIONS)

#: Seconds to wait for a response or a reply; for live view (which may
#: wait for a capture to end and live view to start again); for other
#: camera work; and for a request the server need not answer (one whose
#: body never ends, say).
TIMEOUT = 10.0
LIVE_TIMEOUT = 20.0
CAMERA_TIMEOUT = 30.0
UNANSWERED_TIMEOUT = 0.5

#: How many requests of each kind that makes the camera work are sent.
HTTP_CAMERA_BUDGET = {"capture": 3, "reset": 2, "restart": 3, "cmd": 10}
WS_CAMERA_BUDGET = {"capture": 3, "get_setting": 6, "set_setting": 6}

#: The service's limit on WebSocket messages.
MAX_MESSAGE = 65536

#: The service's limit on request bodies (the same setting).
MAX_BODY = MAX_MESSAGE

#: Statuses a server may answer a bad or unlucky request with, besides the
#: 1xx to 4xx: not implemented (a method or transfer coding twisted.web
#: does not know), camera trouble, a full disk.
ACCEPTED_5XX = frozenset([501, 503, 504, 507])

GENERATION = settings(
    derandomize=True, database=None, deadline=None,
    phases=[Phase.generate], print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much,
                           HealthCheck.large_base_example])


def collect(strategy, count):
    """
    Draw up to C{count} values of C{strategy} with hypothesis, without
    running anything on them.
    """
    values = []

    @settings(GENERATION, max_examples=count,
              derandomize=SEED is None)
    @given(strategy)
    def draw(value):
        values.append(value)

    if SEED is not None:
        draw = seed(int(SEED))(draw)
    draw()
    return values


def digest(values):
    return hashlib.sha256(repr(values).encode("utf-8", "surrogatepass")
                          ).hexdigest()[:16]


def weighted(draw, *choices):
    """
    Pick one of C{(weight, value)} C{choices}; a callable value is
    called, so that only the chosen branch draws.
    """
    total = sum(weight for weight, _ in choices)
    n = draw(st.integers(0, total - 1))
    for weight, value in choices:
        if n < weight:
            return value() if callable(value) else value
        n -= weight
    raise AssertionError("unreachable")


# HTTP ------------------------------------------------------------------

KNOWN_PATHS = [
    b"/", b"/preview", b"/snapshot", b"/capture", b"/reset", b"/cmd",
    b"/status", b"/health", b"/camera/info", b"/camera/restart",
    b"/camera", b"/photos", b"/photos/x.jpg", b"/ws", b"/favicon.ico",
]

METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS",
           b"PATCH", b"TRACE", b"CONNECT", b"PROPFIND"]

TCHAR = ("!#$%&'*+-.^_`|~0123456789"
         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

#: gphoto2 options, allowed and refused, for C{/cmd?arg=}.
CMD_OPTIONS = [
    "--summary", "--abilities", "--version", "--list-config",
    "--storage-info", "--num-files", "--list-files", "--auto-detect",
    "--get-config=", "--set-config=", "--set-config-index=",
    "--set-config-value=", "--hook-script=", "--port=", "--camera=",
    "--filename=", "--capture-image", "--capture-image-and-download",
    "--capture-movie", "--delete-all-files", "--upload-file=", "--shell",
    "--debug", "--debug-logfile=", "--reset", "--config", "--get-file=",
    "--stdout", "--folder=", "--usbid=", "--speed=", "--quiet", "--help",
    "-a", "-v", "-L", "-l", "-n", "-F", "-I", "-p", "-D", "-f/DCIM",
    "-", "--", "---", "--=", "",
]

#: The 700D's settings, its operations fourcut refuses to set (viewfinder,
#: eosremoterelease, opcode), another camera's names (f-number, imagesize)
#: and junk.
CONFIG_NAMES = ["iso", "imgsettings/iso", "/main/imgsettings/iso",
                "shutterspeed", "aperture", "imageformat", "capturetarget",
                "whitebalance", "viewfinder", "eosremoterelease",
                "/main/actions/opcode", "f-number", "nosuch", "../x", "a b",
                "iso;rm", "$(id)", "iso=1", ""]

GENERIC_HEADERS = [
    b"Accept", b"Accept-Encoding", b"Accept-Language", b"Authorization",
    b"Cache-Control", b"Connection", b"Content-Type", b"Cookie", b"Expect",
    b"If-Modified-Since", b"If-None-Match", b"Origin", b"Range", b"Referer",
    b"Sec-WebSocket-Key", b"Sec-WebSocket-Version",
    b"Sec-WebSocket-Protocol", b"Sec-WebSocket-Extensions", b"TE",
    b"Upgrade", b"User-Agent", b"X-Forwarded-For", b"Host",
]

HEADER_VALUES = [
    b"application/json", b"text/html", b"*/*", b"gzip, deflate",
    b"Bearer x", b"Bearer ", b"Basic Zm9vOmJhcg==", b"close", b"keep-alive",
    b"Upgrade", b"websocket", b"WebSocket", b"13", b"8", b"0", b"-1",
    b"100-continue", b"bytes=0-10", b"bytes=-5", b"bytes=10-5",
    b"bytes=0-0,1-1,2-2", b"bytes=x", b"Mon, 01 Jan 1990 00:00:00 GMT",
    b"not a date", b"permessage-deflate; client_max_window_bits",
    b"application/x-www-form-urlencoded", b"multipart/form-data",
    b"multipart/form-data; boundary=xyz", b"text/plain; charset=nope",
    b"chat, superchat", b"http://evil.example", b"null",
    b"dGhlIHNhbXBsZSBub25jZQ==",
]

PRINTABLE = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7e), max_size=12)


def big(draw, sizes=(100, 1000, 8000, 17000, 70000)):
    """
    A long byte string: a short drawn pattern repeated to one of C{sizes}.
    """
    size = draw(st.sampled_from(sizes))
    pattern = draw(st.binary(min_size=1, max_size=4)) if draw(
        st.booleans()) else b"a"
    return (pattern * (size // len(pattern) + 1))[:size]


def repeated(draw, items, counts):
    """
    C{items}, or sometimes (for many headers or parameters) C{items}
    repeated to one of C{counts} in all.
    """
    if items and draw(st.integers(0, 14)) == 0:
        count = draw(st.sampled_from(counts))
        return (items * (count // len(items) + 1))[:count]
    return items


@st.composite
def path_segment(draw):
    return weighted(
        draw,
        (4, lambda: draw(PRINTABLE).encode("ascii").replace(
            b"/", b"").replace(b"?", b"").replace(b"#", b"")),
        (2, lambda: draw(st.sampled_from([
            b"..", b".", b"", b"%2e%2e", b"%2F", b"%00", b"%ff", b"%zz", b"%",
            b"%2", b"capture", b"%63apture", b"CAPTURE", b"info", b"restart",
            b"x.jpg", b".incoming-1-1.tmp", b"..%2f..%2fetc",
            b"%c0%ae%c0%ae", b"~root", b"*"]))),
        (1, lambda: quote(draw(st.text(max_size=8)), safe="",
                          errors="surrogatepass").encode("ascii")),
        (1, lambda: draw(st.binary(min_size=1, max_size=6))),
    )


def percent_encode_some(draw, path):
    """
    C{path} with some of its letters percent-encoded (C{/%63apture}).
    """
    out = []
    for byte in path:
        char = bytes([byte])
        if char.isalpha() and draw(st.integers(0, 4)) == 0:
            out.append(b"%%%02X" % byte if draw(st.booleans())
                       else b"%%%02x" % byte)
        else:
            out.append(char)
    return b"".join(out)


@st.composite
def request_path(draw):
    kind = draw(st.integers(0, 9))
    if kind < 6:
        path = draw(st.sampled_from(KNOWN_PATHS))
    else:
        path = b"/" + b"/".join(draw(st.lists(path_segment(), min_size=1,
                                              max_size=5)))
    mutation = draw(st.integers(0, 19))
    if mutation == 0:
        path = percent_encode_some(draw, path)
    elif mutation == 1:
        path = path + b"/" + draw(path_segment())
    elif mutation == 2:
        path = path + b"/"
    elif mutation == 3:
        path = b"/.." + path
    elif mutation == 4:
        path = path.replace(b"/", b"//")
    elif mutation == 5:
        path = path.upper()
    elif mutation == 6:
        path = path + b"/" + big(draw, (300, 3000, 17000))
    elif mutation == 7:
        path = b"http://127.0.0.1" + path
    elif mutation == 8:
        path = draw(st.sampled_from([b"*", b"", b"x", b"?", b"#", b"%",
                                     b"/%", b"//", b"\\capture"]))
    elif mutation == 9:
        path = path + b"#" + draw(PRINTABLE).encode("ascii")
    return path


def query_value(draw, text):
    """
    C{text} for a query: percent-encoded (mostly), or raw bytes.
    """
    how = draw(st.integers(0, 9))
    if how < 6:
        return quote(text, safe="", errors="surrogatepass").encode("ascii")
    if how < 8:
        return quote(text, safe="-=/.", errors="surrogatepass").encode(
            "ascii").replace(b"%20", b"+")
    return text.encode("utf-8", "surrogatepass")


@st.composite
def cmd_arg(draw):
    option = draw(st.sampled_from(CMD_OPTIONS))
    if option.endswith("="):
        tail = weighted(
            draw,
            (3, lambda: draw(st.sampled_from(CONFIG_NAMES))),
            (3, lambda: "%s=%s" % (draw(st.sampled_from(CONFIG_NAMES)),
                           draw(st.text(max_size=10)))),
            (2, lambda: draw(st.text(max_size=20))),
            (1, lambda: draw(st.sampled_from([
                "/bin/sh", "usb:", "ptpip:1.2.3.4", "/etc/passwd", "x" * 500,
                "iso=" + "9" * 300]))),
        )
        option += tail
    elif draw(st.integers(0, 9)) == 0:
        option += draw(st.text(max_size=10))
    return query_value(draw, option)


@st.composite
def query_string(draw, path):
    first = path.split(b"/")[1:2]
    pairs = []
    if first == [b"cmd"] and draw(st.integers(0, 9)) < 8:
        args = []
        for _ in range(weighted(draw, (6, 1), (2, 0), (2, 2))):
            name = weighted(draw, (9, b"arg"), (1, b"ARG"), (1, b"arg[]"),
                            (1, b"%61rg"))
            if draw(st.integers(0, 19)) == 0:
                args.append(name)
            else:
                args.append(name + b"=" + draw(cmd_arg()))
        pairs += repeated(draw, args, (3, 300))
    elif first == [b"preview"] or (first == [b"snapshot"]
                                   and draw(st.booleans())):
        value = weighted(
            draw,
            (4, lambda: str(draw(st.integers(-5, 10 ** 6)))),
            (4, lambda: repr(draw(st.floats(allow_nan=True,
                                            allow_infinity=True)))),
            (2, lambda: draw(st.sampled_from([
                "", "nan", "inf", "-inf", "1e309", "-0", "0x10", "1_000",
                " 1", "1 ", "\u0661", "infinity", "NaN"]))),
            (2, lambda: draw(st.text(max_size=10))))
        for _ in range(weighted(draw, (8, 1), (1, 0), (1, 2))):
            pairs.append(b"timeout=" + query_value(draw, value))
    elif first == [b"photos"]:
        for name in draw(st.lists(st.sampled_from(
                [b"limit", b"offset", b"before"]), max_size=3)):
            value = weighted(
                draw,
                (3, lambda: str(draw(st.integers(-10, 10 ** 20)))),
                (2, lambda: "%d:%s" % (draw(st.integers(0, 10 ** 31)),
                               draw(st.sampled_from(["x.jpg", "a", "",
                                                     "../x.jpg"])))),
                (1, lambda: draw(st.text(max_size=12))))
            pairs.append(name + b"=" + query_value(draw, value))
    extra = []
    for _ in range(weighted(draw, (12, 0), (4, 1), (2, 3))):
        name = weighted(draw, (3, lambda: draw(PRINTABLE)), (1, "token"),
                        (1, "timeout"), (1, "arg"), (1, ""))
        value = draw(st.text(max_size=10))
        extra.append(query_value(draw, name) + weighted(
            draw, (8, b"="), (1, b""), (1, b"==")) + query_value(draw, value))
    pairs += repeated(draw, extra, (50, 2000))
    if not pairs:
        return weighted(draw, (8, b""), (1, b"?"), (1, b"?&&;"))
    separator = weighted(draw, (9, b"&"), (1, b";"))
    return b"?" + separator.join(pairs)


@st.composite
def method(draw):
    return weighted(
        draw,
        (50, b"GET"),
        (25, lambda: draw(st.sampled_from(METHODS))),
        (4, lambda: draw(st.sampled_from(METHODS)).lower()),
        (6, lambda: draw(st.text(TCHAR, min_size=1, max_size=12)).encode(
            "ascii")),
        (2, lambda: draw(st.binary(max_size=8))),
        (1, lambda: big(draw, (100, 20000))),
    )


def content_type(draw):
    return weighted(
        draw,
        (3, b"application/x-www-form-urlencoded"),
        (2, lambda: b"multipart/form-data; boundary="
         + draw(PRINTABLE).encode()),
        (1, b"multipart/form-data"),
        (1, b"application/json"),
        (1, lambda: draw(PRINTABLE).encode() + b"/" + draw(PRINTABLE).encode()
         + b"; " + draw(PRINTABLE).encode()),
        (1, lambda: draw(st.binary(max_size=30)).replace(b"\r", b"").replace(
            b"\n", b"")),
    )


def body_for(draw, ctype):
    kind = draw(st.integers(0, 9))
    if kind < 3:
        pairs = draw(st.lists(st.tuples(st.text(max_size=6),
                                        st.text(max_size=12)), max_size=6))
        return b"&".join(
            quote(k, errors="surrogatepass").encode() + b"="
            + quote(v, errors="surrogatepass").encode() for k, v in pairs)
    if kind < 5 and ctype is not None and b"boundary=" in ctype:
        boundary = ctype.split(b"boundary=", 1)[1]
        parts = []
        for _ in range(draw(st.integers(0, 3))):
            parts.append(
                b"--" + boundary + b"\r\n"
                + b"Content-Disposition: form-data; name=\""
                + draw(PRINTABLE).encode() + b"\"\r\n\r\n"
                + draw(st.binary(max_size=20)) + b"\r\n")
        if draw(st.booleans()):
            parts.append(b"--" + boundary + b"--\r\n")
        return b"".join(parts)
    if kind < 6:
        return json.dumps({"type": "capture_photo",
                           "x": draw(st.text(max_size=10))}).encode()
    if kind < 7:
        return big(draw, (1000, 70000))
    return draw(st.binary(max_size=200))


def chunked(draw, body):
    """
    C{body} in chunked transfer coding, sometimes broken.
    """
    pieces = []
    position = 0
    while position < len(body):
        size = draw(st.integers(1, max(1, len(body) - position)))
        pieces.append(b"%x\r\n" % size + body[position:position + size]
                      + b"\r\n")
        position += size
    pieces.append(b"0\r\n\r\n")
    data = b"".join(pieces)
    how = draw(st.integers(0, 9))
    if how < 6:
        return data, True
    if how == 6:
        return data[:draw(st.integers(0, len(data)))], False
    if how == 7:
        return b"zz\r\n" + data, True
    if how == 8:
        return b"%x\r\n" % (len(body) + 10) + body + b"\r\n0\r\n\r\n", False
    return draw(st.binary(max_size=50)), False


@st.composite
def http_request(draw):
    """
    A raw HTTP request as bytes, with what the client expects and how it
    behaves: a dict with C{chunks} (C{(delay, bytes)}), C{answer} (whether
    the server must answer: the request is complete and framed, however
    wrong), C{head} (a HEAD request), C{close} and C{hangup}.
    """
    verb = draw(method())
    path = draw(request_path())
    target = path + draw(query_string(path))
    version = weighted(draw, (20, b"HTTP/1.1"), (4, b"HTTP/1.0"),
                       (1, b"HTTP/2.0"), (1, b"HTTP/1.2"), (1, b"http/1.1"),
                       (1, b""), (1, b"HTTP/1.1 extra"))
    separator = weighted(draw, (30, b" "), (1, b"  "), (1, b"\t"))
    line = separator.join(part for part in (verb, target, version)
                          if part or separator != b" ")
    answer = True
    headers = []
    if draw(st.integers(0, 9)) < 9:
        headers.append((b"Host", weighted(
            draw, (9, b"127.0.0.1"), (1, lambda: draw(PRINTABLE).encode()))))
    if draw(st.integers(0, 9)) < (6 if path.startswith(b"/ws") else 1):
        # A WebSocket handshake, right or wrong.
        key = weighted(draw, (4, lambda: base64.b64encode(draw(
            st.binary(min_size=16, max_size=16)))), (1, b""), (1, None),
            (1, b"short"))
        headers += [(b"Upgrade", weighted(draw, (4, b"websocket"),
                                          (1, b"h2c"), (1, b""))),
                    (b"Connection", weighted(draw, (4, b"Upgrade"),
                                             (1, b"close")))]
        if key is not None:
            headers.append((b"Sec-WebSocket-Key", key))
        headers.append((b"Sec-WebSocket-Version", weighted(
            draw, (4, b"13"), (1, b"8"), (1, b"x"))))
    extra = []
    for _ in range(weighted(draw, (10, 0), (6, 1), (3, 3))):
        name = weighted(
            draw, (6, lambda: draw(st.sampled_from(GENERIC_HEADERS))),
            (3, lambda: draw(st.text(TCHAR, min_size=1, max_size=15))
             .encode("ascii")),
            (1, lambda: draw(st.binary(max_size=10))))
        value = weighted(
            draw, (5, lambda: draw(st.sampled_from(HEADER_VALUES))),
            (3, lambda: draw(st.binary(max_size=20))),
            (1, lambda: big(draw, (1000, 9000, 20000))))
        extra.append((name, value))
    headers += repeated(draw, extra, (50, 499, 600))
    body = b""
    if draw(st.integers(0, 9)) < 3 or verb in (b"POST", b"PUT", b"PATCH"):
        ctype = content_type(draw) if draw(st.booleans()) else None
        if ctype is not None:
            headers.append((b"Content-Type", ctype))
        body = body_for(draw, ctype)
    framing = weighted(draw, (12, "length"), (3, "none"), (3, "chunked"),
                       (1, "smaller"), (1, "larger"), (1, "bad-length"),
                       (1, "two-lengths"), (1, "length-and-chunked"),
                       (1, "other-coding"), (1, "huge-length"))
    if framing == "length":
        if body or draw(st.booleans()):
            headers.append((b"Content-Length", b"%d" % len(body)))
    elif framing == "none":
        pass
    elif framing == "chunked":
        body, complete = chunked(draw, body)
        answer = answer and complete
        headers.append((b"Transfer-Encoding", b"chunked"))
    elif framing == "smaller":
        headers.append((b"Content-Length", b"%d" % max(0, len(body) - 3)))
    elif framing == "larger":
        headers.append((b"Content-Length", b"%d" % (len(body) + 1 + draw(
            st.integers(0, 1000)))))
        answer = False
    elif framing == "bad-length":
        value = draw(st.sampled_from(
            [b"-1", b"x", b"", b"1.5", b"0x10", b"\t5", b"+5", b"1e3",
             b"99999999999999999999999999", b"\xff"]))
        headers.append((b"Content-Length", value))
        # twisted.web strips blanks: "\t5" is 5, and more than the body.
        answer = answer and value != b"\t5"
    elif framing == "two-lengths":
        headers += [(b"Content-Length", b"%d" % len(body)),
                    (b"Content-Length", b"%d" % (len(body) + 1))]
        answer = False
    elif framing == "length-and-chunked":
        headers += [(b"Content-Length", b"%d" % len(body)),
                    (b"Transfer-Encoding", b"chunked")]
        answer = False
    elif framing == "other-coding":
        headers.append((b"Transfer-Encoding", draw(st.sampled_from(
            [b"gzip", b"chunked, gzip", b"gzip, chunked", b"identity",
             b"chunked, chunked", b"x"]))))
        answer = False
    elif framing == "huge-length":
        headers.append((b"Content-Length", b"%d" % (
            MAX_BODY + 1 + draw(st.integers(0, 10 ** 12)))))
    if draw(st.integers(0, 19)) == 0:
        headers = list(reversed(headers))
    crlf = weighted(draw, (40, b"\r\n"), (1, b"\n"))
    head = crlf.join([line] + [name + b": " + value
                               for name, value in headers])
    ending = weighted(draw, (40, crlf + crlf), (1, crlf), (1, b""))
    if crlf != b"\r\n" or ending != b"\r\n\r\n":
        answer = False
    if any(b"\r" in part or b"\n" in part for part in
           [verb, target, version] + [b"".join(h) for h in headers]):
        # The head is not what it seems.
        answer = False
    if max(len(part) for part in head.split(b"\n")) > 16000:
        # twisted.web hangs up on a line over 16 KiB without a word.
        answer = False
    data = head + ending + body
    if draw(st.integers(0, 19)) == 0:
        # A second request pipelined after the first.
        data += b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n"
    chunks = [(0, data)]
    if draw(st.integers(0, 9)) == 0 and len(data) > 1:
        cuts = sorted(set(draw(st.lists(st.integers(1, len(data) - 1),
                                        min_size=1, max_size=4))))
        chunks = []
        start = 0
        for cut in cuts + [len(data)]:
            chunks.append((draw(st.sampled_from([0, 0.001, 0.01, 0.05])),
                           data[start:cut]))
            start = cut
    hangup = None
    if draw(st.integers(0, 19)) == 0:
        hangup = draw(st.sampled_from([0, 0.01, 0.05, 0.2]))
    return {
        "chunks": chunks,
        "answer": answer,
        "head": verb == b"HEAD",
        "close": weighted(draw, (3, "lose"), (1, "abort")),
        "hangup": hangup,
    }


def camera_work(data):
    """
    What camera work the raw request C{data} asks for, as twisted.web and
    fourcut would route it: C{"capture"}, C{"reset"}, C{"restart"},
    C{"cmd"} (an allowed one), C{"live"} (preview or snapshot) or L{None}.
    Errs on the side of camera work.
    """
    line = data.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) != 3:
        return None
    verb, uri = parts[0], parts[1]
    path, _, query = uri.partition(b"?")
    segments = [unquote(s) for s in path[1:].split(b"/")]
    first = segments[0]
    second = segments[1] if len(segments) > 1 else None
    if first == b"camera" and second == b"restart":
        return "restart" if verb == b"POST" else None
    if verb not in (b"GET", b"HEAD"):
        return None
    if first in (b"capture", b"reset"):
        return first.decode()
    if first in (b"preview", b"snapshot"):
        return "live"
    if first == b"cmd":
        try:
            parse_cmd_args(parse_qs(query, 1).get(b"arg"))
        except CommandRefused:
            return None
        except Exception:
            return "cmd"
        return "cmd"
    return None


# WebSocket -------------------------------------------------------------

TYPES = ["start_preview", "stop_preview", "capture_photo",
         "get_camera_info", "get_camera_setting", "set_camera_setting"]

SETTING_NAMES = ["imgsettings", "iso", "capturesettings", "shutterspeed",
                 "aperture", "imageformat", "whitebalance", "capturetarget",
                 "status", "batterylevel", "actions", "viewfinder",
                 "f-number", "main", "settings", "nosuch"]

JSON_LEAF = (st.none() | st.booleans() | st.integers()
             | st.integers(-(10 ** 300), 10 ** 300)
             | st.floats(allow_nan=True, allow_infinity=True)
             | st.text(max_size=20))
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: (st.lists(inner, max_size=4)
                   | st.dictionaries(st.text(max_size=8), inner,
                                     max_size=4)),
    max_leaves=10)

#: Strings with the characters that trip up what passes text on: lone
#: surrogates, NUL, newlines, option-like and path-like text.
NASTY_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=12),
    st.sampled_from(["\ud800", "a\udcff", "\x00", "a\nb", "\r", "--port=x",
                     "-", "../../etc/passwd", ".hidden", "x.jpg", "x" * 101,
                     "x" * 300, "\u202e", "\ufeff", "$(id)", "%s%n", " ",
                     "CON", "a/b", "a\\b", "\u00e9", "\U0001f4f7"]),
)


def text_or_junk(draw, names=()):
    choices = [(4, lambda: draw(st.text(max_size=15))),
               (3, lambda: draw(NASTY_TEXT)),
               (2, lambda: draw(JSON_VALUE)), (1, None)]
    if names:
        choices.append((6, lambda: draw(st.sampled_from(names))))
    return weighted(draw, *choices)


@st.composite
def request_id(draw):
    return weighted(
        draw,
        (6, lambda: draw(st.text(max_size=12))),
        (6, lambda: draw(st.integers())),
        (2, lambda: draw(st.integers(-(10 ** 250), 10 ** 250))),
        (2, lambda: "r" * draw(st.integers(190, 260))),
        (2, lambda: draw(NASTY_TEXT)),
        (3, lambda: draw(JSON_VALUE)),
    )


@st.composite
def ws_object(draw):
    message = {}
    kind = weighted(
        draw,
        (30, lambda: draw(st.sampled_from(TYPES))),
        (3, "auth"),
        (2, lambda: draw(st.sampled_from(TYPES)).upper()),
        (1, lambda: " " + draw(st.sampled_from(TYPES))),
        (2, lambda: draw(st.text(max_size=15))),
        (2, lambda: draw(JSON_VALUE)),
        (1, lambda: "do_" + draw(st.sampled_from(TYPES))),
        (1, lambda: draw(st.sampled_from(["__class__", "__init__", "_reply",
                                  "send", "onMessage", "error", "auth ",
                                  "preview_frame"]))),
    )
    if draw(st.integers(0, 19)) > 0:
        message["type"] = kind
    if draw(st.integers(0, 9)) < 7:
        message["requestId"] = draw(request_id())
    if kind == "start_preview" and draw(st.booleans()):
        message["format"] = weighted(
            draw, (3, "json"), (3, "binary"), (1, "BINARY"),
            (2, lambda: text_or_junk(draw)))
    elif kind == "capture_photo":
        if draw(st.integers(0, 9)) < 7:
            message["settings"] = weighted(
                draw,
                (4, lambda: draw(st.dictionaries(
                    st.sampled_from(SETTING_NAMES) | st.text(max_size=10)
                    | NASTY_TEXT, JSON_LEAF | JSON_VALUE, max_size=5))),
                (1, lambda: {"s%d" % n: n for n in range(draw(
                    st.integers(15, 40)))}),
                (2, lambda: draw(JSON_VALUE)))
        if draw(st.integers(0, 9)) < 7:
            message["filename"] = text_or_junk(draw, ["photo", "x.jpg"])
    elif kind in ("get_camera_setting", "set_camera_setting"):
        for field in ("section", "option"):
            if draw(st.integers(0, 9)) < 9:
                # Mostly wrong: a right one makes the camera work.
                message[field] = weighted(
                    draw, (2, lambda: draw(st.sampled_from(SETTING_NAMES))),
                    (1, lambda: draw(st.text(max_size=15))),
                    (1, lambda: draw(NASTY_TEXT)),
                    (3, lambda: draw(JSON_VALUE)), (1, None), (1, ""),
                    (1, "s" * 101))
        if kind == "set_camera_setting" and draw(st.integers(0, 9)) < 9:
            message["value"] = weighted(
                draw, (3, lambda: draw(JSON_LEAF)),
                (2, lambda: draw(JSON_VALUE)), (2, lambda: draw(NASTY_TEXT)),
                (1, lambda: draw(st.sampled_from(
                    ["800", "Auto", "1/4000", "f/8", "0"]))))
    elif kind == "auth" and draw(st.booleans()):
        message["token"] = text_or_junk(draw)
    for _ in range(weighted(draw, (6, 0), (2, 1), (1, 5))):
        message[draw(st.text(max_size=10))] = draw(JSON_VALUE)
    return message


@st.composite
def ws_message(draw):
    """
    One WebSocket message: a dict with C{payload} (bytes), C{binary} and
    C{expect}: C{"reply"}, or C{"close"} (a protocol error: invalid UTF-8
    text, or over the hard size limit).
    """
    kind = weighted(draw, (80, "object"), (5, "value"), (5, "text"),
                    (3, "binary"), (2, "nested"), (1, "bad-utf8"),
                    (2, "large"))
    binary = False
    expect = "reply"
    if kind == "object":
        message = draw(ws_object())
        style = draw(st.integers(0, 9))
        text = json.dumps(message, ensure_ascii=style < 7,
                          indent=1 if style == 9 else None)
        payload = text.encode("utf-8", "surrogatepass")
        if style >= 7 and any("\ud800" <= c <= "\udfff" for c in text):
            # Not UTF-8: a protocol error.
            expect = "close"
    elif kind == "value":
        payload = json.dumps(draw(JSON_VALUE)).encode("utf-8")
    elif kind == "text":
        payload = weighted(
            draw,
            (4, lambda: draw(st.text(max_size=40)).encode("utf-8")),
            (2, lambda: draw(st.sampled_from([
                b"", b"{", b"}", b"{}", b"null", b"[]", b"{\"type\":",
                b"{\"type\": \"start_preview\"} x", b"NaN", b"-Infinity",
                b"{\"type\": \"stop_preview\", \"type\": 1}",
                b"\xef\xbb\xbf{}",
                b"{'type': 'stop_preview'}", b"1" * 5000, b" " * 1000]))),
            (1, lambda: b"{\"type\": \"stop_preview\", \"requestId\": "
             + draw(st.sampled_from([b"1e400", b"-0", b"1.0", b"0x1",
                                     b"01", b"true", b"\"\\ud800\"",
                                     b"9" * 4400])) + b"}"))
    elif kind == "binary":
        binary = True
        payload = draw(st.binary(max_size=100))
        if draw(st.integers(0, 9)) == 0:
            payload = json.dumps({"type": "get_camera_info",
                                  "requestId": 1}).encode()
    elif kind == "nested":
        depth = draw(st.sampled_from([10, 100, 900, 1100, 5000, 30000]))
        opener, closer = weighted(draw, (1, (b"[", b"]")),
                                  (1, (b'{"a":', b"}")))
        payload = opener * depth + closer * depth
        if draw(st.booleans()):
            payload = (b'{"type": "stop_preview", "requestId": 1, "x": '
                       + payload + b"}")
    elif kind == "bad-utf8":
        payload = draw(st.sampled_from([
            b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b'{"type": "\xfe"}',
            b"\xf8\x88\x80\x80\x80"]))
        expect = "close"
    else:
        size = draw(st.sampled_from([MAX_MESSAGE - 10, MAX_MESSAGE + 1,
                                     MAX_MESSAGE * 2, MAX_MESSAGE * 4 + 1]))
        if draw(st.booleans()):
            payload = json.dumps({"type": "stop_preview", "requestId": 1,
                                  "pad": "x" * size}).encode()
        else:
            payload = b"x" * size
        binary = draw(st.integers(0, 4)) == 0
        if len(payload) > MAX_MESSAGE * 4:
            expect = "close"
    fragment = None
    if len(payload) > 1 and draw(st.integers(0, 19)) == 0:
        # Sent as several frames.
        fragment = draw(st.integers(max(1, len(payload) // 20),
                                    max(1, len(payload) // 2)))
    return {"payload": payload, "binary": binary, "expect": expect,
            "fragment": fragment}


def valid_request_id(value):
    return value is None or (
        isinstance(value, (str, int)) and not isinstance(value, bool)
        and len(str(value)) <= 200)


def parsed(message):
    """
    The JSON object of a message as the server reads it, or L{None}.
    """
    if message["binary"] or len(message["payload"]) > MAX_MESSAGE:
        return None
    try:
        value = json.loads(message["payload"].decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def ws_camera_work(message):
    """
    Whether a message would make the camera work: C{"capture"},
    C{"get_setting"}, C{"set_setting"} or L{None}. Errs on the side of
    camera work.
    """
    value = parsed(message)
    if value is None or not valid_request_id(value.get("requestId")):
        return None
    kind = value.get("type")
    if kind == "capture_photo":
        try:
            capture_settings(value.get("settings"))
            if value.get("filename") is not None:
                check_name_hint(value["filename"])
        except (RequestError, ValueError):
            return None
        except Exception:
            pass
        return "capture"
    if kind in ("get_camera_setting", "set_camera_setting"):
        for field in ("section", "option"):
            text = value.get(field)
            if not isinstance(text, str) or not text or len(text) > 100:
                return None
        if kind == "set_camera_setting" and "value" not in value:
            return None
        return kind.replace("_camera", "")
    return None


# Systematic inputs ---------------------------------------------------------

#: Every method on every path, and the paths' near neighbours.
MATRIX_METHODS = METHODS + [b"get", b"FOO"]
MATRIX_PATHS = KNOWN_PATHS + [
    p + b"/" for p in KNOWN_PATHS if p != b"/"] + [
    b"/camera/info/x", b"/camera/restart/x", b"/ws/x", b"/status/x",
    b"/health/x", b"/preview?timeout=0", b"/snapshot?timeout=1"]


def http_matrix():
    """
    Each method of L{MATRIX_METHODS} on each path of L{MATRIX_PATHS}, as a
    plain well-formed request, except those that make the camera work.
    """
    requests = []
    for path in MATRIX_PATHS:
        for verb in MATRIX_METHODS:
            body = b"a=1" if verb in (b"POST", b"PUT", b"PATCH") else b""
            data = (b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                    b"\r\n%s" % (verb, path, len(body), body))
            if camera_work(data) not in (None, "live"):
                continue
            requests.append({"chunks": [(0, data)], "answer": True,
                             "head": verb == b"HEAD", "close": "lose",
                             "hangup": None})
    return requests


#: Text that trips up whatever passes it on: to a child's argv, a file
#: name, a log line.
TROUBLE = ["\x00", "\ud800", "a\udcff", "a\nb", "-x", "\u00e9"]


def ws_matrix():
    """
    Each field of each request type with each text of L{TROUBLE}, the
    other fields right: these reach the camera session.
    """
    base = [
        ("get_camera_setting", {"section": "imgsettings", "option": "iso"},
         ["section", "option"]),
        ("set_camera_setting", {"section": "imgsettings", "option": "iso",
                                "value": "800"}, ["section", "option"]),
        ("capture_photo", {"settings": {"iso": "800"}}, ["settings"]),
        ("start_preview", {"format": "json"}, ["format", "requestId"]),
        ("auth", {"token": "t"}, ["token", "requestId"]),
        ("get_camera_info", {}, ["requestId"]),
    ]
    messages = []
    number = 0
    for kind, fields, trouble in base:
        for field in trouble:
            for text in TROUBLE:
                number += 1
                message = dict(fields, type=kind, requestId="m%d" % number)
                if field == "settings":
                    message["settings"] = {"iso": text}
                    messages.append(dict(message, settings={text: "800"}))
                else:
                    message[field] = text
                messages.append(message)
    payloads = [json.dumps(m).encode("ascii") for m in messages]
    # Deep nesting, within the size limit.
    for depth in (10, 100, 1000, 5000, 20000):
        payloads += [b"[" * depth + b"]" * depth,
                     b'{"type": "stop_preview", "x": ' + b'{"a":' * depth
                     + b"1" + b"}" * depth + b"}"]
    return [{"payload": payload, "binary": False, "expect": "reply",
             "fragment": None, "systematic": True} for payload in payloads]


# The test ----------------------------------------------------------------


class FuzzTests(ServiceTestCase):
    config = {"server": {
        "commands_per_second": 100000,
        "max_unauthenticated": UNAUTHENTICATED_BOUND,
        "max_unauthenticated_per_address": UNAUTHENTICATED_BOUND}}
    virtual = EOS_USB

    def setUp(self):
        self.logged = []
        self.in_flight = {}
        globalLogPublisher.addObserver(self._observe)
        self.addCleanup(globalLogPublisher.removeObserver, self._observe)
        return ServiceTestCase.setUp(self)

    def _observe(self, event):
        if event.get("log_failure") is not None or event.get("isError"):
            failure = event.get("log_failure")
            self.logged.append({
                "failure": failure.getTraceback() if failure else None,
                "format": formatEvent(event),
                "in_flight": sorted(self.in_flight.values(), key=repr),
            })

    def report(self, text):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    async def test_fuzz(self):
        started = time.monotonic()
        requests = http_matrix() + collect(http_request(), HTTP_EXAMPLES)
        messages = ws_matrix() + collect(ws_message(), WS_EXAMPLES)
        generated = time.monotonic()
        self.report(
            "\nfuzz: generated %d HTTP requests (digest %s) and %d WebSocket "
            "messages (digest %s) in %.1f s, %s"
            % (len(requests), digest(requests), len(messages),
               digest(messages), generated - started,
               "derandomized" if SEED is None else "seed %s" % SEED))

        http_problems, http_stats = await self.send_http(requests)
        http_done = time.monotonic()
        self.report("fuzz: HTTP: %s in %.1f s" % (
            http_stats, http_done - generated))
        ws_problems, ws_stats = await self.send_ws(messages)
        ws_done = time.monotonic()
        self.report("fuzz: WebSocket: %s in %.1f s" % (
            ws_stats, ws_done - http_done))

        after = await self.check_still_working()
        self.report("fuzz: afterwards: %s; total %.1f s" % (
            after, time.monotonic() - started))
        errors = self.flushLoggedErrors()
        problems = http_problems + ws_problems
        if self.logged or errors:
            problems.append("unhandled errors were logged:\n%s" % (
                "\n".join("%s\n%s\nwhile in flight: %r" % (
                    entry["format"], entry["failure"] or "",
                    entry["in_flight"]) for entry in self.logged)))
        if problems:
            self.fail("%d problems:\n%s" % (
                len(problems), "\n\n".join(problems[:40])))

    # HTTP ----------------------------------------------------------------

    async def send_http(self, requests):
        budget = dict(HTTP_CAMERA_BUDGET)
        statuses = Counter()
        outcomes = Counter()
        skipped = Counter()
        problems = []
        semaphore = defer.DeferredSemaphore(HTTP_CONCURRENCY)

        async def one(index, request):
            data = b"".join(chunk for _, chunk in request["chunks"])
            work = camera_work(data)
            if work in budget:
                if budget[work] <= 0:
                    skipped[work] += 1
                    return
                budget[work] -= 1
            shown = data if len(data) < 300 else (
                data[:250] + b"...(%d bytes)" % len(data))
            self.in_flight[index] = shown
            try:
                result = await http_probe(
                    self.port, request["chunks"], head_request=request["head"],
                    close=request["close"], hangup=request["hangup"],
                    timeout=(UNANSWERED_TIMEOUT if not request["answer"]
                             else TIMEOUT if work is None
                             else LIVE_TIMEOUT if work == "live"
                             else CAMERA_TIMEOUT))
            finally:
                del self.in_flight[index]
            outcomes[result.outcome] += 1
            if result.status is not None:
                statuses[result.status] += 1
            problem = None
            if result.outcome == "garbage":
                problem = "not an HTTP response: %r" % (result.head,)
            elif result.outcome.startswith("connect-failed"):
                problem = result.outcome
            elif result.status is not None and result.status >= 500 \
                    and result.status not in ACCEPTED_5XX:
                problem = "status %d: %r" % (result.status,
                                             result.head + result.body[:300])
            elif (request["answer"] and request["hangup"] is None
                  and result.outcome != "response"):
                problem = "no response (%s after %.1f s): %r" % (
                    result.outcome, result.elapsed, result.head)
            if result.outcome == "response" and b"internal error" in \
                    result.body:
                problem = "internal error: %r" % (result.body[:300],)
            if problem is not None:
                problems.append("HTTP request #%d %r (sent in %d pieces, "
                                "close=%s, hangup=%s):\n  %s" % (
                                    index, shown, len(request["chunks"]),
                                    request["close"], request["hangup"],
                                    problem))

        await defer.gatherResults([
            semaphore.run(lambda i=i, r=r: defer.ensureDeferred(one(i, r)))
            for i, r in enumerate(requests)])
        stats = "%d sent, %d skipped as camera work %s; outcomes %s; " \
                "statuses %s" % (
                    sum(outcomes.values()), sum(skipped.values()),
                    dict(skipped), dict(outcomes.most_common()),
                    dict(sorted(statuses.items())))
        return problems, stats

    # WebSocket -----------------------------------------------------------

    async def send_ws(self, messages):
        budget = dict(WS_CAMERA_BUDGET)
        to_send = []
        skipped = Counter()
        for index, message in enumerate(messages):
            work = ws_camera_work(message)
            if work is not None and not message.get("systematic"):
                if budget[work] <= 0:
                    skipped[work] += 1
                    continue
                budget[work] -= 1
            to_send.append((index, message, work))
        stats = {"replies": Counter(), "errors": Counter(),
                 "closes": Counter(), "frames": 0, "connections": 0,
                 "seconds": Counter(), "slowest": [],
                 "sent": 0}
        problems = []
        await defer.gatherResults([
            defer.ensureDeferred(self.ws_worker(
                to_send[n::WS_CONNECTIONS], stats, problems))
            for n in range(WS_CONNECTIONS)])
        # Let Autobahn's batched close-handshake timers run out.
        await sleep(1.1)
        text = ("%d sent over %d connections, %d skipped as camera work "
                "%s; replies %s; errors %s; closes %s; %d frames received; "
                "seconds waited by reply %s; slowest %s" % (
                    stats["sent"], stats["connections"],
                    sum(skipped.values()), dict(skipped),
                    dict(stats["replies"].most_common()),
                    dict(stats["errors"].most_common(12)),
                    dict(stats["closes"]), stats["frames"],
                    {k: round(v, 1) for k, v in
                     stats["seconds"].most_common(6)}, stats["slowest"]))
        return problems, text

    async def ws_open(self, stats, problems):
        client = await ws_connect(self.port)
        stats["connections"] += 1
        greeting = []
        for _ in range(2):
            message = await client.next_message(TIMEOUT)
            greeting.append(message and message.get("type"))
        if greeting != ["connected", "camera_info"]:
            problems.append("WebSocket greeting: %r" % (greeting,))
        return client

    async def ws_worker(self, messages, stats, problems):
        client = await self.ws_open(stats, problems)
        try:
            for index, message, work in messages:
                if not client.still_open:
                    stats["frames"] += client.frames
                    client = await self.ws_open(stats, problems)
                problem = await self.ws_one(client, index, message, work,
                                            stats)
                if problem is not None:
                    payload = message["payload"]
                    problems.append(
                        "WebSocket message #%d (%s, %d bytes) %r:\n  %s" % (
                            index, "binary" if message["binary"] else "text",
                            len(payload), payload[:300], problem))
        finally:
            stats["frames"] += client.frames
            if client.transport is not None and client.transport.connected:
                client.sendClose(1000)
                await client.closed

    async def ws_one(self, client, index, message, work, stats):
        payload = message["payload"]
        self.in_flight[index] = ("ws", payload[:300])
        sent_at = time.monotonic()
        try:
            client.sendMessage(payload, isBinary=message["binary"],
                               fragmentSize=message["fragment"])
            stats["sent"] += 1
            reply = await client.next_message(
                CAMERA_TIMEOUT if work or b"start_preview" in payload
                else TIMEOUT)
            if reply is not None and reply.get("type") == "authenticated":
                pushed = await client.next_message(TIMEOUT)
                if pushed is None or pushed.get("type") != "camera_info":
                    return "no camera_info after authenticated: %r" % (
                        pushed,)
        finally:
            del self.in_flight[index]
        waited = time.monotonic() - sent_at
        stats["seconds"][(reply or {}).get("type", "none")] += waited
        stats["slowest"].append((round(waited, 2), payload[:60]))
        stats["slowest"] = sorted(stats["slowest"], reverse=True)[:5]
        for bad in client.bad:
            return "the server sent something that is not a JSON " \
                   "object: %r" % (bad,)
        if reply is None:
            if client.close_info is None:
                return "no reply within the timeout"
            code = client.close_info[1]
            stats["closes"][code] += 1
            if message["expect"] != "close":
                return "the connection was closed: %r" % (
                    client.close_info,)
            return None
        if message["expect"] == "close":
            stats["closes"]["expected but not closed"] += 1
        kind = reply.get("type")
        stats["replies"][kind] += 1
        if kind == "error":
            text = reply.get("error")
            if not isinstance(text, str):
                return "error without text: %r" % (reply,)
            stats["errors"][text.split(":")[0][:40]] += 1
            if "internal error" in text:
                return "internal error: %r" % (reply,)
        elif kind in BROADCAST_TYPES or not isinstance(kind, str):
            return "unexpected reply %r" % (reply,)
        value = parsed(message)
        if value is not None and valid_request_id(value.get("requestId")):
            expected = value.get("requestId")
            if reply.get("requestId") != expected:
                return "reply %r does not echo requestId %r" % (
                    {k: v for k, v in reply.items() if k != "image"},
                    expected)
        elif "requestId" in reply:
            return "reply %r to a message without a valid requestId" % (
                reply,)
        return None

    # Afterwards ----------------------------------------------------------

    async def check_still_working(self):
        """
        The service still streams, captures and answers WebSocket
        clients; every subscription the barrage made is gone.
        """
        parts = await self.preview(2)
        self.assertGreater(len(parts), 10, "live view after the barrage")
        response = await self.get("/capture")
        self.assertEqual(response.code, 200, "capture after the barrage")
        photo = await response.content()
        self.assertEqual(jpeg_size(photo), EOS_STILL)
        client = await ws_connect(self.port)
        await client.next_message(TIMEOUT)
        await client.next_message(TIMEOUT)
        client.sendMessage(json.dumps({"type": "get_camera_info",
                                       "requestId": "after"}).encode())
        reply = await client.next_message(TIMEOUT)
        self.assertEqual((reply or {}).get("type"), "camera_info", reply)
        client.sendClose(1000)
        await client.closed
        # Nobody is watching any more: live view stops and no gphoto2
        # child lingers.
        for _ in range(100):
            if (self.broadcaster.demand == 0
                    and not self.session.camera_in_use
                    and not self.service.websocket.clients):
                break
            await sleep(0.1)
        self.assertEqual(self.broadcaster.demand, 0, "subscribers left")
        # At most the held session's worker, and no process fourcut does
        # not know of.
        self.assertLessEqual(len(self.session.children),
                             1 if self.session.driver.holds_session else 0,
                             "gphoto2 children left")
        self.assertEqual(sorted(gphoto2_children()),
                         sorted(self.session.children))
        self.assertEqual(self.service.websocket.clients, set())
        return "preview %d frames, capture %d bytes, state %s" % (
            len(parts), len(photo), self.session.state)
