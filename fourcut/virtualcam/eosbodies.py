# -*- test-case-name: tests.virtualcam.test_eos_pack -*-
"""
The Canon EOS bodies the virtual camera can be, their settings, and how
fast they are.

Property values are Canon's raw codes; the text libgphoto2 shows for them
comes from its tables in C{camlibs/ptp2/config.c} (C{canon_isospeed},
C{canon_aperture}, C{canon_shutterspeed}, C{canon_eos_image_format},
C{canon_eos_whitebalance}).
"""

import hashlib

from fourcut.virtualcam import eospack as eos

__all__ = ["thirds", "stops", "EOSBody", "EOSProperty", "default_properties",
           "TimingProfile", "exposure_seconds", "LIFELIKE"]


def thirds(low, high):
    """
    Canon exposure codes in 1/3 stops from C{low} to C{high}: a full stop
    is 8, its thirds are +3 and +5 (e.g. aperture 0x28=f/4, 0x2B=f/4.5,
    0x2D=f/5, 0x30=f/5.6).
    """
    return [code for full in range(low - low % 8, high + 1, 8)
            for code in (full, full + 3, full + 5) if low <= code <= high]


def stops(low, high):
    """
    Canon codes in whole stops (every 8) from C{low} to C{high}.
    """
    return list(range(low, high + 1, 8))


def _jpeg(size, compression):
    return ((eos.IMAGE_JPEG, size, compression),)


L_FINE = _jpeg(eos.SIZE_LARGE, eos.COMPRESSION_FINE)         # 0x0300
L_NORMAL = _jpeg(eos.SIZE_LARGE, eos.COMPRESSION_NORMAL)     # 0x0200
M_FINE = _jpeg(eos.SIZE_MEDIUM, eos.COMPRESSION_FINE)        # 0x1300
M_NORMAL = _jpeg(eos.SIZE_MEDIUM, eos.COMPRESSION_NORMAL)    # 0x1200
S_FINE = _jpeg(eos.SIZE_SMALL, eos.COMPRESSION_FINE)         # 0x2300
S_NORMAL = _jpeg(eos.SIZE_SMALL, eos.COMPRESSION_NORMAL)     # 0x2200
S1_FINE = _jpeg(eos.SIZE_S1, eos.COMPRESSION_FINE)           # 0xd300
S1_NORMAL = _jpeg(eos.SIZE_S1, eos.COMPRESSION_NORMAL)       # 0xd200
S2 = _jpeg(eos.SIZE_S2, eos.COMPRESSION_FINE)                # 0xe300
S3 = _jpeg(eos.SIZE_S3, eos.COMPRESSION_FINE)                # 0xf300

MB = 1000 * 1000

#: Rough file sizes per shot of an 18 MP APS-C body, close to the tables
#: in the 550D and 700D manuals; only used to count AvailableShots.
_FILE_SIZES = {
    L_FINE: 6.4 * MB, L_NORMAL: 3.2 * MB, M_FINE: 3.4 * MB,
    M_NORMAL: 1.7 * MB, S_FINE: 2.2 * MB, S_NORMAL: 1.1 * MB,
    S1_FINE: 2.2 * MB, S1_NORMAL: 1.1 * MB, S2: 1.3 * MB, S3: 0.3 * MB,
}

_SIZES_18MP = {
    eos.SIZE_LARGE: (5184, 3456), eos.SIZE_MEDIUM: (3456, 2304),
    eos.SIZE_SMALL: (2592, 1728), eos.SIZE_S1: (2592, 1728),
    eos.SIZE_S2: (1920, 1280), eos.SIZE_S3: (720, 480),
}

_SIZES_24MP = {
    eos.SIZE_LARGE: (6000, 4000), eos.SIZE_MEDIUM: (3984, 2656),
    eos.SIZE_SMALL: (2976, 1984), eos.SIZE_S1: (2976, 1984),
    eos.SIZE_S2: (2400, 1600), eos.SIZE_S3: (720, 480),
}

