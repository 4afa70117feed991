# -*- test-case-name: tests.booth.test_sequence -*-
"""
A booth sequence, run by the server: a countdown before each of N shots,
every shot saved as any photo is, then the strip.

The server keeps the time. Each shot's countdown is scheduled from one
instant (the start of the sequence for the first shot, the end of the
previous capture for the others): tick C{j} at that instant plus C{j}
intervals, the release at C{countdown} intervals, each timer aimed at its
absolute deadline, so neither a slow screen nor the time spent sending
messages stretches it. A screen only shows what it is told:

=====================  ===================================================
Event                  When
=====================  ===================================================
C{sequence_started}    at once: C{count}, C{countdown}, C{interval},
                       C{review}, C{layout}
C{countdown}           C{value} C{countdown}, ..., 2, 1, one interval
                       apart, before each shot
C{capturing}           the moment the shot is asked of the camera (a
                       screen flashes)
C{photo_captured}      the shot is saved: C{filename}, C{filepath},
                       C{size}, C{url}, a small C{thumbnail}; C{review}
                       (seconds it stays on screen before the next
                       countdown) and C{retake} (whether it may be taken
                       again)
C{strip_ready}         the strip is saved: C{filename}, C{filepath},
                       C{url}, C{share}, C{shots}, C{layout}, C{size}
C{retake}              a guest asked to take the shot on screen again
                       (C{booth.retake}): its countdown starts again
C{sequence_failed}     a shot or the strip failed: C{error} (technical,
                       for the log and the operator), C{guest} (plain
                       words for the screen), C{code}, C{shot}, and the
                       C{shots} already saved (kept)
=====================  ===================================================

Every event has C{sequenceId}, and the shot events C{shot} (from 1) and
C{count}. Listeners (L{SequenceRunner.subscribe}) get each event with the
origin the sequence was started with, so a transport can tell its own
client from the other screens. One sequence runs at a time; another is
refused with a L{SequenceError} (code 409) while it runs.

The runner takes the reactor (or a L{twisted.internet.task.Clock}) and
its collaborators as arguments, so that its timing is tested without a
camera or a wall clock.
"""

import base64
import secrets
from dataclasses import dataclass

from twisted.internet import defer
from twisted.logger import Logger

from fourcut.booth.plain import guest_words
from fourcut.config import LayoutError, parse_layout
from fourcut.errors import (CameraError, RequestRefused, SettingError,
                            http_status)

__all__ = ["SequenceError", "SequenceRequest", "SequenceDefaults",
           "SequenceRunner", "parse_request", "MAX_COUNTDOWN",
           "MIN_INTERVAL", "MAX_INTERVAL", "MAX_REVIEW"]

log = Logger()

#: The longest countdown a request may ask for, in ticks.
MAX_COUNTDOWN = 10

#: Interval between ticks a request may ask for, in seconds.
MIN_INTERVAL = 0.1
MAX_INTERVAL = 5.0

#: The longest a request may show each shot before the next countdown,
#: in seconds.
MAX_REVIEW = 10.0


class SequenceError(RequestRefused):
    """
    A sequence that was refused or failed. C{str()} is the message;
    C{code} an HTTP status (400 bad request, 409 busy, 503/504 camera
    trouble, 500/507 saving); C{details} the fields a reply carries
    (C{shot}, C{shots}, C{sequenceId}, ...).
    """


@dataclass(frozen=True)
class SequenceDefaults:
    """
    What a request leaves out (the C{booth:} section of the config).
    """

    layout: str = "2x2"
    countdown: int = 3
    interval: float = 1.0
    review: float = 0.0
    retake: bool = False


@dataclass(frozen=True)
class SequenceRequest:
    """
    One sequence: C{count} shots for C{layout}, each after C{countdown}
    ticks C{interval} seconds apart, and shown for C{review} seconds after
    it (the next countdown waits), during which a guest may ask to take
    it again if C{retake}.
    """

    count: int
    countdown: int
    interval: float
    layout: object
    review: float = 0.0
    retake: bool = False


