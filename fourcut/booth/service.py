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

from twisted.internet import threads

from fourcut.config import ConfigError, parse_layout
from fourcut.photos import PhotoStore
from fourcut.booth.links import ShareLinks
from fourcut.booth.resources import (BoothResource, GalleryPage,
                                     SequenceResource, ShareResource,
                                     ThumbnailResource)
from fourcut.booth.screens import WebSocketOrigin, WebSocketScreens, client_host
from fourcut.booth.sequence import SequenceDefaults, SequenceRunner, parse_request
from fourcut.booth.strip import (ArtworkError, check_artwork, strip_style,
                                 thumbnail)
from fourcut.booth.strips import StripIndex, StripMaker

__all__ = ["Booth", "make_booth", "check_booth", "open_paths",
           "THUMBNAIL_SIDE"]

#: Longest side of the thumbnail in each C{photo_captured} event.
THUMBNAIL_SIDE = 480


def check_booth(config):
    """
    What the config's schema cannot see: every artwork PNG fits its
    layout, and the caption font loads.

    @raise ConfigError: naming the key at fault.
    """
    booth = config.booth
    style = strip_style(booth)
    for layout, path in booth.frames:
        try:
            check_artwork(style, parse_layout(layout))
        except ArtworkError as e:
            raise ConfigError(str(e), key="booth.frames[%s]" % (layout,))
    if booth.caption_font is not None:
        from PIL import ImageFont
        try:
            ImageFont.truetype(booth.caption_font, booth.caption_size)
        except OSError as e:
            raise ConfigError("%s cannot be loaded as a font: %s"
                              % (booth.caption_font, e),
                              key="booth.caption_font")


def open_paths(config):
    """
    The first path segments the booth needs open to anyone: its pages
    (they ask for the token themselves, and hold none), and C{share} if
    the operator lets guests download without the token.
    """
    paths = {b"booth", b"gallery"}
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
    """

    def __init__(self, reactor, config, capture, scheme="http"):
        booth = config.booth
        self.config = booth
        self.reactor = reactor
        self.auth_required = config.access.token is not None
        self.photos_directory = config.paths.photos
        self.defaults = SequenceDefaults(booth.layout, booth.countdown,
                                         booth.countdown_interval)
        self.style = strip_style(booth)
        self.strips = StripMaker(reactor, PhotoStore(config.paths.photos),
                                 self.style)
        self.links = ShareLinks(reactor, booth.public_url,
                                enabled=booth.guest_links
                                or not self.auth_required, scheme=scheme)
        self.index = StripIndex()
        self.runner = SequenceRunner(reactor, capture, self.strips,
                                     thumbnail=self._thumbnail)

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
                "guest_links": self.links.enabled}

    def resources(self):
        """
        The booth's paths, as C{(first path segment, resource)} pairs for
        the site to mount: its pages C{/booth} and C{/gallery}, C{POST
        /sequence}, C{/share} and C{/thumbnails}.
        """
        return [
            (b"booth", BoothResource(self)),
            (b"gallery", GalleryPage()),
            (b"sequence", SequenceResource(self)),
            (b"share", ShareResource(self.photos_directory, self.reactor)),
            (b"thumbnails", ThumbnailResource(self.photos_directory,
                                              self.reactor)),
        ]

    def show_on(self, factory):
        """
        Send sequence events to the clients of C{factory} (the
        L{fourcut.web.ws.CameraServerFactory}, which was given this booth
        to run their C{capture_sequence} requests).
        """
        self.runner.subscribe(WebSocketScreens(factory, self.links))

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


def make_booth(reactor, config, session, scheme="http"):
    """
    The L{Booth} of a service whose camera session is C{session}.
    """
    return Booth(reactor, config, lambda: session.capture(), scheme=scheme)
