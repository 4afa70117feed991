"""
Tests of L{fourcut.stream.broadcast}: the fan-out of one camera stream, the
latest-frame producer that keeps a slow client from holding more than a
frame or two, demand tracking, and one run over real loopback TCP with a
client that has stopped reading.
"""

import gc
import socket
import struct
import time

from twisted.internet import defer, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from fourcut.stream.broadcast import (FPS_WINDOW, Broadcaster, EncodedFrames,
                                      Frame, FrameCounts, LatestFrameProducer)

from tests.support.logged import Logged
from tests.support.time import sleep


class Recorder:
    """
    A subscriber that remembers what it was offered.
    """

    def __init__(self):
        self.frames = []

    def offer(self, frame):
        self.frames.append(frame)

    @property
    def numbers(self):
        return [frame.number for frame in self.frames]


class Exploding:
    """
    A subscriber whose C{offer} raises.
    """

    def __init__(self):
        self.offers = 0

    def offer(self, frame):
        self.offers += 1
        raise ZeroDivisionError("broken subscriber")


class BufferingConsumer:
    """
    A consumer that behaves like L{twisted.internet.abstract.FileDescriptor}
    towards a streaming producer: it pauses the producer from inside
    C{write} once more than C{limit} bytes are buffered, and resumes it
    only when L{drain} has emptied the buffer.
    """

    def __init__(self, limit=64 * 1024):
        self.limit = limit
        self.buffer = []
        self.buffered = 0
        self.received = []
        self.producer = None
        self.producer_paused = False

    def registerProducer(self, producer, streaming):
        assert streaming
        self.producer = producer

    def write(self, data):
        self.buffer.append(data)
        self.buffered += len(data)
        if (self.producer is not None and not self.producer_paused
                and self.buffered > self.limit):
            self.producer_paused = True
            self.producer.pauseProducing()

    def drain(self):
        self.received.extend(self.buffer)
        self.buffer = []
        self.buffered = 0
        if self.producer_paused:
            self.producer_paused = False
            self.producer.resumeProducing()


def attach(consumer, broadcaster=None):
    """
    A L{LatestFrameProducer} writing whole frames to C{consumer}, registered
    on it and (optionally) subscribed to C{broadcaster}, unsubscribing when
    stopped.
    """
    def stopped():
        if broadcaster is not None:
            broadcaster.unsubscribe(producer)

    producer = LatestFrameProducer(
        lambda frame: consumer.write(frame.data), on_stop=stopped)
    consumer.registerProducer(producer, True)
    if broadcaster is not None:
        broadcaster.subscribe(producer)
    return producer


def frame(number, size=10):
    return Frame(data=bytes([number % 256]) * size, number=number,
                 timestamp=1000.0 + number)


class FrameTests(SynchronousTestCase):

    def test_immutable(self):
        """
        A frame is shared by every client, so nobody may change it.
        """
        f = frame(1)
        with self.assertRaises(AttributeError):
            f.number = 2
        with self.assertRaises(AttributeError):
            f.data = b""

    def test_repr_hides_data(self):
        """
        A frame's repr names it without dumping the JPEG into logs.
        """
        text = repr(Frame(data=b"\xff" * 100000, number=7, timestamp=1.5))
        self.assertIn("#7", text)
        self.assertIn("100000 bytes", text)
        self.assertLess(len(text), 100)


