# -*- test-case-name: tests.integration.test_ws,tests.web.test_ws_lazy -*-
"""
Autobahn's side of C{/ws}: the factory of its connections, with their
protocol options, and live view frames encoded once for all of them
(L{CameraServerFactory.encode_frame}) as Autobahn's prepared messages.

Made at the first C{/ws} request (L{fourcut.web.ws.endpoint}), over the
L{fourcut.web.ws.hub.WebSocketHub} the site was built with: importing this
module loads Autobahn.
"""

import base64
import json
from datetime import datetime, timezone

from autobahn.twisted.websocket import WebSocketServerFactory

from fourcut.stream.broadcast import EncodedFrames
from fourcut.stream.scaled import PerSource
from fourcut.web.ws.protocol import CameraServerProtocol

__all__ = ["CameraServerFactory", "iso_time"]

#: A message over this many times C{max_message_bytes} closes the
#: connection (Autobahn stops reading it); under it, an C{error} reply.
HARD_LIMIT_FACTOR = 4


def iso_time(seconds):
    """
    Wall-clock seconds as an ISO 8601 UTC timestamp, as the seed sends.
    """
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


class CameraServerFactory(WebSocketServerFactory):
    """
    The factory of C{/ws} connections; mount it with
    C{autobahn.twisted.resource.WebSocketResource} (L{fourcut.web.ws.endpoint}
    does). What its connections share and are set up with is the
    C{hub}'s; the factory adds only what needs Autobahn.

    @ivar hub: the L{fourcut.web.ws.hub.WebSocketHub}.
    @ivar encoder: the camera's frames, encoded once for every client.
    @ivar encoders: a cache of encoded frames per size
        (L{fourcut.stream.scaled.PerSource}), C{encoder} the full size's.
    """

    protocol = CameraServerProtocol

    def __init__(self, hub):
        WebSocketServerFactory.__init__(self, server="fourcut")
        self.hub = hub
        self.encoder = EncodedFrames(self.encode_frame)
        # One cache per size: a size's frames have the camera's numbers.
        self.encoders = PerSource(lambda: EncodedFrames(self.encode_frame),
                                  hub.broadcaster, self.encoder)
        hard = hub.max_message_bytes * HARD_LIMIT_FACTOR
        self.setProtocolOptions(maxMessagePayloadSize=hard,
                                maxFramePayloadSize=hard,
                                autoPingInterval=hub.ping_interval,
                                autoPingTimeout=hub.ping_timeout,
                                # Only a pong answers a ping: a client
                                # that sends but never reads is dropped.
                                autoPingRestartOnAnyTraffic=False,
                                failByDrop=False,
                                # The Origin is checked by the protocol
                                # against server.cors_origins: Autobahn
                                # took every origin but "null".
                                allowedOrigins=["*"], allowNullOrigin=True)

    def encode_frame(self, frame, format):
        """
        One frame as a prepared WebSocket message: the raw JPEG as a
        binary message, or the seed's C{preview_frame} JSON with the JPEG
        in base64. Framed once here, sent as is to every client.
        """
        if format == "binary":
            payload, binary = frame.data, True
        else:
            payload = json.dumps({
                "type": "preview_frame",
                "data": base64.b64encode(frame.data).decode("ascii"),
                "timestamp": iso_time(frame.timestamp),
                "frame_number": frame.number,
            }).encode("utf-8")
            binary = False
        return self.prepareMessage(payload, isBinary=binary,
                                   doNotCompress=True)
