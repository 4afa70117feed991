# -*- test-case-name: tests.integration.test_cors -*-
"""
Which other origins' pages may call fourcut: C{server.cors_origins}.

A booth front-end is often served from somewhere else than the camera
(seed 001's React app on C{http://localhost:3000} calling the camera
service on C{:8080}). Browsers let such a page read fourcut's answers only
if fourcut names its origin (CORS), and let it open C{/ws} from anywhere
unless the server checks the C{Origin} itself. One list decides both:

  - an HTTP request whose C{Origin} is listed is answered with
    C{Access-Control-Allow-Origin} naming it (and C{Vary: Origin}), errors
    included, so that the page can read why it was refused;
  - a preflight (C{OPTIONS} with C{Access-Control-Request-Method}) from a
    listed origin is a 204 naming the path's methods and the
    C{Authorization} header; from another origin it is a 403 that says
    what to configure;
  - a WebSocket handshake is accepted without an C{Origin} (no browser:
    seed 001's backend, wscat, scripts), from the page's own origin (a
    page fourcut serves), or from a listed origin; any other is refused
    with 403 and the setting to change.

The list is empty by default: no other origin. C{"null"} is the origin of
a page opened from a file; C{"*"} allows every origin (any web page a
visitor opens could then drive the camera through their browser, with the
token if the page has it).
"""

from fourcut.config import normalise_origin

__all__ = ["ALLOWED_HEADERS", "CORSPolicy", "EXPOSED_HEADERS", "MAX_AGE",
           "is_preflight", "same_origin"]

#: Request headers a cross-origin page may send (besides the safelisted
#: ones): the token, and a content type for a POST.
ALLOWED_HEADERS = b"Authorization, Content-Type"

#: Response headers a cross-origin page may read (besides the safelisted
#: ones).
EXPOSED_HEADERS = (b"Content-Disposition, Content-Length, Retry-After, "
                   b"WWW-Authenticate, X-Timestamp")

#: Seconds a browser may keep a preflight's answer.
MAX_AGE = b"600"


def same_origin(origin, host, secure):
    """
    Whether C{origin} (an C{Origin} header) is the site a request with
    C{Host: host} went to, over TLS if C{secure}: a page fourcut served
    itself.
    """
    if not origin or not host:
        return False
    try:
        origin = normalise_origin(origin)
        mine = normalise_origin(("https://" if secure else "http://") + host)
    except ValueError:
        return False
    return origin == mine


def _text(value):
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


class CORSPolicy:
    """
    C{server.cors_origins}: which other origins may call fourcut.

    @ivar origins: the listed origins, normalised.
    """

    def __init__(self, origins=()):
        self.origins = frozenset(normalise_origin(origin)
                                 for origin in origins)

    def __repr__(self):
        return "<CORSPolicy %s>" % (", ".join(sorted(self.origins))
                                    or "no other origin",)

    def allows(self, origin):
        """
        Whether a page of C{origin} (an C{Origin} header's value, L{str} or
        L{bytes}) may call fourcut.
        """
        origin = _text(origin)
        if not origin:
            return False
        if "*" in self.origins:
            return True
        try:
            return normalise_origin(origin.strip()) in self.origins
        except ValueError:
            return False

    def refusal(self, origin):
        """
        The sentence refusing C{origin}: what to configure to allow it.
        """
        origin = _text(origin)
        shown = "".join(c if c.isprintable() else "?" for c in origin[:100])
        return ("origin %s is not allowed: add it to server.cors_origins "
                "in the config file" % (shown,))

    def add_headers(self, request):
        """
        Let the page that sent C{request} read the answer, if its origin is
        listed: C{Access-Control-Allow-Origin} and the headers it may read.
        With any origin listed, answers vary by C{Origin}.
        """
        if not self.origins:
            return
        request.setHeader(b"vary", b"Origin")
        origin = request.getHeader(b"origin")
        if origin is not None and self.allows(origin):
            request.setHeader(b"access-control-allow-origin", origin)
            request.setHeader(b"access-control-expose-headers",
                              EXPOSED_HEADERS)

    def preflight_headers(self, request, methods):
        """
        The headers of the answer to an allowed preflight C{request} for a
        path that answers C{methods}.
        """
        return [
            (b"access-control-allow-methods", b", ".join(methods)),
            (b"access-control-allow-headers", ALLOWED_HEADERS),
            (b"access-control-max-age", MAX_AGE),
        ]


def is_preflight(request):
    """
    Whether C{request} is a CORS preflight: an C{OPTIONS} from a page,
    asking whether it may send a request with
    C{Access-Control-Request-Method}.
    """
    return (request.method == b"OPTIONS"
            and request.getHeader(b"origin") is not None
            and request.getHeader(b"access-control-request-method")
            is not None)