class PublishTests(SynchronousTestCase):

    def test_camera_frames_and_placeholders(self):
        broadcaster = Broadcaster()
        broadcaster.publish(b"a", 1.0)
        broadcaster.publish(b"b", 2.0, placeholder=True)
        broadcaster.publish(b"c", 3.0)
        self.assertEqual((broadcaster.camera_frames,
                          broadcaster.placeholders), (2, 1))

    def test_numbering_and_latest(self):
        """
        Frames are numbered from 1 in publishing order, carry the
        publisher's timestamp, and the last one is C{latest}.
        """
        broadcaster = Broadcaster()
        self.assertIsNone(broadcaster.latest)
        first = broadcaster.publish(b"one", 10.5)
        second = broadcaster.publish(b"two", 11.25)
        self.assertEqual((first.number, first.data, first.timestamp),
                         (1, b"one", 10.5))
        self.assertEqual((second.number, second.data, second.timestamp),
                         (2, b"two", 11.25))
        self.assertIs(broadcaster.latest, second)

    def test_relay(self):
        """
        C{relay} offers a frame made elsewhere to subscribers and waiters
        as it is, number and timestamp included, makes it C{latest} and
        counts it, without touching the broadcaster's own numbering.
        """
        broadcaster = Broadcaster()
        recorder = Recorder()
        broadcaster.subscribe(recorder)
        waiter = broadcaster.next_frame(10, task.Clock())
        frame = Frame(data=b"small", number=41, timestamp=7.5,
                      placeholder=True)
        broadcaster.relay(frame)
        self.assertEqual(recorder.frames, [frame])
        self.assertIs(recorder.frames[0], frame)
        self.assertIs(self.successResultOf(waiter), frame)
        self.assertIs(broadcaster.latest, frame)
        self.assertEqual((broadcaster.camera_frames,
                          broadcaster.placeholders), (0, 1))
        self.assertEqual(broadcaster.publish(b"a", 8.0).number, 1)

    def test_every_subscriber_in_order(self):
        """
        Each subscriber is offered every frame, in order, and the very same
        frame object (shared, not copied).
        """
        broadcaster = Broadcaster()
        a, b = Recorder(), Recorder()
        broadcaster.subscribe(a)
        broadcaster.subscribe(b)
        frames = [broadcaster.publish(b"%d" % i, float(i)) for i in range(5)]
        self.assertEqual(a.frames, frames)
        self.assertEqual(b.frames, frames)
        for x, y in zip(a.frames, b.frames):
            self.assertIs(x, y)

    def test_subscribe_from_now_on(self):
        """
        A new subscriber gets frames published after it subscribed, not
        the old latest one; an unsubscribed one gets no more.
        """
        broadcaster = Broadcaster()
        broadcaster.publish(b"old", 1.0)
        recorder = Recorder()
        broadcaster.subscribe(recorder)
        broadcaster.publish(b"new", 2.0)
        broadcaster.unsubscribe(recorder)
        broadcaster.publish(b"after", 3.0)
        self.assertEqual(recorder.numbers, [2])

    def test_idempotent(self):
        """
        Subscribing twice is subscribing once (one offer per frame);
        unsubscribing twice, or something never subscribed, is harmless.
        """
        broadcaster = Broadcaster()
        recorder = Recorder()
        broadcaster.subscribe(recorder)
        broadcaster.subscribe(recorder)
        self.assertEqual(broadcaster.count, 1)
        broadcaster.publish(b"x", 1.0)
        self.assertEqual(recorder.numbers, [1])
        broadcaster.unsubscribe(recorder)
        broadcaster.unsubscribe(recorder)
        broadcaster.unsubscribe(Recorder())
        self.assertEqual(broadcaster.count, 0)

    def test_clear(self):
        """
        C{clear} forgets the latest frame; numbering carries on, so clients
        never see a number twice.
        """
        broadcaster = Broadcaster()
        broadcaster.publish(b"a", 1.0)
        broadcaster.clear()
        self.assertIsNone(broadcaster.latest)
        self.assertEqual(broadcaster.publish(b"b", 2.0).number, 2)

    def test_failing_subscriber_dropped(self):
        """
        A subscriber that raises is logged and dropped; the subscribers
        before and after it still get the frame, and later frames.
        """
        broadcaster = Broadcaster()
        before, broken, after = Recorder(), Exploding(), Recorder()
        for subscriber in (before, broken, after):
            broadcaster.subscribe(subscriber)
        broadcaster.publish(b"a", 1.0)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        broadcaster.publish(b"b", 2.0)
        self.assertEqual(before.numbers, [1, 2])
        self.assertEqual(after.numbers, [1, 2])
        self.assertEqual(broken.offers, 1)
        self.assertEqual(broadcaster.count, 2)
        self.assertEqual(self.flushLoggedErrors(ZeroDivisionError), [])

    def test_unsubscribed_during_publish(self):
        """
        A subscriber that another one unsubscribes while a frame goes out
        is not offered that frame; one subscribed meanwhile waits for the
        next frame.
        """
        broadcaster = Broadcaster()
        victim, newcomer = Recorder(), Recorder()

        class Meddler:
            def offer(self, frame):
                broadcaster.unsubscribe(victim)
                broadcaster.subscribe(newcomer)

        broadcaster.subscribe(Meddler())
        broadcaster.subscribe(victim)
        broadcaster.publish(b"a", 1.0)
        broadcaster.publish(b"b", 2.0)
        self.assertEqual(victim.numbers, [])
        self.assertEqual(newcomer.numbers, [2])


