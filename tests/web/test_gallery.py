"""
C{/photos} (L{fourcut.web.gallery.Photos}) mounted in a real listening site,
over photo files written here; treq is the client, and a bare TCP client
sends the request targets that treq would normalise.
"""

import json
import os

import treq
from twisted.internet import defer, reactor
from twisted.internet.endpoints import serverFromString
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web import resource, server
from twisted.web.client import HTTPConnectionPool

from fourcut.web.gallery import Photos, iso_time

from tests.support.clients import RawHTTP, connect_raw
from tests.support.time import sleep

#: 2023-11-14T22:13:20Z, in nanoseconds.
T0 = 1700000000 * 10 ** 9
SECOND = 10 ** 9



class HeldThreadPool:
    """
    A thread pool for L{threads.deferToThreadPool} that runs each function
    at once, in the reactor thread, but holds its result back until the
    test calls L{release}: a scan that has started and not finished.
    """

    def __init__(self):
        self.calls = 0
        self.held = []

    def callInThreadWithCallback(self, onResult, function, *args, **kwargs):
        self.calls += 1
        try:
            result = (True, function(*args, **kwargs))
        except BaseException:
            result = (False, Failure())
        self.held.append((onResult, result))

    def release(self):
        onResult, result = self.held.pop(0)
        onResult(*result)


class RecordingPhotos(Photos):
    """
    L{Photos} that keeps the requests it renders, so that a test can see
    when the server noticed a client hang up.
    """

    def render(self, request):
        self.requests.append(request)
        return Photos.render(self, request)


class GalleryTestCase(TestCase):
    timeout = 30

    def make_resource(self, directory):
        return Photos(directory, reactor)

    async def setUp(self):
        self.top = os.path.abspath(self.mktemp())
        os.mkdir(self.top)
        self.directory = os.path.join(self.top, "photos")
        os.mkdir(self.directory)
        self.resource = self.make_resource(self.directory)
        root = resource.Resource()
        root.putChild(b"photos", self.resource)
        site = server.Site(root)
        site.displayTracebacks = False
        port = await serverFromString(
            reactor, "tcp:0:interface=127.0.0.1").listen(site)
        self.addCleanup(port.stopListening)
        self.port = port.getHost().port
        self.base = "http://127.0.0.1:%d" % (self.port,)
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    def put(self, name, mtime_ns=T0, data=None):
        """
        Write a photo C{name} modified at C{mtime_ns}; return its bytes.
        """
        if data is None:
            data = b"\xff\xd8" + name.encode() + os.urandom(200) + b"\xff\xd9"
        path = os.path.join(self.directory, name)
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, ns=(mtime_ns, mtime_ns))
        return data

    def request(self, method, path, **kwargs):
        return treq.request(method, self.base + path, pool=self.pool,
                            **kwargs)

    async def get_json(self, path, code=200, method="GET"):
        response = await self.request(method, path)
        body = await response.content()
        self.assertEqual(response.code, code, body)
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["application/json"])
        return json.loads(body)

    async def names(self, path="/photos"):
        listing = await self.get_json(path)
        return [photo["name"] for photo in listing["photos"]]

    async def raw(self, target, method=b"GET"):
        """
        Send C{target} byte for byte; return the status, the headers
        (lower-case names) and the body.
        """
        client = RawHTTP(b"%s %s HTTP/1.1\r\nHost: x\r\nConnection: close"
                         b"\r\n\r\n" % (method, target))
        await connect_raw(self, self.port, client)
        data = await client.lost
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            name, value = line.split(b":", 1)
            headers[name.strip().lower()] = value.strip()
        return int(lines[0].split()[1]), headers, body


