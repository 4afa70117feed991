# -*- test-case-name: tests.virtualcam.test_scene -*-
"""
Pictures for the virtual camera: a cheap moving live view and distinct
full-size captures.

Live view must cost a small fraction of a core at 30 fps. Encoding a whole
960x640 JPEG per frame costs several milliseconds, so the moving background
is encoded once per loop position with a restart marker after every MCU
row. Restart markers reset the entropy coder, so rows of different JPEGs
that share quantisation and Huffman tables can be spliced: each frame is the
pre-encoded background rows plus a freshly encoded strip holding the frame
counter and clock, with the restart markers renumbered. Only the strip
(960x32) is encoded per frame.
"""

import io
import math
import struct
import time
from datetime import datetime

from PIL import Image, ImageDraw, ImageFont

__all__ = ["encode_jpeg", "com_segment", "frame_comment",
           "parse_frame_comment", "split_restart_rows", "LiveViewScene",
           "render_capture"]

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
MCU = 16                 # 4:2:0 subsampling: 16x16 pixel MCUs
STRIP_ROWS = 2           # MCU rows at the bottom redrawn per frame
LOOP_FRAMES = 60         # background positions before the motion repeats


def encode_jpeg(image, quality, restart_rows=False):
    out = io.BytesIO()
    options = {"quality": quality, "subsampling": "4:2:0"}
    if restart_rows:
        options["restart_marker_rows"] = 1
    image.save(out, "JPEG", **options)
    return out.getvalue()


def com_segment(text):
    payload = text.encode("ascii")
    return b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload


def frame_comment(sequence, time_ns):
    """
    The text the camera puts in each live view frame's COM segment; see
    L{parse_frame_comment}.
    """
    return "fourcut-virtualcam seq=%d t_ns=%d" % (sequence, time_ns)


def parse_frame_comment(jpeg):
    """
    Find the virtual camera's COM segment in C{jpeg}.

    @return: C{(sequence, time_ns)} or L{None} if there is none.
    """
    offset = 2
    while offset + 4 <= len(jpeg) and jpeg[offset] == 0xFF:
        marker = jpeg[offset + 1]
        length = struct.unpack_from(">H", jpeg, offset + 2)[0]
        if marker == 0xFE:
            text = bytes(jpeg[offset + 4:offset + 2 + length]).decode(
                "ascii", "replace")
            if text.startswith("fourcut-virtualcam "):
                fields = dict(part.split("=", 1)
                              for part in text.split()[1:] if "=" in part)
                return int(fields["seq"]), int(fields["t_ns"])
        if marker == 0xDA:
            break
        offset += 2 + length
    return None


def split_restart_rows(jpeg):
    """
    Split a baseline JPEG written with a restart marker after every MCU row
    into its header (through the SOS segment) and the entropy-coded rows,
    without their RST markers.
    """
    offset = 2
    while True:
        if jpeg[offset] != 0xFF:
            raise ValueError("not a marker at %d" % (offset,))
        marker = jpeg[offset + 1]
        length = struct.unpack_from(">H", jpeg, offset + 2)[0]
        offset += 2 + length
        if marker == 0xDA:
            break
    header = jpeg[:offset]
    end = jpeg.rindex(EOI)
    rows = []
    start = offset
    position = offset
    while True:
        position = jpeg.find(b"\xff", position, end)
        if position < 0:
            rows.append(jpeg[start:end])
            break
        following = jpeg[position + 1]
        if 0xD0 <= following <= 0xD7:
            rows.append(jpeg[start:position])
            start = position + 2
        position += 2
    return header, rows


def _tables(header):
    """
    The quantisation and Huffman table segments of a JPEG header, which
    must match for rows to be spliced.
    """
    tables = []
    offset = 2
    while offset < len(header):
        marker = header[offset + 1]
        length = struct.unpack_from(">H", header, offset + 2)[0]
        if marker in (0xDB, 0xC4):
            tables.append(header[offset:offset + 2 + length])
        offset += 2 + length
    return tables


def _font(size):
    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def _texture(size):
    """
    Fine-grained detail so that frames compress like a real scene, not
    like a flat test card.
    """
    width, height = size
    noise = [Image.effect_noise(size, sigma) for sigma in (30, 24, 27)]
    ramp = Image.linear_gradient("L").resize(size)
    across = Image.linear_gradient("L").rotate(90).resize(size)
    return Image.merge("RGB", [
        Image.blend(noise[0], ramp, 0.45),
        Image.blend(noise[1], across, 0.45),
        Image.blend(noise[2], ramp.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
                    0.45),
    ])