class DemandTests(SynchronousTestCase):

    def setUp(self):
        self.reports = []
        self.broadcaster = Broadcaster(on_demand_changed=self.reports.append)
        self.clock = task.Clock()

    def test_subscribe_unsubscribe(self):
        """
        Every change in the number of subscribers is reported with the new
        count; repeating a subscribe or unsubscribe reports nothing.
        """
        a, b = Recorder(), Recorder()
        self.broadcaster.subscribe(a)
        self.broadcaster.subscribe(a)
        self.broadcaster.subscribe(b)
        self.broadcaster.unsubscribe(a)
        self.broadcaster.unsubscribe(a)
        self.broadcaster.unsubscribe(b)
        self.assertEqual(self.reports, [1, 2, 1, 0])
        self.assertEqual(self.broadcaster.demand, 0)

    def test_dropped_subscriber_reported(self):
        """
        Dropping a failing subscriber lowers demand, so a camera nobody
        watches any more can stop live view.
        """
        self.broadcaster.subscribe(Exploding())
        self.broadcaster.publish(b"a", 1.0)
        self.flushLoggedErrors(ZeroDivisionError)
        self.assertEqual(self.reports, [1, 0])

    def test_next_frame(self):
        """
        C{next_frame} fires with the next frame published after the call,
        not the latest one; while it waits it counts as demand.
        """
        self.broadcaster.publish(b"stale", 1.0)
        d = self.broadcaster.next_frame(5.0, self.clock)
        self.assertNoResult(d)
        self.assertEqual(self.reports, [1])
        self.assertEqual(self.broadcaster.demand, 1)
        self.assertEqual(self.broadcaster.count, 0)
        published = self.broadcaster.publish(b"fresh", 2.0)
        self.assertIs(self.successResultOf(d), published)
        self.assertEqual(self.reports, [1, 0])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_next_frame_waiter_cancels_another(self):
        """
        A waiter whose callback cancels another that the same frame is
        about to reach: the other fails as cancelled, and the frame goes
        on to everyone else.
        """
        first = self.broadcaster.next_frame(5.0, self.clock)
        second = self.broadcaster.next_frame(5.0, self.clock)
        third = self.broadcaster.next_frame(5.0, self.clock)
        first.addCallback(lambda frame: second.cancel() or frame)
        published = self.broadcaster.publish(b"x", 1.0)
        self.assertIs(self.successResultOf(first), published)
        self.failureResultOf(second, defer.CancelledError)
        self.assertIs(self.successResultOf(third), published)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_next_frame_with_subscribers(self):
        """
        Waiters add to subscribers in the demand count, and several waiters
        all get the same next frame.
        """
        self.broadcaster.subscribe(Recorder())
        first = self.broadcaster.next_frame(5.0, self.clock)
        second = self.broadcaster.next_frame(5.0, self.clock)
        self.assertEqual(self.reports, [1, 2, 3])
        published = self.broadcaster.publish(b"x", 1.0)
        self.assertIs(self.successResultOf(first), published)
        self.assertIs(self.successResultOf(second), published)
        self.assertEqual(self.reports, [1, 2, 3, 1])

    def test_next_frame_timeout(self):
        """
        With no frame within the timeout the Deferred fails with
        L{defer.TimeoutError} and demand goes back down; a later frame
        finds no stale waiter.
        """
        d = self.broadcaster.next_frame(5.0, self.clock)
        self.clock.advance(4.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.failureResultOf(d, defer.TimeoutError)
        self.assertEqual(self.reports, [1, 0])
        self.assertEqual(self.broadcaster.demand, 0)
        self.broadcaster.publish(b"late", 1.0)
        self.assertEqual(self.reports, [1, 0])

    def test_next_frame_cancel(self):
        """
        Cancelling the Deferred (a client gave up) forgets the waiter and
        its timer.
        """
        d = self.broadcaster.next_frame(5.0, self.clock)
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertEqual(self.reports, [1, 0])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_waiter_asking_again_keeps_demand(self):
        """
        A waiter whose callback asks for the next frame at once (a snapshot
        loop) keeps demand up without a drop to 0 that would stop live view.
        """
        got = []

        def again(frame):
            got.append(frame.number)
            if len(got) < 3:
                self.broadcaster.next_frame(5.0, self.clock).addCallback(
                    again)

        self.broadcaster.next_frame(5.0, self.clock).addCallback(again)
        for i in range(4):
            self.broadcaster.publish(b"%d" % i, float(i))
        self.assertEqual(got, [1, 2, 3])
        self.assertEqual(self.reports, [1, 0])

    def test_callback_changing_demand(self):
        """
        An C{on_demand_changed} that subscribes re-entrantly is not
        re-entered, and the newer count is still reported.
        """
        reports = []
        late = Recorder()

        def changed(count):
            reports.append(count)
            if count == 1:
                broadcaster.subscribe(late)

        broadcaster = Broadcaster(on_demand_changed=changed)
        broadcaster.subscribe(Recorder())
        self.assertEqual(reports, [1, 2])

    def test_callback_raising(self):
        """
        A failing C{on_demand_changed} is logged; subscribing still works.
        """
        def changed(count):
            raise ZeroDivisionError(count)

        broadcaster = Broadcaster(on_demand_changed=changed)
        recorder = Recorder()
        broadcaster.subscribe(recorder)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        broadcaster.publish(b"a", 1.0)
        self.assertEqual(recorder.numbers, [1])


class LatestFrameProducerTests(SynchronousTestCase):

    def test_interface(self):
        producer = LatestFrameProducer(lambda frame: None)
        self.assertTrue(verifyObject(IPushProducer, producer))

    def test_writes_at_once(self):
        """
        While not paused, each frame offered is written at once.
        """
        written = []
        producer = LatestFrameProducer(written.append)
        frames = [frame(i) for i in range(1, 4)]
        for f in frames:
            producer.offer(f)
        self.assertEqual(written, frames)
        self.assertEqual((producer.sent, producer.skipped), (3, 0))
        self.assertIsNone(producer.pending)

    def test_paused_keeps_newest(self):
        """
        While paused, only the newest frame is kept; resuming writes exactly
        that one, and the others count as skipped.
        """
        written = []
        producer = LatestFrameProducer(written.append)
        producer.pauseProducing()
        for i in range(1, 6):
            producer.offer(frame(i))
        self.assertEqual(written, [])
        self.assertEqual(producer.pending.number, 5)
        producer.resumeProducing()
        self.assertEqual([f.number for f in written], [5])
        self.assertEqual((producer.sent, producer.skipped), (1, 4))
        self.assertIsNone(producer.pending)
        producer.resumeProducing()
        self.assertEqual(len(written), 1)

    def test_hold(self):
        """
        Held frames wait (the newest only) until the last release,
        whatever the consumer says; then the newest is written.
        """
        written = []
        producer = LatestFrameProducer(written.append)
        producer.hold()
        producer.hold()
        for i in range(1, 4):
            producer.offer(frame(i))
        producer.pauseProducing()
        producer.resumeProducing()
        self.assertEqual(written, [])
        self.assertTrue(producer.held)
        producer.release()
        self.assertEqual(written, [])
        producer.release()
        self.assertFalse(producer.held)
        self.assertEqual([f.number for f in written], [3])
        # A release too many changes nothing.
        producer.release()
        producer.offer(frame(4))
        self.assertEqual([f.number for f in written], [3, 4])
        # Released while the consumer is paused: it waits for the consumer.
        producer.hold()
        producer.offer(frame(5))
        producer.pauseProducing()
        producer.release()
        self.assertEqual(len(written), 2)
        producer.resumeProducing()
        self.assertEqual([f.number for f in written], [3, 4, 5])

    def test_counts(self):
        """
        Producers that share a L{FrameCounts} add their frames to it.
        """
        counts = FrameCounts()
        fast = LatestFrameProducer(lambda f: None, counts=counts)
        slow = LatestFrameProducer(lambda f: None, counts=counts)
        slow.pauseProducing()
        for i in range(1, 5):
            fast.offer(frame(i))
            slow.offer(frame(i))
        slow.resumeProducing()
        self.assertEqual((counts.sent, counts.skipped), (5, 3))
        self.assertEqual((fast.sent + slow.sent, slow.skipped), (5, 3))

    def test_slow_beside_fast(self):
        """
        Through a broadcaster, a client whose consumer never drains gets
        one frame written and then only holds the newest; a client beside
        it that drains gets every frame, in order.
        """
        broadcaster = Broadcaster()
        fast, slow = BufferingConsumer(limit=0), BufferingConsumer(limit=0)
        fast_producer = attach(fast, broadcaster)
        slow_producer = attach(slow, broadcaster)
        for i in range(1, 21):
            broadcaster.publish(bytes([i]), float(i))
            fast.drain()
        self.assertEqual(fast.received, [bytes([i]) for i in range(1, 21)])
        self.assertEqual(fast_producer.skipped, 0)
        self.assertEqual(slow.buffer, [bytes([1])])
        self.assertEqual(slow_producer.pending.number, 20)
        self.assertEqual(slow_producer.skipped, 18)
        slow.drain()
        self.assertEqual(slow.received, [bytes([1])])
        self.assertEqual(slow.buffer, [bytes([20])])

    def test_memory_bound(self):
        """
        After 1000 frames to a client that takes none, the producer holds
        one pending frame, its consumer one frame beyond its limit, and no
        older frame is alive anywhere.
        """
        broadcaster = Broadcaster()
        size = 10_000
        consumer = BufferingConsumer(limit=64 * 1024)
        producer = attach(consumer, broadcaster)
        peak = 0
        marker = b"memory-bound test "
        for i in range(1000):
            broadcaster.publish(marker + bytes([i % 256]) * size, float(i))
            peak = max(peak, consumer.buffered)
        self.assertLessEqual(peak, 64 * 1024 + len(marker) + size)
        self.assertEqual(producer.pending.number, 1000)
        self.assertEqual(producer.sent + producer.skipped + 1, 1000)
        gc.collect()
        alive = [o for o in gc.get_objects()
                 if isinstance(o, Frame) and o.data.startswith(marker)]
        self.assertEqual(alive, [producer.pending])
        self.assertIs(producer.pending, broadcaster.latest)

    def test_stop(self):
        """
        Once stopped (the connection went), nothing more is written, the
        pending frame is let go, and C{on_stop} runs once and unsubscribes.
        """
        reports = []
        broadcaster = Broadcaster(on_demand_changed=reports.append)
        consumer = BufferingConsumer(limit=0)
        producer = attach(consumer, broadcaster)
        broadcaster.publish(b"a", 1.0)
        broadcaster.publish(b"b", 2.0)
        self.assertIsNotNone(producer.pending)
        producer.stopProducing()
        producer.stopProducing()
        self.assertEqual(reports, [1, 0])
        self.assertIsNone(producer.pending)
        producer.offer(frame(3))
        consumer.drain()
        producer.resumeProducing()
        self.assertEqual(consumer.received, [b"a"])
        self.assertEqual(producer.sent, 1)

    def test_stop_without_callback(self):
        producer = LatestFrameProducer(lambda frame: None)
        producer.stopProducing()
        self.assertTrue(producer.stopped)

    def test_pause_during_write(self):
        """
        A consumer that pauses the producer from inside the write (as a
        transport does once its buffer is over the limit) stops further
        writes; the frame offered meanwhile waits and goes on resume.
        """
        consumer = BufferingConsumer(limit=5)
        producer = attach(consumer)
        producer.offer(frame(1, size=10))
        self.assertTrue(producer.paused)
        producer.offer(frame(2, size=10))
        self.assertEqual(consumer.buffered, 10)
        consumer.drain()
        self.assertEqual(consumer.received, [b"\x01" * 10])
        self.assertEqual(consumer.buffer, [b"\x02" * 10])
        self.assertTrue(producer.paused)
        self.assertEqual(producer.sent, 2)

    def test_resume_and_offer_during_write(self):
        """
        If, in the middle of a frame written in several pieces, the
        consumer pauses and resumes the producer and a newer frame is
        offered, the newer frame is written only after the whole of the
        current one: one frame's bytes never interleave with another's.
        """
        out = []
        producer = None

        def write(f):
            out.append(("head", f.number))
            if f.number == 1:
                producer.pauseProducing()
                producer.offer(frame(2))
                producer.resumeProducing()
            out.append(("body", f.number))

        producer = LatestFrameProducer(write)
        producer.offer(frame(1))
        self.assertEqual(out, [("head", 1), ("body", 1),
                               ("head", 2), ("body", 2)])
        self.assertEqual((producer.sent, producer.skipped), (2, 0))

    def test_skip_during_paused_write(self):
        """
        Frames offered while a write has paused the producer replace each
        other; only the newest is written after resume.
        """
        out = []
        producer = None

        def write(f):
            out.append(f.number)
            if f.number == 1:
                producer.pauseProducing()
                producer.offer(frame(2))
                producer.offer(frame(3))

        producer = LatestFrameProducer(write)
        producer.offer(frame(1))
        self.assertEqual(out, [1])
        producer.resumeProducing()
        self.assertEqual(out, [1, 3])
        self.assertEqual((producer.sent, producer.skipped), (2, 1))

    def test_failing_write(self):
        """
        A write that raises lets the exception out (the broadcaster logs it
        and drops the subscriber) and leaves the producer usable.
        """
        calls = []

        def write(f):
            calls.append(f.number)
            if f.number == 1:
                raise ZeroDivisionError()

        producer = LatestFrameProducer(write)
        broadcaster = Broadcaster()
        broadcaster.subscribe(producer)
        broadcaster.publish(b"a", 1.0)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(broadcaster.count, 0)
        producer.offer(frame(2))
        self.assertEqual(calls, [1, 2])


# The wire format of the loopback test: length and frame number, then data.
HEADER = struct.Struct(">II")
FRAME_SIZE = 200 * 1024
FRAMES = 200


class ScriptedPacing:
    """
    A pacing that answers the delays it is given, one per question (0.0
    once they run out), and remembers the sizes it was told were sent.
    """

    def __init__(self, *delays):
        self.delays = list(delays)
        self.asked = 0
        self.sizes = []

    def wait(self):
        self.asked += 1
        return self.delays.pop(0) if self.delays else 0.0

    def sent(self, size):
        self.sizes.append(size)

    def describe(self):
        return {"pacing": "scripted"}


class PacedProducerTests(SynchronousTestCase):
    """
    L{LatestFrameProducer} with a pacing: a frame the pacing says must
    wait stays pending, the newest only, and is looked at again after
    the delay, on the clock given.
    """

    def setUp(self):
        self.clock = task.Clock()
        self.written = []

    def producer(self, pacing, write=None):
        return LatestFrameProducer(write or self.write, pacing=pacing,
                                   clock=self.clock,
                                   wall_clock=lambda: 1000.0 + 0.25
                                   + self.clock.seconds())

    def write(self, frame):
        self.written.append(frame.number)
        return len(frame.data) + 100     # headers and all

    def test_waits_then_writes(self):
        pacing = ScriptedPacing(0.05, 0.02)
        producer = self.producer(pacing)
        producer.offer(frame(1))
        self.assertEqual(self.written, [])
        self.assertTrue(producer.waiting)
        self.assertEqual(producer.pending.number, 1)
        self.clock.advance(0.049)
        self.assertEqual((self.written, pacing.asked), ([], 1))
        self.clock.advance(0.001)             # asked again: 20 ms more
        self.assertEqual((self.written, pacing.asked), ([], 2))
        self.clock.advance(0.02)
        self.assertEqual(self.written, [1])
        self.assertFalse(producer.waiting)
        self.assertEqual(pacing.sizes, [110])  # what write() said
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_newest_replaces_the_waiting_frame(self):
        """
        A frame offered while one waits replaces it (skipped), is asked
        about at once, and the earliest retry is kept.
        """
        pacing = ScriptedPacing(0.1, 0.03, 0.5)
        producer = self.producer(pacing)
        producer.offer(frame(1))
        producer.offer(frame(2))             # asked: 30 ms, sooner
        (call,) = self.clock.getDelayedCalls()
        self.assertAlmostEqual(call.getTime(), 0.03)
        producer.offer(frame(3))             # asked: 0.5 s, later: kept
        (call,) = self.clock.getDelayedCalls()
        self.assertAlmostEqual(call.getTime(), 0.03)
        self.clock.advance(0.03)
        self.assertEqual(self.written, [3])
        self.assertEqual((producer.sent, producer.skipped), (1, 2))

    def test_written_before_the_timer(self):
        """
        A newer frame that may go at once (the link drained meanwhile)
        is written, and the retry timer goes with the frame it was for.
        """
        pacing = ScriptedPacing(0.1)
        producer = self.producer(pacing)
        producer.offer(frame(1))
        self.assertTrue(producer.waiting)
        producer.offer(frame(2))
        self.assertEqual(self.written, [2])
        self.assertFalse(producer.waiting)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_paused_consumer_is_not_asked(self):
        """
        While the consumer is paused the pacing is not asked; resuming
        asks it first.
        """
        pacing = ScriptedPacing()
        producer = self.producer(pacing)
        producer.pauseProducing()
        producer.offer(frame(1))
        self.assertEqual(pacing.asked, 0)
        producer.resumeProducing()
        self.assertEqual((pacing.asked, self.written), (1, [1]))

    def test_stop_cancels_the_retry(self):
        stopped = []
        producer = LatestFrameProducer(self.write, on_stop=lambda: stopped
                                       .append(True),
                                       pacing=ScriptedPacing(1.0),
                                       clock=self.clock)
        producer.offer(frame(1))
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        producer.stopProducing()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(stopped, [True])
        self.assertFalse(producer.waiting)

    def test_pacing_needs_a_clock(self):
        self.assertRaises(ValueError, LatestFrameProducer, self.write,
                          pacing=ScriptedPacing())

    def test_figures(self):
        """
        What C{/status} shows of one client: frames sent a second over the
        last two seconds, sent and skipped, how old the last frame was when
        it was written, and the pacing's own.
        """
        producer = self.producer(ScriptedPacing())
        self.assertEqual(producer.figures(), {
            "fps": 0.0, "frames_sent": 0, "frames_skipped": 0,
            "last_frame_age_ms": None, "pacing": "scripted"})
        for n in range(1, 61):               # 30 fps for 2 s
            self.clock.advance(1 / 30)
            producer.offer(Frame(data=b"x", number=n,
                                 timestamp=1000.0 + self.clock.seconds()))
        producer.pauseProducing()
        producer.offer(frame(61))
        producer.offer(frame(62))
        figures = producer.figures()
        self.assertEqual(figures["fps"], 30.0)
        self.assertEqual(figures["frames_sent"], 60)
        self.assertEqual(figures["frames_skipped"], 1)
        self.assertEqual(figures["last_frame_age_ms"], 250.0)
        self.clock.advance(5)
        self.assertEqual(producer.figures()["fps"], 0.0)
        self.assertEqual(LatestFrameProducer(self.write).figures()["pacing"],
                         "off")


def payload(number):
    return bytes([number % 251]) * FRAME_SIZE


class FrameServer(Protocol):
    """
    The server side of one client: a L{LatestFrameProducer} on the TCP
    transport, subscribed to the broadcaster while connected.
    """

    def __init__(self, broadcaster):
        self.broadcaster = broadcaster
        self.lost = defer.Deferred()

    def connectionMade(self):
        self.transport.getHandle().setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF,
            32 * 1024)
        self.producer = LatestFrameProducer(
            self.write_frame,
            on_stop=lambda: self.broadcaster.unsubscribe(self.producer))
        self.transport.registerProducer(self.producer, True)
        self.broadcaster.subscribe(self.producer)

    def write_frame(self, frame):
        self.transport.write(HEADER.pack(len(frame.data), frame.number))
        self.transport.write(frame.data)

    def buffered(self):
        """
        Bytes written but still in user space, waiting for the socket.
        """
        t = self.transport
        return len(t.dataBuffer) - t.offset + t._tempDataLen

    def connectionLost(self, reason):
        self.broadcaster.unsubscribe(self.producer)
        self.lost.callback(None)


