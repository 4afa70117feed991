# -*- test-case-name: tests.booth.test_strip -*-
"""
The strip: a booth sequence's shots composed into one JPEG with Pillow.

Each shot is scaled to cover its window and cropped to its centre (never
stretched, never letterboxed, as L{fourcut.stream.transform} does for photos) and
pasted on the background colour; an artwork PNG for the layout, if the
operator gave one, goes on top, and the shots show through its transparent
windows; then the caption. A template (L{fourcut.booth.templates}: a PNG
frame and a YAML placing the windows, caption and date) replaces the grid
for its layout: the classic four-cut strip, 600x1800, is the default. The
JPEG carries a comment segment with the
names of its shots, its layout and the guest key of its download link
(L{read_metadata}), so the strip describes itself wherever it is copied
and no index beside the photos can fall out of step with them.

Everything here blocks for tens of milliseconds (decoding full-size
photos, encoding the strip): call it in a thread. Photos are decoded with
Pillow's JPEG draft mode at the smallest scale that still covers the
window, which makes a 5184x3456 photo about a sixteenth of the work.
Pillow is imported by the functions that draw, when the first strip is
made, not with this module: a booth's server starts without it (issue 23's
memory budget).

C{python -m fourcut.booth.strip --help} writes an artwork template: a PNG
of a layout's exact size, opaque where artwork may go and transparent
where the shots will show.
"""

import io
import json
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from fourcut.booth.layout import Geometry, geometry
from fourcut.booth.templates import (DEFAULT_FONT, TemplateError,
                                     frame_image, load_template, rgb)
from fourcut.config import ConfigError, load_config, parse_layout

__all__ = ["StripStyle", "ArtworkError", "compose", "fit", "thumbnail",
           "read_metadata", "read_key", "parse_metadata", "check_artwork",
           "strip_style", "template", "METADATA_PREFIX", "main"]

#: How a strip's comment segment starts; JSON follows.
METADATA_PREFIX = b"fourcut-strip "

#: Bytes of a file read to find its comment segment (it comes right after
#: the JFIF header Pillow writes).
METADATA_READ = 65536


class ArtworkError(ValueError):
    """
    An artwork PNG that cannot be used; the message says why.
    """


@dataclass(frozen=True)
class StripStyle:
    """
    How strips look (the C{booth:} section of the config).

    @ivar window: each shot's C{(width, height)} in the strip, pixels.
    @ivar frames: C{{layout: path}} artwork PNGs, each the size of its
        layout's strip.
    @ivar caption: text under the shots (C{{date}} becomes the day's
        date), or L{None}.
    @ivar caption_font: a TrueType/OpenType file, or L{None} for Pillow's
        own font.
    """

    window: tuple = (900, 600)
    margin: int = 40
    spacing: int = 20
    background: tuple = (255, 255, 255)
    frames: tuple = ()
    caption: Optional[str] = None
    caption_font: Optional[str] = None
    caption_size: int = 48
    caption_colour: tuple = (0, 0, 0)
    quality: int = 90
    template: Optional[object] = None
    event_name: Optional[str] = None

    @property
    def caption_height(self):
        return 2 * self.caption_size if self.caption else 0

    def template_for(self, layout):
        """
        The L{fourcut.booth.templates.Template} that strips in C{layout}
        use, or L{None} (the grid of C{window}s).
        """
        template = self.template
        if template is not None and str(template.layout) == str(layout):
            return template
        return None

    def geometry(self, layout):
        """
        The L{fourcut.booth.layout.Geometry} of a strip in C{layout}.
        """
        template = self.template_for(layout)
        if template is not None:
            caption = template.caption.box if template.caption else None
            return Geometry(template.size, template.windows, caption)
        return geometry(layout, self.window, self.margin, self.spacing,
                        self.caption_height)

    def frame_for(self, layout):
        """
        The artwork path for C{layout}, or L{None}.
        """
        return dict(self.frames).get(str(layout))


def strip_style(booth):
    """
    The L{StripStyle} of C{booth} (a L{fourcut.config.BoothConfig}).
    Blocking: reads the template's YAML.

    @raise fourcut.booth.templates.TemplateError: the template cannot be
        read.
    """
    template = None
    if booth.template is not None:
        template = load_template(booth.template)
    return StripStyle(
        window=tuple(booth.window), margin=booth.margin,
        spacing=booth.spacing,
        background=rgb(booth.background),
        frames=tuple(booth.frames), caption=booth.caption,
        caption_font=booth.caption_font, caption_size=booth.caption_size,
        caption_colour=rgb(booth.caption_colour),
        quality=booth.quality, template=template,
        event_name=booth.event_name)


