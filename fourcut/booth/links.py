# -*- test-case-name: tests.integration.test_booth_http -*-
"""
The link a guest's phone opens to take a strip home, and its QR code.

The link is C{BASE/share/KEY/NAME}: C{KEY} is 128 random bits made when
the strip is composed and kept in the strip itself
(L{fourcut.booth.strip.read_metadata}), so one link gives one strip and
guessing another is hopeless; nothing needs storing beside the photos,
and links survive restarts. C{BASE} is C{booth.public_url} if the
operator set one (needed when the booth's own screen opens
C{http://127.0.0.1:8080}, an address no phone can reach), else the
scheme and C{Host} the screen itself used, so each screen's QR code
points where that screen reached fourcut; when that is the machine itself
(C{127.0.0.1}, C{localhost}: a kiosk's own screen), this machine's
address on the local network (L{fourcut.booth.lan}) with the same port.
The link opens the strip's share page (L{fourcut.booth.sharepage}).

With C{access.token} set, C{/share/} needs the token like any other path
unless C{booth.guest_links} is true: then there is no guest link
(L{ShareLinks.enabled} is false) and screens show no QR code.
"""

import re
from collections import OrderedDict

from twisted.internet import defer, threads

from fourcut.booth import qr
from fourcut.booth.lan import is_loopback_host

__all__ = ["ShareLinks", "safe_host"]

#: A C{Host} header fourcut will put into a link: a name or address and
#: an optional port, nothing that could break out of the URL.
_HOST = re.compile(
    r"\A(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?\Z")


def _port_of(host):
    """
    C{":PORT"} of C{host} (C{name:port} or C{[v6]:port}), or C{""}.
    """
    match = re.search(r"(?<=[^:\]]):[0-9]{1,5}\Z|(?<=\]):[0-9]{1,5}\Z",
                      host)
    return match.group(0) if match else ""


def safe_host(value):
    """
    C{value} (a C{Host} header, L{bytes} or L{str}) if it is a plain host
    and port, else L{None}.
    """
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str) and _HOST.match(value):
        return value
    return None


class ShareLinks:
    """
    @param reactor: for the thread that renders QR codes.
    @param public_url: C{booth.public_url}, or L{None}.
    @param enabled: whether a guest can open the link (no token, or
        C{booth.guest_links}).
    @param scheme: C{http} or C{https}, what the server listens with.
    @param fallback_host: the host used when a request's C{Host} is
        missing or unusable.
    @param lan_host: C{lan_host()}, this machine's address on the local
        network or L{None} (L{fourcut.booth.lan.LanAddress}): it replaces
        a loopback C{Host} (a kiosk's screen on 127.0.0.1), which no
        phone can reach. L{None}: never.
    """

    #: QR codes kept, by URL (one per strip and screen address).
    CACHE = 32

    def __init__(self, reactor, public_url=None, enabled=True,
                 scheme="http", fallback_host="127.0.0.1", lan_host=None):
        self._reactor = reactor
        self.lan_host = lan_host
        self.public_url = public_url
        self.enabled = enabled
        self.scheme = scheme
        self.fallback_host = fallback_host
        self._codes = OrderedDict()

    def url(self, share_path, host=None):
        """
        The absolute guest link for C{share_path} (C{/share/KEY/NAME}) as
        seen from C{host}, or L{None} if guests cannot use links.
        """
        if not self.enabled or share_path is None:
            return None
        if self.public_url is not None:
            return self.public_url + share_path
        host = safe_host(host) or self.fallback_host
        if self.lan_host is not None and is_loopback_host(host):
            address = self.lan_host()
            if address is not None:
                host = address + _port_of(host)
        return "%s://%s%s" % (self.scheme, host, share_path)

    def qr(self, url):
        """
        A L{Deferred} firing with the QR code of C{url} as an SVG data URI,
        rendered in a thread; L{None} for no URL.
        """
        if url is None:
            return defer.succeed(None)
        if url in self._codes:
            self._codes.move_to_end(url)
            return defer.succeed(self._codes[url])
        d = threads.deferToThreadPool(self._reactor,
                                      self._reactor.getThreadPool(),
                                      qr.svg_data_uri, url)

        def keep(code):
            self._codes[url] = code
            while len(self._codes) > self.CACHE:
                self._codes.popitem(last=False)
            return code
        return d.addCallback(keep)

    async def decorate(self, event, host=None):
        """
        C{event} (a C{strip_ready}) with C{share_url} and C{qr} for a
        screen that reached the server as C{host}.
        """
        event = dict(event)
        event["share_url"] = self.url(event.get("share"), host)
        event["qr"] = await self.qr(event["share_url"])
        return event
