"""
The HTTP API of C{twistd fourcut} over a real listening site, with the
virtual Canon EOS 700D on USB (as a booth runs it) and the real gphoto2 CLI
and python-gphoto2 behind it; treq is the client. The PTP/IP classes run a
few of the same tests on the generic camera over PTP/IP, the CLI classes
those whose behaviour differs by camera driver. What the resources decide
(methods, error answers) is tested in memory (L{tests.web}).
"""

import os
import socket

from twisted.internet import defer, protocol, reactor

from fourcut.errors import SEED_NO_CAMERA
from fourcut.stream.sockets import NOTSENT_LOWAT

from tests.support import EOS_STILL, PTPIP, jpeg_size
from tests.support.clients import RawHTTP, connect_raw
from tests.support.service import ServiceTestCase, parse_multipart
from tests.support.time import sleep


class PreviewTests(ServiceTestCase):
    #: The answer to live view with the camera unplugged, and absent (not
    #: there at all): a USB camera that is gone is not detected, seed
    #: 000's 504.
    UNPLUGGED = (504, SEED_NO_CAMERA.encode())
    ABSENT = (504, SEED_NO_CAMERA.encode())

    async def test_two_clients(self):
        results = await defer.gatherResults(
            [defer.ensureDeferred(self.preview()) for _ in range(2)])
        for parts in results:
            self.assertGreater(len(parts), 10)
        self.assertEqual(len(self.session.children), 1)

    async def test_ten_clients(self):
        results = await defer.gatherResults(
            [defer.ensureDeferred(self.preview(2)) for _ in range(10)])
        for parts in results:
            self.assertGreater(len(parts), 10)

    async def test_bad_timeout(self):
        for value in ("abc", "-1", "nan"):
            response = await self.get("/preview?timeout=" + value)
            self.assertEqual(response.code, 400, value)
            self.assertIn(b"timeout", await response.content())

    async def test_live_view_stops_after_last_client(self):
        await self.preview(0.5)
        while self.session.camera_in_use:
            await sleep(0.1)
        self.assertEqual(self.session.state, "idle")
        # The CLI's live view child is gone; the held session keeps its
        # worker, with the camera open (camera.release_after releases it).
        self.assertEqual(len(self.session.children),
                         1 if self.session.driver.holds_session else 0)

    async def test_unplugged_camera(self):
        self.camera.unplug()
        response = await self.get("/preview")
        code, text = self.UNPLUGGED
        self.assertEqual(response.code, code)
        self.assertIn(text, await response.content())

    async def test_absent_camera(self):
        await self.camera.stop()
        response = await self.get("/preview")
        code, text = self.ABSENT
        self.assertEqual(response.code, code)
        self.assertIn(text, await response.content())

    async def test_snapshot(self):
        response = await self.get("/snapshot")
        self.assertEqual(response.code, 200)
        self.assertEqual(jpeg_size(await response.content()), (960, 640))


class CaptureTests(ServiceTestCase):
    STILL = EOS_STILL

    def assertSecondCopy(self, photo):
        """
        The EOS captures to its RAM (libgphoto2's default "Internal RAM"):
        nothing is left on the card.
        """
        self.assertEqual(self.camera.device.objects, {})
        self.assertEqual([entry["target"] for entry in
                          self.camera.device.capture_log], ["RAM"])

    async def test_capture_while_watching(self):
        """
        Three clients watch; a capture pauses live view, saves the photo
        and the watchers get frames again afterwards.
        """
        watchers = [defer.ensureDeferred(self.preview(5)) for _ in range(3)]
        await sleep(1.0)
        response = await self.get("/capture")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["image/jpeg"])
        photo = await response.content()
        captured_at = reactor.seconds()
        self.assertEqual(jpeg_size(photo), self.STILL)
        saved = os.listdir(self.photos)
        self.assertEqual(len(saved), 1)
        with open(os.path.join(self.photos, saved[0]), "rb") as f:
            self.assertEqual(f.read(), photo)
        for parts in await defer.gatherResults(watchers):
            after = [p for p in parts
                     if float(p[0][b"x-timestamp"]) > captured_at]
            self.assertGreater(len(after), 5)
        self.assertSecondCopy(photo)

    async def test_concurrent_captures(self):
        responses = await defer.gatherResults([
            self.get("/capture") for _ in range(3)])
        bodies = []
        for response in responses:
            self.assertEqual(response.code, 200)
            bodies.append(await response.content())
        self.assertEqual(len(set(bodies)), 3)
        self.assertEqual(len(os.listdir(self.photos)), 3)

    async def test_capture_failure(self):
        """
        The EOS does not focus: gphoto2's "Perhaps no focus?" (the CLI)
        or python-gphoto2's failure, a 503, nothing saved; the next
        capture works.
        """
        self.camera.device.no_focus()
        response = await self.get("/capture")
        self.assertEqual(response.code, 503)
        body = await response.content()
        if self.driver == "cli":
            self.assertIn(b"Perhaps no focus?", body)
        else:
            self.assertIn(b"failed", body)
            # The card has room: no word of it.
            self.assertNotIn(b"card is full", body)
        self.assertFalse(os.path.exists(self.photos)
                         and os.listdir(self.photos))
        self.assertEqual(self.camera.device.captures, 0)
        response = await self.get("/capture")
        self.assertEqual(response.code, 200)
        self.assertEqual(jpeg_size(await response.content()), self.STILL)