def fit(data, size):
    """
    The JPEG C{data} as an RGB image of exactly C{size}: turned upright by
    its EXIF orientation, scaled to cover C{size} and cropped to the
    centre.
    """
    from PIL import Image, ImageOps
    image = Image.open(io.BytesIO(data))
    # Decode at 1/2, 1/4 or 1/8 scale when that still covers the window
    # (turned by 90 degrees, the window's sides swap: ask for the larger).
    side = max(size)
    image.draft("RGB", (side, side))
    image = ImageOps.exif_transpose(image).convert("RGB")
    return ImageOps.fit(image, size, Image.LANCZOS)


def _font(path, size):
    from PIL import ImageFont
    if path is not None:
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _caption(canvas, style, box, when):
    from PIL import ImageDraw
    text = style.caption.replace("{date}", when.strftime("%Y-%m-%d"))
    draw = ImageDraw.Draw(canvas)
    font = _font(style.caption_font, style.caption_size)
    left, top, right, bottom = box
    draw.text(((left + right) // 2, (top + bottom) // 2), text,
              fill=style.caption_colour, font=font, anchor="mm")


def _template_text(canvas, box, text, fallback_font):
    from PIL import ImageDraw
    draw = ImageDraw.Draw(canvas)
    path = box.font or fallback_font
    if path is None and os.path.exists(DEFAULT_FONT):
        path = DEFAULT_FONT
    font = _font(path, box.size)
    left, top, right, bottom = box.box
    # Shrink a line too wide for its box rather than run over the frame.
    size = box.size
    while size > 8 and draw.textlength(text, font=font) > right - left:
        size -= 2
        font = _font(path, size)
    draw.text(((left + right) // 2, (top + bottom) // 2), text,
              fill=box.colour, font=font, anchor="mm")


def _compose_template(shots, template, style, when):
    from PIL import Image
    canvas = Image.new("RGB", template.size, template.background)
    for data, box in zip(shots, template.windows):
        left, top, right, bottom = box
        canvas.paste(fit(data, (right - left, bottom - top)), (left, top))
    frame = frame_image(template)
    canvas.paste(frame, (0, 0), frame)
    text = style.caption or style.event_name
    if template.caption is not None and text:
        _template_text(canvas, template.caption,
                       text.replace("{date}", when.strftime("%Y-%m-%d")),
                       style.caption_font)
    if template.date is not None:
        _template_text(canvas, template.date,
                       when.strftime(template.date.format),
                       style.caption_font)
    return canvas


def compose(shots, layout, style, metadata=None, when=None):
    """
    The strip of C{shots} (JPEG bytes, in order) in C{layout}, as JPEG
    bytes with C{metadata} (a JSON-able dict) in its comment segment.
    Blocking: call it in a thread.

    @raise ValueError: if there are more shots than windows.
    @raise ArtworkError: if the layout's artwork does not fit.
    """
    shape = style.geometry(layout)
    if len(shots) > len(shape.windows):
        raise ValueError("%d shots for %d windows" % (len(shots),
                                                      len(shape.windows)))
    template = style.template_for(layout)
    if template is not None:
        canvas = _compose_template(shots, template, style,
                                   when or datetime.now())
    else:
        canvas = _grid(shots, layout, shape, style, when)
    out = io.BytesIO()
    comment = METADATA_PREFIX + json.dumps(
        metadata or {}, sort_keys=True).encode("utf-8")
    canvas.save(out, "JPEG", quality=style.quality, comment=comment,
                optimize=True)
    return out.getvalue()


def _grid(shots, layout, shape, style, when):
    from PIL import Image
    canvas = Image.new("RGB", shape.size, style.background)
    for data, box in zip(shots, shape.windows):
        left, top, right, bottom = box
        canvas.paste(fit(data, (right - left, bottom - top)), (left, top))
    frame = style.frame_for(layout)
    if frame is not None:
        artwork = _artwork(frame, shape.size)
        canvas.paste(artwork, (0, 0), artwork)
    if shape.caption is not None:
        _caption(canvas, style, shape.caption, when or datetime.now())
    return canvas


def _artwork(path, size):
    """
    The artwork PNG at C{path} as RGBA, checked to be C{size}.
    """
    from PIL import Image
    try:
        artwork = Image.open(path)
        artwork.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise ArtworkError("%s cannot be read as a PNG: %s" % (path, e))
    if artwork.format != "PNG":
        raise ArtworkError("%s is %s, not a PNG" % (path, artwork.format))
    if artwork.size != tuple(size):
        raise ArtworkError(
            "%s is %dx%d; this layout's strip is %dx%d (python -m "
            "fourcut.booth.strip writes a template of the right size)"
            % ((path,) + artwork.size + tuple(size)))
    artwork = artwork.convert("RGBA")
    low, high = artwork.getchannel("A").getextrema()
    if low == 255:
        raise ArtworkError("%s has no transparent pixels: the shots would "
                           "not show through it" % (path,))
    return artwork


def check_artwork(style, layout):
    """
    Check C{layout}'s artwork, if it has one, at start-up: a readable PNG
    of the strip's size with transparent windows.

    @raise ArtworkError: saying what is wrong.
    """
    frame = style.frame_for(layout)
    if frame is not None:
        _artwork(frame, style.geometry(layout).size)


def template(layout, style):
    """
    A PNG of C{layout}'s strip size for artwork: the background colour,
    transparent windows, and the caption band outlined.
    """
    from PIL import Image, ImageDraw
    shape = style.geometry(layout)
    image = Image.new("RGBA", shape.size, style.background + (255,))
    draw = ImageDraw.Draw(image)
    for box in shape.windows:
        draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1),
                       fill=(0, 0, 0, 0))
    if shape.caption is not None:
        draw.rectangle(shape.caption, outline=style.caption_colour + (255,))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def thumbnail(data, side=480, quality=80):
    """
    A JPEG of C{data} at most C{side} pixels a side, upright, for screens
    and galleries. Blocking: call it in a thread.
    """
    from PIL import Image, ImageOps
    image = Image.open(io.BytesIO(data))
    image.draft("RGB", (side, side))
    image = ImageOps.exif_transpose(image).convert("RGB")
    image.thumbnail((side, side), Image.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def parse_metadata(head):
    """
    The metadata dict in the strip comment of a JPEG whose first bytes
    are C{head}, or L{None} if it has none (an ordinary photo).
    """
    if head[:2] != b"\xff\xd8":
        return None
    offset = 2
    while offset + 4 <= len(head) and head[offset] == 0xFF:
        marker = head[offset + 1]
        length = int.from_bytes(head[offset + 2:offset + 4], "big")
        if marker == 0xFE:
            payload = head[offset + 4:offset + 2 + length]
            if payload.startswith(METADATA_PREFIX):
                try:
                    value = json.loads(payload[len(METADATA_PREFIX):])
                except ValueError:
                    return None
                return value if isinstance(value, dict) else None
        if marker == 0xDA or length < 2:
            break
        offset += 2 + length
    return None


def read_metadata(path):
    """
    L{parse_metadata} of the file at C{path}. Blocking.
    """
    with open(path, "rb") as f:
        return parse_metadata(f.read(METADATA_READ))


def read_key(path):
    """
    The guest key kept in the strip at C{path}, or L{None}. Blocking.
    """
    try:
        metadata = read_metadata(path)
    except OSError:
        return None
    key = (metadata or {}).get("key")
    return key if isinstance(key, str) and key else None


def main(argv=None, stdout=None):
    """
    C{python -m fourcut.booth.strip}: write an artwork template.
    """
    import argparse             # not in the server, which imports this
    parser = argparse.ArgumentParser(
        prog="python -m fourcut.booth.strip",
        description="Write an artwork template for a strip layout: a PNG "
        "of the strip's exact size (from the booth: section of the "
        "config), transparent where the shots show. Paint on it, keep the "
        "windows transparent, and name it in booth.frames.")
    parser.add_argument("--config", "-c", help="YAML config file")
    parser.add_argument("--layout", "-l", help="e.g. 2x2 or 1x4 (default: "
                        "booth.layout)")
    parser.add_argument("output", help="the PNG file to write")
    args = parser.parse_args(argv)
    stdout = stdout or sys.stdout
    try:
        config = load_config(args.config)
    except ConfigError as e:
        parser.error(str(e))
    try:
        style = strip_style(config.booth)
    except TemplateError as e:
        parser.error(str(e))
    try:
        layout = parse_layout(args.layout or config.booth.layout)
    except ValueError as e:
        parser.error(str(e))
    data = template(layout, style)
    with open(args.output, "wb") as f:
        f.write(data)
    width, height = style.geometry(layout).size
    stdout.write("%s: the %s template, %dx%d\n" % (args.output, layout,
                                                   width, height))
    return 0


if __name__ == "__main__":
    sys.exit(main())
