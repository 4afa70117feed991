"""
fourcut's children reaped by a reactor without SIGCHLD handling (as
L{tests.support.serverchild} runs fourcut), for L{tests.camera.test_process}:

    python -m tests.support.reapchild DIRECTORY

runs, at once, with the reactor's signal handlers off, a child that closes
its standard descriptors and lingers before it exits (as a killed process
closes its descriptors a moment before it becomes a zombie, only longer)
through each of L{fourcut.camera.processes.run}, L{WorkerClient} and the CLI driver's
live view, and prints one line for each: C{ENDED kind seconds} once its end
is reported, C{HUNG kind} if it is not within L{TIMEOUT} seconds. The
lingering child is a script written into DIRECTORY. Exits once every line
is printed.
"""

import os
import sys
import time

__all__ = ["main"]

#: Seconds the child lingers once its descriptors are closed.
LINGER = 0.5

#: Seconds within which each end must be reported.
TIMEOUT = 8.0

SCRIPT = """#!/bin/sh
exec </dev/null >/dev/null 2>&1
sleep %s
""" % (LINGER,)


def main(argv):
    from twisted.internet import defer, reactor

    from fourcut.camera import processes
    from fourcut.camera.processes import Children
    from fourcut.camera.cli import CLIDriver
    from fourcut.camera.workerclient import WorkerClient
    from fourcut.camera.gphoto2 import GPhoto2

    script = os.path.join(argv[0], "linger")
    with open(script, "w") as f:
        f.write(SCRIPT)
    os.chmod(script, 0o755)
    gphoto2 = GPhoto2(executable=script)
    started = time.monotonic()

    def say(line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def watch(kind, ended):
        timer = reactor.callLater(TIMEOUT, say, "HUNG " + kind)

        def done(result):
            if timer.active():
                timer.cancel()
                say("ENDED %s %.2f" % (kind, time.monotonic() - started))

        return ended.addBoth(done)

    def go():
        worker = WorkerClient(reactor, gphoto2, python=script)
        worker.start().addErrback(lambda f: None)
        live = CLIDriver(reactor, gphoto2, Children(reactor), None)\
            .start_live_view(lambda data, timestamp: None)
        d = defer.DeferredList([
            watch("run", processes.run(reactor, [script], 30)),
            watch("worker", worker.ended),
            watch("liveview", live.ended),
        ])
        reactor.callLater(TIMEOUT + 0.5, reactor.stop)
        d.addBoth(lambda _: reactor.stop() if reactor.running else None)

    reactor.callWhenRunning(go)
    reactor.run(installSignalHandlers=False)


if __name__ == "__main__":
    main(sys.argv[1:])
