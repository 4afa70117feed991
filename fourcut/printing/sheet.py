# -*- test-case-name: tests.printing.test_sheet -*-
"""
The print sheet: a 4x6 inch page at 300 dpi (1200x1800 pixels, portrait)
holding two identical strips side by side, cut apart after printing, as
four-cut booths print the classic 2x6 inch strip.

A strip of another shape (a 2x2 grid, a strip of other proportions) is
fitted: turned a quarter if it is wider than tall (the halves of the sheet
are tall), scaled to fit its half without cropping, centred on white. The
sheet is written as a one-page PDF whose page is exactly 4x6 inches and
whose only content is the sheet as one JPEG image at 300 dpi, so that
CUPS and the printer's driver receive the page size and the image at full
size instead of guessing a scale from a bare JPEG.

Everything here blocks (decoding, encoding): call it in a thread.
Pillow is imported by the functions that draw, when the first sheet is
made: a booth that never prints never loads it for this.
"""

import io
from datetime import datetime

__all__ = ["DPI", "SHEET", "HALF", "sheet", "sheet_pdf",
           "calibration_sheet"]

#: Dots per inch of the sheet.
DPI = 300

#: The sheet, pixels: 4x6 inches at L{DPI}, portrait.
SHEET = (4 * DPI, 6 * DPI)

#: Each half of the sheet: one 2x6 inch strip.
HALF = (SHEET[0] // 2, SHEET[1])

#: The sheet's JPEG quality: a print shows what a screen forgives.
QUALITY = 95


def _fitted(strip):
    """
    C{strip} (a Pillow image) turned upright if it is wider than tall and
    scaled to fit one L{HALF}, never cropped.
    """
    from PIL import Image, ImageOps
    strip = ImageOps.exif_transpose(strip).convert("RGB")
    if strip.width > strip.height:
        strip = strip.transpose(Image.Transpose.ROTATE_90)
    if strip.size == HALF:
        return strip
    return ImageOps.contain(strip, HALF, Image.Resampling.LANCZOS)


def sheet(strip_jpeg):
    """
    The sheet for the strip C{strip_jpeg} (encoded image bytes): a
    1200x1800 RGB Pillow image, the strip twice, side by side.

    @raise OSError: if C{strip_jpeg} is no image Pillow reads.
    """
    from PIL import Image
    with Image.open(io.BytesIO(strip_jpeg)) as image:
        image.load()
        fitted = _fitted(image)
    page = Image.new("RGB", SHEET, "white")
    for i in range(2):
        left = i * HALF[0] + (HALF[0] - fitted.width) // 2
        top = (HALF[1] - fitted.height) // 2
        page.paste(fitted, (left, top))
    return page


def calibration_sheet(when=None, title="fourcut test print"):
    """
    A sheet with no strip on it, for the operator's test print: the halves'
    edges and the cut line, a grey ramp, and C{title} with the time, so
    that the operator sees the page size, the margins and the colours.
    """
    from PIL import Image, ImageDraw
    when = when or datetime.now()
    page = Image.new("RGB", SHEET, "white")
    draw = ImageDraw.Draw(page)
    for i in range(2):
        left = i * HALF[0]
        draw.rectangle((left + 10, 10, left + HALF[0] - 11, SHEET[1] - 11),
                       outline="black", width=6)
        for step in range(10):
            grey = 255 - step * 255 // 9
            top = 300 + step * 110
            draw.rectangle((left + 100, top, left + HALF[0] - 101,
                            top + 100), fill=(grey, grey, grey))
        draw.text((left + 60, 120), title, fill="black", font_size=40)
        draw.text((left + 60, 180), when.strftime("%Y-%m-%d %H:%M:%S"),
                  fill="black", font_size=40)
        for j, colour in enumerate(("cyan", "magenta", "yellow", "red",
                                    "green", "blue")):
            top = 1450 + (j // 3) * 130
            x = left + 100 + (j % 3) * 140
            draw.rectangle((x, top, x + 120, top + 120), fill=colour)
    draw.line((HALF[0], 0, HALF[0], SHEET[1]), fill=(160, 160, 160),
              width=2)
    return page


def sheet_pdf(page):
    """
    C{page} (a L{SHEET}-sized image) as a one-page PDF: the page 4x6
    inches, the image a JPEG at L{DPI} filling it.
    """
    out = io.BytesIO()
    page.save(out, "PDF", resolution=DPI, quality=QUALITY,
              title="fourcut print sheet")
    return out.getvalue()
