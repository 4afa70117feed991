# -*- test-case-name: tests.integration.test_service -*-
"""
The whole service, started for a test: L{ServiceTestCase} runs
C{twistd fourcut}'s service tree on this reactor with the virtual camera
on free loopback ports, and L{WebSocketTestCase} has WebSocket clients
for it; L{gphoto2_children} sees which camera processes are left;
L{parse_multipart} reads live view as a client does.
"""

import os

import treq
import yaml
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from fourcut.tap import Options, makeService
from fourcut.virtualcam import usbport

from tests.support import EOS_USB, PTPIP, jpeg_size
from tests.support.wsclient import connect

__all__ = ["ServiceTestCase", "WebSocketTestCase", "PTPIPWebSocketTestCase",
           "gphoto2_children", "parse_multipart", "CAMERA_MODULES"]


#: Modules of fourcut's python-gphoto2 children.
CAMERA_MODULES = (b"fourcut.camera.child.worker", b"fourcut.camera.child.settings")


def gphoto2_children(parent=None):
    """
    PIDs of the children of C{parent} (default: this process) that talk to
    the camera: gphoto2 CLI children and fourcut's python-gphoto2 children
    (the camera worker, camconfig), as the OS sees them (not as fourcut
    remembers them).
    """
    found = []
    me = str(os.getpid() if parent is None else parent)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
            ppid = stat[stat.rindex(")") + 2:].split()[1]
            if ppid != me:
                continue
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        if name == "gphoto2" or any(module in argv
                                    for module in CAMERA_MODULES):
            found.append(int(entry))
    return found


def parse_multipart(body, boundary=b"frame"):
    """
    Split a multipart/x-mixed-replace body into C{(headers, jpeg)} parts
    and say whether the closing boundary came. A part without a
    Content-Length is empty (the one C{/preview} ends with: each part's
    start is sent ahead of its frame) and left out, as is a part whose
    headers have not ended.
    """
    parts = []
    position = 0
    delimiter = b"--" + boundary
    while True:
        start = body.find(delimiter, position)
        if start < 0:
            return parts, False
        if body[start + len(delimiter):start + len(delimiter) + 2] == b"--":
            return parts, True
        header_end = body.find(b"\r\n\r\n", start)
        if header_end < 0:      # the next part's start, sent in advance
            return parts, False
        headers = {}
        for line in body[start + len(delimiter) + 2:header_end].split(b"\r\n"):
            name, value = line.split(b": ", 1)
            headers[name.lower()] = value
        if b"content-length" not in headers:
            position = header_end + 4
            continue
        length = int(headers[b"content-length"])
        data = body[header_end + 4:header_end + 4 + length]
        parts.append((headers, data))
        position = header_end + 4 + length


class ServiceTestCase(TestCase):
    """
    Starts fourcut with its virtual camera on free loopback ports.

    @cvar config: a dict written as the YAML config file, or L{None}.
    @cvar scheme: of C{self.base}.
    """

    config = None
    scheme = "http"
    #: The virtual camera (C{camera.virtual_*}): the Canon EOS 700D on USB
    #: with the fast profile, as a booth runs it; the PTP/IP test classes
    #: set L{tests.support.PTPIP}, the generic camera over PTP/IP.
    virtual = EOS_USB
    #: C{camera.driver}: the default (the held session), or C{"cli"} in
    #: the test classes that run the same tests on the CLI driver.
    driver = None

    def listen(self):
        """
        The endpoint the service listens on.
        """
        return "tcp:0:interface=127.0.0.1"

    async def setUp(self):
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)
        self.photos = os.path.abspath(self.mktemp())
        argv = ["--virtual-camera", "--photos", self.photos,
                "--listen", self.listen()]
        config = {section: dict(values)
                  for section, values in (self.config or {}).items()}
        camera = config.setdefault("camera", {})
        for key, value in self.virtual.items():
            camera.setdefault(key, value)
        if self.driver is not None:
            camera.setdefault("driver", self.driver)
        path = self.mktemp() + ".yaml"
        with open(path, "w") as f:
            yaml.safe_dump(config, f)
        argv += ["--config", path]
        options = Options()
        options.parseOptions(argv)
        # What other tests of this process made (running gphoto2 on the
        # virtual camera themselves) is theirs to leave to the exit.
        self._others_iolibs = set(usbport.made_iolibs())
        self.service = makeService(options, reactor=reactor)
        self.service.startService()
        self.addCleanup(self.stopService)
        port = await self.service.web.listening
        self.port = port.getHost().port
        self.base = "%s://127.0.0.1:%d" % (self.scheme, self.port)
        self.camera = self.service.virtual_camera
        self.session = self.service.session
        self.broadcaster = self.service.broadcaster

    async def stopService(self):
        iolibs = set(usbport.made_iolibs()) - self._others_iolibs
        await self.service.stopService()
        # The virtual USB camera's port library directories went with it.
        self.assertEqual(sorted(path for path in iolibs
                                if os.path.exists(path)),
                         [], "fourcut-iolibs-* directories left behind")
        self.assertEqual(self.session.children, {},
                         "gphoto2 children left running")
        self.assertEqual(gphoto2_children(), [],
                         "gphoto2 processes left behind")

    def http_options(self):
        """
        How treq reaches the service (keyword arguments).
        """
        return {"pool": self.pool}

    def get(self, path):
        return treq.get(self.base + path, **self.http_options())

    async def preview(self, timeout=1.5, size=(960, 640)):
        response = await self.get("/preview?timeout=%s" % timeout)
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["multipart/x-mixed-replace; boundary=frame"])
        parts, closed = parse_multipart(await response.content())
        self.assertTrue(closed, "no closing boundary")
        for headers, data in parts:
            self.assertEqual(headers[b"content-type"], b"image/jpeg")
            self.assertIn(b"x-timestamp", headers)
        self.assertEqual(jpeg_size(parts[-1][1]), size)
        return parts


class WebSocketTestCase(ServiceTestCase):
    """
    The service with WebSocket clients: the virtual Canon EOS 700D over
    USB, as a booth runs it; L{PTPIPWebSocketTestCase} for the generic
    camera over PTP/IP.
    """

    virtual = EOS_USB

    async def client(self, **options):
        """
        A L{tests.support.wsclient.TestClient} that has had its
        C{connected} and C{camera_info}.
        """
        client = await connect(self, self.port, **options)
        await client.wait_for(lambda: len(client.messages) >= 2)
        return client

    async def frames_after(self, client, count, binary=False):
        """
        The next C{count} live view frames C{client} receives.
        """
        if binary:
            start = len(client.frames)
            await client.wait_for(lambda: len(client.frames) >= start + count)
            return client.frames[start:]
        start = len(client.of_type("preview_frame"))
        await client.wait_for(
            lambda: len(client.of_type("preview_frame")) >= start + count)
        return client.of_type("preview_frame")[start:]


class PTPIPWebSocketTestCase(WebSocketTestCase):
    """
    L{WebSocketTestCase} on the generic virtual camera over PTP/IP.
    """

    virtual = PTPIP
