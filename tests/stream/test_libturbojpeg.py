"""
Tests of L{fourcut.stream.libturbojpeg}: libjpeg-turbo's TurboJPEG API
through C{ctypes}, against Debian's libturbojpeg0 (the whole pictures are
checked by L{tests.stream.test_turbo}); and that live view's transforms
load no numpy.
"""

import json
import subprocess
import sys
import textwrap

from twisted.trial.unittest import TestCase

from fourcut.stream import libturbojpeg as tj
from tests.stream.test_transform import card, decode, encode
from tests.support import ROOT

CARD = encode(card(), quality=90)           # 4:2:0, 640x480


class CallsTests(TestCase):
    def test_header(self):
        """
        The size and subsampling, without decoding.
        """
        self.assertEqual(tj.header(CARD)[:2], decode(CARD).size)
        self.assertEqual(tj.header(CARD)[2], tj.SAMP_420)

    def test_refusal_says_why(self):
        """
        What libjpeg-turbo refuses raises L{tj.TurboJPEGError} with its own
        message; nothing crashes.
        """
        for call in (lambda: tj.header(b"\xff\xd8 not a jpeg"),
                     lambda: tj.transform(b"garbage", 1, 0),
                     lambda: tj.decompress_rgb(b"garbage", (8, 8)),
                     lambda: tj.decompress_yuv(b"garbage", (8, 8), 2)):
            error = self.assertRaises(tj.TurboJPEGError, call)
            self.assertRegex(str(error), r"^cannot [a-z ]+: \S")

    def test_scaling_factors(self):
        """
        The decoder's DCT scales include 1/2 and 1/8; L{tj.scaled} rounds
        up, as TJSCALED does.
        """
        factors = tj.scaling_factors()
        self.assertIn((1, 2), factors)
        self.assertIn((1, 8), factors)
        self.assertEqual(tj.scaled((959, 640), (1, 2)), (480, 320))

    def test_transform_mirrors(self):
        """
        A horizontal flip (TJXOP_HFLIP) of the card is Pillow's mirror of
        it, to the pixel's rounding.
        """
        from PIL import ImageChops, ImageOps, ImageStat
        out = tj.transform(CARD, 1, 1)
        mirrored = ImageOps.mirror(decode(CARD))
        difference = ImageStat.Stat(ImageChops.difference(
            decode(out).convert("RGB"), mirrored.convert("RGB"))).mean
        self.assertLess(max(difference), 1.0)

    def test_yuv_round_trip(self):
        """
        Decoded to YUV planes at half size and encoded again: the half
        size picture.
        """
        planes = tj.decompress_yuv(CARD, (320, 240), tj.SAMP_420)
        out = tj.compress_yuv(planes, (320, 240), tj.SAMP_420, 80)
        self.assertEqual(decode(out).size, (320, 240))

    def test_rgb_round_trip(self):
        """
        Decoded to RGB at a quarter size (C{width * height * 3} bytes) and
        encoded again.
        """
        pixels = tj.decompress_rgb(CARD, (160, 120))
        self.assertEqual(len(pixels), 160 * 120 * 3)
        out = tj.compress_rgb(pixels, (160, 120), tj.SAMP_420, 80)
        self.assertEqual(decode(out).size, (160, 120))

    def test_output_freed_on_failure(self):
        """
        A call that fails (a warning fails one whose output is whole)
        still has its output buffer freed: libjpeg-turbo keeps what its
        memory destination allocated.
        """
        import ctypes
        freed = []

        class Library:
            def tjFree(self, pointer):
                freed.append(pointer.value)

            def tjGetErrorStr2(self, handle):
                return b"Premature end of JPEG file"

        handle = tj._Handle(Library(), lambda: 1)
        buffer = ctypes.create_string_buffer(b"abc")
        pointer = ctypes.c_void_p(ctypes.addressof(buffer))
        error = self.assertRaises(
            tj.TurboJPEGError, tj._taken, handle, -1,
            "cannot encode", pointer, ctypes.c_ulong(3))
        self.assertEqual(str(error), "cannot encode: Premature end of JPEG "
                                     "file")
        self.assertEqual(freed, [ctypes.addressof(buffer)])
        self.assertEqual(tj._taken(handle, 0, "x", pointer,
                                   ctypes.c_ulong(3)), b"abc")
        self.assertEqual(len(freed), 2)
        tj._taken(handle, 0, "x", ctypes.c_void_p(),
                  ctypes.c_ulong(0))
        self.assertEqual(len(freed), 2)

    def test_no_library(self):
        """
        Without libturbojpeg, every call says which library is missing.
        """
        self.patch(tj, "LIBRARY", "libfourcut-no-such-library.so.0")
        self.patch(tj, "_library", None)
        error = self.assertRaises(tj.TurboJPEGError, tj.header, CARD)
        self.assertIn("libfourcut-no-such-library.so.0", str(error))
        self.assertIn("libturbojpeg0", str(error))


class NoNumpyTests(TestCase):
    def test_transforms_load_no_numpy(self):
        """
        Mirroring, cropping and downscaling frames imports neither numpy
        nor PyTurboJPEG (checked in a fresh interpreter: this one may have
        imported them for other tests).
        """
        script = textwrap.dedent("""
            import json, sys
            from fourcut.stream.turbo import LiveTransform, downscale
            from tests.stream.test_transform import card, encode
            frame = encode(card(), quality=90)
            LiveTransform(flip=True, resolution=(640, 360))(frame)
            LiveTransform(rotation=90, resolution=(240, 320))(frame)
            downscale(frame, 320, 80)
            print(json.dumps([name for name in ("numpy", "turbojpeg")
                              if name in sys.modules]))
        """)
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=60)
        output = done.stdout.decode("utf-8", "replace")
        self.assertEqual(done.returncode, 0, output)
        self.assertEqual(json.loads(output.splitlines()[-1]), [])