class CommandTests(ServiceTestCase):
    async def test_allowed(self):
        response = await self.get("/cmd?arg=--get-config=iso")
        self.assertEqual(response.code, 200)
        self.assertIn(b"Label: ISO Speed", await response.content())

    async def test_refused(self):
        for query in ("arg=--hook-script=/bin/sh", "", "arg=-a&arg=-L",
                      "arg=--port=usb:"):
            response = await self.get("/cmd?" + query)
            self.assertEqual(response.code, 400, query)
            self.assertIn(b"allowed:", await response.content())

    async def test_options_without_camera_keep_live_view(self):
        """
        C{--version}, C{--list-cameras} and C{--list-ports} never open the
        camera, so they run beside live view instead of pausing it: the
        same live view child goes on, and nobody else opened a session.
        """
        watcher = defer.ensureDeferred(self.preview(4))
        while self.session.state != "previewing":
            await sleep(0.05)
        live = self.session.live_view.current.pid
        states = []
        self.session.subscribe(lambda state, error: states.append(
            state))
        for option in ("--version", "--list-cameras", "--list-ports"):
            response = await self.get("/cmd?arg=" + option)
            self.assertEqual(response.code, 200, option)
            self.assertTrue(await response.content())
        self.assertEqual(self.session.live_view.current.pid, live)
        self.assertEqual(states, [])
        await watcher

    async def test_says_where_it_listens(self):
        """
        The address to open is logged once listening (port 0 here), so
        ./dev demo --listen ... never names the wrong one.
        """
        from twisted.logger import globalLogPublisher
        seen = []
        globalLogPublisher.addObserver(seen.append)
        self.addCleanup(globalLogPublisher.removeObserver, seen.append)
        web = type(self.service.web)(
            self.service.web.endpoint, self.service.web.site)
        web.startService()
        port = await web.listening
        self.addCleanup(web.stopService)
        lines = [e for e in seen
                 if e.get("log_format", "").startswith("fourcut: open")]
        self.assertEqual(len(lines), 1)
        self.assertEqual((lines[0]["scheme"], lines[0]["host"],
                          lines[0]["port"]),
                         ("http", "127.0.0.1", port.getHost().port))

    async def test_gphoto2_has_a_home_of_its_own(self):
        """
        libgphoto2 saves the last port in C{$HOME/.gphoto/settings}: the
        children write into fourcut's own HOME in its state directory
        (beside the photos), never the user's, and it is kept when
        fourcut stops (the capture target must survive a restart).
        """
        home = self.session.gphoto2.home
        self.assertNotEqual(home, os.environ.get("HOME"))
        response = await self.get("/cmd?arg=--get-config=iso")
        self.assertEqual(response.code, 200)
        await response.content()
        with open(os.path.join(home, ".gphoto", "settings")) as f:
            self.assertIn(self.camera.port, f.read())
        self.assertEqual(home, os.path.join(
            os.path.dirname(self.photos), "fourcut-state", "gphoto2-home"))
        await self.stopService()
        self.assertTrue(os.path.exists(os.path.join(home, ".gphoto",
                                                    "settings")))

    async def test_unknown_setting_is_the_clients_mistake(self):
        """
        A setting gphoto2 does not know is the client's mistake: a 400 with
        gphoto2's text (it was a 503, "unavailable"); the EOS driver says
        only "Bad parameters".
        """
        response = await self.get("/cmd?arg=--get-config=nosuch")
        self.assertEqual(response.code, 400)
        self.assertIn(b"Bad parameters", await response.content())

    async def test_reset(self):
        watcher = defer.ensureDeferred(self.preview(3))
        await sleep(0.5)
        response = await self.get("/reset")
        self.assertEqual(response.code, 200)
        self.assertEqual(await response.content(), b"Camera has been reset.")
        await watcher