class ListingTests(GalleryTestCase):
    async def test_newest_first(self):
        """
        Newest first by modification time, then by name (descending) for
        photos modified at the same moment, whatever the names say.
        """
        sizes = {}
        for name, mtime in [("a.jpg", T0 + 2 * SECOND),
                            ("b.jpg", T0),
                            ("c.jpg", T0 + SECOND),
                            ("d.jpg", T0 + SECOND),
                            ("fourcut-20200101-000000-1.jpg",
                             T0 + 3 * SECOND + 250000000)]:
            sizes[name] = len(self.put(name, mtime))
        listing = await self.get_json("/photos")
        self.assertEqual([p["name"] for p in listing["photos"]],
                         ["fourcut-20200101-000000-1.jpg", "a.jpg", "d.jpg",
                          "c.jpg", "b.jpg"])
        newest = listing["photos"][0]
        self.assertEqual(newest, {
            "name": "fourcut-20200101-000000-1.jpg",
            "kind": "photo",
            "size": sizes["fourcut-20200101-000000-1.jpg"],
            "time": "2023-11-14T22:13:23.250000+00:00",
            "mtime": 1700000003.25,
            "url": "/photos/fourcut-20200101-000000-1.jpg"})
        for photo in listing["photos"]:
            self.assertEqual(photo["size"], sizes[photo["name"]])
        self.assertEqual(listing["photos"][-1]["time"],
                         "2023-11-14T22:13:20.000000+00:00")
        self.assertEqual(
            {key: value for key, value in listing.items() if key != "photos"},
            {"total": 5, "limit": 50, "offset": 0, "before": None,
             "next": None})

    def test_iso_time(self):
        self.assertEqual(iso_time(T0 + 123456789),
                         "2023-11-14T22:13:20.123456+00:00")
        self.assertEqual(iso_time(0), "1970-01-01T00:00:00.000000+00:00")

    async def test_paging(self):
        names = ["p%d.jpg" % i for i in range(7)]
        for i, name in enumerate(names):
            self.put(name, T0 + i * SECOND)
        newest_first = names[::-1]
        seen = []
        path = "/photos?limit=3"
        pages = []
        while path is not None:
            listing = await self.get_json(path)
            self.assertEqual(listing["total"], 7)
            self.assertEqual(listing["limit"], 3)
            pages.append(len(listing["photos"]))
            seen += [photo["name"] for photo in listing["photos"]]
            path = listing["next"]
            if path is not None:
                self.assertTrue(path.startswith("/photos?limit=3&before="),
                                path)
        self.assertEqual(pages, [3, 3, 1])
        self.assertEqual(seen, newest_first)

        listing = await self.get_json("/photos?limit=2&offset=3")
        self.assertEqual([p["name"] for p in listing["photos"]],
                         newest_first[3:5])
        self.assertEqual(listing["offset"], 3)
        self.assertEqual(await self.names(listing["next"]),
                         newest_first[5:7])
        # Past the end: an empty page, and nothing next.
        listing = await self.get_json("/photos?offset=7")
        self.assertEqual((listing["photos"], listing["total"],
                          listing["next"]), ([], 7, None))
        # A page that ends exactly at the last photo has nothing next.
        listing = await self.get_json("/photos?limit=7")
        self.assertEqual((len(listing["photos"]), listing["next"]),
                         (7, None))

    async def test_kind(self):
        """
        C{kind=strip} lists what the annotation marks as strips, newest
        first and paged; C{kind=photo} the rest (API captures); anything
        else is a 400.
        """
        self.resource.annotate = lambda directory, photos: {
            name: {"kind": "strip"} for _, name, _ in photos
            if name.startswith("strip-")}
        for i in range(5):
            self.put("strip-%d.jpg" % i, T0 + 2 * i * SECOND)
            self.put("shot-%d.jpg" % i, T0 + (2 * i + 1) * SECOND)
        listing = await self.get_json("/photos?kind=strip&limit=2")
        self.assertEqual([p["name"] for p in listing["photos"]],
                         ["strip-4.jpg", "strip-3.jpg"])
        self.assertEqual(listing["total"], 5)
        self.assertIn("&kind=strip", listing["next"])
        self.assertEqual(await self.names(listing["next"]),
                         ["strip-2.jpg", "strip-1.jpg"])
        self.assertEqual(await self.names("/photos?kind=photo&limit=1"),
                         ["shot-4.jpg"])
        response = await self.request("GET", "/photos?kind=video")
        self.assertEqual(response.code, 400)
        self.assertIn("kind must be strip or photo",
                      json.loads(await response.content())["error"])

    async def test_paging_while_photos_arrive(self):
        """
        New photos arriving between pages neither repeat a photo on the
        next page nor push one off it; C{total} counts them.
        """
        for i in range(4):
            self.put("old%d.jpg" % i, T0 + i * SECOND)
        first = await self.get_json("/photos?limit=2")
        self.assertEqual([p["name"] for p in first["photos"]],
                         ["old3.jpg", "old2.jpg"])
        self.put("new0.jpg", T0 + 10 * SECOND)
        self.put("new1.jpg", T0 + 11 * SECOND)
        second = await self.get_json(first["next"])
        self.assertEqual([p["name"] for p in second["photos"]],
                         ["old1.jpg", "old0.jpg"])
        self.assertEqual(second["total"], 6)
        self.assertEqual(second["before"],
                         "%d:old2.jpg" % (T0 + 2 * SECOND))
        self.assertIsNone(second["next"])
        self.assertEqual(await self.names(), ["new1.jpg", "new0.jpg",
                                              "old3.jpg", "old2.jpg",
                                              "old1.jpg", "old0.jpg"])

    async def test_cursor_outlives_its_photo(self):
        """
        The cursor holds the time and the name, so deleting the photo it
        names does not break the next page.
        """
        for i in range(4):
            self.put("p%d.jpg" % i, T0 + i * SECOND)
        first = await self.get_json("/photos?limit=2")
        os.unlink(os.path.join(self.directory, "p2.jpg"))
        self.assertEqual(await self.names(first["next"]),
                         ["p1.jpg", "p0.jpg"])

    async def test_default_and_maximum_limit(self):
        for i in range(60):
            self.put("p%02d.jpg" % i, T0 + i * SECOND)
        listing = await self.get_json("/photos")
        self.assertEqual(len(listing["photos"]), 50)
        self.assertEqual(listing["limit"], 50)
        self.assertEqual(listing["photos"][-1]["name"], "p10.jpg")
        self.assertEqual(listing["next"], "/photos?limit=50&before=%d:p10.jpg"
                         % (T0 + 10 * SECOND,))
        self.assertEqual(len(await self.names(listing["next"])), 10)
        listing = await self.get_json("/photos?limit=500")
        self.assertEqual(len(listing["photos"]), 60)
        self.assertIsNone(listing["next"])

    async def test_empty_and_missing_directory(self):
        empty = {"photos": [], "total": 0, "limit": 50, "offset": 0,
                 "before": None, "next": None}
        self.assertEqual(await self.get_json("/photos"), empty)
        self.assertEqual(await self.get_json("/photos/"), empty)
        os.rmdir(self.directory)
        self.assertEqual(await self.get_json("/photos"), empty)
        response = await self.request("GET", "/photos/a.jpg")
        self.assertEqual(response.code, 404)
        await response.content()

    async def test_trailing_slash(self):
        self.put("a.jpg")
        self.assertEqual(await self.names("/photos/"), ["a.jpg"])

    async def test_only_photos_are_listed(self):
        self.put("good.jpg", T0 + 3 * SECOND)
        self.put("UPPER.JPG", T0 + 2 * SECOND)
        self.put("x.jpeg", T0 + SECOND)
        for name in [".incoming-123-1.tmp", ".hidden.jpg", "notes.txt",
                     "photo.png", "nojpg", "with space.jpg", "caf\xe9.jpg",
                     "a\\b.jpg", "good.jpg.tmp", ".jpg"]:
            self.put(name)
        os.mkdir(os.path.join(self.directory, "album.jpg"))
        with open(os.path.join(self.directory, "album.jpg", "inner.jpg"),
                  "wb") as f:
            f.write(b"\xff\xd8inner")
        with open(os.path.join(self.top, "secret.jpg"), "wb") as f:
            f.write(b"SECRET")
        os.symlink(os.path.join(self.top, "secret.jpg"),
                   os.path.join(self.directory, "outside.jpg"))
        os.symlink("good.jpg", os.path.join(self.directory, "inside.jpg"))
        os.symlink("nowhere.jpg", os.path.join(self.directory, "dangling.jpg"))
        os.mkfifo(os.path.join(self.directory, "pipe.jpg"))
        listing = await self.get_json("/photos")
        self.assertEqual([p["name"] for p in listing["photos"]],
                         ["good.jpg", "UPPER.JPG", "x.jpeg"])
        self.assertEqual(listing["total"], 3)

    async def test_unreadable_directory(self):
        """
        A photos directory that cannot be read is a logged 500 with a JSON
        message, not a hung request and not an empty gallery.
        """
        os.rmdir(self.directory)
        with open(self.directory, "wb") as f:
            f.write(b"not a directory")
        listing = await self.get_json("/photos", code=500)
        self.assertIn("could not be read", listing["error"])
        self.assertEqual(len(self.flushLoggedErrors(NotADirectoryError)), 1)

    async def test_bad_parameters(self):
        for query, word in [("limit=abc", "limit"), ("limit=-1", "limit"),
                            ("limit=0", "limit"), ("limit=501", "limit"),
                            ("limit=1.5", "limit"), ("limit=", "limit"),
                            ("limit=+5", "limit"), ("limit=5_0", "limit"),
                            ("limit=%205", "limit"),
                            ("limit=99999999999999999999", "limit"),
                            ("limit=1&limit=2", "limit"),
                            ("offset=-1", "offset"), ("offset=x", "offset"),
                            ("offset=", "offset"),
                            ("offset=1e3", "offset"),
                            ("before=p1.jpg", "before"),
                            ("before=12:", "before"),
                            ("before=:p1.jpg", "before"),
                            ("before=12:..%2Fx.jpg", "before"),
                            ("before=x:p1.jpg", "before")]:
            response = await self.request("GET", "/photos?" + query)
            body = await response.content()
            self.assertEqual(response.code, 400, query)
            self.assertEqual(response.headers.getRawHeaders("content-type"),
                             ["application/json"], query)
            error = json.loads(body)["error"]
            self.assertTrue(error.startswith(word + " "), (query, error))

    async def test_good_parameters(self):
        """
        The edges of what is allowed, and unknown parameters (cache
        busters) are ignored.
        """
        self.put("a.jpg")
        for query in ["limit=1", "limit=500", "limit=0500", "offset=0",
                      "offset=123456789", "before=0:a.jpg",
                      "_=1700000000", "limit=1&_=x&offset=0"]:
            response = await self.request("GET", "/photos?" + query)
            self.assertEqual(response.code, 200, query)
            await response.content()

    async def test_head_listing(self):
        self.put("a.jpg")
        response = await self.request("GET", "/photos")
        body = await response.content()
        response = await self.request("HEAD", "/photos")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders("content-length"),
                         [str(len(body))])
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["application/json"])
        self.assertEqual(await response.content(), b"")


