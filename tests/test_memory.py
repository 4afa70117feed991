# -*- test-case-name: tests.test_memory -*-
"""
glibc's malloc settings fourcut makes at start (L{fourcut.memory}).
"""

from twisted.trial.unittest import SynchronousTestCase

from fourcut import memory


class KeepLargeBlocksMappedTests(SynchronousTestCase):
    def test_settings(self):
        """
        Blocks of 4 MiB and more are mmapped (a photo, not a live view
        frame or what transforming one takes), and up to 8 MiB free stays
        at a heap's top; both are fixed, so glibc stops adjusting them.
        """
        calls = []

        def mallopt(parameter, value):
            calls.append((parameter, value))
            return 1
        self.assertTrue(memory.keep_large_blocks_mapped(mallopt=mallopt))
        self.assertEqual(calls, [(-1, 8 * 1024 * 1024),
                                 (-3, 4 * 1024 * 1024)])

    def test_refused(self):
        """
        A C{mallopt} that refuses (it returns 0) is reported.
        """
        self.assertFalse(memory.keep_large_blocks_mapped(
            mallopt=lambda parameter, value: 0))

    def test_glibc(self):
        """
        This machine's glibc takes the settings.
        """
        self.assertTrue(memory.keep_large_blocks_mapped())
