# -*- test-case-name: tests.booth.test_templates -*-
"""
Strip templates: a PNG frame with transparent windows, and a small YAML
file beside it that says where the windows are and where the caption and
the date go.

A template's YAML::

    name: Classic
    layout: 1x4                # the grid its windows fill (COLUMNSxROWS)
    size: [600, 1800]          # the strip, pixels (2x6 in at 300 dpi)
    frame: classic.png         # relative to the YAML file
    background: "#ffffff"      # under the frame, where no shot covers
    windows:                   # left, top, right, bottom; in filling order
      - [30, 30, 570, 390]
      ...
    caption: {box: [30, 1590, 570, 1670], size: 46, colour: "#222222"}
    date: {box: [30, 1680, 570, 1750], size: 30, colour: "#777777",
           format: "%Y-%m-%d"}

The caption's text is C{booth.caption} (C{{date}} becomes the day), else
C{booth.event_name}; no text, no caption. Fonts: C{font} in a box (a
path relative to the YAML), else C{booth.caption_font}, else DejaVu Sans
Bold if the system has it, else Pillow's own.

fourcut ships L{fourcut.config.TEMPLATES} in C{frames/}; an operator's
own is checked at start-up (L{load_template}, L{check_template}), and
any fault is one line naming the file and what is wrong.
"""

import os
import re
from dataclasses import dataclass
from typing import Optional

import yaml

from fourcut.config import LayoutError, TEMPLATES, parse_layout

__all__ = ["Template", "TextBox", "TemplateError", "load_template",
           "check_template", "frame_image", "builtin_path", "rgb", "FRAMES",
           "DEFAULT_FONT"]

#: The built-in templates' directory.
FRAMES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "frames")

#: The caption's font when neither the template nor the config names one.
DEFAULT_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

_KEYS = {"name", "layout", "size", "frame", "background", "windows",
         "caption", "date"}
_BOX_KEYS = {"box", "size", "colour", "font", "format"}


class TemplateError(ValueError):
    """
    A template that cannot be used; C{str()} is one line saying why.
    """


@dataclass(frozen=True)
class TextBox:
    """
    Where a line of text goes: centred in C{box}, C{size} pixels high.
    """

    box: tuple
    size: int
    colour: tuple
    font: Optional[str] = None
    format: str = "%Y-%m-%d"


@dataclass(frozen=True)
class Template:
    """
    A loaded template (see the module's docstring).
    """

    name: str
    layout: object
    size: tuple
    frame: str
    background: tuple
    windows: tuple
    caption: Optional[TextBox] = None
    date: Optional[TextBox] = None


def builtin_path(name):
    """
    The YAML file of the built-in template C{name}.
    """
    return os.path.join(FRAMES, name + ".yaml")


def _box(value, size, where):
    if (not isinstance(value, (list, tuple)) or len(value) != 4
            or not all(isinstance(n, int) and not isinstance(n, bool)
                       for n in value)):
        raise TemplateError("%s must be [left, top, right, bottom], four "
                            "integers" % (where,))
    left, top, right, bottom = value
    if not (0 <= left < right <= size[0] and 0 <= top < bottom <= size[1]):
        raise TemplateError("%s %s is not inside the %dx%d strip"
                            % (where, list(value), size[0], size[1]))
    return tuple(value)


_HEX = re.compile(r"\A#([0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})\Z")


def rgb(value):
    """
    The C{(red, green, blue)} of a colour: C{"#rgb"} or C{"#rrggbb"}
    (what the config file takes), or any other colour Pillow knows
    (C{"white"}, C{"rgb(255, 0, 0)"}, ...).

    The hex forms are read here, without Pillow: the config's colours and
    the built-in templates' are read at start-up, and Pillow (with
    libjpeg, libpng, FreeType and HarfBuzz, about 4 MB) is only loaded
    when the first strip is made.

    @raise ValueError: not a colour.
    """
    match = _HEX.match(value) if isinstance(value, str) else None
    if match is not None:
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(digit * 2 for digit in digits)
        return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))
    from PIL import ImageColor
    return ImageColor.getrgb(value)[:3]


def _colour(value, where):
    try:
        return rgb(value)
    except (ValueError, AttributeError, TypeError):
        raise TemplateError('%s must be a colour such as "#222222"'
                            % (where,))


