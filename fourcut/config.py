# -*- test-case-name: tests.test_config -*-
"""
The server's configuration: a YAML file, with command-line overrides on top.

The file follows the C{camera:} block that booth operators already have
from the spec this server replaces (C{host}/C{port}, C{paths.temp} and all
the camera keys are accepted as written there), and adds what a long-running
server needs: limits, timeouts and an access token.

A booth is usually set up in a hurry at a venue, so a mistake must not be
silently ignored: an unknown key (most often a typo), a value of the wrong
type or an impossible value stops start-up with one line that names the key
by its dotted path and says what is allowed, e.g.::

    fourcut.yaml: camera.preview_rotation: must be one of 0, 90, 180, 270
    (got 45)

(on one line). An empty file, or a file without some sections, means the
defaults.

YAML is loaded safely (L{Loader}, C{yaml.SafeLoader}'s rules), so a config
file cannot construct arbitrary Python objects. Booleans must be written
C{true} or C{false} (YAML 1.2's booleans, as C{etc/fourcut.yaml} says):
C{yes}, C{no}, C{on}, C{off} (booleans to YAML 1.1, which PyYAML follows
by default) are read as the strings they are and refused where a boolean
belongs, as are C{"true"} and C{1}; an integer field refuses a boolean.
"""

import math
import os
import re
from dataclasses import dataclass, field
from typing import Optional, Tuple
from urllib.parse import urlsplit

import yaml

from fourcut import policy

__all__ = ["AccessConfig", "BoothConfig", "CAPTURE_TARGETS", "CameraConfig",
           "Config",
           "ConfigError", "LOG_FORMATS", "Layout", "LayoutError", "Loader",
           "LoggingConfig", "MAX_SIDE", "MAX_WINDOWS", "PathsConfig",
           "PreviewConfig", "ServerConfig", "TEMPLATES", "THEMES",
           "load_config",
           "normalise_origin", "parse_config", "parse_layout"]

#: The virtual camera's bodies (C{generic}: a generic PTP camera), transports
#: and timing profiles (see L{fourcut.virtualcam}).
VIRTUAL_BODIES = ("700D", "550D", "generic")
VIRTUAL_TRANSPORTS = ("usb", "ptpip")
VIRTUAL_PROFILES = ("realistic", "fast")

#: C{camera.driver}: one camera session held by a worker (L{fourcut.camera.
#: held}), or a gphoto2 process per operation (L{fourcut.camera.cli}).
DRIVERS = ("held", "cli")

#: The choices of libgphoto2's C{capturetarget} setting (a PTP camera's,
#: Canon's among them): where a photo is kept, the camera's memory until
#: it is downloaded or its card.
CAPTURE_TARGETS = ("Internal RAM", "Memory card")

#: Where errors in C{overrides} say they come from.
OVERRIDES_SOURCE = "command line"

#: Server endpoint types C{server.listen} may use.
ENDPOINT_PREFIXES = ("tcp:", "tcp6:", "ssl:", "unix:", "systemd:")

#: Host used when the seed's C{server.host}/C{server.port} form gives only
#: a port: all IPv4 interfaces, the same as the default C{tcp:8080}.
DEFAULT_HOST = "0.0.0.0"

#: Default port for the C{server.host}/C{server.port} form.
DEFAULT_PORT = 8080

#: Rotations a camera image can be given, in degrees.
ROTATIONS = (0, 90, 180, 270)

#: Largest width or height accepted for a resolution; larger is a typo.
MAX_DIMENSION = 20000

#: ISO range accepted; outside it no camera can honour the setting.
ISO_RANGE = (50, 409600)

#: Shortest C{access.token}: anything shorter can be guessed by anyone on
#: the venue network who tries.
MIN_TOKEN_LENGTH = 16

#: Log formats (C{logging.format}): twistd's text lines, or one JSON
#: object a line.
LOG_FORMATS = ("text", "json")

#: C{booth.print}: never, when a guest asks, or every strip.
PRINT_MODES = ("off", "button", "auto")
#: The booth page's built-in themes and the strip templates fourcut ships
#: (L{fourcut.booth.themes}, L{fourcut.booth.templates}).
THEMES = ("classic", "night", "pastel")
TEMPLATES = ("classic", "film", "pastel")

