# -*- test-case-name: tests.integration.test_access -*-
"""
Access control and request limits for the web site, kept outside the API
resources: they are wrapped, not changed.

L{AccessPolicy} holds the shared token (C{access.token}) and says whether
live view is public (C{preview.public}). L{Guard} is the site's root
resource: it looks at the first path segment of each request, decides
whether the request needs the token, and either hands the request on to the
real resource tree or answers 401 itself. It decides on the segment the
real tree dispatches on (already percent-decoded by twisted.web), so
C{/%63apture} or C{/capture/x} cannot slip past, and anything it does not
know (C{/photos}, paths added later, typos) needs the token: the list of
public paths is short and explicit, everything else is protected.

=====================================  ======================================
First path segment                     Needs the token
=====================================  ======================================
C{health}, C{ws}                       never (C{/ws} checks its own messages,
                                       see L{fourcut.web.ws}); C{/health} hides
                                       its failure details from anonymous
                                       callers
C{preview}, C{snapshot}, C{""} (the    only with C{preview.public: false};
page)                                  the page asked for JSON is C{/status}
                                       and always needs it
C{AccessPolicy.open_paths}             never: the booth's pages, and
                                       C{share} with C{booth.guest_links}
                                       (L{fourcut.booth.service.open_paths});
                                       C{admin}, whose resource refuses all
                                       but its page without the token
                                       (L{fourcut.admin.resources})
everything else                        yes
=====================================  ======================================

C{OPTIONS} never needs the token: it only says which methods a path
takes, and a browser's CORS preflight never carries credentials.

Credentials are C{Authorization: Bearer TOKEN}. C{GET /preview} and
C{GET /snapshot} also take C{?token=TOKEN}, since an C{<img src>} cannot
send headers. Nothing logged holds the token: the access log
(L{redacting_log_formatter}) and fourcut's own messages show every C{token}
query parameter's value, and any path segment, query value, C{Referer} or
C{User-Agent} part that holds the configured token (percent-encoded or
not), as C{***}. Credentials that are sent must be right
even where none are needed, so that a front-end with a stale token finds
out at once. The token is compared with L{hmac.compare_digest}, and
refusals are logged with the peer and the path, never with the token or
the value tried.

L{BodyLimit} makes C{twisted.web} refuse request bodies over a limit with a
413 while the body is still arriving, instead of buffering it all: the
API takes no bodies.

L{Guard} also tells the connection limits (L{fourcut.web.limits}) which
connections have proved the token, and answers a 503 to the first request
of a connection that was accepted on probation and has not, unless it asks
for a path the booth's screens and guests use without the token
(L{PRIORITY}: the open paths and C{/ws}), which makes room instead.

A wrong token's 401 waits: the longer, the more wrong tokens its address
sent (L{fourcut.web.guesses.GuessThrottle}); bursts are logged once.

L{RateLimitedLog} keeps the access log from growing faster than
C{server.access_log_rate} lines a second: the lines over it are counted
and summarised once a second.
"""

import collections
import re

import hmac

from twisted.logger import Logger
from twisted.web import http, resource, server
from twisted.web.http import combinedLogFormatter, unquote
from twisted.web.iweb import IAccessLogFormatter
from zope.interface import implementer

from fourcut.web.limits import connection_of
from fourcut.web.replies import error, wants_json

__all__ = ["AccessPolicy", "BodyLimit", "Guard", "Overloaded", "PRIORITY",
           "RateLimitedLog", "Unauthorized", "bearer", "limit_bodies",
           "redact_uri", "redacting_log_formatter", "shown_header",
           "supplied_token"]

log = Logger()

#: Path segments that never need the token.
OPEN = frozenset([b"health", b"ws"])

#: Path segments that are live view: public when C{preview.public} is true.
PREVIEW = frozenset([b"preview", b"snapshot", b""])

#: Path segments whose C{GET} takes the token as a C{token} query parameter.
QUERY_TOKEN = frozenset([b"preview", b"snapshot"])

#: Path segments (besides C{AccessPolicy.open_paths}) that a connection on
#: probation may always reach: the booth page's own WebSocket, which
#: authenticates by message.
PRIORITY = frozenset([b"ws"])