def _integer(value, name, low, high):
    if isinstance(value, bool) or not isinstance(value, int):
        # ASCII digits only: str.isdigit takes "²", which int() refuses.
        text = value.strip() if isinstance(value, str) else ""
        if text.isascii() and text.isdigit():
            value = int(text)
        else:
            raise SequenceError("%r must be an integer from %d to %d"
                                % (name, low, high))
    if not low <= value <= high:
        raise SequenceError("%r must be an integer from %d to %d"
                            % (name, low, high))
    return value


def _number(value, name, low, high):
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not low <= value <= high):
        raise SequenceError("%r must be a number of seconds from %g to %g"
                            % (name, low, high))
    return float(value)


def parse_request(fields, defaults):
    """
    A L{SequenceRequest} from C{fields} (a WebSocket message, or an HTTP
    request's parameters as strings): C{count}, C{countdown}, C{layout},
    C{interval} and C{review}, each optional (C{review} 0: the next
    countdown follows each shot at once, for a front-end that shows no
    review, or an HTTP client that wants the strip sooner). C{count} must fill the layout: a C{2x2}
    strip takes 4 shots, and a request for 3 names a layout that takes 3
    (C{1x3}) rather than leave a window empty.

    @raise SequenceError: naming the field at fault and what is allowed.
    """
    layout_text = fields.get("layout")
    if layout_text is None:
        layout_text = defaults.layout
    try:
        layout = parse_layout(layout_text)
    except LayoutError as e:
        raise SequenceError("'layout': %s" % (e,))
    count = fields.get("count")
    if count is None:
        count = layout.windows
    count = _integer(count, "count", 1, 12)
    if count != layout.windows:
        raise SequenceError(
            "'count' %d does not fill layout %s (%d windows); leave count "
            "out or give a layout of %d windows, such as \"1x%d\""
            % (count, layout, layout.windows, count, count))
    countdown = fields.get("countdown")
    countdown = defaults.countdown if countdown is None else _integer(
        countdown, "countdown", 0, MAX_COUNTDOWN)
    interval = fields.get("interval")
    interval = defaults.interval if interval is None else _number(
        interval, "interval", MIN_INTERVAL, MAX_INTERVAL)
    review = fields.get("review")
    review = defaults.review if review is None else _number(
        review, "review", 0, MAX_REVIEW)
    return SequenceRequest(count, countdown, interval, layout, review,
                           defaults.retake)


def failure_reason(error):
    """
    C{(text, code)} for a shot that failed with C{error}: the camera's own
    words, the reason a photo could not be saved, a refused setting;
    anything else is a bug and says only that. The code is the one every
    transport gives (L{fourcut.errors.http_status}).
    """
    code = http_status(error)
    if isinstance(error, CameraError):
        return error.text.strip() or "the camera failed", code
    if isinstance(error, SettingError):
        return str(error), code
    if isinstance(error, OSError):
        return ("the photo could not be saved: %s"
                % (error.strerror or type(error).__name__), code)
    return "internal error; see the server log", code


