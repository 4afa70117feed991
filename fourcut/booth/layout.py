# -*- test-case-name: tests.booth.test_strip -*-
"""
Where each shot goes in a strip: a grid of C{COLUMNSxROWS} windows of one
size, with margins around and spacing between them, and an optional
caption band under them.

Pure arithmetic, so that the composition, the artwork template and the
tests all agree on the same rectangles.
"""

import re
from dataclasses import dataclass

__all__ = ["Layout", "LayoutError", "parse_layout", "Geometry", "geometry",
           "MAX_SIDE", "MAX_WINDOWS"]

#: The most columns or rows, and windows in all, a layout may have.
MAX_SIDE = 6
MAX_WINDOWS = 12

_LAYOUT = re.compile(r"\A([1-9])x([1-9])\Z")


class LayoutError(ValueError):
    """
    A layout that cannot be used; the message says what is allowed.
    """


@dataclass(frozen=True)
class Layout:
    """
    C{columns} windows across, C{rows} down, filled left to right, then
    top to bottom. C{1x4} is the classic four-cut strip, C{2x2} a square
    of four.
    """

    columns: int
    rows: int

    @property
    def windows(self):
        return self.columns * self.rows

    def __str__(self):
        return "%dx%d" % (self.columns, self.rows)


def parse_layout(text):
    """
    C{"2x2"}, C{"1x4"}, C{"4x1"}, ... as a L{Layout}.

    @raise LayoutError: for anything else.
    """
    match = _LAYOUT.match(text) if isinstance(text, str) else None
    if match is not None:
        layout = Layout(int(match.group(1)), int(match.group(2)))
        if (layout.columns <= MAX_SIDE and layout.rows <= MAX_SIDE
                and layout.windows <= MAX_WINDOWS):
            return layout
    raise LayoutError("a layout is COLUMNSxROWS such as \"2x2\" or \"1x4\" "
                      "(at most %d a side, %d windows)"
                      % (MAX_SIDE, MAX_WINDOWS))


@dataclass(frozen=True)
class Geometry:
    """
    @ivar size: the strip's C{(width, height)} in pixels.
    @ivar windows: each shot's C{(left, top, right, bottom)} box, in
        filling order.
    @ivar caption: the caption band's box, or L{None}.
    """

    size: tuple
    windows: tuple
    caption: object = None


def geometry(layout, window, margin, spacing, caption_height=0):
    """
    The strip's size and boxes for C{layout}, with windows of
    C{window = (width, height)} pixels, C{margin} pixels around the grid,
    C{spacing} between windows and, if C{caption_height}, a caption band
    that tall between the grid and the bottom margin.
    """
    width, height = window
    grid_width = layout.columns * width + (layout.columns - 1) * spacing
    grid_height = layout.rows * height + (layout.rows - 1) * spacing
    boxes = []
    for row in range(layout.rows):
        for column in range(layout.columns):
            left = margin + column * (width + spacing)
            top = margin + row * (height + spacing)
            boxes.append((left, top, left + width, top + height))
    caption = None
    total_height = 2 * margin + grid_height
    if caption_height:
        top = margin + grid_height + spacing
        caption = (margin, top, margin + grid_width, top + caption_height)
        total_height += spacing + caption_height
    return Geometry((2 * margin + grid_width, total_height), tuple(boxes),
                    caption)