class FrameClient(Protocol):
    """
    Reads length-prefixed frames, checking each one's bytes.
    """

    def __init__(self):
        self.buffer = bytearray()
        self.numbers = []
        self.bad = []
        self.lost = defer.Deferred()

    def connectionMade(self):
        self.transport.getHandle().setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF,
            32 * 1024)

    def dataReceived(self, data):
        self.buffer += data
        while len(self.buffer) >= HEADER.size:
            length, number = HEADER.unpack_from(self.buffer)
            end = HEADER.size + length
            if len(self.buffer) < end:
                break
            if self.buffer[HEADER.size:end] != payload(number):
                self.bad.append(number)
            del self.buffer[:end]
            self.numbers.append(number)

    def connectionLost(self, reason):
        self.lost.callback(None)


async def wait_until(predicate):
    """
    Let the reactor run until C{predicate()} holds (the test's timeout
    bounds the wait).
    """
    while not predicate():
        await sleep(0.001)


class LoopbackTests(TestCase):
    """
    Real TCP on 127.0.0.1, with Twisted's own transport pausing and
    resuming the producers.
    """

    timeout = 120

    async def test_stalled_client(self):
        """
        Of two clients, the one that reads gets every one of 200 frames of
        200 KB, while for the one that has stopped reading the server holds
        at most its transport's buffer limit plus one frame in user space
        and one pending frame, skipping the rest; when it reads again it
        gets the newest frame.
        """
        broadcaster = Broadcaster()
        servers, clients = [], []

        class ServerFactory(Factory):
            def buildProtocol(self, addr):
                server = FrameServer(broadcaster)
                servers.append(server)
                return server

        port = reactor.listenTCP(0, ServerFactory(), interface="127.0.0.1")
        self.addCleanup(port.stopListening)

        def close_all():
            # Abort: the stalled client's server side still has bytes to
            # send, which a polite close would wait for.
            waits = []
            for protocol in servers + clients:
                if protocol.transport is not None \
                        and protocol.transport.connected:
                    protocol.transport.abortConnection()
                    waits.append(protocol.lost)
            return defer.gatherResults(waits)

        self.addCleanup(close_all)

        async def connect():
            client = FrameClient()
            endpoint = TCP4ClientEndpoint(
                reactor, "127.0.0.1", port.getHost().port)
            clients.append(client)
            await connectProtocol(endpoint, client)
            local = client.transport.getHost().port

            def matching():
                return [s for s in servers
                        if s.transport.getPeer().port == local]

            await wait_until(matching)
            return client, matching()[0]

        fast, fast_server = await connect()
        stalled, stalled_server = await connect()
        stalled.transport.pauseProducing()
        self.assertEqual(broadcaster.count, 2)

        peak = 0
        for number in range(1, FRAMES + 1):
            # Pace by the reading client: publish only when its transport
            # can take a frame, so that it needs to skip none.
            await wait_until(lambda: not fast_server.producer.paused)
            frame = broadcaster.publish(payload(number), time.time())
            peak = max(peak, stalled_server.buffered())
            await sleep(0.001)
            peak = max(peak, stalled_server.buffered())
        self.assertEqual(frame.number, FRAMES)

        await wait_until(lambda: fast.numbers[-1:] == [FRAMES])
        self.assertEqual(fast.numbers, list(range(1, FRAMES + 1)))
        self.assertEqual(fast.bad, [])
        self.assertEqual(fast_server.producer.skipped, 0)

        producer = stalled_server.producer
        self.assertTrue(producer.paused)
        self.assertGreater(producer.skipped, 0)
        self.assertEqual(producer.pending.number, FRAMES)
        self.assertEqual(producer.sent + producer.skipped + 1, FRAMES)
        # The transport pauses the producer once over bufferSize (64 KiB),
        # and a frame is only written while not paused, so at most the
        # limit plus one whole frame ever waits in user space.
        limit = stalled_server.transport.bufferSize
        self.assertGreater(peak, limit)
        self.assertLessEqual(peak, limit + HEADER.size + FRAME_SIZE)

        # Reading again, the stalled client gets what was in flight, then
        # the newest frame, skipping the rest.
        stalled.transport.resumeProducing()
        await wait_until(lambda: stalled.numbers[-1:] == [FRAMES])
        self.assertEqual(stalled.bad, [])
        self.assertEqual(stalled.numbers, sorted(set(stalled.numbers)))
        self.assertEqual(len(stalled.numbers), producer.sent)
        self.assertLess(len(stalled.numbers), FRAMES)


