# -*- test-case-name: tests.camera.test_worker_rate -*-
"""
The camera worker learns the body's live view rate from the first frames
(L{fourcut.camera.child.worker.CameraWorker._frame_came}), and keeps to
it: frames missed while it learns (the worker stalled: a loaded machine,
a CPU quota) must not make it think the body slower than it is.
"""

import os

from twisted.trial.unittest import SynchronousTestCase

from fourcut.camera.child.worker import LATE_MARGIN, CameraWorker


def _gphoto2():
    """
    python-gphoto2, imported without leaving its C{CAMLIBS} and C{IOLIBS}
    in this process's environment: importing it points them at its own
    libgphoto2's libraries, which the gphoto2 CLI children of the tests
    that run after this one in the same process would then load (Debian's
    gphoto2 with another libgphoto2's camera drivers: other messages,
    settings refused).
    """
    saved = {name: os.environ.get(name) for name in ("CAMLIBS", "IOLIBS")}
    try:
        import gphoto2
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return gphoto2


class Tap:
    def text(self):
        return ""


def learned(arrivals, fps=30.0):
    """
    The interval a worker capped at C{fps} polls at once frames came at
    C{arrivals} (its clock's seconds).
    """
    worker = CameraWorker(_gphoto2(), None, None, None, Tap(), fps=fps)
    for when in arrivals:
        worker._frame_came(when)
    return worker.learned, worker.body_period


def body(period, count, missed=(), late=()):
    """
    Arrival times of a body's frames every C{period} seconds, leaving out
    the frames numbered in C{missed} (the worker's poll came a frame late)
    and delaying those in C{late} by 4 ms (a poll before the frame,
    retried by libgphoto2).
    """
    return [n * period + (0.004 if n in late else 0.0)
            for n in range(count) if n not in missed]


class LearnTests(SynchronousTestCase):
    def test_environment_left_alone(self):
        """
        Importing python-gphoto2 here leaves this process's C{CAMLIBS}
        and C{IOLIBS} as they were.
        """
        before = {name: os.environ.get(name)
                  for name in ("CAMLIBS", "IOLIBS")}
        _gphoto2()
        self.assertEqual({name: os.environ.get(name)
                          for name in ("CAMLIBS", "IOLIBS")}, before)

    def test_steady_body_at_the_cap(self):
        """
        A body as fast as the cap: nothing to slow down for.
        """
        self.assertEqual(learned(body(1 / 30, 50)), (True, 0.0))

    def test_slow_body(self):
        """
        A slower body (a 700D's 13.4 fps) is polled a little slower than
        it delivers, retries or not.
        """
        period = 1 / 13.4
        done, interval = learned(body(period, 50, late=range(0, 50, 3)))
        self.assertTrue(done)
        self.assertLess(abs(interval - period * (1 + LATE_MARGIN)),
                        period * 0.003, interval)

    def test_frames_missed_while_learning(self):
        """
        One frame in six missed while the worker learns (it stalled: the
        server's CPU is capped) leaves the body's pace as it is: polls
        stay at the cap, not at 25 fps for the whole session.
        """
        arrivals = body(1 / 30, 60, missed=range(5, 60, 6),
                        late=range(1, 60, 4))
        self.assertEqual(learned(arrivals), (True, 0.0))

    def test_slow_body_with_frames_missed(self):
        period = 1 / 13.4
        done, interval = learned(body(period, 60, missed=range(4, 60, 7)))
        self.assertTrue(done)
        self.assertLess(abs(interval - period * (1 + LATE_MARGIN)),
                        period * 0.003, interval)
