"""
Programs a test runs to their end (git, pip, docker, ...) or beside it
(a daemon), each ended by its PID when the test ends if it still runs.
"""

from twisted.internet import defer, protocol, reactor


class Output(protocol.ProcessProtocol):
    """
    A child's stdout and stderr together, and its exit status.
    """

    def __init__(self):
        self.output = bytearray()
        self.ended = defer.Deferred()

    def outReceived(self, data):
        self.output += data

    errReceived = outReceived

    def processEnded(self, reason):
        self.status = getattr(reason.value, "exitCode", None)
        self.ended.callback(self.status)

    def text(self):
        return bytes(self.output).decode("utf-8", "replace")


#: How a C{background} command runs: niced, so that a whole-system check
#: of minutes (building a container, installing with pip) takes the CPU
#: the suite's other tests leave idle while they wait, rather than
#: stretching them.
BACKGROUND = ("nice", "-n", "10")


def spawn(testcase, child, argv, path, env, grace=20, background=False):
    """
    Start C{argv} in C{path} with C{env} as C{child} (a process protocol
    with an C{ended} Deferred); with C{background}, niced (L{BACKGROUND};
    its children inherit it). When the test ends the child is sent
    SIGTERM if it still runs, and SIGKILL C{grace} seconds later.
    """
    argv = (list(BACKGROUND) if background else []) + list(argv)
    transport = reactor.spawnProcess(child, argv[0], argv, env=env,
                                     path=path)
    child.pid = transport.pid

    async def end():
        if not child.ended.called:
            transport.signalProcess("TERM")
            timer = reactor.callLater(
                grace, lambda: child.ended.called or
                transport.signalProcess("KILL"))
            await child.ended
            if timer.active():
                timer.cancel()
    testcase.addCleanup(end)
    return child


async def call(testcase, argv, path, env, timeout=240, background=False):
    """
    Run C{argv} to its end (niced with C{background}); fail C{testcase}
    with its output unless it exits with status 0 within C{timeout}
    seconds. Returns its output.
    """
    child = spawn(testcase, Output(), argv, path, env,
                  background=background)
    timer = reactor.callLater(
        timeout, lambda: child.ended.called or
        child.transport.signalProcess("KILL"))
    status = await child.ended
    if timer.active():
        timer.cancel()
    output = child.text()
    testcase.assertEqual(status, 0, "%s:\n%s" % (" ".join(argv), output))
    return output
