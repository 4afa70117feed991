# -*- test-case-name: tests.integration.test_camconfig -*-
"""
Read and change the camera's settings with python-gphoto2, in a child
process: one short-lived process per operation, run by
L{fourcut.camera.settings.CameraSettings} under a deadline.

Why a child: python-gphoto2's C{Camera.exit()} holds the GIL while it waits
for the CloseSession answer, libgphoto2 2.5.34 closes file descriptor 0 on
exit, and a libgphoto2 call that hangs cannot be interrupted from another
thread. A child can be ended (SIGINT, then SIGTERM, then SIGKILL) and takes
all of that with it.

Usage::

    python -m fourcut.camera.child.settings [--port PORT] [--model MODEL] [--] COMMAND ...

    get SECTION OPTION        one setting, with its type and choices/range
    set SECTION OPTION VALUE  change one setting; VALUE is a JSON literal
                              (400, "400", true, 1.5); text that is not JSON
                              is taken as a string (Daylight)
    apply NAME=VALUE ...      change settings looked up by name anywhere in
                              the tree (or by path, /main/imgsettings/iso),
                              like gphoto2 --set-config; VALUE is plain text
    list                      every section, its options, types and values
    info                      model, manufacturer, serial, battery (cheap)
    resolve NAME              the widget gphoto2 --set-config NAME=... would
                              change, and whether fourcut lets it

Every command prints exactly one JSON object on one line of stdout and exits
0, refusals and camera failures included; a nonzero exit (or no JSON) means
the program itself failed. SIGINT or SIGTERM (a deadline) ends it at once,
even inside a libgphoto2 call, with C{{"ok": false, "camera": "error",
"error": "stopped by SIGINT ..."}} (see L{main}). Answers::

    {"ok": true, "section": "imgsettings", "option": "iso", "value": "400",
     "type": "radio", "readonly": false, "label": "ISO Speed",
     "choices": ["100", ...]}
    {"ok": false, "reason": "not-a-choice", "error": "...; choices: ...",
     "section": ..., "option": ..., "choices": [...]}
    {"ok": false, "camera": "absent"|"busy"|"error", "error": "...",
     "code": -7}

C{reason} is one of C{unknown-section}, C{unknown-option}, C{unknown-name}
(apply, resolve), C{not-allowed} (a widget that fourcut never changes, because
it runs a camera operation rather than holding a setting: see
L{fourcut.policy}), C{read-only}, C{bad-value} (wrong type, out of range, off step, not
a choice) and C{camera-refused} (the camera answered the set with an error
such as InvalidDevicePropValue, which libgphoto2 reports as C{[-2] Bad
parameters}). Without C{camera}, the camera is fine and the request was
wrong; with it, the camera could not be used: C{absent} when there is none
(no camera found, connection refused, unknown port or model), C{busy} when
it is busy or claimed, C{error} for anything else (unplugged mid-way, timed
out, python-gphoto2 missing).

Values by widget type (C{type}):

    - C{radio}, C{menu}: C{value} is the choice's text. A new value may be
      given as string or number and is matched against the choices: exact
      text first, then ignoring case and surrounding blanks, then by number
      (C{8} and C{"8"} match C{"f/8"}, C{"1/125"} matches C{"0.0080s"},
      C{1600} matches C{"1600"}); a number matching two choices is refused.
      A widget without choices takes any text.
    - C{toggle}: C{value} is true or false (null when the driver reports
      neither, as libgphoto2 does with 2 for "unknown"). Accepts true/false,
      1/0 and, case-insensitively, "on"/"off", "yes"/"no", "true"/"false",
      "1"/"0", as the gphoto2 CLI does.
    - C{range}: C{value} is a number, C{range} is C{[min, max, step]}.
      Accepts a number (or numeric text) within [min, max]; a value off the
      step grid is refused, naming the nearest allowed values, rather than
      silently changed (a step of 0 means any value).
    - C{text}: accepts text; a number is taken as its decimal text.
    - C{date}: C{value} is a Unix time. Accepts an integer Unix time,
      "now", or an ISO 8601 date and time (local time unless it has an
      offset).

Read-only widgets refuse every value. After a set the value is read back
from the camera and answered as C{value} (C{requested} is what was sent).

The ptp2 driver's sections and names for fourcut's virtual camera
(libgphoto2 2.5.34, PTP/IP)::

    section          option         type   values
    imgsettings      iso            radio  100 200 400 800 1600 3200 6400
    imgsettings      whitebalance   radio  Automatic Daylight Fluorescent
                                           Tungsten Flash
    imgsettings      imagesize      radio  2592x1728 1920x1280 1296x864
    capturesettings  f-number       radio  f/2.8 f/4 f/5.6 f/8 f/11 f/16
    capturesettings  shutterspeed   radio  0.0005s ... 1.0000s (exposure
                                           time in seconds, 12 choices)
    status           batterylevel   text   "80%", read-only

C{status} also holds serialnumber, manufacturer, cameramodel, deviceversion
and vendorextension (read-only text); C{actions} holds bulb (toggle) and
opcode (text: sends raw PTP operations), both refused for writing; C{settings} is
empty; C{other} holds the raw PTP properties by hex code (5001 battery,
5003 image size, 5005 white balance, 5007 f-number, 500d exposure time,
500f ISO) as menus of the raw numbers. A real camera has many more.
"""

