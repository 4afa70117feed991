"""
The live view child: C{gphoto2 --capture-movie --stdout}, read by a
L{ProcessProtocol} that splits its stdout into JPEG frames as they come.
"""

import time

from twisted.internet import defer

from . import process
from .jpegstream import JPEGSplitter



class LiveViewProtocol(process.StderrTail):
    """
    Reads one C{gphoto2 --capture-movie --stdout} child.

    @param on_frame: called with C{(jpeg_bytes, timestamp)} for each frame,
        the timestamp being the wall-clock time the frame left the child.
    @ivar started: fires with L{None} at the first frame, or with the
        child's stderr text if it exits before producing one.
    @ivar ended: fires with C{(reason, stderr_text)} when the child exits.
    """

    def __init__(self, on_frame, wall_clock=time.time):
        self._on_frame = on_frame
        self._clock = wall_clock
        self._splitter = JPEGSplitter()
        self.frames = 0
        self.started = defer.Deferred()
        self.ended = defer.Deferred()

    def outReceived(self, data):
        now = self._clock()
        for frame in self._splitter.feed(data):
            self.frames += 1
            # Publish first, so that whoever waits for the start finds
            # this frame, not one from before, as the latest.
            self._on_frame(frame, now)
            if not self.started.called:
                self.started.callback(None)

    def processEnded(self, reason):
        if not self.started.called:
            self.started.callback(self.stderr or "gphoto2 ended without "
                                  "a frame and without a message")
        self.ended.callback((reason, self.stderr))
