"""
Unit tests of L{fourcut.stream.jpeg.JPEGSplitter} on streams of real JPEGs
made with PIL, cut into reads of every size, with garbage around frames.
"""

import io
import random
import struct

from PIL import Image
from twisted.trial.unittest import SynchronousTestCase

from fourcut.stream.jpeg import JPEGSplitter, frame_size


def make_jpeg(seed, size=(64, 48), **options):
    """
    A noisy JPEG (so that its entropy-coded data is varied and holds
    stuffed C{FF 00} bytes).
    """
    rng = random.Random(seed)
    image = Image.frombytes(
        "RGB", size, bytes(rng.randrange(256) for _ in range(3 * size[0]
                                                              * size[1])))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, **options)
    return out.getvalue()


def garbage(seed, length, end_with_ff=False):
    """
    Random bytes holding no SOI (C{FF D8}), which would rightly be taken as
    the start of a frame; optionally ending in a lone C{FF}.
    """
    rng = random.Random(seed)
    data = bytearray(rng.randrange(256) for _ in range(length))
    for i in range(1, len(data)):
        if data[i - 1] == 0xFF and data[i] == 0xD8:
            data[i] = 0xD9
    if end_with_ff and data:
        data[-1] = 0xFF
    return bytes(data)


def feed_in_chunks(splitter, stream, sizes):
    """
    Feed C{stream} in reads of the sizes C{sizes} yields (the last read
    takes what is left); return every frame that came out.
    """
    frames = []
    offset = 0
    for size in sizes:
        if offset >= len(stream):
            break
        frames.extend(splitter.feed(stream[offset:offset + size]))
        offset += size
    frames.extend(splitter.feed(stream[offset:]))
    return frames


def random_sizes(seed, low=1, high=5000):
    rng = random.Random(seed)
    while True:
        yield rng.randint(low, high)


def ones():
    while True:
        yield 1


class FrameFixture:
    """
    A set of structurally different JPEGs and a stream of them with garbage
    before, between and after.
    """

    def assertFrames(self, actual, expected):
        """
        Compare lists of frames, reporting them by index in C{self.frames}
        (or by length) rather than as hundreds of kilobytes of bytes.
        """
        def names(frames):
            return [self.frames.index(f) if f in self.frames
                    else "unknown frame of %d bytes" % (len(f),)
                    for f in frames]
        self.assertEqual(names(actual), names(expected))
        self.assertEqual(actual, expected)

    def setUp(self):
        self.frames = [
            make_jpeg(1),
            make_jpeg(2, comment=b"holds an EOI \xff\xd9 and SOI-ish \xff"),
            make_jpeg(3, restart_marker_rows=1),
            make_jpeg(4, size=(96, 64), progressive=True),
            make_jpeg(5, comment=b"\xff\xd9\xff\xd9", restart_marker_rows=1),
            make_jpeg(6, size=(200, 120)),
        ]
        # The fixtures must really have the features they are meant to.
        self.assertIn(b"\xff\xfe", self.frames[1][:200])
        self.assertIn(b"\xff\xd9", self.frames[1][:-2])
        self.assertIn(b"\xff\xdd", self.frames[2])       # DRI
        self.assertIn(b"\xff\xd0", self.frames[2])       # RST0
        self.assertIn(b"\xff\xc2", self.frames[3])       # progressive SOF
        self.assertGreater(self.frames[3].count(b"\xff\xda"), 1)
        self.gaps = [
            garbage(10, 300, end_with_ff=True),
            b"",
            garbage(11, 17),
            b"\xff",
            b"\xff\xd9\x00\xff",
            garbage(12, 1000, end_with_ff=True),
            garbage(13, 51),
        ]
        parts = [self.gaps[0]]
        for frame, gap in zip(self.frames, self.gaps[1:]):
            parts += [frame, gap]
        self.stream = b"".join(parts)
        self.garbage_length = sum(len(g) for g in self.gaps)


