# -*- test-case-name: tests.camera.test_commands, tests.camera.test_policy -*-
"""
The allow-list for C{GET /cmd}: one gphoto2 argument from the network.

A client may pass exactly one gphoto2 command-line argument as C{?arg=...}.
Most of gphoto2's options are dangerous from a venue Wi-Fi: hook scripts run
programs, C{--filename} and C{--debug-logfile} write files on the server,
uploads and deletes change the card, C{--port}/C{--camera} take over the
device, C{--shell} is interactive.  So only the read-and-configure options in
L{ALLOWED} are accepted, each in exactly one spelling; everything else raises
L{CommandRefused}.  Captures go through C{/capture}, which saves the photo
safely.

L{parse_cmd_args} returns an argv tail (a list of str) to append after
C{gphoto2 --camera ... --port ...}.  It is never passed through a shell, so
spaces inside a C{--set-config} VALUE are fine; the NAME is restricted to
config-path characters so nothing can be smuggled past it.
"""

import re
from dataclasses import dataclass

__all__ = [
    "ALIASES", "ALLOWED", "AllowedOption", "CommandRefused", "NO_CAMERA",
    "SET_OPTIONS", "describe_allowed", "parse_cmd_args", "setting_change",
]

#: Longest config NAME accepted (characters).
MAX_NAME = 128
#: Longest config VALUE accepted (characters).
MAX_VALUE = 256
#: Longest whole argument accepted (characters).
MAX_ARG = 32 + MAX_NAME + MAX_VALUE
#: How much of a refused argument is echoed back in an error message.
_ECHO_LIMIT = 48

_NAME_RE = re.compile(r"[A-Za-z0-9/_.][A-Za-z0-9/_.\-]*")
_INDEX_RE = re.compile(r"[0-9]{1,6}")


@dataclass(frozen=True)
class AllowedOption:
    """
    One gphoto2 option that may come from the network.

    @ivar option: the long option, e.g. C{"--get-config"}.
    @ivar value: L{None} for a flag, else the value syntax after C{=}:
        C{"NAME"}, C{"NAME=VALUE"} or C{"NAME=N"}.
    @ivar help: a few words for documentation.
    """

    option: str
    value: "str | None"
    help: str

    @property
    def usage(self):
        """
        How a client spells it, e.g. C{"--set-config=NAME=VALUE"}.
        """
        if self.value is None:
            return self.option
        return f"{self.option}={self.value}"


#: Every option accepted from the network, in documentation order.
ALLOWED = (
    AllowedOption("--auto-detect", None, "list auto-detected cameras"),
    AllowedOption("--summary", None, "camera summary"),
    AllowedOption("--abilities", None, "camera/driver abilities"),
    AllowedOption("--storage-info", None, "storage information"),
    AllowedOption("--list-config", None, "list configuration tree"),
    AllowedOption("--list-all-config", None, "dump full configuration tree"),
    AllowedOption("--list-folders", None, "list folders on the camera"),
    AllowedOption("--list-files", None, "list files on the camera"),
    AllowedOption("--num-files", None, "number of files on the camera"),
    AllowedOption("--manual", None, "camera driver manual"),
    AllowedOption("--about", None, "about the camera driver"),
    AllowedOption("--version", None, "gphoto2 and library versions"),
    AllowedOption("--list-cameras", None, "supported camera models"),
    AllowedOption("--list-ports", None, "supported port devices"),
    AllowedOption("--get-config", "NAME", "get one configuration value"),
    AllowedOption("--set-config", "NAME=VALUE",
                  "set a configuration value or choice index"),
    AllowedOption("--set-config-index", "NAME=N",
                  "set a configuration choice by index"),
    AllowedOption("--set-config-value", "NAME=VALUE",
                  "set a configuration value"),
)

#: Options that never open the camera (checked against gphoto2 2.5.28 and
#: the virtual camera's session log): they run beside live view instead of
#: pausing it.  C{--about} and C{--manual} are not here: with C{--camera}
#: and C{--port} gphoto2 opens a session to ask the driver.
NO_CAMERA = frozenset(["--version", "--list-cameras", "--list-ports"])

