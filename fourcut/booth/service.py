# -*- test-case-name: tests.integration.test_booth_http -*-
"""
The booth's wiring: from the C{booth:} section of the config and the
camera session, the sequence runner, the strip maker, the guest links,
the resources and the WebSocket screens. C{fourcut.tap} calls
L{make_booth}, hands L{Booth.resources}, L{open_paths} and the strip
index to the web site (L{fourcut.web.site.build} mounts them) and shows
the sequences on its WebSocket (L{Booth.show_on}); nothing else in fourcut
knows how the booth is put together, and the booth mounts nothing itself.
"""

import dataclasses
import os
import re
from twisted.internet import threads

from fourcut.config import TEMPLATES, ConfigError, parse_layout
from fourcut.booth.choice import BoothChoice
from fourcut.photos import PhotoStore
from fourcut.booth.lan import LanAddress, is_loopback_host
from fourcut.booth.links import ShareLinks
from fourcut.booth.plain import BoothProblems
from fourcut.booth.resources import (BoothResource, Favicon, GalleryPage,
                                     SequenceResource, ShareResource,
                                     ThumbnailResource)
from fourcut.booth.screens import WebSocketOrigin, WebSocketScreens, client_host
from fourcut.booth.sequence import SequenceDefaults, SequenceRunner, parse_request
from fourcut.booth.strip import (ArtworkError, check_artwork, strip_style,
                                 thumbnail)
from fourcut.booth.strips import StripIndex, StripMaker
from fourcut.booth.templates import TemplateError, check_template
from fourcut.booth.themes import theme_css, theme_files

__all__ = ["Booth", "make_booth", "check_booth", "open_paths",
           "listens_beyond_loopback", "THUMBNAIL_SIDE"]

#: Longest side of the thumbnail in each C{photo_captured} event.
THUMBNAIL_SIDE = 480


def check_booth(config):
    """
    What the config's schema cannot see: the strip template reads and its
    frame fits it, every artwork PNG fits its layout, and the caption
    font loads.

    @raise ConfigError: naming the key at fault.
    """
    booth = config.booth
    try:
        style = strip_style(booth)
        # An operator's own template is checked now; the built-in ones
        # are checked by fourcut's tests (tests/booth/test_templates.py),
        # and reading their frames here would load Pillow at every start.
        if style.template is not None and booth.template not in TEMPLATES:
            check_template(style.template)
    except TemplateError as e:
        raise ConfigError(str(e), key="booth.template")
    for layout, path in booth.frames:
        if style.template_for(parse_layout(layout)) is not None:
            raise ConfigError(
                "the template %s draws %s strips (its frame is the artwork);"
                " set booth.template: null to use this file instead"
                % (booth.template, layout), key="booth.frames[%s]" % (layout,))
        try:
            check_artwork(style, parse_layout(layout))
        except ArtworkError as e:
            raise ConfigError(str(e), key="booth.frames[%s]" % (layout,))
    for key in ("font", "logo", "page_background"):
        path = getattr(booth, key)
        if path is None:
            continue
        kinds = ("a font (.ttf, .otf, .woff, .woff2)" if key == "font"
                 else "an image (.png, .jpg, .svg, .webp)")
        if (key if key != "page_background" else "background") not in \
                theme_files(booth):
            raise ConfigError("%s must be %s" % (path, kinds),
                              key="booth." + key)
        if not os.path.isfile(path):
            raise ConfigError("%s is not a file" % (path,),
                              key="booth." + key)
    if booth.caption_font is not None:
        from PIL import ImageFont
        try:
            ImageFont.truetype(booth.caption_font, booth.caption_size)
        except OSError as e:
            raise ConfigError("%s cannot be loaded as a font: %s"
                              % (booth.caption_font, e),
                              key="booth.caption_font")


def listens_beyond_loopback(listen):
    """
    Whether C{listen} (C{server.listen}) may take connections from other
    machines: not a UNIX socket, nor an interface that is loopback.
    """
    if listen.startswith("unix:"):
        return False
    match = re.search(r"(?:^|:)interface=((?:\\.|[^:])+)", listen)
    if match is None:
        return True
    return not is_loopback_host(match.group(1).replace("\\", ""))


def open_paths(config):
    """
    The first path segments the booth needs open to anyone: its pages
    (they ask for the token themselves, and hold none), the site's icon,
    and C{share} if
    the operator lets guests download without the token.
    """
    paths = {b"booth", b"gallery", b"favicon.ico"}
    if config.booth.guest_links:
        paths.add(b"share")
    return frozenset(paths)


