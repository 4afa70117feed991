# -*- test-case-name: tests.stream.test_internals -*-
"""
Every read or write of Twisted's and Autobahn's private state, in one place.

Streaming live view to many clients, and bounding what a slow one costs,
needs a few things neither library offers as API: how many bytes a
transport holds unsent, writing a frame to the socket at once, a prepared
WebSocket frame's bytes, whether an HTTP channel has a pipelined request
waiting. fourcut reads (and in two places writes) the libraries' own
attributes for them. Each function here is one such touch, and says what
it reads and why fourcut needs it; nothing else in fourcut touches those
attributes.

An upgrade of Twisted or Autobahn may rename or change any of them without
notice. C{tests.stream.test_internals} runs every function against the
installed libraries (a real TCP connection, TLS, twisted.web's channel and
request, Autobahn's protocol with and without permessage-deflate) and
fails naming the attribute and the versions when one has changed.
"""

import contextlib

__all__ = [
    "access_log_line",
    "buffered_bytes",
    "byte_ranges",
    "can_write_directly",
    "client_gone",
    "count_sent",
    "count_sent_octets",
    "handling_request",
    "mark_unclean",
    "outgoing_size_unlimited",
    "pipelined_data",
    "prepared_payload",
    "raise_send_limit",
    "range_offset_and_size",
    "response_chunked",
    "response_started",
    "send_close_frame",
    "sends_verbatim",
    "tls_unsent_bytes",
    "transport_below",
    "unparsed_data",
    "write_access_log",
    "write_directly",
]


# Twisted's transports ---------------------------------------------------

def transport_below(transport):
    """
    The transport a wrapping transport writes to (a
    L{twisted.protocols.policies.ProtocolWrapper}, TLS's
    L{twisted.protocols.tls.TLSMemoryBIOProtocol}), or L{None}.

    Reads the wrapper's own C{transport} attribute from its instance
    dictionary: C{ProtocolWrapper} forwards the names it lacks to the
    transport below, so C{getattr} would find the lower one's C{transport}
    on a wrapper that has none and walk past where it should stop.
    """
    return getattr(transport, "__dict__", {}).get("transport")


def tls_unsent_bytes(transport):
    """
    Cleartext bytes a TLS transport holds because its handshake is not done
    yet (C{TLSMemoryBIOProtocol._appSendBuffer}); 0 for any other
    transport. Part of what a client has not been sent
    (L{fourcut.stream.sockets.unsent_bytes}).
    """
    pending = getattr(transport, "__dict__", {}).get("_appSendBuffer")
    if not pending:
        return 0
    return sum(map(len, pending))


def buffered_bytes(connection):
    """
    Bytes a Twisted L{FileDescriptor} (the TCP connection) holds in memory,
    written by the application and not yet taken by the kernel: the
    buffer being sent (C{dataBuffer}) from C{offset}, and the writes
    queued behind it (C{_tempDataLen}).

    The kernel cannot see these bytes; fourcut counts them with the
    kernel's queue to pace frames (L{fourcut.stream.pacing}) and to stop
    reading the requests of a WebSocket client that does not read
    (L{fourcut.stream.sockets.unsent_bytes}).
    """
    return (len(connection.dataBuffer) - connection.offset
            + connection._tempDataLen)


def can_write_directly(connection):
    """
    Whether C{connection} has Twisted's C{writeSomeData}, the method its
    C{doWrite} hands bytes to the socket with (L{write_directly}).
    """
    return hasattr(connection, "writeSomeData")


def write_directly(connection, data):
    """
    Hand C{data} to C{connection}'s socket now, with Twisted's own
    C{writeSomeData} (what the reactor would call on the next turn of its
    loop): the bytes the kernel took (an L{int}, at most the connection's
    C{SEND_LIMIT}), or an exception instance if the connection is lost.

    Only when L{buffered_bytes} is 0, so that no byte overtakes another:
    L{fourcut.stream.sockets.FrameWriter} saves every client two
    C{epoll_ctl} calls and a trip round the reactor per frame with it.
    """
    return connection.writeSomeData(data)


def raise_send_limit(connection, limit):
    """
    Let C{connection} hand the kernel up to C{limit} bytes in one
    C{send()}: Twisted's C{tcp.Connection.writeSomeData} and
    C{FileDescriptor.doWrite} send at most C{SEND_LIMIT} (128 KiB, a class
    attribute) per call, two calls for every 170 KB live view frame. Set
    as an instance attribute, and only ever raised; every other connection
    keeps the class's.
    """
    if getattr(connection, "SEND_LIMIT", 0) < limit:
        connection.SEND_LIMIT = limit


# twisted.web ------------------------------------------------------------

def handling_request(channel):
    """
    Whether an L{twisted.web.http.HTTPChannel} is serving a request
    (C{_handlingRequest}): from the moment the request's content is in
    until its response is done. The next request's deadline
    (L{fourcut.web.limits.DeadlineChannel}) starts only after it.
    """
    return channel._handlingRequest


def pipelined_data(channel):
    """
    Whether an L{twisted.web.http.HTTPChannel} holds bytes it has received
    and not yet parsed (C{_dataBuffer}, filled while a request is being
    served): a pipelined request has begun, and its deadline starts when
    the current one is done.
    """
    return bool(channel._dataBuffer)


