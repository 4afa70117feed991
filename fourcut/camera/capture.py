# -*- test-case-name: tests.camera.test_capture,tests.camera.test_camera_session,tests.integration.test_supervision -*-
"""
One photo, from the camera to the photos directory.

L{PhotoTaker} asks the driver for the photo (its own settings and the
capture mode's set for it), applies the capture transform, saves it
(temporary name, fsync, a name that cannot collide: L{fourcut.photos}),
and only then deletes it from the card when C{delete_internal_memory}
asks for that. A save that fails says where the photo still is: on the
card, or (a Canon EOS capturing to its RAM) nowhere else.
"""

from twisted.internet import defer, threads
from twisted.logger import Logger

from fourcut.camera.shots import on_card
from fourcut.errors import CameraError

__all__ = ["Photo", "PhotoTaker"]


class Photo:
    """
    A saved photo.

    @ivar name: its file name in the photos directory.
    @ivar path: its full path.
    @ivar data: the JPEG bytes saved.
    @ivar mode_errors: the capture mode's settings the camera refused.
    @ivar camera_ms: milliseconds from the request to the photo's bytes.
    @ivar save_ms: milliseconds from then until it was saved.
    """

    def __init__(self, name, path, data, mode_errors, camera_ms, save_ms):
        self.name = name
        self.path = path
        self.data = data
        self.mode_errors = mode_errors
        self.camera_ms = camera_ms
        self.save_ms = save_ms


def _save_failed(error, location):
    """
    C{error} from saving, saying where the photo still is.
    """
    if location is None:
        return error
    if not on_card(location):
        return OSError(error.errno, "%s; the camera held the photo only in "
                       "its memory (%s; capturetarget Internal RAM), so it "
                       "is not on the card either"
                       % (error.strerror, location))
    return OSError(error.errno, "%s; the photo is kept on the camera's card "
                   "as %s" % (error.strerror, location))


class PhotoTaker:
    """
    @param driver: the session's driver (its C{capture} and C{delete}).
    @param photos: a L{fourcut.photos.PhotoStore}.
    @param keep_on_card: leave the photo on the card; if false, delete it
        from the card once saved.
    @param transform: a L{fourcut.stream.transform.FrameTransform} for photos, or
        L{None}.
    """

    log = Logger()

    def __init__(self, reactor, driver, photos, capture_timeout=60.0,
                 keep_on_card=True, transform=None):
        self._reactor = reactor
        self.driver = driver
        self.photos = photos
        self.capture_timeout = capture_timeout
        self.keep_on_card = keep_on_card
        self.transform = transform

    def _in_thread(self, function, *args):
        return threads.deferToThreadPool(
            self._reactor, self._reactor.getThreadPool(), function, *args)

    @defer.inlineCallbacks
    def take(self, settings, name_hint=None, mode=()):
        """
        Take and save one photo; fires with a L{Photo}, fails with
        L{CameraError} (a capture with no camera is seed 000's 503),
        L{fourcut.errors.SettingError} or L{OSError}.

        @param settings: C{(name, value)} settings for this photo only.
        @param mode: the capture mode's C{(name, value)} settings, whose
            refusal never stops the photo.
        """
        started = self._reactor.seconds()
        try:
            shot = yield self.driver.capture(tuple(settings),
                                             self.capture_timeout,
                                             mode=tuple(mode))
        except CameraError as e:
            if e.status == 504:
                raise CameraError(503, e.text) from e
            raise
        taken = self._reactor.seconds()
        data = shot.data
        if self.transform is not None and not self.transform.identity:
            data = yield self._in_thread(self.transform, data)
        try:
            name, path = yield self._in_thread(self.photos.save, data,
                                               name_hint)
        except OSError as e:
            raise _save_failed(e, shot.location) from e
        saved = self._reactor.seconds()
        if not self.keep_on_card and shot.location is not None \
                and on_card(shot.location):
            yield self.driver.delete(shot.location)
        return Photo(name, path, data, shot.mode_errors,
                     (taken - started) * 1e3, (saved - taken) * 1e3)
