# -*- test-case-name: tests.booth.test_plain -*-
"""
What guests read when something goes wrong, and what the operator keeps.

A guest at the booth never reads the camera's own words (C{[-105]
Unknown model: Could not detect any camera}): L{guest_words} turns a
failure's status into a plain sentence that says what to do, and the
technical text goes to the log and to L{BoothProblems}, which an operator
page reads (C{Booth.problems()}).
"""

import time
from collections import deque
from datetime import datetime, timezone

__all__ = ["guest_words", "BoothProblems"]

#: Plain words by HTTP status of a failed shot (L{fourcut.errors}).
_SHOT_WORDS = {
    409: "Someone else's photos are being taken. Wait a moment, then "
         "try again.",
    503: "The camera is not ready yet. Let's try that again.",
    504: "The camera took too long. Let's try that again.",
    507: "The booth's storage is full. Please ask the host for help.",
}

_SHOT_DEFAULT = "That photo did not work. Let's try that again."

_STRIP_WORDS = ("Your photos are saved, but the strip could not be made. "
                "Please ask the host for help.")


def guest_words(code, strip=False):
    """
    The sentence a guest reads for a sequence that failed with HTTP status
    C{code}; C{strip}: the shots were taken and the strip failed.
    """
    if strip and code != 507:
        return _STRIP_WORDS
    return _SHOT_WORDS.get(code, _SHOT_DEFAULT)


class BoothProblems:
    """
    The last L{KEEP} problems, for the operator: when, in plain words, and
    the technical detail. C{record} is called by the booth (and may be by
    anything else the operator should hear of, such as the printer);
    calling the object lists them, newest first.
    """

    KEEP = 50

    def __init__(self, clock=time.time, keep=None):
        self._clock = clock
        self._errors = deque(maxlen=keep or self.KEEP)

    def record(self, what, detail=None, source="booth"):
        """
        Keep a problem: C{what} in plain words, C{detail} the technical
        text (an error message, a status), C{source} what had it.
        """
        self._errors.append({
            "time": datetime.fromtimestamp(self._clock(), timezone.utc)
            .isoformat(timespec="seconds"),
            "source": source, "what": what, "detail": detail})

    def __call__(self, limit=None):
        """
        The problems kept, newest first (at most C{limit}): dicts of
        C{time} (ISO 8601, UTC), C{source}, C{what}, C{detail}.
        """
        errors = list(reversed(self._errors))
        return errors if limit is None else errors[:limit]

    def __len__(self):
        return len(self._errors)

    def note_sequence(self, event, origin=None):
        """
        A L{fourcut.booth.sequence.SequenceRunner} listener: keeps every
        C{sequence_failed}.
        """
        if event.get("type") == "sequence_failed":
            self.record(event.get("guest") or guest_words(
                event.get("code"), event.get("shot") is None),
                event.get("error"))