class SplitTests(FrameFixture, SynchronousTestCase):
    """
    The splitter gives back exactly the frames that went in, however the
    stream is cut into reads, and counts the garbage it drops.
    """

    def assertSplits(self, sizes):
        splitter = JPEGSplitter()
        self.assertFrames(feed_in_chunks(splitter, self.stream, sizes),
                          self.frames)
        self.assertEqual(splitter.skipped, self.garbage_length)

    def test_one_feed(self):
        self.assertSplits(iter(()))

    def test_one_byte_feeds(self):
        self.assertSplits(ones())

    def test_random_small_chunks(self):
        for seed in range(5):
            self.assertSplits(random_sizes(seed, 1, 64))

    def test_random_large_chunks(self):
        for seed in range(5):
            self.assertSplits(random_sizes(seed, 100, 8000))

    def test_frames_decode(self):
        """
        What comes out is every frame, each a whole JPEG that PIL decodes
        to the size it was made at.
        """
        frames = feed_in_chunks(JPEGSplitter(), self.stream,
                                random_sizes(7, 1, 300))
        self.assertFrames(frames, self.frames)
        sizes = []
        for frame in frames:
            image = Image.open(io.BytesIO(frame))
            image.load()
            sizes.append(image.size)
        self.assertEqual(sizes, [Image.open(io.BytesIO(f)).size
                                 for f in self.frames])
        self.assertIn((96, 64), sizes)

    def test_frames_emitted_as_soon_as_complete(self):
        """
        A frame comes out from the read holding its EOI, not later.
        """
        splitter = JPEGSplitter()
        frame = self.frames[4]
        self.assertEqual(splitter.feed(frame[:-1]), [])
        self.assertEqual(splitter.feed(frame[-1:]), [frame])

    def test_only_garbage(self):
        splitter = JPEGSplitter()
        data = garbage(20, 5000)
        self.assertFrames(feed_in_chunks(splitter, data,
                                         random_sizes(1, 1, 500)), [])
        self.assertEqual(splitter.skipped, len(data))


