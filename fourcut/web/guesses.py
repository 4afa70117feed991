# -*- test-case-name: tests.web.test_hostile -*-
"""
What guessing the access token costs: L{GuessThrottle} delays each wrong
token's answer by a time that doubles with every wrong token from the same
address (L{BASE} seconds for the first, at most L{CAP}), and forgets an
address once it has sent none for L{QUIET} seconds.

Without it one pipelined connection tried about 6,300 tokens a second,
each answered at once and logged twice (issue 25). A client that waits for
its answer now waits its delay; one that pipelines has its next request
read only after it (twisted.web answers a connection's requests in
order); and the connection limits hold an address to a few unauthenticated
connections, so guesses run at about C{max_unauthenticated_per_address /
CAP} a second once the delay has grown. The right token is never
delayed, from any address: the delay falls on wrong answers only.

Each burst is logged once: the first wrong token from an address in a
while is a warning; the ones after it are counted, and when the address
goes quiet one line says how many there were.
"""

import collections

from twisted.internet import defer
from twisted.logger import Logger

__all__ = ["BASE", "CAP", "GuessThrottle", "MAX_ADDRESSES", "QUIET"]

log = Logger()

#: Seconds the first wrong token's answer waits.
BASE = 0.05

#: The longest wait, in seconds.
CAP = 10.0

#: Seconds without a wrong token after which an address starts afresh.
QUIET = 60.0

#: Addresses remembered at once (the oldest are forgotten first).
MAX_ADDRESSES = 4096


class _Burst:
    def __init__(self, now):
        self.failures = 0
        self.first = now
        self.last = now
        self.closing = None


class GuessThrottle:
    """
    Wrong tokens by address, and how long each one's answer waits.

    @param clock: an L{IReactorTime}.
    """

    def __init__(self, clock, base=BASE, cap=CAP, quiet=QUIET,
                 max_addresses=MAX_ADDRESSES):
        self.clock = clock
        self.base = base
        self.cap = cap
        self.quiet = quiet
        self.max_addresses = max_addresses
        self._bursts = collections.OrderedDict()
        # The answers held back now: a stop drops them (their connections
        # are going too), leaving no timer behind.
        self._held = set()

    def delay_for(self, address, what="HTTP"):
        """
        Count a wrong token from C{address}; the seconds its answer waits.

        @param what: where it was sent (C{HTTP}, C{WebSocket}), for the
            log.
        """
        now = self.clock.seconds()
        burst = self._bursts.get(address)
        if burst is None:
            burst = self._bursts[address] = _Burst(now)
            while len(self._bursts) > self.max_addresses:
                _, old = self._bursts.popitem(last=False)
                self._close(old)
            log.warn("{what}: wrong token from {address}; further wrong "
                     "tokens from it are answered ever more slowly (up to "
                     "{cap:g} s) and summarised when they stop",
                     address=address, cap=self.cap, what=what)
        else:
            self._bursts.move_to_end(address)
        burst.failures += 1
        burst.last = now
        if burst.closing is not None and burst.closing.active():
            burst.closing.cancel()
        burst.closing = self.clock.callLater(self.quiet, self._quiet,
                                             address)
        return min(self.cap, self.base * 2 ** min(burst.failures - 1, 64))

    def wait(self, address, what="HTTP"):
        """
        Count a wrong token from C{address} (sent over C{what}); a
        L{Deferred} that fires when its answer may go.
        """
        d = defer.Deferred()

        def release():
            self._held.discard(call)
            d.callback(None)
        call = self.clock.callLater(self.delay_for(address, what), release)
        self._held.add(call)

        def cancel(_):
            self._held.discard(call)
            if call.active():
                call.cancel()
        d.addErrback(cancel)
        return d

    def failures(self, address):
        """
        Wrong tokens from C{address} in its current burst.
        """
        burst = self._bursts.get(address)
        return 0 if burst is None else burst.failures

    def _quiet(self, address):
        burst = self._bursts.pop(address, None)
        if burst is not None:
            burst.closing = None
            self._summarise(address, burst)

    def _close(self, burst):
        if burst.closing is not None and burst.closing.active():
            burst.closing.cancel()
        burst.closing = None

    def _summarise(self, address, burst):
        if burst.failures > 1:
            log.warn("{n} wrong tokens from {address} in {seconds:.0f} s",
                     n=burst.failures, address=address,
                     seconds=burst.last - burst.first)

    def stop(self):
        """
        Forget every burst, summarising them, and every answer held back
        (the service is stopping).
        """
        held, self._held = self._held, set()
        for call in held:
            if call.active():
                call.cancel()
        bursts, self._bursts = self._bursts, collections.OrderedDict()
        for address, burst in bursts.items():
            self._close(burst)
            self._summarise(address, burst)
