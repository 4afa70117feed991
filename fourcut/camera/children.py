# -*- test-case-name: tests.test_camera_session -*-
"""
The processes fourcut started that talk to the camera, by PID.

Every gphoto2 CLI child, python-gphoto2 settings child and camera worker is
tracked here from the moment it is spawned until it has exited, so that
L{Children.stop_all} (C{/reset}, shutdown) can end each one, and only
those: fourcut never signals a process it did not start.
"""

from twisted.internet import defer

from fourcut import process

__all__ = ["Children"]


class Children:
    """
    @ivar running: C{{pid: (transport, Deferred fired at exit)}}.
    """

    def __init__(self, reactor):
        self._reactor = reactor
        self.running = {}

    def __len__(self):
        return len(self.running)

    def track(self, transport):
        """
        C{transport}'s process has been spawned.
        """
        self.running[transport.pid] = (transport, defer.Deferred())

    def untrack(self, pid):
        """
        C{pid} has exited: tell whoever is waiting to stop it.
        """
        entry = self.running.pop(pid, None)
        if entry is not None:
            entry[1].callback(None)

    def tracked(self, start):
        """
        Call C{start(on_start)}, which spawns children and returns a
        L{Deferred}; each child is tracked by PID until that Deferred
        fires.
        """
        pids = []

        def started(transport):
            pids.append(transport.pid)
            self.track(transport)

        def finished(result):
            for pid in pids:
                self.untrack(pid)
            return result

        return start(started).addBoth(finished)

    def run(self, gphoto2, deadline, *args):
        """
        Run one gphoto2 CLI command to completion under C{deadline}; fires
        with a L{fourcut.process.Result}.
        """
        return self.tracked(lambda on_start: process.run(
            self._reactor, gphoto2.argv(*args), deadline,
            env=gphoto2.env(), on_start=on_start))

    def stop_all(self):
        """
        End every tracked child (SIGINT, SIGTERM, SIGKILL, by its PID);
        fires once all are gone.
        """
        ending = []
        for transport, exited in list(self.running.values()):
            gone = defer.Deferred()
            exited.addBoth(lambda result, gone=gone: (gone.callback(None),
                                                      result)[1])
            ending.append(process.stop(self._reactor, transport, gone))
        return defer.gatherResults(ending, consumeErrors=True)