class ScanTests(GalleryTestCase):
    """
    Scans in a thread pool that the test holds back.
    """

    def make_resource(self, directory):
        self.threads = HeldThreadPool()
        photos = RecordingPhotos(directory, reactor, threadpool=self.threads)
        photos.requests = []
        return photos

    async def wait_for(self, condition):
        for _ in range(200):
            if condition():
                return
            await sleep(0.01)
        self.fail("timed out waiting")

    async def test_requests_share_the_next_scan(self):
        """
        Requests that come while a scan runs wait for the next one, and
        share it: three requests, two scans, and the photo saved after the
        first scan began is in the answers to the requests made after it.
        """
        self.put("old.jpg", T0)
        first = defer.ensureDeferred(self.names())
        await self.wait_for(lambda: self.threads.calls == 1)
        self.put("new.jpg", T0 + SECOND)
        later = [defer.ensureDeferred(self.names()) for _ in range(2)]
        await self.wait_for(lambda: len(self.resource.requests) == 3)
        self.assertEqual(self.threads.calls, 1)
        self.threads.release()
        self.assertEqual(await first, ["old.jpg"])
        self.assertEqual(self.threads.calls, 2)
        self.assertFalse(later[0].called or later[1].called)
        self.threads.release()
        for d in later:
            self.assertEqual(await d, ["new.jpg", "old.jpg"])
        self.assertEqual(self.threads.calls, 2)
        self.assertEqual(self.threads.held, [])

    async def test_client_gone_before_listing(self):
        """
        A client that hangs up while the directory is scanned costs
        nothing: no write to a closed connection, nothing logged, and the
        next client is answered.
        """
        self.put("a.jpg")
        client = await connect_raw(self, self.port, RawHTTP(
            b"GET /photos HTTP/1.1\r\nHost: x\r\n\r\n"))
        await self.wait_for(lambda: self.threads.calls == 1)
        lost = defer.Deferred()
        self.resource.requests[0].notifyFinish().addErrback(
            lambda _: lost.callback(None))
        client.transport.loseConnection()
        await lost
        self.threads.release()
        await sleep(0.05)
        answer = defer.ensureDeferred(self.names())
        await self.wait_for(lambda: self.threads.calls == 2)
        self.threads.release()
        self.assertEqual(await answer, ["a.jpg"])