class EncodedFramesTests(SynchronousTestCase):
    def test_once_per_frame_and_variant(self):
        calls = []

        def encode(frame, variant):
            calls.append((frame.number, variant))
            return b"%d-%s" % (frame.number, variant)

        cache = EncodedFrames(encode)
        one, two = frame(1), frame(2)
        for _ in range(3):          # three clients
            self.assertEqual(cache.get(one, b"json"), b"1-json")
            self.assertEqual(cache.get(one, b"binary"), b"1-binary")
            self.assertEqual(cache.get(two, b"json"), b"2-json")
        self.assertEqual(calls, [(1, b"json"), (1, b"binary"), (2, b"json")])
        self.assertEqual(cache.encoded, 3)

    def test_keeps_only_the_newest(self):
        cache = EncodedFrames(lambda f: object(), keep=2)
        first = cache.get(frame(1))
        self.assertIs(cache.get(frame(1)), first)
        cache.get(frame(2))
        cache.get(frame(3))
        self.assertIsNot(cache.get(frame(1)), first)
        self.assertEqual(cache.encoded, 4)
        self.assertLessEqual(len(cache._cache), 2)


class WordsTests(SynchronousTestCase):
    """
    What the broadcaster counts, logs and shows, exactly: placeholders
    counted one by one, the log lines of a failing subscriber or demand
    callback, C{/status}'s figures rounded to a tenth, and the reprs.
    """

    def setUp(self):
        self.logged = Logged(self)

    def test_placeholders_counted(self):
        broadcaster = Broadcaster()
        for n in range(3):
            broadcaster.publish(b"p", n, placeholder=True)
        broadcaster.relay(Frame(b"x", 9, 9.0, placeholder=True))
        self.assertEqual((broadcaster.camera_frames,
                          broadcaster.placeholders), (0, 4))

    def test_later_subscribers_after_a_dropped_one(self):
        """
        A subscriber unsubscribed by an earlier one's offer is passed
        over; the ones after it still get the frame.
        """
        broadcaster = Broadcaster()
        victim, after = Recorder(), Recorder()

        class Meddler:
            def offer(self, frame):
                broadcaster.unsubscribe(victim)

        for subscriber in (Meddler(), victim, after):
            broadcaster.subscribe(subscriber)
        broadcaster.publish(b"a", 1.0)
        self.assertEqual((victim.numbers, after.numbers), ([], [1]))

    def test_failing_subscriber_logged(self):
        broadcaster = Broadcaster()
        broken = Exploding()
        broadcaster.subscribe(broken)
        broadcaster.publish(b"a", 1.0)
        broadcaster.publish(b"b", 1.0)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(self.logged.lines(), [
            ("critical", "subscriber %r failed to take frame 1; dropping it"
             % (broken,))])
        self.assertEqual(broadcaster.count, 0)

    def test_subscriber_that_unsubscribes_itself_then_fails(self):
        broadcaster = Broadcaster()

        class Quitter:
            def offer(self, frame):
                broadcaster.unsubscribe(self)
                raise ZeroDivisionError()

        broadcaster.subscribe(Quitter())
        broadcaster.publish(b"a", 1.0)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(broadcaster.count, 0)

    def test_failing_demand_callback_logged(self):
        reports = []

        def changed(count):
            reports.append(count)
            raise ZeroDivisionError()

        broadcaster = Broadcaster(on_demand_changed=changed)
        first, second = Recorder(), Recorder()
        broadcaster.subscribe(first)
        broadcaster.subscribe(second)
        broadcaster.unsubscribe(first)
        self.assertEqual(reports, [1, 2, 1])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 3)
        self.assertEqual(self.logged.lines(), [
            ("critical", "on_demand_changed(%d) failed" % n)
            for n in (1, 2, 1)])

    def test_demand_reported_after_a_reentrant_change(self):
        """
        A callback that unsubscribes re-entrantly: the newer count is
        reported after it returns, and later changes still are.
        """
        reports = []
        first = Recorder()

        def changed(count):
            reports.append(count)
            if count == 2:
                broadcaster.unsubscribe(first)

        depth = []

        def watched(count):
            depth.append(None)
            try:
                self.assertEqual(len(depth), 1, "re-entered")
                changed(count)
            finally:
                depth.pop()

        broadcaster = Broadcaster(on_demand_changed=watched)
        broadcaster.subscribe(first)
        broadcaster.subscribe(Recorder())
        self.assertEqual(reports, [1, 2, 1])
        broadcaster.subscribe(first)
        self.assertEqual(reports, [1, 2, 1, 2, 1])

    def test_pacing_needs_a_clock(self):
        error = self.assertRaises(ValueError, LatestFrameProducer,
                                  lambda f: None, pacing=object())
        self.assertEqual(str(error), "pacing needs a clock")

    def test_figures(self):
        clock = task.Clock()
        clock.advance(100)
        producer = LatestFrameProducer(lambda f: None, clock=clock,
                                       wall_clock=lambda: 1000.0 + 7.01234)
        self.assertEqual(producer.figures(), {
            "fps": 0.0, "frames_sent": 0, "frames_skipped": 0,
            "last_frame_age_ms": None, "pacing": "off",
            "pacing_off_why": "turned off (preview.pacing: false)"})
        for n in range(1, 8):
            producer.offer(frame(n))
        figures = producer.figures()
        self.assertEqual(figures["fps"], round(7 / FPS_WINDOW, 1))
        self.assertEqual(figures["last_frame_age_ms"], 12.3)
        self.assertEqual(figures["frames_sent"], 7)
        self.assertEqual(LatestFrameProducer(lambda f: None).figures()["fps"],
                         None)

    def test_reprs(self):
        producer = LatestFrameProducer(lambda f: None)
        self.assertEqual(repr(producer),
                         "<LatestFrameProducer sent=0 skipped=0>")
        producer.offer(frame(1))
        producer.pauseProducing()
        producer.hold()
        producer.offer(frame(2))
        producer.offer(frame(3))
        self.assertEqual(repr(producer), "<LatestFrameProducer sent=1 "
                         "skipped=1 paused held>")
        producer.stopProducing()
        self.assertEqual(repr(producer), "<LatestFrameProducer sent=1 "
                         "skipped=1 paused held stopped>")
        counts = FrameCounts()
        counts.sent, counts.skipped = 4, 2
        self.assertEqual(repr(counts), "<FrameCounts sent=4 skipped=2>")
        self.assertEqual(repr(Frame(b"abc", 7, 12.34567)),
                         "<Frame #7 3 bytes at 12.346>")


