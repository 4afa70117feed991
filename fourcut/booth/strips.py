# -*- test-case-name: tests.booth.test_strip -*-
"""
Strips beside the photos: L{StripMaker} composes and saves one, off the
reactor thread; L{StripIndex} tells the C{/photos} listing which files
are strips and what they hold, from the strips themselves.
"""

import os
import time

from twisted.internet import threads
from twisted.logger import Logger

from fourcut.booth.links import STRIP_PREFIX, new_key as random_key
from fourcut.booth.links import strip_name_hint
from fourcut.booth.strip import compose, read_metadata

__all__ = ["StripMaker", "StripIndex", "STRIP_PREFIX"]

log = Logger()


class StripMaker:
    """
    Composes a sequence's strip in a thread of C{reactor}'s pool and saves
    it with C{store} (a L{fourcut.photos.PhotoStore}) as
    C{strip-YYYYmmdd-RANDOM.jpg} (L{strip_name_hint}: no time of day),
    fsynced under a name of its own like every photo. C{style()} gives the
    L{fourcut.booth.strip.StripStyle} of the next strip (the operator may
    choose another template while the booth runs: L{fourcut.booth.choice}).

    Composition and saving run in one thread call: a 5184x3456 shot is
    decoded at a quarter of its size (JPEG draft mode), so four of them
    take a fraction of a second, and Pillow lets go of the GIL while it
    decodes, resizes and encodes, so live view frames keep flowing.
    """

    def __init__(self, reactor, store, style, wall_clock=time.time,
                 new_key=random_key):
        self._reactor = reactor
        self.store = store
        self.style = style
        self._wall_clock = wall_clock
        self._new_key = new_key

    def __call__(self, shots, request, sequence_id):
        """
        The strip of C{shots} (C{(name, path, jpeg)}) for C{request} (a
        L{fourcut.booth.sequence.SequenceRequest}); fires with the fields
        of its C{strip_ready} event.
        """
        key = self._new_key()
        style = self.style()
        names = [name for name, _, _ in shots]
        metadata = {"shots": names, "layout": str(request.layout),
                    "key": key, "sequence": sequence_id}
        hint = strip_name_hint(self._wall_clock)
        d = threads.deferToThreadPool(
            self._reactor, self._reactor.getThreadPool(), self._make,
            [jpeg for _, _, jpeg in shots], request.layout, style, metadata,
            hint)

        def made(result):
            name, path, size, seconds = result
            log.info("strip {name}: {n} shots composed and saved in "
                     "{seconds:.2f} s", name=name, n=len(shots),
                     seconds=seconds)
            return {"filename": name, "filepath": path, "size": size,
                    "url": "/photos/" + name,
                    "share": "/share/%s/%s" % (key, name)}
        return d.addCallback(made)

    def _make(self, jpegs, layout, style, metadata, hint):
        started = time.monotonic()
        data = compose(jpegs, layout, style, metadata)
        name, path = self.store.save(data, hint)
        return name, path, len(data), time.monotonic() - started


class StripIndex:
    """
    What the C{/photos} listing says about strips: C{annotate} runs in
    the listing's thread, after its scan, and opens only files named
    C{strip-*} that it has not seen at that size and time (a strip's
    metadata is in its first kilobytes).
    """

    def __init__(self):
        self._known = {}

    def annotate(self, directory, photos):
        """
        C{{name: fields}} for the strips among C{photos} (the listing's
        C{(mtime_ns, name, size)}): C{kind} C{"strip"}, its C{shots}, its
        C{layout} and its C{share} path. Blocking.
        """
        found = {}
        known = {}
        for mtime_ns, name, size in photos:
            if not name.startswith(STRIP_PREFIX):
                continue
            stamp = (name, mtime_ns, size)
            if stamp in self._known:
                fields = self._known[stamp]
            else:
                fields = self._read(os.path.join(directory, name), name)
            known[stamp] = fields
            if fields is not None:
                found[name] = fields
        self._known = known
        return found

    @staticmethod
    def _read(path, name):
        try:
            metadata = read_metadata(path)
        except OSError:
            return None
        if not metadata or not isinstance(metadata.get("shots"), list):
            return None
        fields = {"kind": "strip",
                  "shots": [str(shot) for shot in metadata["shots"]],
                  "layout": str(metadata.get("layout", ""))}
        key = metadata.get("key")
        if isinstance(key, str) and key:
            fields["share"] = "/share/%s/%s" % (key, name)
        return fields