#: Path segments whose handshake takes it there too (checked by the
#: WebSocket protocol itself, see L{fourcut.web.ws.auth.handshake_token}).
HANDSHAKE_TOKEN = frozenset([b"ws"])

#: What separates the parts of a URI that are redacted whole.
_URI_PARTS = re.compile(rb"([/?&;=#])")

#: The name of that query parameter.
TOKEN_PARAMETER = b"token"

#: The challenge sent with every 401 (RFC 6750).
CHALLENGE = b'Bearer realm="fourcut"'

#: What the access log shows instead of a token given in a URL.
MASK = b"***"

#: Seconds a connection whose request body was refused is kept open, its
#: input read and dropped, so that the client reads the 413 instead of a
#: TCP reset (closing a socket with unread input resets it at once).
LINGER = 2.0

#: What a request is (L{AccessPolicy.level}): open to all, live view, or
#: protected.
LEVEL_OPEN = "open"
LEVEL_PREVIEW = "preview"
LEVEL_TOKEN = "token"

#: Why a request is refused (L{AccessPolicy.verdict}).
MISSING = "missing"
WRONG = "wrong"


class AccessPolicy:
    """
    The shared token and what it guards.

    @param token: the token (C{access.token}), or L{None}: nothing is
        guarded.
    @param preview_public: whether live view needs no token
        (C{preview.public}).
    @param open_paths: more first path segments that never need the token
        (the booth's pages, see L{fourcut.booth.service.open_paths}).
    """

    def __init__(self, token=None, preview_public=True, open_paths=()):
        self._token = token.encode("utf-8") if token is not None else None
        self.preview_public = preview_public
        self.open_paths = frozenset(open_paths)

    def __repr__(self):
        return "<AccessPolicy token=%s preview_public=%r>" % (
            "set" if self.required else "none", self.preview_public)

    @property
    def required(self):
        """
        Whether a token is configured at all.
        """
        return self._token is not None

    def check(self, supplied):
        """
        Whether C{supplied} (L{bytes} or L{str}) is the token, compared in
        constant time. With no token configured, anything is.
        """
        if self._token is None:
            return True
        if supplied is None:
            return False
        if isinstance(supplied, str):
            supplied = supplied.encode("utf-8", "surrogatepass")
        return hmac.compare_digest(supplied, self._token)

    def level(self, name, request):
        """
        What a request whose first path segment is C{name} is:
        L{LEVEL_OPEN}, L{LEVEL_PREVIEW} or L{LEVEL_TOKEN}.
        """
        if name in OPEN or name in self.open_paths:
            return LEVEL_OPEN
        if name == b"" and wants_json(request):
            # The page answered as JSON is the service status.
            return LEVEL_TOKEN
        if name in PREVIEW:
            return LEVEL_PREVIEW
        return LEVEL_TOKEN

    def verdict(self, name, request):
        """
        L{None} if C{request}, whose first path segment is C{name}, may go
        on; else why not, L{MISSING} or L{WRONG}.
        """
        if not self.required:
            return None
        query = (name in QUERY_TOKEN
                 and request.method in (b"GET", b"HEAD"))
        supplied = supplied_token(request, query)
        if supplied is not None:
            return None if self.check(supplied) else WRONG
        if request.method == b"OPTIONS":
            return None
        level = self.level(name, request)
        if level == LEVEL_OPEN or (level == LEVEL_PREVIEW
                                   and self.preview_public):
            return None
        return MISSING

    def authenticated(self, request):
        """
        Whether C{request} carries the right token in its C{Authorization}
        header (always true with no token configured), for resources that
        are public but say more to those who have it.
        """
        return not self.required or self.check(bearer(request))

    def proves(self, name, request):
        """
        Whether C{request}, whose first path segment is C{name}, proves the
        token wherever it may carry it (always true with no token): what
        makes its connection authenticated for the connection limits.
        """
        if not self.required:
            return True
        query = ((name in QUERY_TOKEN or name in HANDSHAKE_TOKEN)
                 and request.method in (b"GET", b"HEAD"))
        supplied = supplied_token(request, query)
        return supplied is not None and self.check(supplied)

    def redact(self, text):
        """
        C{text} (L{bytes}: a URI, a path, a header) with the value of every
        C{token} query parameter, and every part between C{/ ? & ; = #}
        that holds the configured token, decoded or not, replaced by
        L{MASK}; any other occurrence of the token as well.
        """
        text = redact_uri(text)
        token = self._token
        if token is None or token not in unquote(text.replace(b"+", b" ")):
            return text
        parts = _URI_PARTS.split(text)
        for i in range(0, len(parts), 2):
            if token in unquote(parts[i].replace(b"+", b" ")):
                parts[i] = MASK
        return b"".join(parts).replace(token, MASK)