_SETTING_NAME = re.compile(r"\A[A-Za-z0-9_/-]+\Z")


class Loader(yaml.SafeLoader):
    """
    C{yaml.SafeLoader} with YAML 1.2's booleans: only C{true} and C{false}
    (in any of YAML's three casings). YAML 1.1 also reads C{yes}, C{no},
    C{on} and C{off} as booleans, so C{preview_flip: yes} was accepted
    although the example config says yes/no is refused, and C{port: on}
    would not be a string.
    """


Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class ConfigError(Exception):
    """
    The configuration cannot be used; C{str()} is one line for the operator.

    @ivar source: where the bad value came from (a file path, C{"command
        line"}), or L{None}.
    @ivar key: the dotted key at fault (e.g. C{"camera.preview_rotation"}),
        or L{None} when the fault is the whole file.
    @ivar reason: what is wrong and what is allowed.
    """

    def __init__(self, reason, key=None, source=None):
        self.reason = _one_line(reason)
        self.key = key
        self.source = source
        parts = [str(part) for part in (source, key) if part is not None]
        super().__init__(_one_line(": ".join(parts + [self.reason])))

    def __str__(self):
        return self.args[0]


# The grammars of values that features read as more than a string: the
# schema owns them, the features import them from here (a booth layout,
# an origin).

#: The most columns or rows, and windows in all, a layout may have.
MAX_SIDE = 6
MAX_WINDOWS = 12

_LAYOUT = re.compile(r"\A([1-9])x([1-9])\Z")


class LayoutError(ValueError):
    """
    A layout that cannot be used; the message says what is allowed.
    """


@dataclass(frozen=True)
class Layout:
    """
    A booth strip's grid: C{columns} windows across, C{rows} down, filled
    left to right, then top to bottom. C{1x4} is the classic four-cut
    strip, C{2x2} a square of four.
    """

    columns: int
    rows: int

    @property
    def windows(self):
        return self.columns * self.rows

    def __str__(self):
        return "%dx%d" % (self.columns, self.rows)


def parse_layout(text):
    """
    C{"2x2"}, C{"1x4"}, C{"4x1"}, ... as a L{Layout}.

    @raise LayoutError: for anything else.
    """
    match = _LAYOUT.match(text) if isinstance(text, str) else None
    if match is not None:
        layout = Layout(int(match.group(1)), int(match.group(2)))
        if (layout.columns <= MAX_SIDE and layout.rows <= MAX_SIDE
                and layout.windows <= MAX_WINDOWS):
            return layout
    raise LayoutError("a layout is COLUMNSxROWS such as \"2x2\" or \"1x4\" "
                      "(at most %d a side, %d windows)"
                      % (MAX_SIDE, MAX_WINDOWS))


#: Default ports, which an C{Origin} leaves out.
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def normalise_origin(text):
    """
    C{text} as browsers send an C{Origin}: C{scheme://host[:port]} in lower
    case, without a default port; C{"null"} and C{"*"} as they are.

    @raise ValueError: C{text} is not such an origin (a path, a query, no
        host, another scheme), with the reason.
    """
    if text in ("null", "*"):
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError("an origin starts with http:// or https://")
    if not parts.hostname:
        raise ValueError("an origin names a host")
    if parts.path not in ("", "/") or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise ValueError("an origin is scheme://host[:port], without a "
                         "path, query or user")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port is not a number from 0 to 65535")
    host = parts.hostname
    if ":" in host:
        host = "[%s]" % (host,)
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return "%s://%s" % (parts.scheme, host)
    return "%s://%s:%d" % (parts.scheme, host, port)


