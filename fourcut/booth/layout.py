# -*- test-case-name: tests.booth.test_strip -*-
"""
Where each shot goes in a strip: a grid of C{COLUMNSxROWS} windows of one
size, with margins around and spacing between them, and an optional
caption band under them.

Pure arithmetic, so that the composition, the artwork template and the
tests all agree on the same rectangles. What a layout is (C{2x2}, its
grammar and its limits) is the config's (L{fourcut.config.Layout}).
"""

from dataclasses import dataclass

__all__ = ["Geometry", "geometry"]


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