def _text_box(value, size, where, directory):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TemplateError("%s must be a mapping with box, size, colour"
                            % (where,))
    unknown = set(value) - _BOX_KEYS
    if unknown:
        raise TemplateError("%s: unknown key %s; allowed: %s" % (
            where, sorted(unknown)[0], ", ".join(sorted(_BOX_KEYS))))
    box = _box(value.get("box"), size, where + ".box")
    height = value.get("size", 40)
    if (not isinstance(height, int) or isinstance(height, bool)
            or not 6 <= height <= 500):
        raise TemplateError("%s.size must be an integer from 6 to 500"
                            % (where,))
    font = value.get("font")
    if font is not None:
        if not isinstance(font, str) or not font:
            raise TemplateError("%s.font must be a font file" % (where,))
        font = os.path.join(directory, font)
    text_format = value.get("format", "%Y-%m-%d")
    if not isinstance(text_format, str) or "\n" in text_format:
        raise TemplateError("%s.format must be one line, strftime's "
                            "%%Y-%%m-%%d and the like" % (where,))
    return TextBox(box, height, _colour(value.get("colour", "#000000"),
                                         where + ".colour"),
                   font, text_format)


def load_template(name_or_path):
    """
    The L{Template} of a built-in name or a YAML path. Blocking (reads the
    YAML only; L{check_template} reads the frame).

    @raise TemplateError: saying what is wrong, with the file's name.
    """
    path = (builtin_path(name_or_path) if name_or_path in TEMPLATES
            else name_or_path)
    try:
        return _parse(path)
    except TemplateError as e:
        raise TemplateError("%s: %s" % (path, e))


def _parse(path):
    try:
        with open(path, "rb") as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise TemplateError("cannot be read: %s" % (e.strerror or e,))
    except yaml.YAMLError as e:
        raise TemplateError("is not YAML: %s" % (" ".join(
            str(e).split()),))
    if not isinstance(data, dict):
        raise TemplateError("must be a mapping (name, layout, size, frame, "
                            "windows, ...)")
    unknown = set(data) - _KEYS
    if unknown:
        raise TemplateError("unknown key %s; allowed: %s"
                            % (sorted(map(str, unknown))[0],
                               ", ".join(sorted(_KEYS))))
    try:
        layout = parse_layout(data.get("layout"))
    except LayoutError as e:
        raise TemplateError("layout: %s" % (e,))
    size = data.get("size")
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool)
                       and 16 <= n <= 10000 for n in size)):
        raise TemplateError("size must be [width, height] in pixels")
    size = tuple(size)
    frame = data.get("frame")
    if not isinstance(frame, str) or not frame:
        raise TemplateError("frame must name the PNG file")
    directory = os.path.dirname(os.path.abspath(path))
    windows = data.get("windows")
    if not isinstance(windows, list) or len(windows) != layout.windows:
        raise TemplateError("windows must list %d boxes, one per window of "
                            "layout %s" % (layout.windows, layout))
    windows = tuple(_box(box, size, "windows[%d]" % (index,))
                    for index, box in enumerate(windows))
    name = data.get("name", os.path.splitext(os.path.basename(path))[0])
    return Template(
        name=str(name), layout=layout, size=size,
        frame=os.path.join(directory, frame),
        background=_colour(data.get("background", "#ffffff"), "background"),
        windows=windows,
        caption=_text_box(data.get("caption"), size, "caption", directory),
        date=_text_box(data.get("date"), size, "date", directory))


def frame_image(template):
    """
    The template's frame as RGBA, checked: a PNG of the template's size,
    transparent at the middle of every window. Blocking.

    @raise TemplateError: saying what is wrong.
    """
    from PIL import Image
    path = template.frame
    try:
        image = Image.open(path)
        image.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise TemplateError("%s cannot be read as a PNG: %s" % (path, e))
    if image.format != "PNG":
        raise TemplateError("%s is %s, not a PNG" % (path, image.format))
    if image.size != template.size:
        raise TemplateError("%s is %dx%d; the template says %dx%d"
                            % ((path,) + image.size + template.size))
    image = image.convert("RGBA")
    for index, (left, top, right, bottom) in enumerate(template.windows):
        alpha = image.getpixel(((left + right) // 2, (top + bottom) // 2))[3]
        if alpha > 0:
            raise TemplateError("%s is not transparent in window %d (at "
                                "its middle): the shot would not show"
                                % (path, index + 1))
    return image


def check_template(template):
    """
    Check C{template} at start-up: its frame (L{frame_image}) and fonts.

    @raise TemplateError: one line saying what is wrong.
    """
    from PIL import ImageFont
    frame_image(template)
    for box in (template.caption, template.date):
        if box is not None and box.font is not None:
            try:
                ImageFont.truetype(box.font, box.size)
            except OSError as e:
                raise TemplateError("%s cannot be loaded as a font: %s"
                                    % (box.font, e))