#: The kit zoom at 18 mm: f/3.5 ... f/22.
KIT_APERTURES = thirds(0x25, 0x50)
#: 30 s ... 1/4000 s (bulb left out: it needs BulbStart/BulbEnd).
SHUTTER_SPEEDS = thirds(0x10, 0x98)
#: Auto, Daylight, Shade, Cloudy, Tungsten, Fluorescent, Flash, Custom.
WHITE_BALANCES = [0, 1, 8, 2, 3, 4, 5, 6]


class EOSBody:
    """
    One EOS model: what it reports and which values it accepts.

    @ivar usb_ids: C{(vendor, product)}, for USB auto-detection.
    """

    def __init__(self, key, name, usb_ids, model_id, firmware, isos,
                 image_formats, lens, olc_version=7, liveview_fps=13.0,
                 still_sizes=None):
        if name.startswith("Canon EOS M"):
            raise ValueError("EOS M bodies take another libgphoto2 path")
        self.key = key
        self.name = name
        self.usb_ids = usb_ids
        self.model_id = model_id
        self.firmware = firmware
        self.isos = isos
        self.apertures = KIT_APERTURES
        self.shutter_speeds = SHUTTER_SPEEDS
        self.white_balances = WHITE_BALANCES
        self.image_formats = image_formats
        self.lens = lens
        self.olc_version = olc_version
        self.liveview_fps = liveview_fps
        self.still_sizes = still_sizes or _SIZES_18MP
        digest = hashlib.sha1(name.encode("ascii")).hexdigest()
        self.serial = digest[:32]               # DeviceInfo serial
        self.body_serial = "%012d" % (int(digest[:8], 16) % 10 ** 12)

    def still_size(self, image_format):
        return self.still_sizes[image_format[0][1]]

    def file_size(self, image_format):
        return int(_FILE_SIZES.get(image_format, 6.4 * MB))

    def __repr__(self):
        return "<EOSBody %s>" % (self.name,)


# Live view rates through libgphoto2, as users measured them: a 700D
# about 13 fps (134 frames in 10 s, libgphoto2 issue 482; a 100D and a
# 600D about 13, a 650D about 10), an EOS R about 40 and a 90D about 45.
# They are used by the lifelike profile only: the fast and realistic
# profiles keep the 30 fps the tests and benchmarks were written against.
BODIES = {
    # ISO Auto, 100-12800 in whole stops and H (25600), as the entry
    # bodies list it (an EOS GetEvent dump in libgphoto2 issue 670: 0x0,
    # 0x48, 0x50 ... 0x88); S1/S2/S3 JPEG sizes.
    "700D": EOSBody(
        "700D", "Canon EOS 700D", (0x04A9, 0x3272), 0x80000326, "3-1.1.5",
        [0] + stops(0x48, 0x88),
        [L_FINE, L_NORMAL, M_FINE, M_NORMAL, S1_FINE, S1_NORMAL, S2, S3],
        "EF-S18-55mm f/3.5-5.6 IS STM", liveview_fps=13.4),
    # ISO Auto, 100-6400 and H (12800); L/M/S JPEG sizes.
    "550D": EOSBody(
        "550D", "Canon EOS 550D", (0x04A9, 0x31EA), 0x80000270, "3-1.0.9",
        [0] + stops(0x48, 0x80),
        [L_FINE, L_NORMAL, M_FINE, M_NORMAL, S_FINE, S_NORMAL],
        "EF-S18-55mm f/3.5-5.6 IS", liveview_fps=13.0),
    # A mirrorless body on the same generic EOS code path (libgphoto2
    # 2.5.32 and later know its USB id, 0x330c; 2.5.30 matches it by
    # class). Live view at about 40 fps, as an EOS R gives. The model id
    # and firmware are made up: libgphoto2 does not read them here. JPEG
    # sizes as the 700D's codes, at 24 MP.
    "R8": EOSBody(
        "R8", "Canon EOS R8", (0x04A9, 0x330C), 0x80000481, "1.1.0",
        [0] + stops(0x48, 0x98),
        [L_FINE, L_NORMAL, M_FINE, M_NORMAL, S1_FINE, S1_NORMAL, S2, S3],
        "RF24-50mm F4.5-6.3 IS STM", liveview_fps=40.0,
        still_sizes=_SIZES_24MP),
}
DEFAULT_BODY = "700D"