class EdgeTests(SynchronousTestCase):
    def test_sizes_told_to_the_pacing(self):
        """
        The pacing hears the bytes C{write} says it wrote, or the JPEG's
        size when it says nothing.
        """
        clock = task.Clock()
        pacing = ScriptedPacing()
        sizes = [123, None]
        producer = LatestFrameProducer(lambda f: sizes.pop(0),
                                       pacing=pacing, clock=clock)
        producer.offer(frame(1, size=10))
        producer.offer(frame(2, size=20))
        self.assertEqual(pacing.sizes, [123, 20])

    def test_fps_window_edge(self):
        """
        A frame exactly L{FPS_WINDOW} old still counts.
        """
        clock = task.Clock()
        producer = LatestFrameProducer(lambda f: None, clock=clock)
        producer.offer(frame(1))
        clock.advance(FPS_WINDOW)
        producer.offer(frame(2))
        self.assertEqual(producer.fps, 2 / FPS_WINDOW)

    def test_encoded_frames_kept(self):
        calls = []

        def encode(frame, *variant):
            calls.append((frame.number,) + variant)
            return b"%d" % frame.number

        frames = EncodedFrames(encode, keep=2)
        for n in (1, 2, 1, 2):
            self.assertEqual(frames.get(frame(n)), b"%d" % n)
        self.assertEqual(frames.encoded, 2)
        frames.get(frame(3))
        frames.get(frame(2))
        self.assertEqual(frames.encoded, 3)
        frames.get(frame(1))
        self.assertEqual(calls, [(1,), (2,), (3,), (1,)])

    def test_next_frame_timeout_says_so(self):
        clock = task.Clock()
        d = Broadcaster().next_frame(2.5, clock)
        clock.advance(2.5)
        failure = self.failureResultOf(d, defer.TimeoutError)
        self.assertEqual(failure.value.args,
                         ("no frame within 2.5 seconds",))
