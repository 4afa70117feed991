# -*- test-case-name: tests.booth.test_http -*-
"""
The booth's wiring: from the C{booth:} section of the config and the
camera session, the sequence runner, the strip maker, the guest links,
the resources and the WebSocket screens. C{fourcut.tap} calls
L{make_booth} and L{Booth.mount}; nothing else in fourcut knows how the
booth is put together.
"""

from PIL import ImageColor, ImageFont
from twisted.internet import threads

from fourcut.config import ConfigError
from fourcut.photos import PhotoStore
from fourcut.booth.layout import parse_layout
from fourcut.booth.links import ShareLinks
from fourcut.booth.screens import WebSocketOrigin, WebSocketScreens, client_host
from fourcut.booth.sequence import SequenceDefaults, SequenceRunner, parse_request
from fourcut.booth.strip import ArtworkError, StripStyle, check_artwork, thumbnail
from fourcut.booth.strips import StripIndex, StripMaker

__all__ = ["Booth", "make_booth", "strip_style", "check_booth",
           "open_paths", "THUMBNAIL_SIDE"]

#: Longest side of the thumbnail in each C{photo_captured} event.
THUMBNAIL_SIDE = 480


def strip_style(booth):
    """
    The L{StripStyle} of C{booth} (a L{fourcut.config.BoothConfig}).
    """
    return StripStyle(
        window=tuple(booth.window), margin=booth.margin,
        spacing=booth.spacing,
        background=ImageColor.getrgb(booth.background)[:3],
        frames=tuple(booth.frames), caption=booth.caption,
        caption_font=booth.caption_font, caption_size=booth.caption_size,
        caption_colour=ImageColor.getrgb(booth.caption_colour)[:3],
        quality=booth.quality)


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

    @ivar runner: the L{SequenceRunner}.
    @ivar links: the L{ShareLinks}.
    @ivar strips: the L{StripMaker}.
    @ivar index: the L{StripIndex} the C{/photos} listing asks.
    @ivar auth_required: whether the API needs the token.
    """

    def __init__(self, reactor, config, capture, auth_required=False,
                 scheme="http"):
        booth = config.booth
        self.config = booth
        self.reactor = reactor
        self.auth_required = auth_required
        self.photos_directory = config.paths.photos
        self.defaults = SequenceDefaults(booth.layout, booth.countdown,
                                         booth.countdown_interval)
        self.style = strip_style(booth)
        self.strips = StripMaker(reactor, PhotoStore(config.paths.photos),
                                 self.style)
        self.links = ShareLinks(reactor, booth.public_url,
                                enabled=booth.guest_links
                                or not auth_required, scheme=scheme)
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

    def mount(self, root, photos):
        """
        Put the booth's resources on C{root} and have C{photos} (the
        L{fourcut.web.gallery.Photos} listing) mark strips.
        """
        from fourcut.booth.resources import (BoothResource, GalleryPage, SequenceResource,
                                ShareResource, ThumbnailResource)
        root.putChild(b"booth", BoothResource(self))
        root.putChild(b"gallery", GalleryPage())
        root.putChild(b"sequence", SequenceResource(self))
        root.putChild(b"share", ShareResource(self.photos_directory,
                                              self.reactor))
        root.putChild(b"thumbnails",
                      ThumbnailResource(self.photos_directory, self.reactor))
        photos.annotate = self.index.annotate

    def listen_websocket(self, factory):
        """
        Send sequence events to C{factory}'s clients and take its
        C{capture_sequence} requests.
        """
        self.runner.listeners.append(WebSocketScreens(factory, self.links))
        factory.booth = self

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


def make_booth(reactor, config, session, access, scheme="http"):
    """
    The L{Booth} of a service whose camera session is C{session} and whose
    access policy is C{access}.
    """
    return Booth(reactor, config, lambda: session.capture(),
                 auth_required=access.required, scheme=scheme)