class EOSProperty:
    """
    One EOS property: its value kind (how it is packed), value, the
    values it may take (L{None}: any) and whether the host may set it.

    @ivar on_request: announced only once the host asks for it with
        RequestDevicePropValue (owner, artist, copyright, serial number).
    """

    def __init__(self, code, kind, value, choices=None, writable=True,
                 on_request=False):
        self.code = code
        self.kind = kind
        self.value = value
        self.choices = None if choices is None else list(choices)
        self.writable = writable
        self.on_request = on_request


def default_properties(body):
    """
    The EOS properties of C{body} with their power-on values.
    """
    P = EOSProperty
    return [
        P(eos.DPC_EOS_Aperture, eos.U16, 0x30, body.apertures),  # f/5.6
        P(eos.DPC_EOS_ShutterSpeed, eos.U16, 0x70,                # 1/125
          body.shutter_speeds),
        P(eos.DPC_EOS_ISOSpeed, eos.U16, 0x48, body.isos),        # 100
        # 3 = Manual (M on the mode dial): set by the dial, not the host
        P(eos.DPC_EOS_AutoExposureMode, eos.U16, 3, writable=False),
        # 0 = One Shot AF; 3 = manual focus (the lens switch)
        P(eos.DPC_EOS_FocusMode, eos.U32, 0, writable=False),
        P(eos.DPC_EOS_WhiteBalance, eos.U16, 0, body.white_balances),
        # libgphoto2: 0 Low, 1 50%, 2 100%, 4 75%, 5 25%
        P(eos.DPC_EOS_BatteryPower, eos.U16, 2, writable=False),
        P(eos.DPC_EOS_ModelID, eos.U32, body.model_id, writable=False),
        P(eos.DPC_EOS_AvailableShots, eos.U32, 0, writable=False),
        P(eos.DPC_EOS_CaptureDestination, eos.U32, eos.CAPTURE_DEST_CARD,
          [eos.CAPTURE_DEST_CARD, eos.CAPTURE_DEST_RAM]),
        P(eos.DPC_EOS_ImageFormat, eos.IMAGE_FORMAT,
          body.image_formats[0], body.image_formats),
        P(eos.DPC_EOS_OLCInfoVersion, eos.U32, body.olc_version,
          writable=False),
        P(eos.DPC_EOS_EVFOutputDevice, eos.U32, 0, [0, 1, 2, 3]),
        P(eos.DPC_EOS_EVFMode, eos.U16, 1, [0, 1]),
        P(eos.DPC_EOS_LensName, eos.STR, body.lens, writable=False),
        P(eos.DPC_EOS_Owner, eos.STR, "", writable=False,
          on_request=True),
        P(eos.DPC_EOS_Artist, eos.STR, "", writable=False,
          on_request=True),
        P(eos.DPC_EOS_Copyright, eos.STR, "", writable=False,
          on_request=True),
        P(eos.DPC_EOS_SerialNumber, eos.STR, body.body_serial,
          writable=False, on_request=True),
    ]


class TimingProfile:
    """
    How long a body takes for the things a host waits on (seconds; the
    download rate in bytes per second, L{None} for unpaced), and how a
    real body misbehaves:

    @ivar body_rate: live view at the body's own rate
        (L{EOSBody.liveview_fps}) unless a rate is given.
    @ivar not_ready_when_early: GetViewFinderData before the next frame is
        ready answers 0xA102 (not ready), as real bodies do, instead of
        holding the answer until the frame is there.
    @ivar mirror_stays_up: a session closed without ending live view
        leaves the mirror up (python-gphoto2 issue 53).
    """

    def __init__(self, name, open_session, remote_mode, evf_warmup,
                 autofocus, release, liveview_release, download_rate,
                 real_exposure, body_rate=False, not_ready_when_early=False,
                 mirror_stays_up=False):
        self.name = name
        self.open_session = open_session
        self.remote_mode = remote_mode
        self.evf_warmup = evf_warmup
        self.autofocus = autofocus
        self.release = release
        self.liveview_release = liveview_release
        self.download_rate = download_rate
        self.real_exposure = real_exposure
        self.body_rate = body_rate
        self.not_ready_when_early = not_ready_when_early
        self.mirror_stays_up = mirror_stays_up

    def __repr__(self):
        return "<TimingProfile %s>" % (self.name,)