#: Options that change a setting: their NAME is resolved in the camera's
#: tree and checked by L{fourcut.policy} before gphoto2 runs.
SET_OPTIONS = frozenset(["--set-config", "--set-config-index",
                         "--set-config-value"])

#: Short spellings accepted and mapped to their long form.
ALIASES = {
    "-a": "--abilities",
    "-l": "--list-folders",
    "-L": "--list-files",
    "-n": "--num-files",
    "-v": "--version",
}

_BY_OPTION = {entry.option: entry for entry in ALLOWED}

#: Short options gphoto2 knows, mapped to their long form, for messages.
_SHORT_NAMES = {
    "-?": "--help", "-q": "--quiet", "-v": "--version", "-a": "--abilities",
    "-B": "--bulb", "-F": "--frames", "-I": "--interval",
    "-l": "--list-folders", "-L": "--list-files", "-m": "--mkdir",
    "-r": "--rmdir", "-n": "--num-files", "-p": "--get-file",
    "-P": "--get-all-files", "-t": "--get-thumbnail",
    "-T": "--get-all-thumbnails", "-d": "--delete-file",
    "-D": "--delete-all-files", "-u": "--upload-file", "-f": "--folder",
    "-R": "--recurse",
}

#: Why well-known options are refused (prefix match on the option name).
_REASONS = (
    ("--hook-script", "runs a program on the server"),
    ("--debug-logfile", "writes a file on the server"),
    ("--debug", "debug output is not available over HTTP"),
    ("--filename", "writes files on the server"),
    ("--filenumber", "names files on the server"),
    ("--force-overwrite", "overwrites files on the server"),
    ("--skip-existing", "concerns downloads, which are not allowed"),
    ("--new", "concerns downloads, which are not allowed"),
    ("--folder", "selects a folder for file operations"),
    ("--upload-", "uploads to the camera"),
    ("--delete-", "deletes files on the camera"),
    ("--mkdir", "changes the card"),
    ("--rmdir", "changes the card"),
    ("--recurse", "concerns file operations"),
    ("--no-recurse", "concerns file operations"),
    ("--shell", "is interactive"),
    ("--config", "is interactive"),
    ("--port", "overrides the server's camera"),
    ("--camera", "overrides the server's camera"),
    ("--usbid", "overrides the server's camera"),
    ("--speed", "overrides the server's camera"),
    ("--reset-interval", "captures go through /capture"),
    ("--reset", "resets the device port"),
    ("--capture-", "captures go through /capture"),
    ("--trigger-capture", "captures go through /capture"),
    ("--show-preview", "captures go through /capture"),
    ("--bulb", "captures go through /capture"),
    ("--frames", "captures go through /capture"),
    ("--interval", "captures go through /capture"),
    ("--keep", "captures go through /capture"),
    ("--no-keep", "captures go through /capture"),
    ("--wait-event", "waits for camera events"),
    ("--get-", "downloads go through /capture and the gallery"),
    ("--stdout", "downloads go through /capture and the gallery"),
    ("--show-", "reads files from the camera"),
    ("--quiet", "changes output format"),
    ("--parsable", "changes output format"),
    ("--help", "is not a camera command"),
    ("--usage", "is not a camera command"),
)


class CommandRefused(ValueError):
    """
    A C{/cmd} argument was refused.  C{str()} is two lines: what was refused
    and why, then the allowed options; suitable as a 400 text/plain body.

    @ivar reason: the first line alone.
    """

    def __init__(self, reason):
        self.reason = reason
        ValueError.__init__(self, f"{reason}\n{describe_allowed()}")


def describe_allowed():
    """
    One line listing what C{/cmd} accepts.
    """
    usages = ", ".join(entry.usage for entry in ALLOWED)
    aliases = ", ".join(f"{short} ({long})" for short, long in ALIASES.items())
    return f"allowed: {usages}; aliases: {aliases}"


def _echo(text):
    """
    Quote untrusted text for a one-line message: escaped and truncated.
    """
    if len(text) > _ECHO_LIMIT:
        text = text[:_ECHO_LIMIT] + "..."
    return ascii(text)


def _reason_for(option):
    for prefix, reason in _REASONS:
        stem = prefix if prefix.endswith("-") else prefix + "-"
        if option == prefix or option.startswith(stem):
            return reason
    return None


