# -*- test-case-name: tests.camera.test_policy -*-
"""
Which camera settings a client may change: an allow-list by what a
widget does, not by how its name is spelled.

libgphoto2's ptp2 driver shows two kinds of widget in one tree.  Most are
settings, a value the camera keeps (ISO, aperture, white balance).  Others
carry out an operation when they are "set": C{actions/opcode} sends any PTP
operation (0x100B DeleteObject deleted every photo on the card, 0x100E
InitiateCapture took one that never reached fourcut), C{eosremoterelease},
C{bulb} and C{movie} release the shutter, C{chdk} runs scripts, and
C{remotemode}/C{eventmode} pull the rug from under the session fourcut
holds.  A guest's photo must never be one such value away.

The rule, applied to the widget a name resolves to in the camera's own tree
(so C{opcode}, C{/actions/opcode} and C{PTP Opcode} are the same widget and
get the same answer):

  - a widget may be changed only when it sits in one of the
    L{SETTING_SECTIONS} (the camera's settings, image settings and capture
    settings: "properties of the film", as libgphoto2 puts it);
  - and is not one of the L{OPERATIONS}: widgets in those sections that
    libgphoto2 carries out as camera operations, or that hand fourcut's live
    view to someone else;
  - every other section (L{REFUSED_SECTIONS}, and any section fourcut does
    not know, until someone has looked at what it does) is read-only.

Reading is always allowed: no getter in libgphoto2 sends an operation that
changes the camera.

The rule is pure and imports nothing of fourcut, so that both sides use
the one copy: the config's schema (L{fourcut.config}) refuses such a name
at start-up, the camera session and its worker refuse it at the camera.
"""

__all__ = [
    "ACTION_NAMES", "OPERATIONS", "REFUSED_SECTIONS", "SETTING_SECTIONS",
    "name_refusal", "write_refusal",
]

#: Sections whose widgets are camera settings.
SETTING_SECTIONS = frozenset(["settings", "imgsettings", "capturesettings"])

#: Sections never written, and why.
REFUSED_SECTIONS = {
    "actions": "its widgets run camera operations (raw PTP operations, "
               "shutter release, bulb, movie, focus and zoom drives, "
               "power down, UI lock), they are not settings",
    "status": "it is read-only camera status",
    "wifiprofiles": "it rewrites the camera's network profiles",
    "other": "it holds raw PTP properties by code, outside libgphoto2's "
             "checked settings; change the named setting instead",
}

#: Widgets in the setting sections that libgphoto2 carries out as camera
#: operations (or that take live view away from fourcut), and why each is
#: refused.
OPERATIONS = {
    "chdk": "it runs CHDK scripts on the camera",
    "capture": "it switches the camera's capture mode by a camera operation",
    "remotemode": "it sends EOS SetRemoteMode, which fourcut's session "
                  "relies on",
    "eventmode": "it sends EOS SetEventMode, which fourcut's session "
                 "relies on",
    "testolc": "it sends a raw EOS operation",
    "cleansensor": "it starts sensor cleaning",
    "cameraaction": "it triggers camera actions",
    "externalrecordingcontrol": "it starts and stops movie recording",
    "output": "it moves live view away from fourcut",
    "evfmode": "fourcut's live view controls it",
    "movierecordtarget": "it starts movie recording",
}

#: Names that libgphoto2 uses only for widgets of the C{actions} section,
#: so a configuration file can be refused at start-up, before any camera is
#: there.  (C{autofocus} is missing on purpose: it is also a Nikon setting.)
ACTION_NAMES = frozenset([
    "opcode", "eosremoterelease", "bulb", "movie", "eosmoviemode",
    "chdk_script", "powerdown", "focuslock", "uilock", "popupflash",
    "autofocusdrive", "autofocusdrivemanual", "manualfocusdrive",
    "cancelautofocus", "changeafarea", "controlmode", "eoszoom",
    "eoszoomposition", "viewfinder", "manualfocus", "focusmagnifier",
    "focusmagnifierexit", "remotekeyup", "remotekeydown", "remotekeyleft",
    "remotekeyright", "spotfocusarea", "disablemodedial", "syncdatetime",
    "syncdatetimeutc", "zoompos",
])


def write_refusal(section, name):
    """
    Why the widget C{name} in the top-level C{section} of the camera's
    tree may not be changed, or L{None} when it may.

    @return: a sentence naming the widget, e.g. C{"actions/opcode may not
        be changed: its widgets run camera operations ..."}.
    """
    where = "%s/%s" % (section, name)
    if section not in SETTING_SECTIONS:
        reason = REFUSED_SECTIONS.get(section)
        if reason is None:
            reason = ("fourcut changes only the %s sections"
                      % (", ".join(sorted(SETTING_SECTIONS)),))
        else:
            reason = "the %s section is refused: %s" % (section, reason)
        return "%s may not be changed: %s" % (where, reason)
    if name in OPERATIONS:
        return "%s may not be changed: %s" % (where, OPERATIONS[name])
    return None


def name_refusal(name):
    """
    Why a setting spelled C{name} (a widget name such as C{iso}, or a path
    such as C{/main/imgsettings/iso}) is refused without asking the camera,
    or L{None} when only the camera's tree can tell.

    Used where there is no camera yet (the configuration file) or to fail
    fast; the camera-side check in L{fourcut.camera.child.settings} is the one that
    counts.
    """
    parts = [part for part in name.split("/") if part]
    if not parts:
        return "%r names no setting" % (name,)
    if name.startswith("/") or len(parts) > 1:
        # A path, as gphoto2 walks it: leading and doubled slashes do not
        # count.
        if parts[0] == "main":
            parts = parts[1:]
        if len(parts) != 2:
            return ("%s: give a setting's name (iso) or its path "
                    "/main/SECTION/NAME" % (name,))
        return write_refusal(*parts)
    if parts[0] in ACTION_NAMES:
        return write_refusal("actions", parts[0])
    if parts[0] in OPERATIONS:
        return write_refusal("settings", parts[0])
    return None
