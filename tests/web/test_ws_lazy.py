"""
Autobahn (and the C{cryptography} package, CBOR and txaio it brings) is
imported only when the first client asks for C{/ws} (issue 23): the
service as C{twistd fourcut} makes it, in a process of its own, since
every other test of this process has loaded Autobahn long since. What a
WebSocket client sees once it has loaded is the other tests' (the
in-memory L{tests.web.test_ws}, and L{tests.integration.test_ws}).
"""

import json
import os
import subprocess
import sys

from twisted.trial.unittest import TestCase

from tests.support import ROOT

#: Run in a fresh interpreter: the service as the tap makes it for a
#: camera on USB (not started: nothing listens, no camera is looked for),
#: then requests for C{/ws}
#: written into a connection of its listening factory. Prints what was
#: loaded and answered after each step, as JSON.
SCRIPT = r"""
import json, sys
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from fourcut.tap import Options, makeService

LOADED = ("autobahn", "txaio", "cbor2")

def loaded():
    return sorted(name for name in LOADED if name in sys.modules)

def request(head):
    transport = StringTransport(
        hostAddress=IPv4Address("TCP", "127.0.0.1", 8080),
        peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
    channel = service.limits.buildProtocol(transport.getPeer())
    channel.makeConnection(transport)
    channel.dataReceived(head.encode("ascii") + b"\r\n\r\n")
    return transport.value().decode("latin-1")

options = Options()
options.parseOptions(["--photos", sys.argv[1],
                      "--listen", "tcp:0:interface=127.0.0.1"])
service = makeService(options, reactor=reactor)
service.limits.doStart()
steps = {"built": {"loaded": loaded()}}
for name, head in [
        ("plain_get", "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080"),
        ("post", "POST /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                 "Content-Length: 0"),
        ("upgrade", "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13"),
        ("second_upgrade", "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13")]:
    answer = request(head)
    steps[name] = {"loaded": loaded(), "status": answer.split("\r\n")[0],
                   "answer": answer}
steps["clients"] = service.websocket.client_count()
steps["factories"] = len({id(client.factory)
                          for client in service.websocket.clients})
print(json.dumps(steps))
"""


class LazyAutobahnTests(TestCase):
    """
    The service loads Autobahn at the first WebSocket handshake, not
    before.
    """

    def test_loaded_at_first_upgrade(self):
        """
        Building the service loads none of Autobahn; neither do a C{GET}
        of C{/ws} without an upgrade (fourcut's 426) nor a C{POST} (405).
        The first upgrade loads it and is accepted (101, then seed 001's
        C{connected} message); the second uses the factory the first
        made.
        """
        photos = os.path.abspath(self.mktemp())
        out = subprocess.check_output(
            [sys.executable, "-c", SCRIPT, photos], cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=ROOT))
        steps = json.loads(out.decode("utf-8").splitlines()[-1])
        self.assertEqual(steps["built"]["loaded"], [])
        self.assertEqual(steps["plain_get"]["loaded"], [])
        self.assertEqual(steps["plain_get"]["status"],
                         "HTTP/1.1 426 Upgrade Required")
        self.assertIn('"status": 426', steps["plain_get"]["answer"])
        self.assertEqual(steps["post"]["loaded"], [])
        self.assertEqual(steps["post"]["status"],
                         "HTTP/1.1 405 Method Not Allowed")
        for step in ("upgrade", "second_upgrade"):
            self.assertEqual(steps[step]["status"],
                             "HTTP/1.1 101 Switching Protocols", step)
            self.assertIn('"type": "connected"', steps[step]["answer"])
            self.assertIn("autobahn", steps[step]["loaded"])
        self.assertEqual((steps["clients"], steps["factories"]), (2, 1))
