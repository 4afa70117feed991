# -*- test-case-name: tests.integration.test_booth_http -*-
"""
The page a guest's phone opens from a strip's QR code: the strip, its
single shots, and a download button for each, on the booth's own address
(no Internet: the venue's Wi-Fi is enough).

It is plain HTML with no script, made here from the strip's name and its
number of shots, and every link on it is the strip's own share link with
a query: C{?download=1} (the strip as an attachment), C{?shot=N} (the
N-th shot), C{?shot=N&size=small} (a small copy for the page). So the
page opens nothing but that one strip and its shots, with no token.
"""

from html import escape

__all__ = ["render"]

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>%(title)s</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/booth/theme.css">
<link rel="stylesheet" href="/booth/static/share.css">
</head>
<body>
<header>%(logo)s<h1>%(title)s</h1><p>%(date)s</p></header>
<main>
<figure class="strip">
  <img src="%(link)s" alt="your strip">
  <a class="download" href="%(link)s?download=1" download="%(name)s">Download the strip</a>
</figure>
%(shots)s
</main>
<footer>Saved on this booth only. Download what you want to keep.</footer>
</body>
</html>
"""

_SHOTS = """<h2>Your photos</h2>
<ul class="shots">
%s
</ul>"""

_SHOT = """<li><img src="%(link)s?shot=%(n)d&amp;size=small" alt="photo %(n)d" loading="lazy">
<a class="download" href="%(link)s?shot=%(n)d&amp;download=1" download="%(file)s">Download photo %(n)d</a></li>"""


def render(link, name, shots, event_name=None, date=None, logo=False):
    """
    The share page, as bytes.

    @param link: the strip's share path (C{/share/KEY/NAME}), relative to
        the page.
    @param name: the strip's file name.
    @param shots: how many single shots it has.
    @param event_name: the title (C{booth.event_name}), or L{None}.
    @param date: when it was taken, as text to show, or L{None}.
    @param logo: whether the operator has a logo (C{/booth/theme/logo}).
    """
    title = event_name or "Your photos"
    stem = name.rsplit(".", 1)[0]
    items = "\n".join(_SHOT % {"link": escape(link), "n": n,
                               "file": escape("%s-%d.jpg" % (stem, n))}
                      for n in range(1, shots + 1))
    page = _PAGE % {
        "title": escape(title), "link": escape(link), "name": escape(name),
        "date": escape(date or ""),
        "logo": ('<img class="logo" src="/booth/theme/logo" alt="">'
                 if logo else ""),
        "shots": _SHOTS % (items,) if shots else ""}
    return page.encode("utf-8")