import argparse
import json
import math
import os
import re
import signal
import sys
import threading
import time

from fourcut import policy
from fourcut.errors import ABSENT, NOT_DETECTED, NOT_FOUND

__all__ = ["Answer", "Refused", "parse_literal", "tidy_number", "as_number",
           "show", "describe_choices", "describe_range", "convert_toggle",
           "convert_choice", "convert_range", "convert_text", "convert_date",
           "convert", "parse_pair", "Session", "refusal", "command_get",
           "command_set", "command_apply", "command_values", "command_resolve",
           "command_list", "command_info", "parse_args", "load_gphoto2",
           "execute", "ensure_standard_fds", "Stopped", "main"]

#: gphoto2 result codes (as in gphoto2-result.h and gphoto2-port-result.h;
#: python-gphoto2 has the same numbers as gp.GP_ERROR_*).
GP_ERROR = -1
GP_ERROR_BAD_PARAMETERS = -2
GP_ERROR_UNKNOWN_PORT = -5
GP_ERROR_NOT_SUPPORTED = -6
GP_ERROR_IO_USB_FIND = -52
GP_ERROR_IO_USB_CLAIM = -53
GP_ERROR_IO_LOCK = -60
GP_ERROR_MODEL_NOT_FOUND = -105
GP_ERROR_CAMERA_BUSY = -110

#: Codes from a set that mean the camera refused the value (its session is
#: still fine): InvalidDevicePropValue and friends are -2, an unsupported
#: property -6, an unmapped PTP response such as AccessDenied -1.
REFUSED_CODES = frozenset([GP_ERROR, GP_ERROR_BAD_PARAMETERS,
                           GP_ERROR_NOT_SUPPORTED])
ABSENT_CODES = frozenset([GP_ERROR_UNKNOWN_PORT, GP_ERROR_IO_USB_FIND,
                          GP_ERROR_MODEL_NOT_FOUND])
BUSY_CODES = frozenset([GP_ERROR_CAMERA_BUSY, GP_ERROR_IO_USB_CLAIM,
                        GP_ERROR_IO_LOCK])

ON_WORDS = ("1", "on", "yes", "true")
OFF_WORDS = ("0", "off", "no", "false")


class Answer(Exception):
    """
    Stop here and answer C{fields} (an C{ok: false} answer).
    """

    def __init__(self, fields):
        Exception.__init__(self, fields.get("error"))
        self.fields = fields


class Refused(ValueError):
    """
    A widget does not take a value.

    @ivar reason: C{bad-value}, C{read-only} or C{camera-refused}.
    """

    def __init__(self, message, reason="bad-value"):
        ValueError.__init__(self, message)
        self.message = message
        self.reason = reason


# Value conversion: pure functions, the rules in the module docstring. ---

