# -*- test-case-name: tests.admin.test_choice -*-
"""
The operator's choice of theme and strip template, made on the operator
page while the booth runs.

The config file's C{booth.theme} and C{booth.template} are where the booth
starts; the operator may pick another built-in theme
(L{fourcut.config.THEMES}) or template (L{fourcut.config.TEMPLATES}) on
C{/admin}, and the booth uses it from the next page load (the theme) and
the next strip (the template), without a restart. The booth and the
operator page are both given one L{BoothChoice} when they are built; it
is the only thing that changes, and nothing is assigned onto them.

The choice is kept in a small JSON file (L{FILE}, in the photos
directory, where no listing shows it: its name starts with a dot and it
is no JPEG), so that it outlives a restart. A file that cannot be read,
or names a theme or template this fourcut does not ship, is ignored with
a warning: the config file's values then hold.
"""

import json
import os

from twisted.logger import Logger

from fourcut.config import TEMPLATES, THEMES

__all__ = ["BoothChoice", "ChoiceError", "FILE", "choice_file"]

log = Logger()

#: The choice's file, in the photos directory.
FILE = ".booth-choice.json"


def choice_file(photos):
    """
    Where the choice of a booth whose photos are in C{photos} is kept.
    """
    return os.path.join(photos, FILE)


class ChoiceError(ValueError):
    """
    A theme or template that is not offered; C{str()} says what is.
    """


class BoothChoice:
    """
    The theme and template the booth uses now.

    @param booth: the config's L{fourcut.config.BoothConfig}: where the
        choice starts and what C{None} (the operator's "as in the config")
        gives back.
    @param path: the JSON file that keeps the choice, or L{None} to keep
        it in memory only.
    @ivar chosen: C{{"theme": name or None, "template": name or None}},
        L{None} meaning the config file's value.
    """

    def __init__(self, booth, path=None):
        self.booth = booth
        self.path = path
        self.chosen = {"theme": None, "template": None}

    @classmethod
    def load(cls, booth, path):
        """
        The choice kept in C{path}, if any. Blocking (start-up).
        """
        choice = cls(booth, path)
        try:
            with open(path, "rb") as f:
                kept = json.loads(f.read(4096).decode("utf-8"))
        except FileNotFoundError:
            return choice
        except (OSError, ValueError) as e:
            log.warn("the operator's choice of theme and template in "
                     "{path} cannot be read ({error}); the config file's "
                     "hold", path=path, error=e)
            return choice
        try:
            choice.choose(**{key: kept.get(key) for key in choice.chosen
                             if isinstance(kept, dict)})
        except (ChoiceError, TypeError) as e:
            log.warn("the operator's choice in {path} is ignored: {error}",
                     path=path, error=e)
        return choice

    @property
    def theme(self):
        """
        The theme's name now (L{fourcut.booth.themes.THEMES}).
        """
        return self.chosen["theme"] or self.booth.theme

    @property
    def template(self):
        """
        The template now: a built-in name, the config's path, or L{None}
        (the config's grid of windows).
        """
        chosen = self.chosen["template"]
        return chosen if chosen is not None else self.booth.template

    def choose(self, theme=None, template=None):
        """
        Use C{theme} and C{template} from now on: built-in names, or
        L{None} (or C{""}) for the config file's.

        @raise ChoiceError: a name that is not built in; nothing changes.
        """
        chosen = {}
        for key, value, offered in (("theme", theme, THEMES),
                                    ("template", template, TEMPLATES)):
            if value in (None, ""):
                value = None
            elif value not in offered:
                raise ChoiceError("%s must be one of %s, or null for the "
                                  "config file's (got %r)"
                                  % (key, ", ".join(offered), value))
            chosen[key] = value
        self.chosen = chosen

    def save(self):
        """
        Keep the choice in L{path}, atomically. Blocking: call it in a
        thread.
        """
        if self.path is None:
            return
        temporary = self.path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(self.chosen, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)

    def describe(self):
        """
        What the operator page shows and offers: the theme and template
        in use, what was chosen (L{None}: the config file's), the config
        file's, and the built-in names to choose from.
        """
        return {"theme": self.theme, "template": _label(self.template),
                "chosen": dict(self.chosen),
                "config": {"theme": self.booth.theme,
                           "template": _label(self.booth.template)},
                "themes": list(THEMES), "templates": list(TEMPLATES),
                "layout": self.booth.layout,
                "persistent": self.path is not None}


def _label(template):
    # The operator's own template by its file's name: no server path on
    # the page.
    if template is None or template in TEMPLATES:
        return template
    return os.path.basename(template)
