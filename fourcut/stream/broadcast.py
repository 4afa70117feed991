# -*- test-case-name: tests.stream.test_broadcast -*-
"""
Fan one camera stream out to many clients, each getting the newest frame it
can take.

There is no queue per client. L{Broadcaster} keeps one shared latest frame
and offers every new frame to each subscriber; a client's
L{LatestFrameProducer} writes it at once if the client's transport can take
more, or else keeps it in a single pending slot, replacing any older pending
frame. A slow client therefore skips frames instead of falling behind, never
delays the others, and costs at most one frame in the transport's buffer
(Twisted pauses a streaming producer once more than 64 KiB is buffered) plus
one pending frame. Frames are shared, never copied per client.

The broadcaster also tracks demand, subscribers plus callers waiting in
L{Broadcaster.next_frame}, so that the camera session can run live view only
while somebody is watching.
"""

import collections
import time
from dataclasses import dataclass

from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from zope.interface import implementer

__all__ = ["Broadcaster", "EncodedFrames", "Frame", "FrameCounts",
           "LatestFrameProducer"]

log = Logger()

#: Seconds over which a client's L{LatestFrameProducer.fps} is counted.
FPS_WINDOW = 2.0


@dataclass(frozen=True, slots=True)
class Frame:
    """
    One live-view frame, shared by every client that is sent it.

    @ivar data: one whole JPEG.
    @ivar number: the sequence number the broadcaster gave it, from 1, never
        reused (not even after L{Broadcaster.clear}), so that a client can
        tell how many frames it skipped.
    @ivar timestamp: wall-clock seconds when the frame left the camera
        process, as given by the publisher.
    @ivar placeholder: not from the camera: the picture fourcut shows
        while the camera is offline, so that watchers stay connected.
    """

    data: bytes
    number: int
    timestamp: float
    placeholder: bool = False

    def __repr__(self):
        # A 170 KB JPEG in a log line helps nobody.
        return "<Frame #%d %d bytes at %.3f>" % (
            self.number, len(self.data), self.timestamp)