def parse_literal(text):
    """
    The command line's VALUE as a Python value: a JSON literal, or the text
    itself when it is not JSON.
    """
    try:
        return json.loads(text)
    except ValueError:
        return text


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_text(value):
    """
    A number as the text a camera would show: 400 and 400.0 as "400".
    """
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def tidy_number(value):
    """
    An integral float as an int (80.0 -> 80), others unchanged.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_NUMERIC = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def as_number(text):
    """
    The number a value or choice stands for, or L{None}: "400", "5.6",
    "f/5.6", "ISO 400", "1/125", "0.0080s", "1 s".
    """
    if _is_number(text):
        return float(text)
    if not isinstance(text, str):
        return None
    s = text.strip().lower()
    for prefix in ("f/", "f", "iso"):
        if s.startswith(prefix) and len(s) > len(prefix):
            s = s[len(prefix):].strip()
            break
    for suffix in ("sec", "s"):
        if s.endswith(suffix):
            s = s[:-len(suffix)].strip()
            break
    if "/" in s:
        top, _, bottom = s.partition("/")
        if _NUMERIC.match(top.strip()) and _NUMERIC.match(bottom.strip()):
            divisor = float(bottom)
            if divisor:
                return float(top) / divisor
        return None
    if _NUMERIC.match(s):
        return float(s)
    return None


def _same_number(a, b):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def show(value):
    """
    A value for an error message: text quoted, numbers and JSON literals
    as JSON.
    """
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def describe_choices(choices):
    return ", ".join(choices) if choices else "(none)"


def describe_range(value_range):
    low, high, step = (tidy_number(float(n)) for n in value_range)
    if step:
        return "%s to %s in steps of %s" % (low, high, step)
    return "%s to %s" % (low, high)


def convert_toggle(value):
    """
    A toggle's value: 1 or 0.
    """
    if isinstance(value, bool):
        return int(value)
    if _is_number(value) and value in (0, 1):
        return int(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ON_WORDS:
            return 1
        if word in OFF_WORDS:
            return 0
    raise Refused("%s is not on or off; use true/false, 1/0, on/off or "
                  "yes/no" % (show(value),))


def convert_choice(value, choices):
    """
    The choice of a radio or menu widget that C{value} names.
    """
    choices = list(choices)
    if isinstance(value, str):
        text = value
    elif _is_number(value):
        text = _number_text(value)
    else:
        raise Refused("%s is not a choice; choices: %s"
                      % (show(value), describe_choices(choices)))
    if not choices:
        return text
    if text in choices:
        return text
    folded = text.strip().lower()
    matches = [c for c in choices if c.strip().lower() == folded]
    if len(matches) == 1:
        return matches[0]
    number = as_number(value)
    if number is not None:
        matches = [c for c in choices
                   if as_number(c) is not None
                   and _same_number(as_number(c), number)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise Refused("%s matches several choices (%s); give one of "
                          "them exactly; choices: %s"
                          % (show(value), ", ".join(matches),
                             describe_choices(choices)))
    raise Refused("%s is not a choice; choices: %s"
                  % (show(value), describe_choices(choices)))


def convert_range(value, value_range):
    """
    A range widget's value: a float within C{value_range} (C{[min, max,
    step]}) and on its step grid.
    """
    low, high, step = (float(n) for n in value_range)
    number = None
    if _is_number(value):
        number = float(value)
    elif isinstance(value, str) and _NUMERIC.match(value.strip()):
        number = float(value)
    if number is None or not math.isfinite(number):
        raise Refused("%s is not a number; range: %s"
                      % (show(value), describe_range(value_range)))
    slack = 1e-9 * max(1.0, abs(low), abs(high))
    if not low - slack <= number <= high + slack:
        raise Refused("%s is out of range; range: %s"
                      % (show(value), describe_range(value_range)))
    if step > 0:
        steps = (number - low) / step
        nearest = round(steps)
        if abs(steps - nearest) > 1e-6:
            below = low + math.floor(steps) * step
            above = min(high, low + math.ceil(steps) * step)
            raise Refused("%s is not on the step grid (nearest: %s or %s); "
                          "range: %s"
                          % (show(value), tidy_number(round(below, 9)),
                             tidy_number(round(above, 9)),
                             describe_range(value_range)))
        number = round(low + nearest * step, 9)
    return min(max(number, low), high)


def convert_text(value):
    if isinstance(value, str):
        return value
    if _is_number(value):
        return _number_text(value)
    raise Refused("%s is not text" % (show(value),))


def convert_date(value, now=time.time):
    """
    A date widget's value: an integer Unix time.
    """
    if _is_number(value):
        if value >= 0 and math.isfinite(value):
            return int(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.lower() == "now":
            return int(now())
        if text.isdigit():
            return int(text)
        try:
            import datetime
            when = datetime.datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return int(when.timestamp())
    raise Refused("%s is not a date; use a Unix time, \"now\" or an ISO "
                  "8601 date and time" % (show(value),))


def convert(kind, value, choices=None, value_range=None, now=time.time):
    """
    C{value} made into what a widget of type C{kind} (see
    L{widget_type}) takes, or L{Refused}.
    """
    if kind in ("radio", "menu"):
        return convert_choice(value, choices or [])
    if kind == "toggle":
        return convert_toggle(value)
    if kind == "range":
        return convert_range(value, value_range)
    if kind == "text":
        return convert_text(value)
    if kind == "date":
        return convert_date(value, now)
    raise Refused("a %s widget takes no value" % (kind,))


def parse_pair(text):
    """
    C{NAME=VALUE} as C{(name, value)}; the value stays text.
    """
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError("%r is not NAME=VALUE" % (text,))
    return name, value


# The camera ----------------------------------------------------------------

class Session:
    """
    One camera, opened by L{open}, with libgphoto2's complaints collected
    from its context and from stderr (where libgphoto2 writes the likes of
    "connect cmd: Connection refused").
    """

    def __init__(self, gp, port, model, stderr_text=lambda: ""):
        self.gp = gp
        self.port = port
        self.model = model
        self.stderr_text = stderr_text
        self.messages = []
        self.context = gp.Context()
        self.context.set_error_func(self._message, None)
        self.context.set_message_func(self._message, None)
        # libgphoto2 says why a PTP operation failed ("PTP Store Full")
        # only in its error log; the context's error is often just "[-1]
        # Unspecified error".
        try:
            self._log_id = gp.gp_log_add_func(gp.GP_LOG_ERROR, self._logged,
                                              None)
        except (AttributeError, TypeError, gp.GPhoto2Error):
            self._log_id = None
        self.camera = None
        self.kinds = {
            gp.GP_WIDGET_WINDOW: "window", gp.GP_WIDGET_SECTION: "section",
            gp.GP_WIDGET_TEXT: "text", gp.GP_WIDGET_RANGE: "range",
            gp.GP_WIDGET_TOGGLE: "toggle", gp.GP_WIDGET_RADIO: "radio",
            gp.GP_WIDGET_MENU: "menu", gp.GP_WIDGET_BUTTON: "button",
            gp.GP_WIDGET_DATE: "date"}

    def _message(self, context, text, data):
        self.messages.append(text)

    def _logged(self, level, domain, text, data):
        self.messages.append(text)

    def open(self):
        gp = self.gp
        camera = gp.Camera()
        if self.port:
            ports = gp.PortInfoList()
            ports.load()
            camera.set_port_info(ports[ports.lookup_path(self.port)])
        if self.model:
            abilities = gp.CameraAbilitiesList()
            abilities.load()
            camera.set_abilities(abilities[abilities.lookup_model(
                self.model)])
        self.camera = camera
        camera.init(self.context)

    def close(self):
        if self.camera is not None:
            camera, self.camera = self.camera, None
            try:
                camera.exit(self.context)
            except self.gp.GPhoto2Error:
                pass

    def error_text(self, error):
        """
        gphoto2's text for C{error} with what libgphoto2 said about it.
        """
        text = str(error)
        said = []
        for line in self.messages + self.stderr_text().splitlines():
            line = " ".join(line.split())
            if line and line not in said:
                said.append(line)
        if said:
            text += ": " + "; ".join(said[-6:])
        return text

    def camera_failure(self, error):
        """
        The answer for a camera that could not be used.
        """
        text = self.error_text(error)
        code = getattr(error, "code", None)
        if code == GP_ERROR_MODEL_NOT_FOUND and not any(
                f in text for f in (NOT_FOUND, NOT_DETECTED)):
            # python-gphoto2's auto-detect that finds nothing: say it as
            # the gphoto2 CLI does (seed 000's texts).
            text = "%s (%s)" % (NOT_DETECTED, text)
        if code in ABSENT_CODES or any(f in text for f in ABSENT):
            state = "absent"
        elif code in BUSY_CODES:
            state = "busy"
        else:
            state = "error"
        return {"ok": False, "camera": state, "error": text, "code": code}

    # Widgets ----------------------------------------------------------------

    def kind(self, widget):
        return self.kinds.get(widget.get_type(), "unknown")

    def describe(self, widget):
        """
        A widget's name, label, type, read-only flag, value and choices or
        range, as JSON-ready values.
        """
        kind = self.kind(widget)
        answer = {"name": widget.get_name(), "label": widget.get_label(),
                  "type": kind, "readonly": bool(widget.get_readonly())}
        if kind in ("window", "section", "button", "unknown"):
            return answer
        value = widget.get_value()
        if kind == "toggle":
            value = {0: False, 1: True}.get(value)
        elif kind == "range":
            value = tidy_number(float(value))
        answer["value"] = value
        if kind in ("radio", "menu"):
            answer["choices"] = list(widget.get_choices())
        elif kind == "range":
            answer["range"] = [tidy_number(float(n))
                               for n in widget.get_range()]
        return answer

    def sections(self, tree):
        return [child for child in tree.get_children()
                if self.kind(child) in ("section", "window")]

    def options(self, section):
        """
        The settings under C{section}, depth first.
        """
        found = []
        for child in section.get_children():
            if self.kind(child) in ("section", "window"):
                found.extend(self.options(child))
            else:
                found.append(child)
        return found

    def find(self, tree, section_name, option_name):
        sections = self.sections(tree)
        section = [s for s in sections if s.get_name() == section_name]
        if not section:
            names = [s.get_name() for s in sections]
            raise Answer({
                "ok": False, "reason": "unknown-section",
                "section": section_name, "option": option_name,
                "sections": names,
                "error": "unknown section %r; sections: %s"
                         % (section_name, ", ".join(names))})
        options = self.options(section[0])
        option = [o for o in options if o.get_name() == option_name]
        if not option:
            names = [o.get_name() for o in options]
            raise Answer({
                "ok": False, "reason": "unknown-option",
                "section": section_name, "option": option_name,
                "options": names,
                "error": "unknown option %r in section %r; options: %s"
                         % (option_name, section_name,
                            ", ".join(names) or "(none)")})
        return option[0]

    def find_name(self, tree, name):
        """
        The setting called C{name} anywhere in the tree, or at the path
        C{name} (C{/main/imgsettings/iso}); L{None} if there is none.
        """
        if name.startswith("/"):
            parts = [p for p in name.split("/") if p]
            if parts and parts[0] == tree.get_name():
                parts = parts[1:]
            widget = tree
            for part in parts:
                children = [c for c in widget.get_children()
                            if c.get_name() == part]
                if not children:
                    return None
                widget = children[0]
            return None if widget is tree else widget
        for option in self.options(tree):
            if option.get_name() == name:
                return option
        return None

    def section_of(self, tree, widget):
        """
        The name of the top-level section that holds C{widget} (the widget
        itself, not another of the same name), or L{None}.
        """
        wanted = widget.get_id()
        for section in self.sections(tree):
            if any(o.get_id() == wanted for o in self.options(section)):
                return section.get_name()
        return None

    def resolve_like_cli(self, tree, name):
        """
        The widget the gphoto2 CLI's C{--set-config NAME=...} would change:
        the first widget called C{name} anywhere in the tree, else the first
        so labelled, else the path C{name} walked part by part, each part a
        name or a label searched below the last (gphoto2's
        C{_find_widget_by_name}, with the same libgphoto2 calls).  L{None}
        if there is none.
        """
        gp = self.gp
        for look in (tree.get_child_by_name, tree.get_child_by_label):
            try:
                return look(name)
            except gp.GPhoto2Error:
                pass
        widget = tree
        parts = [part for part in name.split("/") if part]
        if not parts:
            return None
        for part in parts:
            found = None
            for look in (widget.get_child_by_name, widget.get_child_by_label):
                try:
                    found = look(part)
                    break
                except gp.GPhoto2Error:
                    pass
            if found is None:
                return None
            widget = found
        return widget

    def write_refusal(self, tree, widget):
        """
        Why C{widget} may not be changed (L{fourcut.policy}), or
        L{None}.
        """
        section = self.section_of(tree, widget)
        return policy.write_refusal(section or "(none)", widget.get_name())

    def first_named(self, tree, widget):
        """
        Whether C{widget} is the first one with its name in C{tree}: only
        then may it be set by name (C{set_single_config} looks it up by
        name, and would change the first).
        """
        gp = self.gp
        try:
            first = tree.get_child_by_name(widget.get_name())
        except gp.GPhoto2Error:
            return False
        return first.get_id() == widget.get_id()

    # Reading and writing -----------------------------------------------------

    def get_config(self):
        return self.camera.get_config(self.context)

    def read(self, name):
        """
        The widget C{name} as the camera has it now.
        """
        gp = self.gp
        if hasattr(self.camera, "get_single_config"):
            try:
                return self.camera.get_single_config(name, self.context)
            except gp.GPhoto2Error as e:
                if e.code != GP_ERROR_NOT_SUPPORTED:
                    raise
        widget = self.find_name(self.get_config(), name)
        if widget is None:
            raise gp.GPhoto2Error(GP_ERROR_BAD_PARAMETERS)
        return widget

    def write(self, tree, widget, value):
        """
        Give C{widget} (part of C{tree}) the value C{value}, checked and
        converted for its type; answer what the camera then reports.

        @raise Refused: the widget or the camera refused the value.
        @raise gp.GPhoto2Error: the camera is in trouble.
        """
        gp = self.gp
        described = self.describe(widget)
        name = described["name"]
        kind = described["type"]
        if described["readonly"]:
            raise Refused("%s is read-only (current value %s)"
                          % (name, show(described.get("value"))),
                          "read-only")
        refused = self.write_refusal(tree, widget)
        if refused is not None:
            raise Refused(refused, "not-allowed")
        try:
            converted = convert(kind, value, described.get("choices"),
                                described.get("range"))
        except Refused as e:
            raise Refused("%s: %s" % (name, e.message), e.reason)
        try:
            widget.set_value(converted)
        except gp.GPhoto2Error as e:
            raise Refused("%s: %s refused by libgphoto2: %s"
                          % (name, show(converted), e))
        try:
            try:
                if (not hasattr(self.camera, "set_single_config")
                        or not self.first_named(tree, widget)):
                    raise gp.GPhoto2Error(GP_ERROR_NOT_SUPPORTED)
                self.camera.set_single_config(name, widget, self.context)
            except gp.GPhoto2Error as e:
                if e.code != GP_ERROR_NOT_SUPPORTED:
                    raise
                self.camera.set_config(tree, self.context)
        except gp.GPhoto2Error as e:
            if e.code not in REFUSED_CODES:
                raise
            allowed = ""
            if "choices" in described:
                allowed = "; choices: " + describe_choices(
                    described["choices"])
            elif "range" in described:
                allowed = "; range: " + describe_range(described["range"])
            raise Refused("the camera refused %s = %s: %s%s"
                          % (name, show(converted), e, allowed),
                          "camera-refused")
        finally:
            widget.set_changed(False)
        after = self.describe(self.read(name))
        after["requested"] = tidy_number(converted)
        return after


# Commands ------------------------------------------------------------------

def refusal(described, error, **fields):
    """
    The C{ok: false} answer for a refused value, with what the widget
    would have taken.
    """
    answer = {"ok": False, "reason": error.reason, "error": error.message}
    for key in ("choices", "range", "type", "readonly", "value"):
        if key in described:
            answer[key if key != "value" else "current"] = described[key]
    answer.update(fields)
    return answer


def command_get(session, section, option):
    widget = session.find(session.get_config(), section, option)
    answer = {"ok": True, "section": section, "option": option}
    answer.update(session.describe(widget))
    return answer


def command_set(session, section, option, value):
    tree = session.get_config()
    widget = session.find(tree, section, option)
    described = session.describe(widget)
    try:
        after = session.write(tree, widget, parse_literal(value))
    except Refused as e:
        return refusal(described, e, section=section, option=option)
    answer = {"ok": True, "section": section, "option": option}
    answer.update(after)
    return answer


def command_apply(session, *pairs):
    tree = session.get_config()
    results = []
    for text in pairs:
        try:
            name, value = parse_pair(text)
        except ValueError as e:
            results.append({"name": text, "ok": False, "reason": "bad-value",
                            "error": str(e)})
            continue
        widget = session.find_name(tree, name)
        if widget is None:
            results.append({"name": name, "ok": False,
                            "reason": "unknown-name",
                            "error": "no setting called %r" % (name,)})
            continue
        described = session.describe(widget)
        try:
            after = session.write(tree, widget, value)
        except Refused as e:
            result = refusal(described, e)
            result["name"] = name
            results.append(result)
            continue
        except session.gp.GPhoto2Error as e:
            failure = session.camera_failure(e)
            failure["results"] = results + [
                {"name": name, "ok": False, "error": failure["error"]}]
            raise Answer(failure)
        result = {"name": name, "ok": True,
                  "section": session.section_of(tree, widget)}
        result.update(after)
        result["name"] = name
        results.append(result)
    return {"ok": all(r["ok"] for r in results), "results": results}


def command_values(session, *names):
    """
    The current values of settings C{names}, each looked up as
    L{command_apply} looks it up and spelled as it takes them, so that
    what it reads can be put back with it (the gphoto2 CLI may spell a
    choice otherwise: its libgphoto2 can be another version).
    """
    tree = session.get_config()
    values = []
    for name in names:
        widget = (session.find_name(tree, name) if isinstance(name, str)
                  else None)
        if widget is None:
            return {"ok": False, "reason": "unknown-name", "name": name,
                    "error": "no setting called %r" % (name,)}
        values.append(session.describe(widget).get("value"))
    return {"ok": True, "values": values}


def command_resolve(session, name):
    """
    Which widget the gphoto2 CLI would change for C{--set-config NAME=...},
    and whether it may: answers its C{section}, C{option} and C{path}
    (C{/SECTION/NAME}, a spelling the CLI walks to that same widget), or
    refuses with C{reason} C{not-allowed} or C{unknown-name}.
    """
    tree = session.get_config()
    widget = session.resolve_like_cli(tree, name)
    if widget is None or widget.get_id() == tree.get_id():
        return {"ok": False, "reason": "unknown-name", "name": name,
                "error": "no setting called %r" % (name,)}
    section = session.section_of(tree, widget)
    option = widget.get_name()
    fields = {"name": name, "section": section, "option": option}
    refused = session.write_refusal(tree, widget)
    if refused is None and section is not None:
        holder = [s for s in session.sections(tree)
                  if s.get_name() == section][0]
        first = [o for o in session.options(holder)
                 if o.get_name() == option][0]
        if first.get_id() != widget.get_id():
            refused = ("%s names a second %s/%s, which the gphoto2 CLI "
                       "cannot address" % (name, section, option))
    if refused is not None:
        fields.update(ok=False, reason="not-allowed", error=refused)
        return fields
    # What to give the CLI: the plain name when the widget is the first
    # of that name (gphoto2 finds it by name, through the camera's single
    # config lookup where there is one); the path otherwise. gphoto2
    # 2.5.28 cannot take a path on a Canon EOS: its single config lookup
    # answers "Bad parameters" and --set-config then crashes (SIGSEGV).
    path = "/%s/%s" % (section, option)
    fields.update(ok=True, path=path,
                  cli_name=option if session.first_named(tree, widget)
                  else path)
    return fields


def command_list(session):
    tree = session.get_config()
    sections = {}
    for section in session.sections(tree):
        options = {}
        for option in session.options(section):
            described = session.describe(option)
            del described["name"]
            options[option.get_name()] = described
        sections[section.get_name()] = {"label": section.get_label(),
                                        "options": options}
    return {"ok": True, "sections": sections}


def command_info(session):
    gp = session.gp
    abilities = session.camera.get_abilities()
    found = {}
    for name in ("cameramodel", "manufacturer", "serialnumber",
                 "deviceversion", "batterylevel"):
        try:
            found[name] = session.read(name).get_value()
        except gp.GPhoto2Error as e:
            if e.code not in REFUSED_CODES:
                raise
            found[name] = None
    return {"ok": True, "model": found["cameramodel"] or abilities.model,
            "driver_model": abilities.model,
            "manufacturer": found["manufacturer"],
            "serial": found["serialnumber"],
            "version": found["deviceversion"],
            "battery": found["batterylevel"],
            "port": session.port or session.camera.get_port_info().get_path()}


COMMANDS = {
    "get": (command_get, 2),
    "set": (command_set, 3),
    "apply": (command_apply, None),
    "list": (command_list, 0),
    "resolve": (command_resolve, 1),
    "values": (command_values, None),
    "info": (command_info, 0),
}


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m fourcut.camera.child.settings",
        description="Read or change camera settings with python-gphoto2; "
                    "prints one JSON object.")
    parser.add_argument("--port", help="gphoto2 port, e.g. "
                        "ptpip:127.0.0.1:15740 (default: auto-detect)")
    parser.add_argument("--model", help="gphoto2 camera model, e.g. "
                        "'PTP/IP Camera' (default: auto-detect)")
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("args", nargs="*")
    args = parser.parse_args(argv)
    function, count = COMMANDS[args.command]
    if count is not None and len(args.args) != count:
        parser.error("%s takes %d arguments" % (args.command, count))
    if count is None and not args.args:
        parser.error("%s takes at least one NAME=VALUE" % (args.command,))
    return args


def load_gphoto2():
    """
    python-gphoto2, or an answer saying why not.
    """
    # The wheel points IOLIBS and CAMLIBS at its own directories when it
    # is imported; a caller's choice (the virtual camera's port library,
    # say) must win, as it does for the gphoto2 CLI.
    chosen = {name: os.environ[name] for name in ("IOLIBS", "CAMLIBS")
              if name in os.environ}
    try:
        import gphoto2 as gp
    except Exception as e:
        raise Answer({"ok": False, "camera": "error",
                      "error": "python-gphoto2 cannot be imported: %s: %s"
                               % (type(e).__name__, e)})
    if not hasattr(gp, "Camera"):
        raise Answer({"ok": False, "camera": "error",
                      "error": "%r is not python-gphoto2; run this as "
                               "python -m fourcut.camera.child.settings"
                               % (getattr(gp, "__file__", gp),)})
    os.environ.update(chosen)
    return gp


def execute(args, stderr_text=lambda: ""):
    """
    Carry out the parsed command line; the answer as a dict.
    """
    try:
        gp = load_gphoto2()
    except Answer as e:
        return e.fields
    function, count = COMMANDS[args.command]
    session = Session(gp, args.port, args.model, stderr_text)
    try:
        try:
            session.open()
            return function(session, *args.args)
        except gp.GPhoto2Error as e:
            return session.camera_failure(e)
        except Answer as e:
            return e.fields
    finally:
        session.close()


class _Captured:
    """
    fds 1 and 2 pointed at a temporary file while libgphoto2 runs, so that
    nothing it prints can spoil the JSON on stdout and its stderr messages
    can be read for the answer. L{restore} puts them back and copies what
    was captured to the real stderr.
    """

    def __init__(self):
        import tempfile
        self.file = None
        try:
            self.file = tempfile.TemporaryFile()
        except OSError:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = (os.dup(1), os.dup(2))
        os.dup2(self.file.fileno(), 1)
        os.dup2(self.file.fileno(), 2)

    def text(self):
        if self.file is None:
            return ""
        data = os.pread(self.file.fileno(), 64 * 1024, 0)
        return data.decode("utf-8", "replace")

    def restore(self):
        if self.file is None:
            return
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)
        for fd in self.saved:
            os.close(fd)
        data = os.pread(self.file.fileno(), 1024 * 1024, 0)
        self.file.close()
        self.file = None
        if data:
            os.write(2, data)


def ensure_standard_fds():
    """
    Keep fds 0-2 taken: libgphoto2 2.5.34 closes fd 0 on exit, which must
    not be one of ours.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)


