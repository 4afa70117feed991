# -*- test-case-name: tests.booth.test_links -*-
"""
This machine's address on the local network, for guest links when the
booth's own screen reached fourcut on 127.0.0.1: a phone on the venue's
Wi-Fi can reach the booth there, with no Internet and no DNS.

The address is the one the kernel would send from towards a private
network (a UDP socket's C{connect} picks a route and sends nothing), else
the first non-loopback IPv4 address of the host's name; L{None} if the
machine has no network but loopback.
"""

import ipaddress
import socket
import time

__all__ = ["lan_address", "is_loopback_host", "LanAddress"]

#: Where the kernel is asked to route to: a private address, never sent to.
_PROBES = ("10.255.255.255", "192.168.255.255", "172.31.255.255")


def _usable(address):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified or ip.is_link_local)


def lan_address():
    """
    This machine's IPv4 address on the local network, or L{None}.
    Cheap (no packet is sent), but a system call or two.
    """
    for probe in _PROBES:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.connect((probe, 9))
                address = udp.getsockname()[0]
            except OSError:
                continue
        if _usable(address):
            return address
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None,
                                   socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return None
    for info in infos:
        if _usable(info[4][0]):
            return info[4][0]
    return None


def is_loopback_host(host):
    """
    Whether C{host} (C{name[:port]}, C{[v6][:port]}) names this machine
    only: C{localhost}, 127.0.0.0/8, C{::1}.
    """
    if host.startswith("["):
        name = host[1:host.find("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class LanAddress:
    """
    L{lan_address}, asked again at most every C{ttl} seconds (a laptop
    booth may change networks; a QR code per strip must not cost a system
    call each).
    """

    def __init__(self, find=lan_address, clock=time.monotonic, ttl=30.0):
        self._find = find
        self._clock = clock
        self._ttl = ttl
        self._value = None
        self._at = None

    def __call__(self):
        now = self._clock()
        if self._at is None or now - self._at >= self._ttl:
            self._value = self._find()
            self._at = now
        return self._value