@dataclass(frozen=True)
class ServerConfig:
    """
    Where the server listens and the limits that keep one misbehaving
    front-end from starving the others.

    @ivar listen: a Twisted server endpoint string.
    @ivar max_ws_clients: WebSocket connections accepted at once.
    @ivar max_message_bytes: largest WebSocket message accepted.
    @ivar commands_per_second: commands accepted per connection per second.
    @ivar max_unsent_bytes: bytes of answers a client (HTTP or
        WebSocket, over TCP or TLS) may leave unread before its requests
        are no longer read (and a WebSocket client is closed if it sends
        more); the answer in flight is never cut.
    @ivar max_unauthenticated: connections that have not proved the token
        (or, with no token, not yet sent a whole request), at once.
    @ivar max_unauthenticated_per_address: the same, from one address.
    @ivar auth_timeout: seconds a WebSocket client has to authenticate (or,
        with public live view, to start watching).
    @ivar header_timeout: seconds a request has to arrive whole.
    @ivar fd_reserve: file descriptors kept free for the camera and the
        clients already connected.
    @ivar cors_origins: origins of other sites whose pages may call
        fourcut (CORS, and the WebSocket's C{Origin} check; see
        L{fourcut.web.cors}), normalised.
    @ivar unread_timeout: seconds a client (HTTP or WebSocket) may leave
        its answers unread, reading of its requests stopped, before it is
        dropped.
    @ivar max_unauthenticated_hold: seconds an unauthenticated connection
        keeps its slot whatever it does; past it a newcomer over the
        bound may close it.
    @ivar access_log_rate: access log lines a second, at most; the rest
        are counted and summarised.
    """

    listen: str = "tcp:8080"
    max_ws_clients: int = 100
    max_message_bytes: int = 65536
    commands_per_second: float = 20.0
    max_unsent_bytes: int = 1048576
    max_unauthenticated: int = 32
    max_unauthenticated_per_address: int = 8
    auth_timeout: float = 10.0
    header_timeout: float = 10.0
    fd_reserve: int = 64
    cors_origins: Tuple[str, ...] = ()
    unread_timeout: float = 30.0
    max_unauthenticated_hold: float = 30.0
    access_log_rate: float = 50.0


@dataclass(frozen=True)
class CameraConfig:
    """
    Which camera to drive through gphoto2 and how.

    Resolutions are C{(width, height)} tuples; C{live_view}, C{capture} and
    C{standby} are tuples of C{(name, value)} gphoto2 settings applied when
    the session enters that mode. Durations are seconds, as floats.
    """

    port: Optional[str] = None
    model: Optional[str] = None
    virtual: bool = False
    virtual_body: str = "700D"
    virtual_transport: str = "usb"
    virtual_profile: str = "realistic"
    resolution: Optional[Tuple[int, int]] = None
    preview_resolution: Optional[Tuple[int, int]] = None
    preview_iso: Optional[int] = None
    capture_iso: Optional[int] = None
    preview_rotation: int = 0
    capture_rotation: int = 0
    preview_flip: bool = False
    capture_flip: bool = False
    delete_internal_memory: bool = False
    max_restart_attempts: int = 3
    restart_delay: float = 5.0
    live_view: Tuple[Tuple[str, str], ...] = ()
    capture: Tuple[Tuple[str, str], ...] = ()
    standby: Tuple[Tuple[str, str], ...] = ()
    standby_after: float = 60.0
    command_timeout: float = 30.0
    capture_timeout: float = 60.0
    driver: str = "held"
    release_after: float = 0.0
    capture_target: Optional[str] = None


@dataclass(frozen=True)
class PreviewConfig:
    """
    Live view timing, whether watching it needs the access token,
    whether each client's frames are paced by what its connection has
    delivered (L{fourcut.stream.pacing}), and how many downscaled sizes
    (C{/preview?width=}, L{fourcut.stream.scaled}) are served at once (0:
    none).
    """

    stop_grace: float = 2.0
    stall_timeout: float = 5.0
    snapshot_timeout: float = 10.0
    public: bool = True
    pacing: bool = True
    max_sizes: int = 4


@dataclass(frozen=True)
class PathsConfig:
    """
    Where photos go. Relative paths are relative to the working directory
    and are kept as given. C{temp}, seed 001's key, is where photos are
    written while they arrive (L{fourcut.photos.PhotoStore}); L{None}:
    in C{photos} itself. C{state_dir} holds what fourcut keeps between runs
    (libgphoto2's settings, the capture target among them); L{None}:
    C{fourcut-state} beside the photos directory (L{state_directory}).
    """

    photos: str = "photos"
    temp: Optional[str] = None
    state_dir: Optional[str] = None

    @property
    def state_directory(self):
        """
        C{state_dir}, or C{fourcut-state} in the directory that holds the
        photos directory.
        """
        if self.state_dir is not None:
            return self.state_dir
        photos = os.path.abspath(self.photos)
        return os.path.join(os.path.dirname(photos.rstrip(os.sep)) or os.sep,
                            "fourcut-state")


