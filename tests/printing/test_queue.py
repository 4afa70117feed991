# -*- test-case-name: tests.printing.test_queue -*-
"""
The print queue's books (L{fourcut.printing.queue.PrintQueue}).
"""

from twisted.trial.unittest import SynchronousTestCase

from fourcut.printing.printer import JobReport
from fourcut.printing.queue import PrintQueue, PrintRefused


class QueueTests(SynchronousTestCase):
    def test_copies(self):
        queue = PrintQueue(2)
        queue.add("a.jpg", "/p/a.jpg", "a")
        self.assertEqual(queue.copies_left("a.jpg"), 1)
        queue.add("a.jpg", "/p/a.jpg", "a")
        e = self.assertRaises(PrintRefused, queue.add, "a.jpg", "/p/a.jpg",
                              "a")
        self.assertEqual((e.code, e.reason, e.copies_left),
                         (409, "copies", 0))
        self.assertEqual(queue.copies_left("b.jpg"), 2)
        # Test prints have no strip and no limit.
        for _ in range(3):
            queue.add(None, None, "test")

    def test_full(self):
        queue = PrintQueue(5, max_waiting=2)
        queue.add("a.jpg", None, "a")
        queue.add("b.jpg", None, "b")
        e = self.assertRaises(PrintRefused, queue.add, "c.jpg", None, "c")
        self.assertEqual((e.code, e.reason), (503, "full"))

    def test_life(self):
        """
        waiting, refused (still waiting), sent, printing, done; or failed,
        the copy given back.
        """
        queue = PrintQueue(1)
        one = queue.add("a.jpg", None, "a")
        two = queue.add("b.jpg", None, "b")
        self.assertIs(queue.next_waiting(), one)
        queue.refused(one, "not accepting jobs")
        self.assertEqual((one.state, one.error, one.attempts),
                         ("waiting", "not accepting jobs", 1))
        queue.sent(one, 7)
        queue.sent(two, 8)
        self.assertEqual(queue.active_ids(), [7, 8])
        self.assertEqual(queue.update([JobReport(7, "processing")]), [])
        self.assertEqual(one.state, "printing")
        failed = queue.update([JobReport(7, "completed"),
                               JobReport(8, "aborted", ("job-canceled",),
                                         "jammed")])
        self.assertEqual(failed, [two])
        self.assertEqual((one.state, two.state), ("done", "failed"))
        self.assertEqual(two.error, "CUPS job 8 aborted: job-canceled: "
                         "jammed")
        self.assertEqual((queue.completed, queue.failed, queue.submitted),
                         (1, 1, 2))
        self.assertEqual(queue.copies_left("b.jpg"), 1)
        self.assertEqual(queue.copies_left("a.jpg"), 0)
        self.assertEqual(queue.active_ids(), [])

    def test_keeps_recent(self):
        queue = PrintQueue(1, keep=3)
        for i in range(6):
            job = queue.add(None, None, "t%d" % i)
            queue.fail(job, "no")
        self.assertEqual([job["title"] for job in queue.describe()],
                         ["t3", "t4", "t5"])


class OperatorTests(SynchronousTestCase):
    def test_cancel_waiting(self):
        """
        A job CUPS has not taken is cancelled: finished, not failed, its
        copy back to the strip, and the queue offers the next one.
        """
        queue = PrintQueue(1)
        one = queue.add("a.jpg", None, "a")
        two = queue.add("b.jpg", None, "b")
        self.assertIs(queue.cancel(one.number), one)
        self.assertEqual((one.state, one.error),
                         ("canceled", "canceled by the operator"))
        self.assertEqual(queue.copies_left("a.jpg"), 1)
        self.assertEqual((queue.failed, queue.waiting()), (0, 1))
        self.assertIs(queue.next_waiting(), two)
        self.assertEqual(queue.unfinished(), [two])

    def test_cancel_refused(self):
        queue = PrintQueue(2)
        sent = queue.add("a.jpg", None, "a")
        queue.sent(sent, 12)
        with self.assertRaises(PrintRefused) as caught:
            queue.cancel(sent.number)
        self.assertEqual(caught.exception.code, 409)
        self.assertIn("CUPS has print 1 (CUPS job 12): cancel it there "
                      "(cancel 12", str(caught.exception))
        self.assertEqual(sent.state, "sent")
        waiting = queue.add("a.jpg", None, "a")
        queue.cancel(waiting.number)
        with self.assertRaises(PrintRefused) as caught:
            queue.cancel(waiting.number)
        self.assertEqual(str(caught.exception), "print 2 is canceled already")
        with self.assertRaises(PrintRefused) as caught:
            queue.cancel(99)
        self.assertEqual(caught.exception.code, 404)

    def test_retry(self):
        """
        A failed job is printed again as a new job of the same strip; one
        that has not failed is not.
        """
        queue = PrintQueue(1)
        job = queue.add("a.jpg", "/photos/a.jpg", "fourcut a.jpg")
        queue.fail(job, "the strip could not be read")
        again = queue.retry(job.number)
        self.assertEqual((again.number, again.strip, again.path, again.title,
                          again.state),
                         (2, "a.jpg", "/photos/a.jpg", "fourcut a.jpg",
                          "waiting"))
        self.assertEqual(queue.copies_left("a.jpg"), 0)
        with self.assertRaises(PrintRefused) as caught:
            queue.retry(again.number)
        self.assertEqual((caught.exception.code, str(caught.exception)),
                         (409, "print 2 has not failed (it is waiting)"))
