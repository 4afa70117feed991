"""
The log an operator reads (L{fourcut.logs}), from the real C{twistd -n
fourcut} as a child process: C{logging.format: json} writes one JSON object
a line, and SIGHUP reopens the log file (as C{logrotate} expects) and is
logged, where it used to end fourcut without a word.
"""

import json
import os
import signal

import treq
from twisted.internet import reactor
from twisted.scripts._twistd_unix import ServerOptions
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from fourcut.tap import makeService

from tests.support.time import sleep
from tests.integration.test_startup import FAST, TwistdTestCase


class LogTestCase(TwistdTestCase):
    async def wait_for_file(self, path, text, timeout=30.0):
        """
        The lines of C{path} once one of them holds C{text}.
        """
        for _ in range(int(timeout / 0.1)):
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    lines = f.read().splitlines()
                if any(text in line for line in lines):
                    return lines
            await sleep(0.1)
        self.fail("%r never in %s" % (text, path))

    async def get(self, port, path):
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        response = await treq.get("http://127.0.0.1:%d%s" % (port, path),
                                  pool=pool)
        await response.content()
        return response.code

    def port_of(self, line):
        return int(line.rsplit(":", 1)[1].strip("/\"}\n ").split("/")[0])


class JSONTests(LogTestCase):
    def assertEvents(self, lines):
        events = [json.loads(line) for line in lines]
        for event in events:
            self.assertIsInstance(event, dict)
            for key in ("log_level", "log_namespace", "log_time", "text"):
                self.assertIn(key, event)
        return events

    async def test_stdout(self):
        config = dict(FAST, logging={"format": "json"})
        child = self.fourcut("--listen", "tcp:0:interface=127.0.0.1",
                             config=config)
        await child.line_with('"fourcut: open http://')
        events = self.assertEvents(child.lines)
        [opened] = [e for e in events if e["text"].startswith(
            "fourcut: open http://")]
        self.assertEqual(opened["log_level"]["name"], "info")
        self.assertEqual(opened["log_namespace"], "fourcut.services")
        port = opened["port"]
        self.assertEqual(await self.get(port, "/status"), 200)
        line = await child.line_with("GET /status HTTP/1.1")
        [access] = self.assertEvents([line])
        self.assertIn('"GET /status HTTP/1.1" 200', access["text"])
        child.transport.signalProcess("TERM")
        await child.ended
        # Every line, the last ones too, is one JSON object; none is text.
        self.assertEvents(child.lines)
        self.assertIn("Server Shut Down.", [e["text"] for e in
                                            self.assertEvents(child.lines)])

    async def test_file(self):
        path = os.path.abspath(self.mktemp())
        config = dict(FAST, logging={"format": "json"})
        child = self.fourcut("--listen", "tcp:0:interface=127.0.0.1",
                             config=config, twistd=["--logfile", path])
        lines = await self.wait_for_file(path, "fourcut: open http://")
        self.assertEvents(lines)
        self.assertEqual(child.lines, [], "nothing on stdout")

    async def test_startup_failure_is_one_json_line(self):
        photos = os.path.abspath(self.mktemp())
        with open(photos, "w") as f:
            f.write("not a directory\n")
        config = dict(FAST, logging={"format": "json"})
        child = self.fourcut("--listen", "tcp:0:interface=127.0.0.1",
                             config=config, photos=photos)
        lines, stderr = await self.failed(child)
        events = self.assertEvents(lines)
        [failure] = [e for e in events if e["log_level"]["name"]
                     == "critical"]
        self.assertEqual(failure["text"], "fourcut: cannot use the photos "
                         "directory %s: Not a directory" % (photos,))


class HangupTests(LogTestCase):
    async def test_reopens_the_log_file(self):
        path = os.path.abspath(self.mktemp())
        child = self.fourcut("--listen", "tcp:0:interface=127.0.0.1",
                             twistd=["--logfile", path])
        lines = await self.wait_for_file(path, "fourcut: open http://")
        [opened] = [line for line in lines if "fourcut: open" in line]
        port = self.port_of(opened)
        # logrotate moves the file away, then sends SIGHUP.
        os.rename(path, path + ".1")
        self.assertEqual(await self.get(port, "/status"), 200)
        os.kill(child.pid, signal.SIGHUP)
        lines = await self.wait_for_file(path, "SIGHUP: reopened the log "
                                         "file %s" % (path,))
        self.assertIn("restart fourcut to apply changes", lines[-1])
        # Still serving, and logging into the new file.
        self.assertEqual(await self.get(port, "/status"), 200)
        await self.wait_for_file(path, "GET /status HTTP/1.1")
        with open(path + ".1", encoding="utf-8") as f:
            old = f.read()
        self.assertIn("fourcut: open", old)
        self.assertIn("GET /status HTTP/1.1", old)
        self.assertNotIn("SIGHUP", old)
        self.assertFalse(child.ended.called)
        # Twice in a row is fine too.
        os.kill(child.pid, signal.SIGHUP)
        for _ in range(100):
            with open(path, encoding="utf-8") as f:
                if f.read().count("SIGHUP: reopened") == 2:
                    break
            await sleep(0.1)
        else:
            self.fail("no second SIGHUP line")
        child.transport.signalProcess("TERM")
        await child.ended
        self.assertEqual(child.reason.value.signal, signal.SIGTERM)

    async def test_stdout(self):
        child = self.fourcut("--listen", "tcp:0:interface=127.0.0.1")
        line = await child.line_with("fourcut: open http://")
        os.kill(child.pid, signal.SIGHUP)
        said = await child.line_with("SIGHUP:")
        self.assertIn("nothing to reopen: the log goes to stdout", said)
        self.assertEqual(await self.get(self.port_of(line), "/health"), 200)
        self.assertFalse(child.ended.called)


class ObserverChoiceTests(TestCase):
    """
    Whose observer writes the log: fourcut's under twistd, twistd's with
    C{--syslog} or C{--logger}, and none in process.
    """

    def make(self, *args):
        options = ServerOptions()
        options.parseOptions(list(args) + [
            "fourcut", "--photos", os.path.abspath(self.mktemp())])
        return makeService(options.subOptions, reactor=reactor)

    def test_choice(self):
        self.assertIsNotNone(self.make("-n").log_observer)
        self.assertIsNotNone(self.make("--logfile", self.mktemp())
                             .log_observer)
        self.assertIsNone(self.make("--syslog").log_observer)
        self.assertIsNone(self.make(
            "-n", "--logger", "twisted.logger.jsonFileLogObserver")
            .log_observer)