@dataclass(frozen=True)
class AccessConfig:
    """
    The shared secret that front-ends present, or L{None} for none.

    The token is left out of C{repr()} so that logging a config does not
    leak it.
    """

    token: Optional[str] = field(default=None, repr=False)


@dataclass(frozen=True)
class LoggingConfig:
    """
    How fourcut's log reads: C{text} (twistd's lines) or C{json}, one JSON
    object a line (L{fourcut.logs}).
    """

    format: str = "text"


@dataclass(frozen=True)
class BoothConfig:
    """
    The booth (L{fourcut.booth}): the sequence's defaults, how strips look,
    the C{/booth} page, and the guests' download links. Colours are
    C{"#rrggbb"} strings; C{frames} is a tuple of C{(layout, png path)}.
    """

    layout: str = "1x4"
    countdown: int = 3
    countdown_interval: float = 1.0
    window: Tuple[int, int] = (900, 600)
    margin: int = 40
    spacing: int = 20
    background: str = "#ffffff"
    frames: Tuple[Tuple[str, str], ...] = ()
    caption: Optional[str] = None
    caption_font: Optional[str] = None
    caption_size: int = 48
    caption_colour: str = "#000000"
    quality: int = 90
    mirror_preview: bool = True
    # The booth's look and its guests' screens (issue 22).
    template: Optional[str] = "classic"
    theme: str = "classic"
    event_name: Optional[str] = None
    accent_colour: Optional[str] = None
    text_colour: Optional[str] = None
    page_colour: Optional[str] = None
    font: Optional[str] = None
    logo: Optional[str] = None
    page_background: Optional[str] = None
    attract_after: float = 60.0
    review: float = 1.5
    retake: bool = False
    return_after: float = 30.0
    public_url: Optional[str] = None
    # Printing (fourcut.printing): off, button (the guest asks) or auto
    # (every strip); sheets a strip may have; the CUPS queue (None: CUPS'
    # default destination); the IPP media of the 4x6 sheet.
    print: str = "off"
    print_copies: int = 1
    printer: Optional[str] = None
    print_media: str = "na_index-4x6_4x6in"
    guest_links: bool = True