class PhotoTests(GalleryTestCase):
    async def test_serve(self):
        data = self.put("fourcut-20240610-101010-1.jpg",
                        data=b"\xff\xd8" + os.urandom(300000) + b"\xff\xd9")
        response = await self.request("GET",
                                      "/photos/fourcut-20240610-101010-1.jpg")
        self.assertEqual(response.code, 200)
        headers = response.headers
        self.assertEqual(headers.getRawHeaders("content-type"),
                         ["image/jpeg"])
        # The client takes Content-Length out of the headers.
        self.assertEqual(response.length, len(data))
        self.assertEqual(headers.getRawHeaders("last-modified"),
                         ["Tue, 14 Nov 2023 22:13:20 GMT"])
        self.assertEqual(headers.getRawHeaders("content-disposition"),
                         ['inline; filename="fourcut-20240610-101010-1.jpg"'])
        self.assertEqual(headers.getRawHeaders("accept-ranges"), ["bytes"])
        self.assertEqual(await response.content(), data)

    async def test_any_listed_name_is_served(self):
        for name in ["UPPER.JPG", "guest.png.jpg", "x.jpeg", "_a-b.c.jpg",
                     "-dash.jpg"]:
            data = self.put(name)
            response = await self.request("GET", "/photos/" + name)
            self.assertEqual(response.code, 200, name)
            self.assertEqual(response.headers.getRawHeaders("content-type"),
                             ["image/jpeg"], name)
            self.assertEqual(await response.content(), data, name)
        listing = await self.get_json("/photos")
        for photo in listing["photos"]:
            response = await self.request("GET", photo["url"])
            self.assertEqual(response.code, 200, photo["url"])
            self.assertEqual(len(await response.content()), photo["size"])

    async def test_head(self):
        data = self.put("a.jpg")
        response = await self.request("HEAD", "/photos/a.jpg")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["image/jpeg"])
        self.assertEqual(response.headers.getRawHeaders("content-length"),
                         [str(len(data))])
        self.assertEqual(await response.content(), b"")
        response = await self.request("HEAD", "/photos/nosuch.jpg")
        self.assertEqual(response.code, 404)
        self.assertEqual(await response.content(), b"")

    async def test_range(self):
        data = self.put("a.jpg")
        response = await self.request("GET", "/photos/a.jpg",
                                      headers={"Range": ["bytes=10-19"]})
        self.assertEqual(response.code, 206)
        self.assertEqual(response.headers.getRawHeaders("content-range"),
                         ["bytes 10-19/%d" % len(data)])
        self.assertEqual(await response.content(), data[10:20])

    async def test_not_modified(self):
        self.put("a.jpg")
        response = await self.request(
            "GET", "/photos/a.jpg",
            headers={"If-Modified-Since": ["Tue, 14 Nov 2023 22:13:20 GMT"]})
        self.assertEqual(response.code, 304)
        self.assertEqual(await response.content(), b"")
        response = await self.request(
            "GET", "/photos/a.jpg",
            headers={"If-Modified-Since": ["Tue, 14 Nov 2023 22:13:19 GMT"]})
        self.assertEqual(response.code, 200)
        await response.content()

    async def test_unknown(self):
        self.put("a.jpg")
        error = await self.get_json("/photos/b.jpg", code=404)
        self.assertEqual(error, {"error": "no such photo: b.jpg",
                                 "status": 404})
        error = await self.get_json("/photos/b.txt", code=404)
        self.assertIn("letters, digits", error["error"])

    async def test_refused_names(self):
        """
        Whatever the request target, nothing but a photo in the directory
        is served: each of these is a JSON 404, and the bytes that sit
        behind the name (outside the directory, hidden, in a
        subdirectory, behind a symlink) never leave the server.
        """
        good = self.put("good.jpg")
        secret = b"SECRET-" + os.urandom(8).hex().encode()
        with open(os.path.join(self.top, "secret.jpg"), "wb") as f:
            f.write(secret)
        for name in [".incoming-1-1.tmp", ".hidden.jpg", "notes.txt",
                     "a\\b.jpg", "caf\xe9.jpg"]:
            self.put(name, data=secret)
        os.mkdir(os.path.join(self.directory, "album.jpg"))
        self.put(os.path.join("album.jpg", "inner.jpg"), data=secret)
        os.symlink(os.path.join(self.top, "secret.jpg"),
                   os.path.join(self.directory, "link.jpg"))
        os.symlink("../secret.jpg",
                   os.path.join(self.directory, "relative.jpg"))
        os.mkfifo(os.path.join(self.directory, "pipe.jpg"))

        # The raw client works: the one real photo comes back.
        status, headers, body = await self.raw(b"/photos/good.jpg")
        self.assertEqual((status, body), (200, good))
        self.assertEqual(headers[b"content-length"], b"%d" % len(good))

        for target in [
                b"/photos/..%2Fsecret.jpg",
                b"/photos/..%2F..%2Fetc%2Fpasswd",
                b"/photos/../secret.jpg",
                b"/photos/%2e%2e/secret.jpg",
                b"/photos/%2E%2E%2Fsecret.jpg",
                b"/photos/..",
                b"/photos/.",
                b"/photos/%2e",
                b"/photos/%2Fetc%2Fpasswd",
                b"/photos//etc/passwd",
                b"/photos/" + os.path.join(self.top, "secret.jpg").replace(
                    "/", "%2F").encode(),
                b"/photos/album.jpg",
                b"/photos/album.jpg/inner.jpg",
                b"/photos/album.jpg%2Finner.jpg",
                b"/photos/link.jpg",
                b"/photos/relative.jpg",
                b"/photos/pipe.jpg",
                b"/photos/.incoming-1-1.tmp",
                b"/photos/.hidden.jpg",
                b"/photos/notes.txt",
                b"/photos/a%5Cb.jpg",
                b"/photos/a\\b.jpg",
                b"/photos/..%5Csecret.jpg",
                b"/photos/..\\secret.jpg",
                b"/photos/caf%C3%A9.jpg",
                b"/photos/good.jpg%00",
                b"/photos/good.jpg%00.jpg",
                b"/photos/%00",
                b"/photos/good.jpg/",
                b"/photos/nosuch/good.jpg",
                b"/photos/../photos/good.jpg",
                b"/photos/good.jpg/..",
                b"/photos/good.jpg/../../secret.jpg"]:
            status, headers, body = await self.raw(target)
            self.assertEqual(status, 404, target)
            self.assertEqual(headers[b"content-type"], b"application/json",
                             target)
            self.assertTrue(json.loads(body)["error"].startswith(
                "no such photo: "), target)
            self.assertNotIn(b"SECRET", body, target)


class MethodTests(GalleryTestCase):
    async def test_only_get_and_head(self):
        self.put("a.jpg")
        for method, path in [("POST", "/photos"), ("POST", "/photos/a.jpg"),
                             ("DELETE", "/photos/a.jpg"),
                             ("PUT", "/photos/b.jpg"),
                             ("PATCH", "/photos")]:
            response = await self.request(method, path, data=b"x")
            body = await response.content()
            self.assertEqual(response.code, 405, (method, path))
            self.assertEqual(response.headers.getRawHeaders("allow"),
                             ["GET, HEAD, OPTIONS"])
            self.assertIn(method, json.loads(body)["error"])
        self.assertEqual(sorted(os.listdir(self.directory)), ["a.jpg"])