class Stopped(BaseException):
    """
    A signal asked the program to stop.
    """

    def __init__(self, signum):
        BaseException.__init__(self, signum)
        self.signum = signum


def _stop(signum, frame):
    raise Stopped(signum)


def main(argv=None):
    """
    Run the command and print its answer.

    The camera work runs in a worker thread so that the main thread, waiting
    for it, can act on SIGINT and SIGTERM at once: a signal handler cannot
    run while the main thread is inside a libgphoto2 call, and a call to a
    hung camera lasts libgphoto2's timeouts (7.5 s for an unanswered
    GetDeviceInfo over PTP/IP). On a signal the program answers that it was
    stopped, copies libgphoto2's stderr, and exits without waiting for the
    worker (and so without closing the session: the camera is not answering
    anyway). A worker inside C{Camera.exit()}, which holds the GIL, delays
    that until the exit returns.
    """
    ensure_standard_fds()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    outcome = {}

    def work():
        try:
            outcome["answer"] = execute(args, captured.text)
        except BaseException:
            import traceback
            outcome["traceback"] = traceback.format_exc()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop)
    captured = _Captured()
    worker = threading.Thread(target=work, name="camera", daemon=True)
    stopped = None
    try:
        worker.start()
        worker.join()
    except Stopped as e:
        stopped = e.signum
    finally:
        captured.restore()
    if "answer" in outcome:
        answer = outcome["answer"]
    elif stopped is not None:
        name = signal.Signals(stopped).name
        sys.stderr.write("camconfig: stopped by %s before the camera "
                         "answered %s\n" % (name, args.command))
        answer = {"ok": False, "camera": "error",
                  "error": "stopped by %s before the camera answered"
                           % (name,)}
    else:
        sys.stderr.write(outcome.get("traceback", "no answer\n"))
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    if stopped is not None:
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