def _refuse_option(option):
    """
    Build the refusal for an option that is not on the allow-list.
    """
    long = _SHORT_NAMES.get(option)
    shown = _echo(option) if long is None else f"{_echo(option)} ({long})"
    reason = _reason_for(long or option) or "is not on the allow-list"
    return CommandRefused(
        f"refused gphoto2 option {shown}: {reason}")


def _check_name(option, name):
    if not name:
        raise CommandRefused(
            f"refused {option}: empty NAME; use {option}="
            f"{_BY_OPTION[option].value}")
    if len(name) > MAX_NAME:
        raise CommandRefused(
            f"refused {option}: NAME longer than {MAX_NAME} characters")
    if not _NAME_RE.fullmatch(name):
        raise CommandRefused(
            f"refused {option}: NAME {_echo(name)} may only contain letters, "
            "digits, '/', '-', '_' and '.'")


def _parse_valued(entry, value):
    option = entry.option
    if entry.value == "NAME":
        _check_name(option, value)
        return [f"{option}={value}"]
    name, sep, setting = value.partition("=")
    if not sep:
        _check_name(option, name)
        raise CommandRefused(
            f"refused {option}: missing '='; use {entry.usage}")
    _check_name(option, name)
    if entry.value == "NAME=N":
        if not _INDEX_RE.fullmatch(setting):
            raise CommandRefused(
                f"refused {option}: N must be a number of up to 6 digits, "
                f"not {_echo(setting)}")
    elif len(setting) > MAX_VALUE:
        raise CommandRefused(
            f"refused {option}: VALUE longer than {MAX_VALUE} characters")
    return [f"{option}={name}={setting}"]


def _parse_one(text):
    if not text:
        raise CommandRefused("refused empty arg")
    if len(text) > MAX_ARG:
        raise CommandRefused(
            f"refused arg {_echo(text)}: longer than {MAX_ARG} characters")
    if not text.isprintable():
        raise CommandRefused(
            f"refused arg {_echo(text)}: contains control or "
            "non-printable characters")
    if not text.startswith("-"):
        raise CommandRefused(
            f"refused arg {_echo(text)}: not a gphoto2 option")
    if text in ALIASES:
        return [ALIASES[text]]
    if not text.startswith("--"):
        # A short option, possibly glued to a value ("-f/DCIM") or bundled.
        raise _refuse_option(text[:2])
    option, sep, value = text.partition("=")
    entry = _BY_OPTION.get(option)
    if entry is None:
        raise _refuse_option(option)
    if entry.value is None:
        if sep:
            raise CommandRefused(
                f"refused {option}: it takes no value")
        return [option]
    if not sep:
        raise CommandRefused(
            f"refused {option}: exactly one argument is allowed, "
            f"so use {entry.usage}")
    return _parse_valued(entry, value)


def parse_cmd_args(values):
    """
    Turn the C{arg} query values of a C{/cmd} request into gphoto2 argv.

    @param values: C{request.args.get(b"arg")}: a list of bytes, or L{None}.
    @return: a list of str to append after C{gphoto2 --camera ... --port ...};
        never to be passed through a shell.
    @raise CommandRefused: for anything but exactly one allowed argument.
    """
    if not values:
        raise CommandRefused("missing arg: pass one gphoto2 option as ?arg=")
    if len(values) != 1:
        raise CommandRefused(
            f"refused arg: it was repeated {len(values)} times; "
            "pass exactly one ?arg=")
    raw = values[0]
    if isinstance(raw, str):
        text = raw
    elif isinstance(raw, (bytes, bytearray)):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise CommandRefused("refused arg: not valid UTF-8") from None
    else:
        raise CommandRefused("refused arg: not text")
    return _parse_one(text)


def setting_change(args):
    """
    C{(option, name, value)} when the argv tail C{args} (from
    L{parse_cmd_args}) changes a setting, else L{None}.
    """
    if len(args) != 1:
        return None
    option, sep, rest = args[0].partition("=")
    if option not in SET_OPTIONS or not sep:
        return None
    name, _, value = rest.partition("=")
    return option, name, value