# The realistic figures: a body on USB 2.0. Where a public figure is a
# total, the split between steps is ours.
#
# Camera-side init: the whole CLI init takes about 1 s of a 1.5 s capture
# (libgphoto2 issue 309), of which loading the drivers alone is 0.45 s on a
# Raspberry Pi with a 700D (gphoto2 issue 177): about 0.5 s is the camera,
# put on OpenSession (0.4 s) and on each change of remote mode (0.1 s).
REALISTIC_OPEN_SESSION = 0.4
REALISTIC_REMOTE_MODE = 0.1
# 0xA102 after live view is switched on: libgphoto2's EOS preview code
# notes "The EOS 100D takes 1.2 seconds" (camera_capture_preview); it
# retries for 3 s, so the warm-up must stay under that.
REALISTIC_EVF_WARMUP = 1.2
# Half press to focus: in the 5Ds trace quoted in libgphoto2's
# camera_trigger_canon_eos_capture (HEAD), focus info arrives about 0.6 s
# after the first GetEvent.
REALISTIC_AUTOFOCUS = 0.6
# Full press to picture ready: a capture in a held session takes about
# 0.5 s (libgphoto2 issue 309), including ~0.2 s to download 6 MB at the
# rate below: 0.3 s, plus the exposure itself.
REALISTIC_RELEASE = 0.3
# Out of live view into a still takes about 2 s on EOS (libgphoto2 issue
# 247): about 1 s more than autofocus and release (mirror down and up).
REALISTIC_LIVEVIEW_RELEASE = 1.0
# Downloads: about 30 MB/s, what USB 2.0 high speed gives in practice.
REALISTIC_DOWNLOAD_RATE = 30 * MB

PROFILES = {
    "fast": TimingProfile(
        "fast", open_session=0.0, remote_mode=0.0,
        # short, so that tests still go through libgphoto2's 0xA102 retries
        evf_warmup=0.1, autofocus=0.02, release=0.05, liveview_release=0.0,
        download_rate=None, real_exposure=False),
    "realistic": TimingProfile(
        "realistic", open_session=REALISTIC_OPEN_SESSION,
        remote_mode=REALISTIC_REMOTE_MODE, evf_warmup=REALISTIC_EVF_WARMUP,
        autofocus=REALISTIC_AUTOFOCUS, release=REALISTIC_RELEASE,
        liveview_release=REALISTIC_LIVEVIEW_RELEASE,
        download_rate=REALISTIC_DOWNLOAD_RATE, real_exposure=True),
}
#: The realistic timing with a real body's live view: its own frame rate,
#: 0xA102 to a host that polls faster, the mirror left up by a host that
#: forgets to end live view. Chosen by name ("lifelike"); the defaults
#: stay as they were, the tests and benchmarks rely on their 30 fps.
LIFELIKE = TimingProfile(
    "lifelike", open_session=REALISTIC_OPEN_SESSION,
    remote_mode=REALISTIC_REMOTE_MODE, evf_warmup=REALISTIC_EVF_WARMUP,
    autofocus=REALISTIC_AUTOFOCUS, release=REALISTIC_RELEASE,
    liveview_release=REALISTIC_LIVEVIEW_RELEASE,
    download_rate=REALISTIC_DOWNLOAD_RATE, real_exposure=True,
    body_rate=True, not_ready_when_early=True, mirror_stays_up=True)
PROFILES["lifelike"] = LIFELIKE
DEFAULT_PROFILE = "fast"


def exposure_seconds(shutter_code):
    """
    The exposure time of a Canon shutter speed code: 0x38 is 1 s, each
    8 is a stop (0x70 = 1/128, shown as 1/125).
    """
    return 2.0 ** ((0x38 - shutter_code) / 8.0)