class Broadcaster:
    """
    The latest frame of one camera stream and the subscribers it goes to.

    A subscriber is any object with an C{offer(frame)} method, which must
    return promptly and never block: L{LatestFrameProducer} is the usual
    one. One that raises is logged and dropped; the others still get the
    frame.

    @ivar latest: the last L{Frame} published, or L{None} before the first
        one and after L{clear}.
    @ivar camera_frames: frames published from the camera, ever.
    @ivar placeholders: offline placeholder frames published, ever.
    """

    def __init__(self, on_demand_changed=None):
        """
        @param on_demand_changed: called with the new demand (see L{demand})
            each time it changes, not only on 0 -> 1 and 1 -> 0: the camera
            session starts live view when it is called with a positive count
            and stops it when called with 0, and the count is there for
            logging and C{/state}. It is never called twice in a row with
            the same count, and it may subscribe or unsubscribe re-entrantly.
        """
        self._on_demand_changed = on_demand_changed
        # A dict rather than a set: frames go out in subscription order,
        # which keeps behaviour (and tests) deterministic.
        self._subscribers = {}
        self._waiters = []
        self._reported = 0
        self._notifying = False
        self._number = 0
        self.camera_frames = 0
        self.placeholders = 0
        self.latest = None

    @property
    def count(self):
        """
        The number of subscribers (not counting L{next_frame} waiters).
        """
        return len(self._subscribers)

    @property
    def demand(self):
        """
        Subscribers plus pending L{next_frame} calls: how many want frames.
        """
        return len(self._subscribers) + len(self._waiters)

    def subscribe(self, subscriber):
        """
        Offer every frame published from now on to C{subscriber}. Not the
        current L{latest}, which may be stale: a caller that wants it can
        offer it itself. Subscribing twice is the same as once.
        """
        self._subscribers[subscriber] = None
        self._demand_changed()

    def unsubscribe(self, subscriber):
        """
        Offer C{subscriber} no more frames. Harmless if it is not subscribed.
        """
        self._subscribers.pop(subscriber, None)
        self._demand_changed()

    def publish(self, data, timestamp, placeholder=False):
        """
        Make C{data} the latest frame and offer it to every subscriber and
        to every L{next_frame} waiter.

        @param data: one JPEG (L{bytes}).
        @param timestamp: wall-clock seconds when it left the camera process.
        @return: the new L{Frame}.
        """
        self._number += 1
        frame = Frame(data=data, number=self._number, timestamp=timestamp,
                      placeholder=placeholder)
        self.relay(frame)
        return frame

    def relay(self, frame):
        """
        Make C{frame}, a L{Frame} made elsewhere, the latest and offer it
        to every subscriber and L{next_frame} waiter, as L{publish} does,
        keeping its number and timestamp: for a stream derived from
        another one (L{fourcut.stream.scaled}), whose frames are the
        source's frames in another form.
        """
        if frame.placeholder:
            self.placeholders += 1
        else:
            self.camera_frames += 1
        self.latest = frame
        # Snapshots: offering may subscribe or unsubscribe re-entrantly.
        for subscriber in list(self._subscribers):
            if subscriber not in self._subscribers:
                continue        # dropped by an earlier subscriber's offer
            try:
                subscriber.offer(frame)
            except Exception:
                log.failure("subscriber {subscriber!r} failed to take frame "
                            "{number}; dropping it", subscriber=subscriber,
                            number=frame.number)
                self._subscribers.pop(subscriber, None)
        waiters, self._waiters = self._waiters, []
        for waiter, timer in waiters:
            timer.cancel()
            # Unless an earlier waiter's callback cancelled it (its
            # timer was left to this loop: it was no longer waiting).
            if not waiter.called:
                waiter.callback(frame)
        # Once, after the waiters' callbacks: one that asks for the next
        # frame at once keeps demand up, without a 1 -> 0 -> 1 flicker that
        # would stop and restart live view.
        self._demand_changed()

    def next_frame(self, timeout, clock):
        """
        Wait for the next frame published after this call (for a snapshot
        that must be fresh). While waiting, the caller counts as demand, so
        live view runs.

        @param timeout: seconds to wait.
        @param clock: the L{IReactorTime} that measures C{timeout}.
        @return: a L{Deferred} firing with the L{Frame}, or failing with
            L{defer.TimeoutError} after C{timeout} seconds. Cancelling it
            also stops the wait. Either way the waiter is forgotten.
        """
        def cancel(waiter):
            if self._forget(waiter):
                timer.cancel()

        waiter = defer.Deferred(cancel)

        def expire():
            if self._forget(waiter):
                waiter.errback(defer.TimeoutError(
                    "no frame within %s seconds" % (timeout,)))

        timer = clock.callLater(timeout, expire)
        self._waiters.append((waiter, timer))
        self._demand_changed()
        return waiter

    def clear(self):
        """
        Forget the latest frame (the camera was reset, so it is stale).
        Numbering carries on.
        """
        self.latest = None

    def _forget(self, waiter):
        """
        Drop C{waiter} from those waiting; return whether it was there.
        """
        for index, (candidate, _) in enumerate(self._waiters):
            if candidate is waiter:
                del self._waiters[index]
                self._demand_changed()
                return True
        return False

    def _demand_changed(self):
        """
        Report demand if it differs from what was last reported. A callback
        that changes demand again is not re-entered: the loop reports the
        newer value after it returns.
        """
        if self._on_demand_changed is None or self._notifying:
            return
        self._notifying = True
        try:
            while self.demand != self._reported:
                self._reported = self.demand
                try:
                    self._on_demand_changed(self._reported)
                except Exception:
                    log.failure("on_demand_changed({count}) failed",
                                count=self._reported)
        finally:
            self._notifying = False


class EncodedFrames:
    """
    Each frame's wire form (a multipart part, a WebSocket message), made
    once for every client that is sent it rather than once per client.

    A few recent frames are kept, not only the latest: a client resuming
    after a pause writes the frame it held back, which may be older.

    @ivar encoded: how many times C{encode} ran, for tests and profiling.
    """

    def __init__(self, encode, keep=4):
        """
        @param encode: called with a L{Frame} and the C{variant} arguments
            of L{get}; returns the encoded form.
        @param keep: encoded forms kept, over all variants.
        """
        self._encode = encode
        self._keep = keep
        self._cache = {}
        self.encoded = 0

    def get(self, frame, *variant):
        key = (frame.number,) + variant
        encoded = self._cache.get(key)
        if encoded is None:
            encoded = self._cache[key] = self._encode(frame, *variant)
            self.encoded += 1
            while len(self._cache) > self._keep:
                del self._cache[next(iter(self._cache))]
        return encoded