def bearer(request):
    """
    The token of an C{Authorization: Bearer TOKEN} header of C{request},
    or L{None}; other schemes count as no token.
    """
    header = request.getHeader(b"authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    return value.strip()


def supplied_token(request, query=False):
    """
    The token C{request} presents: its C{Authorization} header or, if
    C{query}, its last C{token} query parameter; L{None} if neither.
    """
    token = bearer(request)
    if token is None and query:
        # Parse the URI rather than use request.args, which a form body
        # adds to.
        values = _query_values(request.uri, TOKEN_PARAMETER)
        if values:
            token = values[-1]
    return token


def _query_pairs(uri):
    """
    The C{(raw pair, decoded name)} items of C{uri}'s query, split and
    decoded the way L{twisted.web.http.parse_qs} does.
    """
    _, question, query = uri.partition(b"?")
    if not question:
        return []
    pairs = []
    for part in query.split(b"&"):
        for item in part.split(b";"):
            name = item.split(b"=", 1)[0]
            pairs.append((item, unquote(name.replace(b"+", b" "))))
    return pairs


def _query_values(uri, wanted):
    values = []
    for item, name in _query_pairs(uri):
        if name == wanted and b"=" in item:
            value = item.split(b"=", 1)[1]
            if value:
                values.append(unquote(value.replace(b"+", b" ")))
    return values


def redact_uri(uri):
    """
    C{uri} with the value of every C{token} query parameter replaced by
    L{MASK}, as twisted.web would have decoded the parameter's name.
    """
    path, question, query = uri.partition(b"?")
    if not question:
        return uri
    redacted = []
    for part in query.split(b"&"):
        items = []
        for item in part.split(b";"):
            name = item.split(b"=", 1)[0]
            if (unquote(name.replace(b"+", b" ")) == TOKEN_PARAMETER
                    and b"=" in item):
                item = name + b"=" + MASK
            items.append(item)
        redacted.append(b";".join(items))
    return path + b"?" + b"&".join(redacted)


class _RedactedRequest:
    """
    A request as the access log sees it: the same, with its URI and the
    headers the log shows passed through L{AccessPolicy.redact}.
    """

    def __init__(self, request, policy):
        self._request = request
        self._policy = policy
        self.uri = policy.redact(request.uri)

    def getHeader(self, name):
        value = self._request.getHeader(name)
        if value is None:
            return None
        return self._policy.redact(value)

    def __getattr__(self, name):
        return getattr(self._request, name)


@implementer(IAccessLogFormatter)
class redacting_log_formatter:
    """
    twisted.web's combined access log line, with tokens masked by
    C{policy} (L{AccessPolicy.redact}) in the URI, C{Referer} and
    C{User-Agent}.
    """

    def __init__(self, policy=None):
        self.policy = policy if policy is not None else AccessPolicy()

    def __call__(self, timestamp, request):
        return combinedLogFormatter(timestamp,
                                    _RedactedRequest(request, self.policy))


class RateLimitedLog:
    """
    The access log's writes, at most C{rate} lines a second (bursts of a
    second's worth); the lines over it are dropped and counted, and a
    line saying how many, and for which address most, is written once
    the second is over. A client making thousands of requests a second
    (pipelined, never read) wrote 1 MB of log a second (issue 25).

    @param write: writes one line (the site's log file's C{write}).
    """

    def __init__(self, clock, rate, write):
        self.clock = clock
        self.rate = rate
        self.write = write
        self.tokens = max(1.0, rate)
        self.last = clock.seconds()
        self.dropped = collections.Counter()
        self._summary = None

    def line(self, text, host=None):
        """
        Write C{text} (one line, with its newline) unless over the rate.
        """
        if self.admit(host):
            self.write(text)
            return True
        return False

    def admit(self, host=None):
        """
        Whether one more line may be written now (the caller writes it);
        if not, it is counted for C{host}'s summary.
        """
        now = self.clock.seconds()
        self.tokens = min(max(1.0, self.rate),
                          self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.dropped[host] += 1
        if self._summary is None:
            self._summary = self.clock.callLater(1.0, self.summarise)
        return False

    def summarise(self):
        """
        Write the line that stands for those dropped, if any.
        """
        self._summary = None
        if not self.dropped:
            return
        total = sum(self.dropped.values())
        host, most = self.dropped.most_common(1)[0]
        self.dropped.clear()
        self.write("fourcut: %d more requests not logged (over "
                   "server.access_log_rate, %g lines a second); %d of them "
                   "from %s\n" % (total, self.rate, most, host))

    def stop(self):
        if self._summary is not None and self._summary.active():
            self._summary.cancel()
        self._summary = None
        self.summarise()


def _peer(request):
    """
    Who sent C{request}, for the log.
    """
    address = request.getClientAddress()
    host = getattr(address, "host", None)
    if host is None:
        return str(address)
    return "%s:%s" % (host, getattr(address, "port", "?"))


def _shown_path(request, policy):
    """
    C{request}'s path without its query (which may hold a token) and with
    the token masked, short and printable, for the log.
    """
    return shown_header(request.path, policy)


def shown_header(value, policy, limit=200):
    """
    C{value} (a path or a header, L{bytes} or L{str}) as fourcut's log may
    show it: the token masked as in the access log (L{AccessPolicy.redact}),
    at most C{limit} characters, unprintable ones as C{?}.
    """
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    text = policy.redact(value)[:limit].decode("ascii", "backslashreplace")
    return "".join(c if c.isprintable() else "?" for c in text)


class Unauthorized(resource.Resource):
    """
    The 401 for a request without the right token, whatever its method.
    """

    isLeaf = True

    def __init__(self, why, policy, throttle=None):
        resource.Resource.__init__(self)
        self.why = why
        self.policy = policy
        self.throttle = throttle

    def render(self, request):
        if self.why == WRONG:
            text = "fourcut: the token is wrong"
            challenge = CHALLENGE + b', error="invalid_token"'
            if self.throttle is None:
                log.warn("refused {method} {path} from {peer}: wrong token",
                         method=_method(request),
                         path=_shown_path(request, self.policy),
                         peer=_peer(request))
            else:
                # The throttle logs the burst; the answer waits.
                address = request.getClientAddress()
                d = self.throttle.wait(getattr(address, "host", None))
                request.notifyFinish().addErrback(lambda _: d.cancel())
                d.addCallback(lambda _: error(
                    request, http.UNAUTHORIZED, text,
                    headers=[(b"www-authenticate", challenge)]))
                d.addErrback(lambda _: None)
                return server.NOT_DONE_YET
        else:
            log.info("refused {method} {path} from {peer}: no token",
                     method=_method(request),
                     path=_shown_path(request, self.policy),
                     peer=_peer(request))
            text = ("fourcut: a token is required: send the header "
                    "'Authorization: Bearer TOKEN'")
            challenge = CHALLENGE
        error(request, http.UNAUTHORIZED, text,
              headers=[(b"www-authenticate", challenge)])
        return server.NOT_DONE_YET


class Overloaded(resource.Resource):
    """
    The 503 for the first request, without the token, of a connection that
    was accepted over the bound for unauthenticated connections (see
    L{fourcut.web.limits}); the connection is closed after it.
    """

    isLeaf = True

    def __init__(self, policy):
        resource.Resource.__init__(self)
        self.policy = policy

    def render(self, request):
        log.info("refused {method} {path} from {peer}: too many "
                 "unauthenticated connections", method=_method(request),
                 path=_shown_path(request, self.policy), peer=_peer(request))
        request.channel.persistent = False
        error(request, http.SERVICE_UNAVAILABLE,
              "fourcut: too many connections without the token; try again "
              "later", headers=[(b"connection", b"close"),
                                (b"retry-after", b"5")])
        return server.NOT_DONE_YET


def _method(request):
    return request.method[:20].decode("ascii", "backslashreplace")


class Guard(resource.Resource):
    """
    The site's root: lets a request through to C{root} if L{AccessPolicy}
    allows it, else answers 401 (see the module docstring).
    """

    def __init__(self, root, policy, throttle=None):
        resource.Resource.__init__(self)
        self.root = root
        self.policy = policy
        self.throttle = throttle

    def getChildWithDefault(self, name, request):
        connection = connection_of(getattr(request.channel, "transport",
                                           None))
        priority = name in PRIORITY or name in self.policy.open_paths
        if connection is not None and not connection.request_started(
                self.policy.proves(name, request), priority):
            return Overloaded(self.policy)
        why = self.policy.verdict(name, request)
        if why is not None:
            return Unauthorized(why, self.policy, self.throttle)
        return self.root.getChildWithDefault(name, request)

    def render(self, request):
        return self.root.render(request)


class BodyLimit:
    """
    A mixin for L{twisted.web.server.Request} that refuses a request body
    over C{max_body} bytes with a 413 and closes the connection.

    twisted.web otherwise buffers any body in full (in memory, or in a
    temporary file over 100 kB) before a resource sees the request. A
    C{Content-Length} over the limit is refused as soon as the headers are
    in, before any of the body is read; a chunked body when its running
    total passes the limit. Either way nothing more is kept: the rest of
    what the client sends is read and dropped for L{LINGER} seconds, so
    that it reads the answer, and the connection is then closed.

    @cvar max_body: the largest body accepted, in bytes.
    """

    max_body = 65536
    _body_received = 0
    _body_refused = False
    _linger = None

    def gotLength(self, length):
        super().gotLength(length if length is None or length <= self.max_body
                          else 0)
        if length is not None and length > self.max_body:
            self._refuse_body(length)

    def handleContentChunk(self, data):
        if self._body_refused:
            return
        self._body_received += len(data)
        if self._body_received > self.max_body:
            self._refuse_body(None)
            return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version):
        if self._body_refused:
            # The refused body ended within what was already read; the
            # request is never processed.
            return
        self._drop_unparseable_content_type()
        super().requestReceived(command, path, version)

    def _drop_unparseable_content_type(self):
        # twisted.web parses Content-Type with the email package, which
        # raises on a value it splits into lines (a vertical tab, a form
        # feed, U+0085 in Latin-1): the request then got no answer at all
        # and an unhandled error was logged (found by tests.integration.
        # test_fuzz). Such a header says nothing usable: the request goes
        # on without it, and the resource answers as to a body of no
        # declared type.
        values = self.requestHeaders.getRawHeaders(b"content-type") or []
        if any(len(value.decode("charmap").splitlines()) > 1
               for value in values):
            log.info("ignored an unreadable Content-Type from {peer}",
                     peer=_peer(self))
            self.requestHeaders.removeHeader(b"content-type")

    def _refuse_body(self, length):
        self._body_refused = True
        channel = self.channel
        transport = channel.transport
        log.warn("refused a request body of {size} from {peer}: the limit "
                 "is {limit} bytes",
                 size=("%d bytes" % length if length is not None
                       else "more than %d bytes (chunked)" % self.max_body),
                 peer=_peer(self), limit=self.max_body)
        # Not "100 Continue" after all.
        self.requestHeaders.removeHeader(b"expect")
        body = (b"fourcut: request body too large: the limit is %d bytes "
                b"(this API takes no request bodies)\n" % self.max_body)
        transport.write(b"".join([
            b"HTTP/1.1 413 ", http.RESPONSES[413], b"\r\n",
            b"Content-Type: text/plain; charset=utf-8\r\n",
            b"Content-Length: %d\r\n" % len(body),
            b"Connection: close\r\n\r\n", body]))

        def drop(*args):
            pass

        # As twisted.web itself does with data after a last request: the
        # parser gets nothing more.
        channel.dataReceived = drop
        channel.lineReceived = drop
        channel.rawDataReceived = drop
        self._linger = channel.callLater(LINGER, transport.loseConnection)
        self.notifyFinish().addBoth(self._stop_lingering)

    def _stop_lingering(self, result):
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        self._linger = None


def limit_bodies(request_factory, max_body):
    """
    A subclass of C{request_factory} (a L{twisted.web.server.Request}
    class) that refuses bodies over C{max_body} bytes; see L{BodyLimit}.
    """
    return type("BodyLimited" + request_factory.__name__,
                (BodyLimit, request_factory), {"max_body": max_body})
