# -*- test-case-name: tests.booth.test_strip -*-
"""
The QR code a guest scans to take a strip home, made with C{segno} (pure
Python, no image library needed for SVG).

An SVG data URI goes into the C{strip_ready} message, so any screen can
show it in an C{<img>} without another request (and without the token);
a PNG is there for front-ends that want a bitmap. Error correction M
(15%) is plenty for a screen a phone looks at; rendering takes a few
milliseconds, still enough to do it in a thread beside the composition.
"""

import io

__all__ = ["svg_data_uri", "png"]


def _code(text):
    import segno        # when a guest first needs a code, not at start-up
    return segno.make(text, error="m", micro=False)


def svg_data_uri(text, scale=8, border=4):
    """
    C{text} as a QR code in a C{data:image/svg+xml} URI, black on white
    with the standard quiet zone of four modules.
    """
    return _code(text).svg_data_uri(scale=scale, border=border,
                                    dark="#000", light="#fff")


def png(text, scale=8, border=4):
    """
    C{text} as a QR code, PNG bytes.
    """
    out = io.BytesIO()
    _code(text).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()