class RecoveryTests(FrameFixture, SynchronousTestCase):
    """
    Broken and oversized frames are dropped and the splitter carries on
    with the next one.
    """

    def test_truncated_frame_dropped(self):
        """
        A frame cut short in its compressed data and followed by a new SOI
        is dropped; the frames around it come out whole.
        """
        first, cut, last = self.frames[0], self.frames[5], self.frames[2]
        # Cut well inside the compressed data (past the SOS header).
        self.assertLess(cut.index(b"\xff\xda") + 100, len(cut) // 2)
        truncated = cut[:len(cut) // 2]
        stream = first + truncated + last
        for sizes in (iter(()), ones(), random_sizes(3, 1, 700)):
            splitter = JPEGSplitter()
            self.assertFrames(feed_in_chunks(splitter, stream, sizes),
                              [first, last])
            self.assertEqual(splitter.skipped, len(truncated))

    def test_truncated_after_ff(self):
        """
        A frame cut right after an C{FF} byte of its compressed data does
        not hide the next SOI.
        """
        cut = self.frames[5]
        start = cut.index(b"\xff\xda") + 20
        index = cut.index(b"\xff\x00", start)
        truncated = cut[:index + 1]
        splitter = JPEGSplitter()
        self.assertEqual(
            feed_in_chunks(splitter, truncated + self.frames[0], ones()),
            [self.frames[0]])
        self.assertEqual(splitter.skipped, len(truncated))

    def test_not_a_marker_after_soi(self):
        """
        An SOI followed by something that is not a marker is garbage.
        """
        splitter = JPEGSplitter()
        junk = b"\xff\xd8\x12\x34"
        self.assertFrames(feed_in_chunks(splitter, junk + self.frames[1],
                                         ones()),
                          [self.frames[1]])
        self.assertEqual(splitter.skipped, len(junk))

    def oversized_stream(self, excess=1):
        """
        Two frames C{excess} bytes over C{max_frame} among smaller ones.
        """
        small, big = self.frames[0], self.frames[5]
        max_frame = len(big) - excess
        self.assertLess(len(small), max_frame)
        return max_frame, big, small + big + small + big + self.frames[1]

    def test_oversized_frame_dropped(self):
        """
        A frame larger than C{max_frame} is dropped and counted as skipped;
        the following frames come out, whatever the read size.
        """
        expected = [self.frames[0], self.frames[0], self.frames[1]]
        for excess in (1, 5000):
            max_frame, big, stream = self.oversized_stream(excess)
            for sizes in (ones(), random_sizes(4, 1, 300),
                          random_sizes(5, 100, 5000)):
                splitter = JPEGSplitter(max_frame=max_frame)
                self.assertFrames(feed_in_chunks(splitter, stream, sizes),
                                  expected)
                self.assertEqual(splitter.skipped, 2 * len(big))

    def test_oversized_frame_in_one_read(self):
        """
        An oversized frame is dropped even when it arrives in a single
        read.
        """
        for excess in (1, len(self.frames[5]) // 2):
            max_frame, big, stream = self.oversized_stream(excess)
            splitter = JPEGSplitter(max_frame=max_frame)
            self.assertFrames(splitter.feed(stream),
                              [self.frames[0], self.frames[0],
                               self.frames[1]])
            self.assertEqual(splitter.skipped, 2 * len(big))

    def test_frame_at_max_frame_kept(self):
        frame = self.frames[5]
        splitter = JPEGSplitter(max_frame=len(frame))
        self.assertFrames(feed_in_chunks(splitter, frame + frame,
                                         random_sizes(6, 1, 400)),
                          [frame, frame])
        self.assertEqual(splitter.skipped, 0)


class CountingBuffer(bytearray):
    """
    A bytearray that adds up how many bytes its C{find} calls examine: from
    the start offset through the match, or to the end when there is none.
    """

    examined = 0

    def find(self, sub, start=0, *args):
        result = bytearray.find(self, sub, start, *args)
        if result < 0:
            self.examined += max(0, len(self) - start)
        else:
            self.examined += result - start + len(sub)
        return result


class IncrementalScanTests(SynchronousTestCase):
    """
    Compressed data is scanned once: feeding a frame in many small reads
    costs work proportional to its size, not to its size times the number
    of reads. Work is measured by counting the bytes every search examines
    (no timing).
    """

    def scan(self, frame, read_size):
        splitter = JPEGSplitter()
        splitter._buffer = buffer = CountingBuffer()
        frames = feed_in_chunks(splitter, frame, iter(lambda: read_size, 0))
        self.assertEqual(frames, [frame])
        self.assertIs(splitter._buffer, buffer)
        return buffer

    def test_linear_work(self):
        frame = make_jpeg(30, size=(480, 320), restart_marker_rows=1)
        self.assertGreater(len(frame), 100000)
        sos = frame.index(b"\xff\xda")
        scan_start = sos + 2 + struct.unpack_from(">H", frame, sos + 2)[0]
        entropy = len(frame) - scan_start - 2       # up to the EOI
        for read_size in (1, 16, 256, 4096, len(frame)):
            buffer = self.scan(frame, read_size)
            # The counter is really fed: the compressed data was searched
            # (all of it but the byte after each FF, read by index).
            self.assertGreaterEqual(buffer.examined,
                                    entropy - frame.count(b"\xff"))
            # Rescanning from the start of the frame on every read would
            # examine about len**2 / (2 * read_size) bytes, over a million
            # here for every read size but the last; once is about len.
            self.assertLessEqual(buffer.examined, 2 * len(frame),
                                 "read size %d" % (read_size,))


class FrameSizeTests(SynchronousTestCase):
    """
    L{frame_size} reads a JPEG's size from its start-of-frame header.
    """

    def encoded(self, size, **options):
        out = io.BytesIO()
        Image.new("RGB", size, (10, 200, 30)).save(out, "JPEG", **options)
        return out.getvalue()

    def test_baseline_and_progressive(self):
        self.assertEqual(frame_size(self.encoded((960, 640))), (960, 640))
        self.assertEqual(frame_size(self.encoded((33, 7), progressive=True,
                                                 comment=b"\xff\xd9 x")),
                         (33, 7))

    def test_not_a_jpeg(self):
        for data in (b"", b"GIF89a...", b"\xff\xd8\xff\xe0\x00\x10JFIF",
                     b"\xff\xd8\x00\x00\x00\x00",
                     self.encoded((8, 8))[:20]):
            self.assertRaises(ValueError, frame_size, data)