class Booth:
    """
    The booth of one service.

    @param capture: C{capture()}, the camera session's, for each shot.
    @ivar runner: the L{SequenceRunner}.
    @ivar links: the L{ShareLinks}.
    @ivar strips: the L{StripMaker}.
    @ivar index: the L{StripIndex} the C{/photos} listing asks.
    @ivar auth_required: whether the API needs the token
        (C{access.token} is set).
    @ivar printing: what prints strips
        (L{fourcut.printing.service.Printing}), or L{None}: it hears every
        sequence event and gives paths below C{/booth}.
    @ivar choice: the theme and template in use
        (L{fourcut.booth.choice.BoothChoice}), which the operator page
        changes: the next page load and the next strip follow it.
    """

    def __init__(self, reactor, config, capture, scheme="http",
                 printing=None, choice=None):
        booth = config.booth
        self.config = booth
        self.choice = choice if choice is not None else BoothChoice(booth)
        self.reactor = reactor
        self.auth_required = config.access.token is not None
        self.photos_directory = config.paths.photos
        self.defaults = SequenceDefaults(booth.layout, booth.countdown,
                                         booth.countdown_interval,
                                         booth.review, booth.retake)
        # Every template the operator may choose, read once (the
        # config's own was checked at start by check_booth).
        self.styles = {name: strip_style(dataclasses.replace(
            booth, template=name))
            for name in set(TEMPLATES) | {booth.template}}
        self.strips = StripMaker(reactor, PhotoStore(config.paths.photos,
                                                     temp=config.paths.temp),
                                 self.style)
        lan = (LanAddress() if listens_beyond_loopback(config.server.listen)
               else None)
        self.links = ShareLinks(reactor, booth.public_url,
                                enabled=booth.guest_links
                                or not self.auth_required, scheme=scheme,
                                lan_host=lan)
        self.index = StripIndex()
        self.runner = SequenceRunner(reactor, capture, self.strips,
                                     thumbnail=self._thumbnail)
        self.printing = printing
        self._token = config.access.token
        if printing is not None:
            # booth.print: auto prints each strip as it is ready.
            self.runner.subscribe(printing.sequence_event)
        self.theme_files = theme_files(booth)
        #: Problems for the operator (L{fourcut.booth.plain.BoothProblems}):
        #: C{problems()} lists them, newest first; C{problems
        #: .record(what, detail, source)} adds one.
        self.problems = BoothProblems()
        self.runner.subscribe(self.problems.note_sequence)

    def style(self):
        """
        The L{fourcut.booth.strip.StripStyle} of the next strip: the
        template chosen now.
        """
        return self.styles[self.choice.template]

    def theme_css(self):
        """
        C{/booth/theme.css}: the theme chosen now, with the config's
        colours and font.
        """
        return theme_css(dataclasses.replace(self.config,
                                             theme=self.choice.theme))

    def _thumbnail(self, jpeg):
        return threads.deferToThreadPool(
            self.reactor, self.reactor.getThreadPool(), thumbnail, jpeg,
            THUMBNAIL_SIDE)

    def page_settings(self):
        """
        What the booth page needs to know (C{/booth/config.json}): nothing
        secret.
        """
        booth = self.config
        return {"mirror": booth.mirror_preview,
                "return_after": booth.return_after,
                "layout": booth.layout, "countdown": booth.countdown,
                "interval": booth.countdown_interval,
                "auth_required": self.auth_required,
                "guest_links": self.links.enabled,
                "event_name": booth.event_name,
                "theme": self.choice.theme,
                "logo": "logo" in self.theme_files,
                "attract_after": booth.attract_after,
                "review": booth.review, "retake": booth.retake}

    def resources(self):
        """
        The booth's paths, as C{(first path segment, resource)} pairs for
        the site to mount: its pages C{/booth} and C{/gallery}, C{POST
        /sequence}, C{/share}, C{/thumbnails} and C{/favicon.ico}; with
        printing, C{GET
        /booth/printer} and C{POST /booth/print} below C{/booth}.
        """
        return [
            (b"booth", BoothResource(self, self._printing_resources())),
            (b"gallery", GalleryPage()),
            (b"sequence", SequenceResource(self)),
            (b"share", ShareResource(
                self.photos_directory, self.reactor,
                {"event_name": self.config.event_name,
                 "logo": "logo" in self.theme_files})),
            (b"thumbnails", ThumbnailResource(self.photos_directory,
                                              self.reactor)),
            (b"favicon.ico", Favicon()),
        ]

    def _printing_resources(self):
        if self.printing is None:
            return ()
        return self.printing.booth_resources(self._token)

    def show_on(self, hub):
        """
        Send sequence events to the clients of C{hub} (the
        L{fourcut.web.ws.WebSocketHub}, which was given this booth to run
        their C{capture_sequence} requests).
        """
        self.runner.subscribe(WebSocketScreens(hub, self.links))

    async def websocket_sequence(self, client, message):
        """
        C{capture_sequence} from a WebSocket C{client}: fires with the
        reply, C{strip_ready} with that client's guest link and QR code.

        @raise fourcut.booth.sequence.SequenceError: refused or failed.
        """
        request = parse_request(message, self.defaults)
        event = await self.runner.run(
            request, WebSocketOrigin(client, message.get("requestId")))
        return await self.links.decorate(event, client_host(client))

    def stop(self):
        self.runner.stop()


def make_booth(reactor, config, session, scheme="http", printing=None,
               choice=None):
    """
    The L{Booth} of a service whose camera session is C{session}, printing
    with C{printing} (or not, if L{None}), its theme and template chosen
    by C{choice} (a L{BoothChoice}; L{None}: the config's, fixed).
    """
    return Booth(reactor, config, lambda: session.capture(), scheme=scheme,
                 printing=printing, choice=choice)