@dataclass(frozen=True)
class Config:
    """
    The whole configuration, one frozen dataclass per section.
    """

    server: ServerConfig = field(default_factory=ServerConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    preview: PreviewConfig = field(default_factory=PreviewConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    access: AccessConfig = field(default_factory=AccessConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    booth: BoothConfig = field(default_factory=BoothConfig)


def load_config(path=None, overrides=None):
    """
    Read the YAML file at C{path}, apply C{overrides}, and validate.

    @param path: the file, or L{None} for no file (all defaults).
    @param overrides: a dict of dotted keys to values (from command-line
        options), e.g. C{{"server.listen": "tcp:9000"}}. They win over the
        file and are validated the same way; a L{None} value means the
        option was not given. C{server.listen} from here replaces
        C{server.host}/C{server.port} from the file, and the other way round.
    @raise ConfigError: the file cannot be read, is not YAML, is not a
        mapping, or holds (or the overrides hold) an invalid value.
    """
    if path is None:
        return parse_config({}, "<defaults>", overrides)
    source = os.fspath(path)
    try:
        with open(source, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError("cannot read config file: %s"
                          % (e.strerror or e), source=source)
    try:
        mapping = yaml.load(data, Loader=Loader)
    except yaml.YAMLError as e:
        raise ConfigError("not valid YAML: %s" % (_describe_yaml_error(e),),
                          source=source)
    return parse_config(mapping, source, overrides)


def parse_config(mapping, source="<config>", overrides=None):
    """
    Validate already-loaded data (what C{yaml.safe_load} returns), with
    C{overrides} on top (see L{load_config}).

    @param mapping: a dict of sections, or L{None} (an empty file).
    @param source: what error messages say the data came from.
    @raise ConfigError: the data is invalid.
    """
    collected = _collect(mapping, source)
    _apply_overrides(collected, overrides)
    sections = {}
    for section, checkers in _SCHEMA.items():
        values = {}
        for key, (value, origin) in collected.get(section, {}).items():
            try:
                values[key] = checkers[key](value)
            except _Invalid as e:
                raise ConfigError(e.reason,
                                  key="%s.%s%s" % (section, key, e.suffix),
                                  source=origin)
        if section == "server":
            _fold_host_port(values, collected.get("server", {}))
        sections[section] = _SECTIONS[section](**values)
    return Config(**sections)


# Validation.  Each checker takes a value and returns it converted, or
# raises _Invalid with the reason (and, for list items, where in the list).

class _Invalid(Exception):
    def __init__(self, reason, suffix=""):
        super().__init__(reason)
        self.reason = reason
        self.suffix = suffix


def _show(value):
    """
    A value as the operator wrote it, YAML-style, short and on one line.
    """
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return text


def _got(value):
    return " (got %s)" % (_show(value),)


def _one_line(text):
    return " ".join(str(text).split())


def _describe_yaml_error(error):
    problem = getattr(error, "problem", None)
    mark = getattr(error, "problem_mark", None)
    if problem and mark is not None:
        return "%s at line %d, column %d" % (
            problem, mark.line + 1, mark.column + 1)
    return _one_line(error)


def _string(value, nullable=False):
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value:
        raise _Invalid("must be a non-empty string%s%s"
                       % (" or null" if nullable else "", _got(value)))
    return value


def _optional_string(value):
    return _string(value, nullable=True)


def _boolean(value):
    if not isinstance(value, bool):
        raise _Invalid("must be true or false" + _got(value))
    return value


def _integer(minimum, maximum=None, nullable=False):
    if maximum is None:
        allowed = "an integer >= %d" % (minimum,)
    else:
        allowed = "an integer from %d to %d" % (minimum, maximum)
    if nullable:
        allowed += " or null"

    def check(value):
        if value is None and nullable:
            return None
        if (not isinstance(value, int) or isinstance(value, bool)
                or value < minimum or (maximum is not None
                                       and value > maximum)):
            raise _Invalid("must be " + allowed + _got(value))
        return value
    return check


def _number(minimum, inclusive=True):
    allowed = "a number %s %s (seconds)" % (">=" if inclusive else ">",
                                            minimum)

    def check(value):
        if (not isinstance(value, (int, float)) or isinstance(value, bool)
                or not math.isfinite(value)
                or value < minimum or (value == minimum and not inclusive)):
            raise _Invalid("must be " + allowed + _got(value))
        return float(value)
    return check


def _choice(choices):
    def check(value):
        if value not in choices:
            raise _Invalid("must be one of %s%s"
                           % (", ".join(choices), _got(value)))
        return value
    return check


def _capture_target(value):
    """
    A value of the camera's C{capturetarget} setting, as a setting takes
    it (case does not matter); L{None}: leave the camera's.
    """
    if value is None:
        return None
    if isinstance(value, str):
        for choice in CAPTURE_TARGETS:
            if value.strip().lower() == choice.lower():
                return choice
    raise _Invalid("must be one of %s (the capturetarget setting's "
                   "choices)%s" % (", ".join(CAPTURE_TARGETS), _got(value)))


def _rotation(value):
    if (not isinstance(value, int) or isinstance(value, bool)
            or value not in ROTATIONS):
        raise _Invalid("must be one of %s%s"
                       % (", ".join(map(str, ROTATIONS)), _got(value)))
    return value


def _resolution(value):
    if value is None:
        return None
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(n, int) and not isinstance(n, bool)
                    and 1 <= n <= MAX_DIMENSION for n in value)):
        return tuple(value)
    raise _Invalid("must be null or [width, height], two integers from 1 "
                   "to %d%s" % (MAX_DIMENSION, _got(value)))


def _settings(value):
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise _Invalid('must be a list of "name=value" gphoto2 settings'
                       + _got(value))
    pairs = []
    seen = set()
    for index, item in enumerate(value):
        where = "[%d]" % (index,)
        name, equals, setting = (item.partition("=") if isinstance(item, str)
                                 else ("", "", ""))
        if not equals or not _SETTING_NAME.match(name):
            raise _Invalid('must be "name=value", the name made of letters, '
                           "digits, '-', '_' and '/' (e.g. \"iso=400\")"
                           + _got(item), where)
        refused = policy.name_refusal(name)
        if refused is not None:
            raise _Invalid(refused, where)
        if name in seen:
            raise _Invalid("%s is set twice in this list" % (name,), where)
        seen.add(name)
        pairs.append((name, setting))
    return tuple(pairs)


def _listen(value):
    if not isinstance(value, str) or not any(
            value.startswith(prefix) and len(value) > len(prefix)
            for prefix in ENDPOINT_PREFIXES):
        raise _Invalid("must be a Twisted server endpoint string starting "
                       "with one of %s (e.g. \"tcp:8080:interface=127.0.0.1"
                       "\")%s" % (", ".join(ENDPOINT_PREFIXES), _got(value)))
    return value


def _host(value):
    if not isinstance(value, str) or not value or value != value.strip():
        raise _Invalid("must be an IP address or host name to listen on "
                       "(e.g. \"127.0.0.1\")" + _got(value))
    return value


def _origins(value):
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise _Invalid('must be a list of origins such as '
                       '["http://localhost:3000"]' + _got(value))
    origins = []
    for index, item in enumerate(value):
        where = "[%d]" % (index,)
        if not isinstance(item, str):
            raise _Invalid("must be an origin, scheme://host[:port]"
                           + _got(item), where)
        try:
            origin = normalise_origin(item)
        except ValueError as e:
            raise _Invalid("%s (e.g. \"http://localhost:3000\"; \"null\" "
                           "for pages opened from a file, \"*\" for any)%s"
                           % (e, _got(item)), where)
        if origin not in origins:
            origins.append(origin)
    return tuple(origins)


def _token(value):
    if value is None:
        return None
    if not isinstance(value, str) or len(value) < MIN_TOKEN_LENGTH:
        # Never echo a secret, even a bad one, into logs.
        shown = ("a %d-character string" % (len(value),)
                 if isinstance(value, str)
                 else "a value of type %s" % (type(value).__name__,))
        raise _Invalid("must be null or a string of at least %d characters: "
                       "a shorter shared secret can be guessed by anyone on "
                       "the network (got %s)" % (MIN_TOKEN_LENGTH, shown))
    return value


_COLOUR = re.compile(r"\A#(?:[0-9A-Fa-f]{3}){1,2}\Z")


def _colour(value):
    if not isinstance(value, str) or not _COLOUR.match(value):
        raise _Invalid('must be a colour "#rrggbb" (e.g. "#ffffff" for '
                       "white)" + _got(value))
    return value


def _optional_colour(value):
    return None if value is None else _colour(value)


def _template(value):
    if value is None or value in TEMPLATES:
        return value
    if not isinstance(value, str) or not value.endswith((".yaml", ".yml")):
        raise _Invalid("must be null, a built-in template (%s) or the path "
                       "of a template's .yaml file%s"
                       % (", ".join(TEMPLATES), _got(value)))
    return value


def _layout(value):
    try:
        return str(parse_layout(value))
    except LayoutError as e:
        raise _Invalid("%s%s" % (e, _got(value)))


def _window(value):
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(n, int) and not isinstance(n, bool)
                    and 16 <= n <= 4000 for n in value)):
        return tuple(value)
    raise _Invalid("must be [width, height], two integers from 16 to 4000"
                   + _got(value))


