"""
What guests read when something fails, and the operator's list of recent
problems (L{fourcut.booth.plain}).
"""

from twisted.trial.unittest import SynchronousTestCase

from fourcut.booth.plain import BoothProblems, guest_words


class GuestWordsTests(SynchronousTestCase):
    def test_no_technical_words(self):
        for code in (400, 409, 500, 503, 504, 507, None):
            for strip in (False, True):
                text = guest_words(code, strip)
                self.assertTrue(text.endswith("."), text)
                for word in ("error", "gphoto", "[-", "errno", "500"):
                    self.assertNotIn(word, text.lower())
        self.assertIn("not ready", guest_words(503))
        self.assertIn("storage is full", guest_words(507, strip=True))
        self.assertIn("photos are saved", guest_words(500, strip=True))


class BoothProblemsTests(SynchronousTestCase):
    def test_newest_first_and_bounded(self):
        now = [1796677440.0]
        errors = BoothProblems(clock=lambda: now[0], keep=3)
        for n in range(5):
            now[0] += 60
            errors.record("problem %d" % n, "detail %d" % n)
        listed = errors()
        self.assertEqual([e["what"] for e in listed],
                         ["problem 4", "problem 3", "problem 2"])
        self.assertEqual(listed[0]["time"], "2026-12-07T21:09:00+00:00")
        self.assertEqual(listed[0]["source"], "booth")
        self.assertEqual(len(errors(limit=1)), 1)
        self.assertEqual(len(errors), 3)

    def test_sequence_failures(self):
        errors = BoothProblems()
        errors.note_sequence({"type": "countdown"})
        errors.note_sequence({
            "type": "sequence_failed", "code": 503, "shot": 1,
            "error": "shot 1 of 4 failed: [-105] Unknown model",
            "guest": guest_words(503)})
        [entry] = errors()
        self.assertEqual(entry["what"], guest_words(503))
        self.assertIn("[-105]", entry["detail"])