def unparsed_data(channel):
    """
    Whether an L{twisted.web.http.HTTPChannel} holds received bytes that
    its line parser has not gone through (L{LineReceiver}'s C{_buffer}):
    pipelined requests left waiting while the client did not read its
    answers (L{fourcut.web.limits.DeadlineChannel} then stops parsing,
    with LineReceiver's own C{paused} flag, and goes on when it reads).
    """
    return bool(channel._buffer)


def access_log_line(site, request):
    """
    The access log line twisted.web's L{twisted.web.http.HTTPFactory}
    would write for C{request} (its C{_logFormatter} with its cached
    C{_logDateTime}), with its newline; L{None} if C{site} has no log
    file open (C{_logFile}). L{fourcut.web.site.Site} writes it at most
    at a configured rate.
    """
    if site._logFile is None:
        return None
    return site._logFormatter(site._logDateTime, request) + "\n"


def write_access_log(site, line):
    """
    Write C{line} to C{site}'s access log file (C{_logFile}), if open.
    """
    if site._logFile is not None:
        site._logFile.write(line)


def count_sent(request, size):
    """
    Count C{size} bytes of C{request}'s body as sent (C{sentLength}, what
    the access log shows as the response's length): live view writes
    its framed parts to the connection itself, past C{request.write}.
    """
    request.sentLength += size


def response_chunked(request):
    """
    Whether C{request}'s response uses HTTP/1.1's chunked encoding
    (C{chunked}, decided by its first C{write}): live view frames its
    parts as chunks itself (L{fourcut.web.live.chunked_part}) only then.
    """
    return request.chunked


def response_started(request):
    """
    Whether C{request}'s status and headers are out (C{startedWriting}):
    after that an error can no longer be answered, only the connection
    closed.
    """
    return request.startedWriting


def client_gone(request):
    """
    Whether the connection C{request} came on is closed (C{_disconnected}):
    nothing may be written to it any more.
    """
    return request._disconnected


def byte_ranges(file_resource, header):
    """
    The byte ranges of a C{Range} header as twisted.web's
    L{twisted.web.static.File} C{file_resource} reads them
    (C{_parseRangeHeader}): C{(start, end)} pairs, either of them L{None}.
    The gallery (L{fourcut.web.gallery}) coalesces many into one.

    @raise ValueError: if C{header} is not a byte range twisted.web takes.
    """
    return file_resource._parseRangeHeader(header)


def range_offset_and_size(file_resource, start, end):
    """
    One of L{byte_ranges}'s C{(start, end)} as C{(offset, size)} within
    C{file_resource}'s file, as twisted.web would serve it
    (C{_rangeToOffsetAndSize}); C{(0, 0)} if it lies outside the file.
    """
    return file_resource._rangeToOffsetAndSize(start, end)


# Autobahn -------------------------------------------------------------

def prepared_payload(message):
    """
    The bytes of an Autobahn C{PreparedMessage}, framed once for every
    client as RFC 6455 sends them (C{payloadHybi}): what
    C{sendPreparedMessage} would hand C{sendData}, written by fourcut
    straight to the socket instead.
    """
    return message.payloadHybi


def sends_verbatim(protocol):
    """
    Whether a prepared frame may go to Autobahn C{protocol}'s transport as
    it is, as Autobahn's own C{sendData} would write it: no
    permessage-deflate negotiated (C{_perMessageCompress}) and nothing
    waiting in Autobahn's queue of chopped or synchronised writes
    (C{send_queue}), which the frame must not overtake.
    """
    return protocol._perMessageCompress is None and not protocol.send_queue


def count_sent_octets(protocol, size):
    """
    Count C{size} bytes written to the wire past Autobahn (see
    L{sends_verbatim}) in its traffic statistics
    (C{trafficStats.outgoingOctetsWireLevel}), as its C{sendData} does.
    """
    protocol.trafficStats.outgoingOctetsWireLevel += size


def mark_unclean(protocol, why):
    """
    Record on Autobahn C{protocol} that its connection ends without the
    closing handshake, and C{why} (C{wasClean}, C{wasNotCleanReason}):
    what its C{onClose} and log report when fourcut drops the connection
    itself (a client that sends but does not read).
    """
    protocol.wasClean = False
    protocol.wasNotCleanReason = why


def send_close_frame(protocol, code, reason):
    """
    Start the WebSocket closing handshake with any close code
    (C{sendCloseFrame}): Autobahn's public C{sendClose} takes only 1000
    and application codes (3000-4999), not RFC 6455's own 1008 (policy
    violation) and 1013 (try again later).
    """
    protocol.sendCloseFrame(code=code, reasonUtf8=reason.encode("utf-8"),
                            isReply=False)


@contextlib.contextmanager
def outgoing_size_unlimited(protocol):
    """
    Within the block, Autobahn C{protocol} sends messages of any size:
    Autobahn applies C{maxMessagePayloadSize} (an option copied onto each
    protocol) to what it sends as well as to what it receives, and that
    limit is there for the client's messages, not for fourcut's photos (a
    base64 capture is over a megabyte).
    """
    limit, protocol.maxMessagePayloadSize = protocol.maxMessagePayloadSize, 0
    try:
        yield
    finally:
        protocol.maxMessagePayloadSize = limit
