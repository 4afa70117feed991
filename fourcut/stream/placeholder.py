# -*- test-case-name: tests.camera.test_liveview, tests.integration.test_supervision -*-
"""
The picture watchers see while the camera is offline.

Without it, a C{/preview} client whose camera drops out would get nothing
for as long as the camera is away, and browsers and proxies give up on a
silent connection. With it, every watcher keeps its connection, sees that
the camera is being reconnected, and gets live frames again on its own
when it is back.
"""

import io

__all__ = ["offline_jpeg"]

#: Size of the placeholder: the virtual camera's (and a typical EOS's)
#: live view size.
SIZE = (960, 640)


def offline_jpeg(size=SIZE, text="Camera offline - reconnecting ..."):
    """
    A dark JPEG with C{text} in the middle. Takes a few milliseconds; call
    it once and keep the bytes.
    """
    # Pillow only now: a server whose camera never goes away never loads it.
    from PIL import Image, ImageDraw, ImageFont
    width, height = size
    image = Image.new("RGB", size, (24, 24, 28))
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.load_default(size=max(12, height // 14))
    except TypeError:       # Pillow < 10.1 has no sized default font
        font = ImageFont.load_default()
    box = draw.textbbox((0, 0), text, font=font)
    draw.text(((width - (box[2] - box[0])) // 2,
               (height - (box[3] - box[1])) // 2),
              text, fill=(230, 230, 230), font=font)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()