@implementer(IPushProducer)
class LatestFrameProducer:
    """
    One client's end of the latest-frame pattern: a streaming producer, to
    be registered on the client's consumer (C{request.registerProducer(p,
    True)} or C{transport.registerProducer(p, True)}) and subscribed to a
    L{Broadcaster}.

    Frames offered while the consumer is paused wait in one pending slot; a
    newer one replaces it and counts as skipped. The consumer pauses us
    when its buffer goes over its limit (C{write} of one frame usually does
    that) and resumes us once it has drained, when the pending frame, the
    newest, is written.

    The owner can also L{hold} frames back, whatever the consumer says:
    the WebSocket side does while its C{preview_started} reply is not out,
    so that no frame arrives before it. And a I{pacing} may make the
    pending frame wait although the consumer would take it: the kernel
    still holds most of the last frame, on its way over a slow link
    (L{fourcut.stream.pacing}); a newer frame replaces it meanwhile, so
    that what goes out is as fresh as the link allows.

    @ivar sent: frames written.
    @ivar skipped: frames dropped because a newer one came while paused,
        held or waiting for the pacing.
    @ivar last_age: seconds between the camera's timestamp of the last
        frame written and its writing, or L{None} before one.
    @ivar paused: whether the consumer has asked us to stop for now.
    @ivar stopped: whether the consumer has gone; nothing more is written.
    @ivar counts: a L{FrameCounts} this producer adds its frames to (one
        per transport, for the metrics), or L{None}.
    """

    def __init__(self, write, on_stop=None, counts=None, pacing=None,
                 clock=None, wall_clock=time.time):
        """
        @param write: called with a L{Frame} to write all of it (part
            headers and all) to the consumer; it may make several writes,
            and may pause (or even resume) this producer while it runs. It
            returns the bytes it wrote (or L{None}: the JPEG's size is
            counted), for the pacing.
        @param on_stop: called with no arguments, once, when the consumer
            stops this producer, so that the owner can unsubscribe it.
        @param counts: see L{counts}.
        @param pacing: a L{fourcut.stream.pacing.TransportPacing} (or
            anything with its C{wait()} and C{sent(size)}) asked before
            each frame is written: a frame it says must wait stays
            pending, and is looked at again after the delay it names (or
            sooner, when a newer frame replaces it). L{None}: frames go
            whenever the consumer takes them.
        @param clock: the L{IReactorTime} for the pacing's delays and the
            L{fps}; needed with C{pacing}.
        @param wall_clock: what L{last_age} measures frames' timestamps
            against.
        """
        if pacing is not None and clock is None:
            raise ValueError("pacing needs a clock")
        self._write = write
        self._on_stop = on_stop
        self.counts = counts
        self.pacing = pacing
        self.clock = clock
        self._wall_clock = wall_clock
        self._pending = None
        self._writing = False
        self._holds = 0
        self._retry = None
        self._recent = collections.deque()
        self.paused = False
        self.stopped = False
        self.sent = 0
        self.skipped = 0
        self.last_age = None

    @property
    def pending(self):
        """
        The frame waiting to be written, or L{None}.
        """
        return self._pending

    def offer(self, frame):
        """
        Write C{frame} now if the consumer can take it, else hold it as the
        one pending frame.
        """
        if self.stopped:
            return
        if self._pending is not None:
            self.skipped += 1
            if self.counts is not None:
                self.counts.skipped += 1
        self._pending = frame
        self._flush()

    @property
    def held(self):
        """
        Whether the owner holds frames back (L{hold}).
        """
        return self._holds > 0

    def hold(self):
        """
        Keep frames pending (the newest only, as while paused) until as
        many L{release} calls: the owner has something to send first.
        """
        self._holds += 1

    def release(self):
        """
        Undo one L{hold}; after the last, the pending frame is written if
        the consumer will take it.
        """
        if self._holds > 0:
            self._holds -= 1
        if not self._holds:
            self._flush()

    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        if self.stopped:
            return
        self.paused = False
        self._flush()

    def stopProducing(self):
        if self.stopped:
            return
        self.stopped = True
        self._pending = None
        self._cancel_retry()
        if self._on_stop is not None:
            self._on_stop()

    def _flush(self):
        """
        Write the pending frame while the consumer will take one.

        Re-entrant calls (a consumer that pauses and resumes us, or a frame
        offered, from inside C{write}) only update state: the outermost
        call does the writing, so one frame's bytes are never interleaved
        with another's.
        """
        if self._writing:
            return
        self._writing = True
        try:
            while (self._pending is not None and not self.paused
                   and not self.stopped and not self._holds):
                if self.pacing is not None:
                    delay = self.pacing.wait()
                    if delay > 0:
                        self._retry_after(delay)
                        break
                frame, self._pending = self._pending, None
                size = self._write(frame)
                self._wrote(frame, len(frame.data) if size is None else size)
        finally:
            self._writing = False

    def _wrote(self, frame, size):
        self.sent += 1
        if self.counts is not None:
            self.counts.sent += 1
        if self.pacing is not None:
            self.pacing.sent(size)
            # A newer frame went before the timer: it has nothing to do.
            self._cancel_retry()
        self.last_age = max(0.0, self._wall_clock() - frame.timestamp)
        if self.clock is not None:
            now = self.clock.seconds()
            recent = self._recent
            recent.append(now)
            while recent[0] < now - FPS_WINDOW:
                recent.popleft()

    def _retry_after(self, delay):
        """
        Look at the pending frame again in C{delay} seconds (the pacing's
        answer): one timer at a time, the earliest.
        """
        if self._retry is not None:
            if self._retry.getTime() <= self.clock.seconds() + delay:
                return
            self._retry.cancel()
        self._retry = self.clock.callLater(delay, self._retried)

    def _retried(self):
        self._retry = None
        self._flush()

    def _cancel_retry(self):
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None

    @property
    def waiting(self):
        """
        Whether the pending frame waits for the pacing (not for the
        consumer, nor for the owner's L{hold}).
        """
        return self._retry is not None

    @property
    def fps(self):
        """
        Frames written a second over the last L{FPS_WINDOW} seconds (L{None}
        without a clock).
        """
        if self.clock is None:
            return None
        now = self.clock.seconds()
        recent = self._recent
        while recent and recent[0] < now - FPS_WINDOW:
            recent.popleft()
        return len(recent) / FPS_WINDOW

    def figures(self):
        """
        This client's live view as C{/status} shows it: C{fps},
        C{frames_sent}, C{frames_skipped}, C{last_frame_age_ms} (how old
        the last frame sent was when it was written), and the pacing's own
        (L{fourcut.stream.pacing.TransportPacing.describe}), or
        C{"pacing": "off"} without any.
        """
        found = {
            # (A count over FPS_WINDOW, 2 s: a multiple of 0.5 already.)
            "fps": self.fps,
            "frames_sent": self.sent,
            "frames_skipped": self.skipped,
            "last_frame_age_ms": (None if self.last_age is None
                                  else round(self.last_age * 1000, 1)),
        }
        if self.pacing is not None:
            found.update(self.pacing.describe())
        else:
            found.update(pacing="off", pacing_off_why="turned off "
                         "(preview.pacing: false)")
        return found

    def __repr__(self):
        return "<LatestFrameProducer sent=%d skipped=%d%s%s%s>" % (
            self.sent, self.skipped, " paused" if self.paused else "",
            " held" if self._holds else "",
            " stopped" if self.stopped else "")


class FrameCounts:
    """
    Frames sent and skipped, over every L{LatestFrameProducer} of one
    transport (HTTP multipart, WebSocket): what C{/metrics} shows.
    """

    def __init__(self):
        self.sent = 0
        self.skipped = 0

    def __repr__(self):
        return "<FrameCounts sent=%d skipped=%d>" % (self.sent,
                                                     self.skipped)