def _frames(value):
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise _Invalid('must be a mapping of layouts to PNG files (e.g. '
                       '{"1x4": "/etc/fourcut/strip-1x4.png"})' + _got(value))
    pairs = []
    for layout, path in value.items():
        where = "[%s]" % (_show(layout),)
        try:
            layout = str(parse_layout(layout))
        except LayoutError as e:
            raise _Invalid(str(e), where)
        if not isinstance(path, str) or not path:
            raise _Invalid("must be the path of a PNG file" + _got(path),
                           where)
        pairs.append((layout, path))
    return tuple(sorted(pairs))


def _public_url(value):
    if value is None:
        return None
    if (not isinstance(value, str)
            or not re.match(r"\Ahttps?://[^/?#\s]+(/[^?#\s]*)?\Z", value)):
        raise _Invalid('must be null or the address guests\' phones reach '
                       'the booth at, such as "http://192.168.4.1:8080" (no '
                       "query)" + _got(value))
    return value.rstrip("/")


def _caption(value):
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200 \
            or any(c in value for c in "\r\n\0"):
        raise _Invalid("must be null or one line of text (at most 200 "
                       "characters)" + _got(value))
    return value


def _printer(value):
    # A CUPS queue name: printable, no space, slash or '#' (CUPS' rule).
    if value is None:
        return None
    if (not isinstance(value, str) or not value or len(value) > 127
            or any(c in value for c in " /#\\\t\r\n\0")
            or not value.isprintable()):
        raise _Invalid("must be null (CUPS' default printer) or a CUPS "
                       "queue name, as lpstat -p lists them" + _got(value))
    return value


