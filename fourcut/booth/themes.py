# -*- test-case-name: tests.integration.test_booth_http -*-
"""
The booth page's look: a built-in theme, and what the operator changes of
it in the C{booth:} block (colours, a font file, a logo, a background
image, the event's name).

The pages read it as CSS custom properties from C{/booth/theme.css}
(L{theme_css}); the operator's files are served from C{/booth/theme/}
(L{ThemeFiles}) under fixed names, so no path of the machine shows in a
page. Everything here is public, like the pages: nothing secret in it.
"""

import os

__all__ = ["THEMES", "theme_css", "theme_files", "FONT_TYPES",
           "IMAGE_TYPES"]

#: The built-in themes (L{fourcut.config.THEMES}): page colour, text,
#: accent (buttons, highlights), a softer surface, and the font stack.
THEMES = {
    "classic": {"page": "#101014", "text": "#ffffff", "accent": "#e8334a",
                "surface": "#1f1f26", "muted": "#b8b8c4",
                "family": '"DejaVu Sans", "Helvetica Neue", Arial, '
                          'sans-serif'},
    "night": {"page": "#0b1026", "text": "#f3ecd8", "accent": "#d9a93c",
              "surface": "#1a2143", "muted": "#a9b0cf",
              "family": '"DejaVu Serif", Georgia, "Times New Roman", '
                        'serif'},
    "pastel": {"page": "#fdf1f4", "text": "#3b2a4a", "accent": "#b5629a",
               "surface": "#ffffff", "muted": "#7c6a88",
               "family": '"DejaVu Sans", "Helvetica Neue", Arial, '
                         'sans-serif'},
}

FONT_TYPES = {".ttf": b"font/ttf", ".otf": b"font/otf",
              ".woff": b"font/woff", ".woff2": b"font/woff2"}
IMAGE_TYPES = {".png": b"image/png", ".jpg": b"image/jpeg",
               ".jpeg": b"image/jpeg", ".svg": b"image/svg+xml",
               ".webp": b"image/webp"}


def theme_files(booth):
    """
    C{{name: (path, content type)}} of the operator's files the pages may
    load (C{font}, C{logo}, C{background}) from C{booth} (a
    L{fourcut.config.BoothConfig}); a file of an unknown kind is left out.
    """
    files = {}
    for name, path, types in (("font", booth.font, FONT_TYPES),
                              ("logo", booth.logo, IMAGE_TYPES),
                              ("background", booth.page_background,
                               IMAGE_TYPES)):
        if path is None:
            continue
        kind = types.get(os.path.splitext(path)[1].lower())
        if kind is not None:
            files[name] = (path, kind)
    return files


def theme_css(booth):
    """
    The CSS of C{booth}'s theme: custom properties every page uses, and
    the operator's font.
    """
    theme = dict(THEMES[booth.theme])
    for key, value in (("page", booth.page_colour),
                       ("text", booth.text_colour),
                       ("accent", booth.accent_colour)):
        if value is not None:
            theme[key] = value
    files = theme_files(booth)
    family = theme["family"]
    rules = []
    if "font" in files:
        rules.append('@font-face { font-family: "fourcut-event"; '
                     'src: url("/booth/theme/font"); font-display: swap; }')
        family = '"fourcut-event", ' + family
    background = ('url("/booth/theme/background")' if "background" in files
                  else "none")
    rules.append(":root {\n  --page: %s;\n  --text: %s;\n  --accent: %s;\n"
                 "  --surface: %s;\n  --muted: %s;\n  --family: %s;\n"
                 "  --backdrop: %s;\n}" % (
                     theme["page"], theme["text"], theme["accent"],
                     theme["surface"], theme["muted"], family, background))
    return "\n".join(rules) + "\n"