class LiveViewScene:
    """
    Produces live view JPEGs of a moving scene with a frame counter and a
    clock drawn in, and a COM segment with the sequence number and the
    wall-clock time (nanoseconds) each frame was made.

    @param quality: JPEG quality of every frame.
    @param size: C{(width, height)}, multiples of 16.
    @param wall_clock_ns: callable giving the wall-clock time in ns.
    """

    def __init__(self, quality=85, size=(960, 640), wall_clock_ns=time.time_ns):
        width, height = size
        if width % MCU or height % MCU:
            raise ValueError("live view size must be a multiple of 16")
        self.quality = quality
        self.size = size
        self._wall_clock_ns = wall_clock_ns
        self._texture = _texture(size)
        self._backgrounds = [None] * LOOP_FRAMES
        self._font = _font(22)
        self._strip_height = STRIP_ROWS * MCU
        self._header = None
        self._tables = None

    def _background(self, position):
        """
        The spliceable rows of loop position C{position}, encoded once.
        """
        rows = self._backgrounds[position]
        if rows is None:
            header, rows = split_restart_rows(
                encode_jpeg(self._draw_background(position), self.quality,
                            restart_rows=True))
            if self._header is None:
                self._header = header
                self._tables = _tables(header)
            rows = rows[:len(rows) - STRIP_ROWS]
            self._backgrounds[position] = rows
        return rows

    def _draw_background(self, position):
        width, height = self.size
        image = self._texture.copy()
        draw = ImageDraw.Draw(image)
        phase = 2 * math.pi * position / LOOP_FRAMES
        # A ball circling the centre and a bar sweeping across.
        cx = width / 2 + width * 0.3 * math.cos(phase)
        cy = (height - self._strip_height) / 2 + height * 0.25 * math.sin(phase)
        radius = height // 8
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius),
                     fill=(250, 200, 40), outline=(20, 20, 20), width=4)
        x = int(width * position / LOOP_FRAMES)
        draw.rectangle((x, 0, x + width // 20, height), fill=(40, 120, 230))
        return image

    def _strip(self, sequence, time_ns):
        width = self.size[0]
        image = Image.new("RGB", (width, self._strip_height), (16, 16, 16))
        draw = ImageDraw.Draw(image)
        stamp = datetime.fromtimestamp(time_ns / 1e9).strftime(
            "%H:%M:%S.%f")[:-3]
        draw.text((8, 4), "fourcut virtual camera   frame %06d   %s"
                  % (sequence, stamp), fill=(255, 255, 255), font=self._font)
        header, rows = split_restart_rows(
            encode_jpeg(image, self.quality, restart_rows=True))
        if _tables(header) != self._tables:
            raise RuntimeError("strip and background tables differ")
        return rows

    def frame(self, sequence):
        """
        Make live view frame number C{sequence}.

        @return: the JPEG bytes.
        """
        rows = list(self._background(sequence % LOOP_FRAMES))
        time_ns = self._wall_clock_ns()
        rows.extend(self._strip(sequence, time_ns))
        header = self._header
        parts = [SOI, com_segment(frame_comment(sequence, time_ns)),
                 header[2:]]
        last = len(rows) - 1
        for index, row in enumerate(rows):
            parts.append(row)
            if index != last:
                parts.append(bytes((0xFF, 0xD0 + index % 8)))
        parts.append(EOI)
        return b"".join(parts)


def render_capture(shot_number, size=(2592, 1728), quality=92,
                   when=None):
    """
    A full-size still for capture number C{shot_number}: a distinct picture
    with the shot number drawn large. Runs in a thread (it takes tens of
    milliseconds).
    """
    width, height = size
    when = when or datetime.now()
    hue = (shot_number * 47) % 360
    base = Image.new("HSV", (1, 1), (int(hue * 255 / 360), 150, 200))
    colour = base.convert("RGB").getpixel((0, 0))
    image = Image.new("RGB", size, colour)
    detail = Image.effect_noise((width // 4, height // 4), 40).resize(size)
    image = Image.blend(image, Image.merge("RGB", [detail] * 3), 0.25)
    draw = ImageDraw.Draw(image)
    draw.text((width // 10, height // 4), "SHOT %d" % (shot_number,),
              fill=(255, 255, 255), font=_font(height // 5),
              stroke_width=6, stroke_fill=(0, 0, 0))
    draw.text((width // 10, height * 3 // 4), when.strftime(
        "%Y-%m-%d %H:%M:%S"), fill=(255, 255, 255), font=_font(height // 14))
    return encode_jpeg(image, quality)