class ClientBehaviourTests(ServiceTestCase):
    async def raw_preview(self, read):
        return await connect_raw(self, self.port, RawHTTP(
            b"GET /preview HTTP/1.1\r\nHost: x\r\n\r\n", read, keep=False))

    async def test_slow_client_does_not_stall_others(self):
        """
        A client that never reads keeps its connection, costs the server
        a bounded buffer, and the others still get every frame.
        """
        slow = await self.raw_preview(read=False)
        await sleep(1.0)
        parts = await self.preview(2)
        self.assertGreater(len(parts), 45)
        producers = list(self.broadcaster._subscribers)
        self.assertEqual(len(producers), 1)
        # The slow client's producer is paused by the transport or held
        # by its pacing, and skips frames; the server holds the
        # transport's 64 KiB plus about a frame for it.
        self.assertTrue(producers[0].paused or producers[0].waiting)
        self.assertGreater(producers[0].skipped, 30)
        stream = producers[0]._write.__self__
        transport = stream.request.channel.transport
        # And the kernel holds a bounded amount unsent for it.
        self.assertEqual(transport.getHandle().getsockopt(
            socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT), NOTSENT_LOWAT)
        self.assertLess(len(transport.dataBuffer)
                        + sum(map(len, transport._tempDataBuffer)),
                        64 * 1024 + 300 * 1024)
        self.assertTrue(slow.transport.connected)

    async def whole_response(self, request):
        """
        Send C{request} on a bare connection; everything the server sent
        until it closed: C{(head, body)}.
        """
        port = int(self.base.rsplit(":", 1)[1])
        received = []

        class Collect(protocol.Protocol):
            def connectionMade(self):
                self.transport.write(request)

            def dataReceived(self, data):
                received.append(data)

            def connectionLost(self, reason):
                done.callback(None)

        done = defer.Deferred()
        client = await protocol.ClientCreator(
            reactor, Collect).connectTCP("127.0.0.1", port)
        self.addCleanup(lambda: client.transport.abortConnection()
                        if client.transport.connected else None)
        await done
        head, _, body = b"".join(received).partition(b"\r\n\r\n")
        return head, body

    async def test_chunked_framing(self):
        """
        Over HTTP/1.1 the stream is chunked, one chunk a frame (fourcut
        frames each once for every client), and every chunk is well
        formed; the stream starts with the first part's start, each chunk
        holds a whole JPEG and ends with the next part's boundary and
        known headers (sent in advance), and the stream ends with the
        closing boundary and the last chunk.
        """
        head, body = await self.whole_response(
            b"GET /preview?timeout=1 HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n")
        self.assertIn(b"Transfer-Encoding: chunked", head)
        chunks, position = [], 0
        while True:
            line_end = body.index(b"\r\n", position)
            size = int(body[position:line_end], 16)
            chunk = body[line_end + 2:line_end + 2 + size]
            self.assertEqual(len(chunk), size)
            self.assertEqual(body[line_end + 2 + size:line_end + 4 + size],
                             b"\r\n")
            position = line_end + 4 + size
            if size == 0:
                break
            chunks.append(chunk)
        self.assertEqual(position, len(body))
        start = b"--frame\r\nContent-Type: image/jpeg\r\n"
        self.assertEqual(chunks[0], start)
        self.assertEqual(chunks[-1], b"\r\n\r\n--frame--\r\n")
        for chunk in chunks[1:-1]:
            parts, _ = parse_multipart(start + chunk)
            self.assertEqual(len(parts), 1)
            self.assertTrue(parts[0][1].startswith(b"\xff\xd8"))
            self.assertTrue(parts[0][1].endswith(b"\xff\xd9"))
            self.assertTrue(chunk.endswith(b"\xff\xd9\r\n" + start))
        parts, closed = parse_multipart(b"".join(chunks))
        self.assertTrue(closed)
        self.assertEqual(len(parts), len(chunks) - 2)
        self.assertGreater(len(chunks), 10)

    async def test_http10_is_not_chunked(self):
        """
        An HTTP/1.0 client gets the parts as they are, the stream ending
        when the connection closes.
        """
        head, body = await self.whole_response(
            b"GET /preview?timeout=1 HTTP/1.0\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.0 200"), head)
        self.assertNotIn(b"chunked", head.lower())
        parts, closed = parse_multipart(body)
        self.assertTrue(closed)
        self.assertGreater(len(parts), 10)
        for headers, data in parts:
            self.assertTrue(data.startswith(b"\xff\xd8"))
            self.assertTrue(data.endswith(b"\xff\xd9"))

    async def test_disconnecting_client_is_dropped(self):
        client = await self.raw_preview(read=True)
        while client.received < 100000:
            await sleep(0.1)
        self.assertEqual(self.broadcaster.demand, 1)
        client.transport.loseConnection()
        await client.lost
        for _ in range(20):
            if self.broadcaster.demand == 0:
                break
            await sleep(0.05)
        self.assertEqual(self.broadcaster.demand, 0)


