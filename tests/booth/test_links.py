"""
Guest links on the booth's own address (L{fourcut.booth.links},
L{fourcut.booth.lan}): a kiosk's screen on 127.0.0.1 gives phones the
machine's address on the local network; C{booth.public_url} overrides.
"""

from twisted.trial.unittest import SynchronousTestCase

from fourcut.booth.lan import LanAddress, is_loopback_host, lan_address
from fourcut.booth.links import ShareLinks
from fourcut.booth.service import listens_beyond_loopback

PATH = "/share/k" + "0" * 20 + "/strip-1.jpg"


class LinkTests(SynchronousTestCase):
    def test_loopback_screen_gets_the_lan_address(self):
        links = ShareLinks(None, lan_host=lambda: "192.168.4.1")
        for host, expected in [
                ("127.0.0.1:8080", "http://192.168.4.1:8080"),
                ("localhost:8080", "http://192.168.4.1:8080"),
                ("[::1]:9000", "http://192.168.4.1:9000"),
                ("127.0.0.1", "http://192.168.4.1"),
                # A screen on the network: the address it used.
                ("10.0.0.7:8080", "http://10.0.0.7:8080"),
                ("booth.local", "http://booth.local")]:
            self.assertEqual(links.url(PATH, host), expected + PATH, host)

    def test_public_url_wins(self):
        links = ShareLinks(None, public_url="https://booth.example",
                           lan_host=lambda: "192.168.4.1")
        self.assertEqual(links.url(PATH, "127.0.0.1:8080"),
                         "https://booth.example" + PATH)

    def test_no_lan(self):
        """
        No network but loopback, or a server that listens on loopback
        only (no phone could reach it anyway): the screen's own address.
        """
        links = ShareLinks(None, lan_host=lambda: None)
        self.assertEqual(links.url(PATH, "127.0.0.1:8080"),
                         "http://127.0.0.1:8080" + PATH)
        self.assertFalse(listens_beyond_loopback("tcp:0:interface=127.0.0.1"))
        self.assertFalse(listens_beyond_loopback(
            "tcp:8080:interface=\\:\\:1"))
        self.assertFalse(listens_beyond_loopback("unix:/run/fourcut.sock"))
        self.assertTrue(listens_beyond_loopback("tcp:8080"))
        self.assertTrue(listens_beyond_loopback(
            "tcp:8080:interface=0.0.0.0"))

    def test_loopback_hosts(self):
        for host in ("127.0.0.1", "127.1.2.3:80", "localhost", "[::1]",
                     "[::1]:8080", "LOCALHOST:1"):
            self.assertTrue(is_loopback_host(host), host)
        for host in ("10.0.0.1:80", "booth", "[fe80::1]:80", "::1x"):
            self.assertFalse(is_loopback_host(host), host)

    def test_lan_address(self):
        """
        Whatever the machine has, never a loopback address; asked again
        only after the cache's time.
        """
        address = lan_address()
        if address is not None:
            self.assertFalse(is_loopback_host(address))
        asked = []
        now = [0.0]
        cached = LanAddress(find=lambda: asked.append(1) or "10.1.1.1",
                            clock=lambda: now[0], ttl=30)
        self.assertEqual(cached(), "10.1.1.1")
        now[0] = 29
        cached()
        self.assertEqual(len(asked), 1)
        now[0] = 31
        cached()
        self.assertEqual(len(asked), 2)
