# -*- test-case-name: tests.integration.test_descriptors -*-
"""
fourcut in a child process, for tests that must not cripple the test
process: its descriptor limit lowered (C{--nofile}), and descriptors taken
on command to exhaust it.

    python -m tests.support.serverchild --nofile 160 -- --virtual-camera ...

Everything after C{--} is C{twistd fourcut}'s options; it listens where
they say (C{tcp:0:interface=127.0.0.1}) and prints C{PORT n} once it does.
Commands, one a line on stdin, each answered with one line on stdout:

    fds       C{FDS open limit}: descriptors open, and the soft limit
    hog       take every free descriptor, and keep taking those that are
              freed, until C{release}: C{HOGGING n}
    release   give them all back: C{RELEASED n}
    gphoto2   the PIDs of fourcut's gphoto2 children: C{GPHOTO2 pid ...}

The log goes to stderr. SIGINT stops the service as twistd does (children
ended cleanly) and exits. Unlike twistd, the reactor runs without Twisted's
signal handlers, so without its SIGCHLD handling: fourcut must see its
children's ends without it (L{fourcut.camera.processes.Reaping}).
"""

import os
import resource
import signal
import sys

__all__ = ["main"]


def main(argv):
    nofile = None
    if argv[:1] == ["--nofile"]:
        nofile = int(argv[1])
        argv = argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if nofile is not None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    from twisted.internet import reactor, task
    from twisted.logger import globalLogBeginner, textFileLogObserver

    from fourcut.web.limits import open_descriptors
    from fourcut.tap import Options, makeService

    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)],
                                     redirectStandardIO=False)
    options = Options()
    options.parseOptions(argv)
    service = makeService(options, reactor=reactor)
    hogged = []

    def hog():
        while True:
            try:
                hogged.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                return

    hogger = task.LoopingCall(hog)

    def say(line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def descriptors():
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        try:
            return open_descriptors(), limit
        except OSError:
            # None free to list them with: probe each one.
            open_ = 0
            for fd in range(limit):
                try:
                    os.fstat(fd)
                    open_ += 1
                except OSError:
                    pass
            return open_, limit

    def command(line):
        word = line.strip()
        if word == "fds":
            say("FDS %d %d" % descriptors())
        elif word == "hog":
            if not hogger.running:
                hogger.start(0.005)
            say("HOGGING %d" % (len(hogged),))
        elif word == "release":
            if hogger.running:
                hogger.stop()
            count = len(hogged)
            while hogged:
                os.close(hogged.pop())
            say("RELEASED %d" % (count,))
        elif word == "gphoto2":
            pids = sorted(pid for pid, (transport, _) in
                          service.session.children.items()
                          if transport.pid is not None)
            say("GPHOTO2" + "".join(" %d" % pid for pid in pids))
        else:
            say("UNKNOWN %s" % (word,))

    from twisted.internet import stdio
    from twisted.protocols.basic import LineReceiver

    class Commands(LineReceiver):
        delimiter = b"\n"

        def lineReceived(self, line):
            try:
                command(line.decode("ascii", "replace"))
            except Exception as e:
                say("ERROR %r" % (e,))

        def connectionLost(self, reason):
            # The test went away: stop.
            if reactor.running:
                reactor.stop()

    stdio.StandardIO(Commands())

    def stop(*args):
        reactor.callFromThread(reactor.stop)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    def listening(port):
        say("PORT %d" % (port.getHost().port,))

    def started():
        service.startService()
        service.web.listening.addCallback(listening)

    reactor.callWhenRunning(started)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run(installSignalHandlers=False)


if __name__ == "__main__":
    main(sys.argv[1:])