class PTPIPPreviewTests(ServiceTestCase):
    """
    Live view from the generic camera over PTP/IP: a camera gone away
    resets the connection (503); none listening refuses it (seed 000's 504).
    """

    virtual = PTPIP
    UNPLUGGED = (503, b"Connection reset by peer")
    ABSENT = (504, SEED_NO_CAMERA.encode())

    test_two_clients = PreviewTests.test_two_clients
    test_unplugged_camera = PreviewTests.test_unplugged_camera
    test_absent_camera = PreviewTests.test_absent_camera


class PTPIPCaptureTests(ServiceTestCase):
    """
    Captures from the generic camera over PTP/IP, which keeps each photo
    on its card.
    """

    virtual = PTPIP
    STILL = (2592, 1728)

    def assertSecondCopy(self, photo):
        [stored] = self.camera.device.objects.values()
        self.assertEqual(stored.data, photo, "photo kept on the card")

    test_capture_while_watching = CaptureTests.test_capture_while_watching

    async def test_capture_failure(self):
        self.camera.storage_full()
        response = await self.get("/capture")
        self.assertEqual(response.code, 503)
        body = await response.content()
        if self.driver == "cli":
            # libgphoto2 2.5.30 waits for the camera's StoreFull event.
            self.assertIn(b"ran full", body)
        else:
            # python-gphoto2's 2.5.34 takes the refused InitiateCapture,
            # and says no more; the worker adds why.
            self.assertIn(b"failed", body)
            self.assertIn(b"the camera's card is full", body)
        self.assertFalse(os.path.exists(self.photos)
                         and os.listdir(self.photos))


# The CLI driver: the tests whose behaviour differs by driver (live view,
# captures, what /cmd and /reset do to the camera), not those of the web
# layer or of gphoto2's home, which are the same on both.

class CLIPreviewTests(ServiceTestCase):
    driver = "cli"
    UNPLUGGED = PreviewTests.UNPLUGGED
    ABSENT = PreviewTests.ABSENT

    test_two_clients = PreviewTests.test_two_clients
    test_live_view_stops_after_last_client = (
        PreviewTests.test_live_view_stops_after_last_client)
    test_unplugged_camera = PreviewTests.test_unplugged_camera
    test_absent_camera = PreviewTests.test_absent_camera
    test_snapshot = PreviewTests.test_snapshot


class CLICaptureTests(CaptureTests):
    driver = "cli"


class CLIPTPIPCaptureTests(PTPIPCaptureTests):
    driver = "cli"


class CLICommandTests(ServiceTestCase):
    driver = "cli"

    test_allowed = CommandTests.test_allowed
    test_options_without_camera_keep_live_view = (
        CommandTests.test_options_without_camera_keep_live_view)
    test_reset = CommandTests.test_reset