def _media(value):
    if not isinstance(value, str) or not re.match(r"\A[A-Za-z0-9_.-]{1,64}\Z",
                                                  value):
        raise _Invalid('must be an IPP media name such as '
                       '"na_index-4x6_4x6in"' + _got(value))
    return value


_SCHEMA = {
    "server": {
        "listen": _listen,
        "host": _host,
        "port": _integer(0, 65535),
        "max_ws_clients": _integer(1),
        "max_message_bytes": _integer(1024),
        "commands_per_second": _number(0, inclusive=False),
        "max_unsent_bytes": _integer(65536),
        "max_unauthenticated": _integer(1),
        "max_unauthenticated_per_address": _integer(1),
        "auth_timeout": _number(0, inclusive=False),
        "header_timeout": _number(0, inclusive=False),
        "fd_reserve": _integer(0),
        "cors_origins": _origins,
        "unread_timeout": _number(0, inclusive=False),
        "max_unauthenticated_hold": _number(0, inclusive=False),
        "access_log_rate": _number(0, inclusive=False),
    },
    "camera": {
        "port": _optional_string,
        "model": _optional_string,
        "virtual": _boolean,
        "virtual_body": _choice(VIRTUAL_BODIES),
        "virtual_transport": _choice(VIRTUAL_TRANSPORTS),
        "virtual_profile": _choice(VIRTUAL_PROFILES),
        "resolution": _resolution,
        "preview_resolution": _resolution,
        "preview_iso": _integer(*ISO_RANGE, nullable=True),
        "capture_iso": _integer(*ISO_RANGE, nullable=True),
        "preview_rotation": _rotation,
        "capture_rotation": _rotation,
        "preview_flip": _boolean,
        "capture_flip": _boolean,
        "delete_internal_memory": _boolean,
        "max_restart_attempts": _integer(0),
        "restart_delay": _number(0),
        "live_view": _settings,
        "capture": _settings,
        "standby": _settings,
        "standby_after": _number(0),
        "command_timeout": _number(0, inclusive=False),
        "capture_timeout": _number(0, inclusive=False),
        "driver": _choice(DRIVERS),
        "release_after": _number(0),
        "capture_target": _capture_target,
    },
    "preview": {
        "stop_grace": _number(0),
        "stall_timeout": _number(0, inclusive=False),
        "snapshot_timeout": _number(0, inclusive=False),
        "public": _boolean,
        "pacing": _boolean,
        # Each size is up to a thread's worth of encoding: more than a
        # few dozen is a typo.
        "max_sizes": _integer(0, 32),
    },
    "paths": {
        "photos": _string,
        "temp": _optional_string,
        "state_dir": _optional_string,
    },
    "access": {
        "token": _token,
    },
    "logging": {
        "format": _choice(LOG_FORMATS),
    },
    "booth": {
        "layout": _layout,
        "countdown": _integer(0, 10),
        "countdown_interval": _number(0.1),
        "window": _window,
        "margin": _integer(0, 2000),
        "spacing": _integer(0, 2000),
        "background": _colour,
        "frames": _frames,
        "caption": _caption,
        "caption_font": _optional_string,
        "caption_size": _integer(6, 500),
        "caption_colour": _colour,
        "quality": _integer(1, 100),
        "mirror_preview": _boolean,
        "template": _template,
        "theme": _choice(THEMES),
        "event_name": _caption,
        "accent_colour": _optional_colour,
        "text_colour": _optional_colour,
        "page_colour": _optional_colour,
        "font": _optional_string,
        "logo": _optional_string,
        "page_background": _optional_string,
        "attract_after": _number(0),
        "review": _number(0),
        "retake": _boolean,
        "return_after": _number(1),
        "public_url": _public_url,
        "guest_links": _boolean,
        "print": _choice(PRINT_MODES),
        "print_copies": _integer(1, 20),
        "printer": _printer,
        "print_media": _media,
    },
}

