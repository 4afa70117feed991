# -*- test-case-name: tests.printing.test_sheet -*-
"""
The 4x6 print sheet (L{fourcut.printing.sheet}).
"""

import io
import re

from PIL import Image
from twisted.trial.unittest import SynchronousTestCase

from fourcut.printing.sheet import (HALF, SHEET, calibration_sheet, sheet,
                                    sheet_pdf)


def _jpeg(size, colour="red"):
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=95)
    return out.getvalue()


def _near(testcase, pixel, expected, slack=12):
    testcase.assertTrue(all(abs(a - b) <= slack
                            for a, b in zip(pixel, expected)),
                        "%r is not %r" % (pixel, expected))


class SheetTests(SynchronousTestCase):
    def test_classic_strip(self):
        """
        A 600x1800 strip fills each half of the 1200x1800 sheet exactly.
        """
        page = sheet(_jpeg((600, 1800)))
        self.assertEqual(page.size, SHEET)
        self.assertEqual(SHEET, (1200, 1800))
        for x in (0, 599, 600, 1199):
            for y in (0, 1799):
                _near(self, page.getpixel((x, y)), (255, 0, 0))

    def test_other_proportions(self):
        """
        A strip of other proportions is scaled to fit its half, centred on
        white, never cropped or stretched.
        """
        page = sheet(_jpeg((300, 1200), "blue"))
        # 300x1200 scales to 450x1800: 75 px of white either side.
        _near(self, page.getpixel((70, 900)), (255, 255, 255))
        _near(self, page.getpixel((80, 900)), (0, 0, 255))
        _near(self, page.getpixel((519, 900)), (0, 0, 255))
        _near(self, page.getpixel((530, 900)), (255, 255, 255))
        _near(self, page.getpixel((680, 900)), (0, 0, 255))

    def test_landscape_turned(self):
        """
        A strip wider than tall (a 2x2 grid) is turned upright to use the
        tall half.
        """
        image = Image.new("RGB", (1800, 1200), "green")
        image.paste((255, 0, 0), (0, 0, 900, 1200))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=95)
        page = sheet(out.getvalue())
        # Turned a quarter anticlockwise: the left half is at the bottom;
        # 1200x1800 fits 600x900, centred: rows 450 to 1350.
        _near(self, page.getpixel((300, 100)), (255, 255, 255))
        _near(self, page.getpixel((300, 600)), (0, 128, 0), slack=20)
        _near(self, page.getpixel((300, 1200)), (255, 0, 0), slack=20)

    def test_not_an_image(self):
        self.assertRaises(OSError, sheet, b"not a jpeg")

    def test_pdf(self):
        """
        The PDF is one page of 288x432 points (4x6 inches) showing the
        sheet as one 1200x1800 JPEG.
        """
        data = sheet_pdf(sheet(_jpeg(HALF)))
        self.assertEqual(data[:5], b"%PDF-")
        self.assertEqual(re.findall(rb"/Count ([0-9]+)", data), [b"1"])
        self.assertEqual(
            re.findall(rb"/MediaBox \[ ([0-9. ]+) \]", data),
            [b"0 0 288.0 432.0"])
        self.assertEqual(re.findall(rb"/(Width|Height) ([0-9]+)", data),
                         [(b"Width", b"1200"), (b"Height", b"1800")])
        self.assertEqual(re.findall(rb"/Filter /(\w+)", data),
                         [b"DCTDecode"])

    def test_calibration_sheet(self):
        """
        The test print's sheet: the halves framed in black, white around.
        """
        page = calibration_sheet()
        self.assertEqual(page.size, SHEET)
        _near(self, page.getpixel((12, 900)), (0, 0, 0))
        _near(self, page.getpixel((2, 900)), (255, 255, 255))
