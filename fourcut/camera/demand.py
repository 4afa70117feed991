# -*- test-case-name: tests.camera.test_state,tests.camera.test_camera_session -*-
"""
Demand for live view: how many want frames, as the broadcaster counts it
(L{fourcut.stream.broadcast.Broadcaster.demand}), for the camera session,
which runs live view only while somebody watches.

The broadcaster fans frames out from the session, and its demand flows
back to the session: a L{Demand} is made first and given to both, so that
each is built with what it needs, in the order frames flow::

    demand = Demand()
    broadcaster = Broadcaster(on_demand_changed=demand.changed)
    session = CameraSession(..., broadcaster, demand, ...)
"""

from twisted.logger import Logger

__all__ = ["Demand"]


class Demand:
    """
    The latest demand, and who follows it.

    @ivar count: subscribers plus snapshot waiters, as last reported.
    """

    log = Logger()

    def __init__(self):
        self.count = 0
        self._listeners = []

    def subscribe(self, listener):
        """
        Call C{listener(count)} at every change of demand from now on;
        returns a callable that unsubscribes it.
        """
        self._listeners.append(listener)

        def unsubscribe():
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def changed(self, count):
        """
        Demand is now C{count}: the broadcaster's C{on_demand_changed}.
        """
        self.count = count
        for listener in list(self._listeners):
            try:
                listener(count)
            except Exception:
                self.log.failure("demand listener {listener!r} failed on "
                                 "{count}", listener=listener, count=count)
