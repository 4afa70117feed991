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

A wrong key must tell a stranger nothing, not even whether the strip
exists (issue 25: a wrong key took 820 microseconds on an existing strip
and 690 on a missing one, and strip names were stamped to the second, so
existing strips could be found by walking the clock). Keys are
L{KEY_LENGTH} characters, and a key of another length is refused before
any name is looked at; L{stored_key} does the same work for a missing
strip as for one that is there (it parses a decoy strip's head in its
place); L{key_matches} always compares L{KEY_LENGTH} bytes in constant
time. Strip names (L{strip_name_hint}) carry the day and a random part,
no time of day.
"""

import hmac
import os
import re
import secrets
import stat
import time
from collections import OrderedDict

from twisted.internet import defer, threads

from fourcut.booth import qr
from fourcut.booth.lan import is_loopback_host
from fourcut.booth.strip import METADATA_PREFIX, METADATA_READ, parse_metadata

__all__ = ["KEY_LENGTH", "ShareLinks", "key_matches", "new_key",
           "safe_host", "stored_key", "strip_name_hint", "valid_key"]

#: Characters of a guest key (C{secrets.token_urlsafe(16)}: 128 bits).
KEY_LENGTH = 22

_KEY = re.compile(r"\A[A-Za-z0-9_-]{%d}\Z" % KEY_LENGTH)

#: Compared against when a strip has no usable key (or is missing): the
#: same length, so the comparison takes the same time.
_DECOY_KEY = b"-" * KEY_LENGTH

#: The head of a strip that is not there, parsed in place of a missing
#: strip's: a JPEG start, a strip comment with a key, filler to the
#: length read from a real one.
_DECOY_HEAD = (lambda comment: (
    b"\xff\xd8\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    + b"\xff\xda" + b"\0" * METADATA_READ)[:METADATA_READ])(
        METADATA_PREFIX + b'{"key": "' + _DECOY_KEY + b'", "layout": "2x2", '
        b'"sequence": "000000000000", "shots": ["a.jpg", "b.jpg", "c.jpg", '
        b'"d.jpg"]}')

#: Read in place of a strip that is not there.
DECOY_FILE = "/dev/zero"

#: How strip names start.
STRIP_PREFIX = "strip-"


def new_key():
    """
    A new guest key: L{KEY_LENGTH} URL-safe characters, 128 random bits.
    """
    return secrets.token_urlsafe(16)


def valid_key(key):
    """
    Whether C{key} (L{bytes} from a URL) has a guest key's shape.
    """
    return bool(_KEY.match(key.decode("latin-1")))


def strip_name_hint(wall_clock=time.time):
    """
    The name a new strip is saved under (without C{.jpg}):
    C{strip-YYYYmmdd-} and 48 random bits in hex. The day keeps a
    listing readable; no time of day, so nothing a stranger could walk.
    """
    return "%s%s-%s" % (STRIP_PREFIX,
                        time.strftime("%Y%m%d", time.localtime(wall_clock())),
                        secrets.token_hex(6))


def stored_key(path):
    """
    The guest key kept in the strip at C{path}, or L{None} if it is not a
    regular file or holds no key. The same work either way: a missing
    file's place is taken by a decoy strip's head, parsed in full.
    Blocking.
    """
    head = None
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
        real = True
    except OSError:
        # The same system calls on a file that is always there.
        fd, real = _open_decoy(flags), False
    if fd is not None:
        try:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
            read = os.read(fd, METADATA_READ)
            if real and regular:
                head = read
        except OSError:
            head = None
        finally:
            os.close(fd)
    metadata = parse_metadata(head if head is not None else _DECOY_HEAD)
    if head is None:
        return None
    key = (metadata or {}).get("key")
    return key if isinstance(key, str) and key else None


def _open_decoy(flags):
    try:
        return os.open(DECOY_FILE, flags)
    except OSError:
        return None


def key_matches(found, supplied):
    """
    Whether C{supplied} (L{bytes}, of L{valid_key}'s shape) is C{found}
    (a strip's key, or L{None}), compared in constant time over
    L{KEY_LENGTH} bytes whatever C{found} is.
    """
    usable = (isinstance(found, str) and len(found) == KEY_LENGTH
              and found.isascii())
    expected = found.encode("ascii") if usable else _DECOY_KEY
    same = hmac.compare_digest(expected, supplied)
    return same and usable

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