class SequenceRunner:
    """
    Runs one sequence at a time.

    @param clock: C{callLater} and C{seconds} (the reactor, or a C{Clock}).
    @param capture: C{capture()} returning a L{Deferred} that fires with
        C{(name, path, jpeg)} of a saved photo (the camera session's
        C{capture}).
    @param make_strip: C{make_strip(shots, request, sequence_id)}, C{shots}
        a list of C{(name, path, jpeg)}, returning a L{Deferred} that fires
        with a dict of the strip's fields (C{filename}, C{filepath},
        C{size}, C{url}, C{share}).
    @param thumbnail: C{thumbnail(jpeg)} returning a L{Deferred} that
        fires with a small JPEG (bytes) for C{photo_captured}, or L{None}
        to send none.
    @param photo_url: the URL path a photo is downloaded from, by name.
    @ivar current: the running sequence's state (a dict), or L{None}.
    """

    def __init__(self, clock, capture, make_strip, thumbnail=None,
                 photo_url=lambda name: "/photos/" + name,
                 new_id=lambda: secrets.token_hex(6)):
        self.clock = clock
        self.capture = capture
        self.make_strip = make_strip
        self.thumbnail = thumbnail
        self.photo_url = photo_url
        self.new_id = new_id
        self._listeners = []
        self.current = None
        self._sleeping = None
        self._stopped = False
        self._retaking = False

    def run(self, request, origin=None):
        """
        Start the sequence C{request} (a L{SequenceRequest}).

        @return: a L{Deferred} firing with the C{strip_ready} event, or
            failing with L{SequenceError}: at once (code 409) if a sequence
            runs already, later if a shot or the strip fails.
        """
        if self._stopped:
            return defer.fail(SequenceError("the server is stopping", 503))
        if self.current is not None:
            current = self.current
            return defer.fail(SequenceError(
                "a sequence is already running (shot %d of %d); try again "
                "when its strip is ready" % (current["shot"],
                                             current["count"]),
                409, sequenceId=current["sequenceId"]))
        sequence_id = self.new_id()
        self.current = {"sequenceId": sequence_id, "shot": 0,
                        "count": request.count}
        d = defer.ensureDeferred(self._run(request, sequence_id, origin))

        def done(result):
            self.current = None
            return result
        return d.addBoth(done)

    def retake(self, shot=None):
        """
        Take the shot on screen again: the running sequence is showing
        shot C{shot} (any, if L{None}) after its capture, it allows
        retakes, and that shot was not retaken already. The photo stays
        on disk; the strip takes the new one.

        @raise SequenceError: (409) if there is nothing to retake now.
        """
        current = self.current
        reviewing = current and current.get("reviewing")
        if (not reviewing or (shot is not None and shot != reviewing)
                or not current.get("retake_allowed")):
            raise SequenceError("no shot can be taken again now: only the "
                                "shot just taken, while it is shown, once",
                                409)
        self._retaking = True
        if self._sleeping is not None:
            sleeping, self._sleeping = self._sleeping, None
            sleeping.cancel()

    def subscribe(self, listener):
        """
        Tell C{listener} of every event: C{listener(event, origin)}, the
        origin the sequence was started with (a screen tells its own
        client from the others by it).
        """
        self._listeners.append(listener)

    def stop(self):
        """
        Stop: a sequence waiting for its next tick fails ("the server is
        stopping"), and no new one starts. The shots it took are kept.
        """
        self._stopped = True
        if self._sleeping is not None:
            sleeping, self._sleeping = self._sleeping, None
            sleeping.cancel()

    # The sequence --------------------------------------------------------

    def _emit(self, origin, event):
        for listener in list(self._listeners):
            try:
                listener(dict(event), origin)
            except Exception:
                log.failure("a sequence listener failed on {type}",
                            type=event.get("type"))

    def _sleep_until(self, deadline):
        if self._stopped:
            return defer.fail(defer.CancelledError())
        delay = max(0.0, deadline - self.clock.seconds())
        d = defer.Deferred(lambda d: call.cancel())
        call = self.clock.callLater(delay, d.callback, None)
        self._sleeping = d

        def woke(result):
            self._sleeping = None
            return result

        return d.addBoth(woke)

    async def _countdown(self, origin, base, request):
        """
        The ticks before a shot, each aimed at its own deadline from now:
        fires at the release time.
        """
        start = self.clock.seconds()
        for j in range(request.countdown):
            await self._sleep_until(start + j * request.interval)
            self._emit(origin, dict(base, type="countdown",
                                    value=request.countdown - j))
        await self._sleep_until(start + request.countdown * request.interval)

    async def _run(self, request, sequence_id, origin):
        ident = {"sequenceId": sequence_id}
        taken = []
        self._emit(origin, dict(ident, type="sequence_started",
                                count=request.count,
                                countdown=request.countdown,
                                interval=request.interval,
                                review=request.review,
                                layout=str(request.layout)))
        log.info("booth sequence {id}: {count} shots, layout {layout}",
                 id=sequence_id, count=request.count, layout=request.layout)
        retaken = set()
        number = 0
        while number < request.count:
            number += 1
            self.current["shot"] = number
            base = dict(ident, shot=number, count=request.count)
            try:
                await self._countdown(origin, base, request)
            except defer.CancelledError:
                raise self._failed(origin, base, taken,
                                   "the server is stopping", 503)
            self._emit(origin, dict(base, type="capturing"))
            try:
                name, path, jpeg = await self.capture()
            except Exception as e:
                text, code = failure_reason(e)
                if code == 500 and not isinstance(e, OSError):
                    log.failure("booth sequence {id}: shot {n} failed",
                                id=sequence_id, n=number)
                raise self._failed(origin, base, taken, text, code)
            taken.append((name, path, jpeg))
            may_retake = request.retake and number not in retaken
            event = dict(base, type="photo_captured", filename=name,
                         filepath=path, size=len(jpeg),
                         url=self.photo_url(name), review=request.review,
                         retake=may_retake and request.review > 0)
            if self.thumbnail is not None:
                try:
                    small = await self.thumbnail(jpeg)
                except Exception:
                    log.failure("thumbnail of {name}", name=name)
                else:
                    event["thumbnail"] = _base64(small)
            self._emit(origin, event)
            if request.review > 0 and (number < request.count
                                       or event["retake"]):
                if await self._review(origin, base, taken, request,
                                      event["retake"]):
                    retaken.add(number)
                    taken.pop()
                    number -= 1
        base = dict(ident, count=request.count)
        try:
            strip = await self.make_strip(taken, request, sequence_id)
        except Exception as e:
            text, code = failure_reason(e)
            if not isinstance(e, OSError):
                log.failure("booth sequence {id}: the strip failed",
                            id=sequence_id)
                text, code = "the strip could not be composed: " + text, 500
            raise self._failed(origin, dict(base, shot=None), taken,
                               text, code)
        event = dict(base, type="strip_ready", layout=str(request.layout),
                     shots=[name for name, _, _ in taken], **strip)
        log.info("booth sequence {id}: strip {name}", id=sequence_id,
                 name=strip.get("filename"))
        self._emit(origin, event)
        return event

    async def _review(self, origin, base, taken, request, may_retake):
        """
        Leave the shot on screen for C{request.review} seconds; fires
        with whether a guest asked to take it again meanwhile.
        """
        self.current["reviewing"] = base["shot"]
        self.current["retake_allowed"] = may_retake
        self._retaking = False
        try:
            await self._sleep_until(self.clock.seconds() + request.review)
        except defer.CancelledError:
            if not self._retaking:
                raise self._failed(origin, base, taken,
                                   "the server is stopping", 503)
        finally:
            self.current["reviewing"] = None
        if self._retaking:
            self._retaking = False
            log.info("booth sequence {id}: shot {n} taken again",
                     id=base["sequenceId"], n=base["shot"])
            self._emit(origin, dict(base, type="retake"))
            return True
        return False

    def _failed(self, origin, base, taken, text, code):
        """
        Tell the screens that shot C{base["shot"]} (or the strip, if
        L{None}) failed, and return the L{SequenceError} to raise.
        """
        shots = [name for name, _, _ in taken]
        shot = base.get("shot")
        if shot is None:
            message = "the strip failed: %s" % (text,)
        else:
            message = "shot %d of %d failed: %s" % (shot, base["count"],
                                                     text)
        if shots:
            message += " (%s kept)" % (", ".join(shots),)
        log.warn("booth sequence {id}: {message}", id=base["sequenceId"],
                 message=message)
        self._emit(origin, dict(base, type="sequence_failed", error=message,
                                code=code, shots=shots,
                                guest=guest_words(code, shot is None)))
        return SequenceError(message, code, sequenceId=base["sequenceId"],
                             shot=shot, count=base["count"], shots=shots,
                             guest=guest_words(code, shot is None))


def _base64(data):
    return base64.b64encode(data).decode("ascii")