_SECTIONS = {
    "server": ServerConfig,
    "camera": CameraConfig,
    "preview": PreviewConfig,
    "paths": PathsConfig,
    "access": AccessConfig,
    "logging": LoggingConfig,
    "booth": BoothConfig,
}

#: The seed's way of giving C{server.listen}.
_HOST_PORT = ("host", "port")


def _unknown(name, allowed, what):
    """
    The reason for an unknown key: the allowed ones, and the likely
    intended one first, since it is most often a typo.
    """
    reason = "unknown %s; allowed %s: %s" % (
        what[0], what[1], ", ".join(sorted(allowed)))
    import difflib              # only for a config with a mistake
    close = difflib.get_close_matches(str(name), allowed, n=1)
    if close:
        reason = "unknown %s (did you mean %s?); allowed %s: %s" % (
            what[0], close[0], what[1], ", ".join(sorted(allowed)))
    return reason


def _collect(mapping, source):
    """
    Check the file's shape and return C{{section: {key: (value, source)}}}.
    """
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise ConfigError("the top level must be a mapping of sections "
                          "(%s), not %s" % (", ".join(_SCHEMA),
                                            type(mapping).__name__),
                          source=source)
    collected = {}
    for section, values in mapping.items():
        if section not in _SCHEMA:
            raise ConfigError(_unknown(section, list(_SCHEMA),
                                       ("section", "sections")),
                              key=str(section), source=source)
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ConfigError("must be a mapping of keys (%s)%s" % (
                ", ".join(sorted(_SCHEMA[section])), _got(values)),
                key=section, source=source)
        collected[section] = {}
        for key, value in values.items():
            if key not in _SCHEMA[section]:
                raise ConfigError(
                    _unknown(key, list(_SCHEMA[section]),
                             ("key", "keys in " + section)),
                    key="%s.%s" % (section, key), source=source)
            collected[section][key] = (value, source)
    return collected


def _apply_overrides(collected, overrides):
    """
    Put C{overrides} over the file's values in C{collected}.
    """
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, dot, key = str(dotted).partition(".")
        if section not in _SCHEMA:
            raise ConfigError(_unknown(section, list(_SCHEMA),
                                       ("section", "sections")),
                              key=str(dotted), source=OVERRIDES_SOURCE)
        if not dot or key not in _SCHEMA[section]:
            raise ConfigError(_unknown(key, list(_SCHEMA[section]),
                                       ("key", "keys in " + section)),
                              key=str(dotted), source=OVERRIDES_SOURCE)
        values = collected.setdefault(section, {})
        # One way of saying where to listen replaces the other.
        if section == "server":
            replaced = _HOST_PORT if key == "listen" else (
                ("listen",) if key in _HOST_PORT else ())
            for other in replaced:
                if other in values and values[other][1] != OVERRIDES_SOURCE:
                    del values[other]
        values[key] = (value, OVERRIDES_SOURCE)


def _fold_host_port(values, raw):
    """
    Turn the seed's C{server.host}/C{server.port} into C{listen}.
    """
    given = [key for key in _HOST_PORT if key in values]
    if not given:
        return
    if "listen" in values:
        raise ConfigError("give either server.listen or server.host/"
                          "server.port, not both", key="server.listen",
                          source=raw["listen"][1])
    host = values.pop("host", DEFAULT_HOST)
    port = values.pop("port", DEFAULT_PORT)
    # Endpoint strings use ':' and '=' as separators; escape them so an
    # IPv6 address such as '::1' survives.
    escaped = re.sub(r"([\\:=])", r"\\\1", host)
    values["listen"] = "tcp:%d:interface=%s" % (port, escaped)
