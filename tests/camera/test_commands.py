"""
Tests for L{fourcut.camera.commands}: the allow-list for C{GET /cmd}.
"""

import re
import shutil
import subprocess

from twisted.trial.unittest import SynchronousTestCase

from fourcut.camera.commands import (
    ALIASES, ALLOWED, MAX_ARG, MAX_NAME, MAX_VALUE, AllowedOption,
    CommandRefused, describe_allowed, parse_cmd_args)

from tests.support import english_env

FLAGS = [
    "--auto-detect", "--summary", "--abilities", "--storage-info",
    "--list-config", "--list-all-config", "--list-folders", "--list-files",
    "--num-files", "--manual", "--about", "--version", "--list-cameras",
    "--list-ports",
]

#: Options that must never come from the network, as a client would send
#: them, with the option name the refusal must mention.
DANGEROUS = [
    ("--hook-script=/tmp/x.sh", "--hook-script"),
    ("--hook-script", "--hook-script"),
    ("--filename=/etc/passwd", "--filename"),
    ("--filenumber=3", "--filenumber"),
    ("--folder=/store_00010001", "--folder"),
    ("--upload-file=/etc/shadow", "--upload-file"),
    ("--upload-metadata=x", "--upload-metadata"),
    ("--delete-file=1", "--delete-file"),
    ("--delete-all-files", "--delete-all-files"),
    ("--mkdir=x", "--mkdir"),
    ("--rmdir=x", "--rmdir"),
    ("--recurse", "--recurse"),
    ("--no-recurse", "--no-recurse"),
    ("--shell", "--shell"),
    ("--config", "--config"),
    ("--debug", "--debug"),
    ("--debug-logfile=/tmp/log", "--debug-logfile"),
    ("--debug-loglevel=all", "--debug-loglevel"),
    ("--port=usb:", "--port"),
    ("--port=ptpip:10.0.0.1", "--port"),
    ("--camera=Canon EOS 5D", "--camera"),
    ("--usbid=0x4a9,0x1,0x4a9,0x2", "--usbid"),
    ("--speed=115200", "--speed"),
    ("--capture-image", "--capture-image"),
    ("--capture-image-and-download", "--capture-image-and-download"),
    ("--capture-preview", "--capture-preview"),
    ("--capture-movie", "--capture-movie"),
    ("--capture-movie=5s", "--capture-movie"),
    ("--capture-sound", "--capture-sound"),
    ("--capture-tethered", "--capture-tethered"),
    ("--trigger-capture", "--trigger-capture"),
    ("--show-preview", "--show-preview"),
    ("--show-info=1", "--show-info"),
    ("--show-exif=1", "--show-exif"),
    ("--bulb=30", "--bulb"),
    ("--frames=1000", "--frames"),
    ("--interval=1", "--interval"),
    ("--reset-interval", "--reset-interval"),
    ("--get-file=1", "--get-file"),
    ("--get-all-files", "--get-all-files"),
    ("--get-thumbnail=1", "--get-thumbnail"),
    ("--get-all-thumbnails", "--get-all-thumbnails"),
    ("--get-metadata=1", "--get-metadata"),
    ("--get-raw-data=1", "--get-raw-data"),
    ("--get-audio-data=1", "--get-audio-data"),
    ("--stdout", "--stdout"),
    ("--stdout-size", "--stdout-size"),
    ("--reset", "--reset"),
    ("--wait-event", "--wait-event"),
    ("--wait-event=10s", "--wait-event"),
    ("--wait-event-and-download", "--wait-event-and-download"),
    ("--quiet", "--quiet"),
    ("--parsable", "--parsable"),
    ("--force-overwrite", "--force-overwrite"),
    ("--new", "--new"),
    ("--skip-existing", "--skip-existing"),
    ("--keep", "--keep"),
    ("--keep-raw", "--keep-raw"),
    ("--no-keep", "--no-keep"),
    ("--help", "--help"),
    ("--usage", "--usage"),
    ("--list-everything", "--list-everything"),
    # Short forms of dangerous options, bare and glued to a value.
    ("-u", "-u"),
    ("-u/etc/passwd", "-u"),
    ("-d", "-d"),
    ("-D", "-D"),
    ("-p1", "-p"),
    ("-P", "-P"),
    ("-t1", "-t"),
    ("-T", "-T"),
    ("-f/DCIM", "-f"),
    ("-R", "-R"),
    ("-q", "-q"),
    ("-m", "-m"),
    ("-r", "-r"),
    ("-B30", "-B"),
    ("-F", "-F"),
    ("-I", "-I"),
    ("-?", "-?"),
    # Bundled short options, even of allowed ones.
    ("-aL", "-a"),
    ("-Lu", "-L"),
]


def args(text):
    """
    The C{arg} values twisted.web would give for C{?arg=<text>}.
    """
    return [text.encode("utf-8")]


class RefusalAssertions:
    """
    Checks on a L{CommandRefused}: one or two lines, the allowed list present.
    """

    def assertRefused(self, values, *fragments):
        error = self.assertRaises(CommandRefused, parse_cmd_args, values)
        self.assertIsInstance(error, ValueError)
        text = str(error)
        lines = text.split("\n")
        self.assertEqual(len(lines), 2, text)
        self.assertEqual(lines[1], describe_allowed())
        self.assertEqual(lines[0], error.reason)
        for fragment in fragments:
            self.assertIn(fragment, lines[0])
        for entry in ALLOWED:
            self.assertIn(entry.usage, text)
        self.assertTrue(text.replace("\n", " ").isprintable(), repr(text))
        return error


class AllowedTests(SynchronousTestCase):
    """
    The allow-list accepts each read-and-configure option in one spelling.
    """

    def test_structure(self):
        """
        L{ALLOWED} lists flags and valued options, all long options, once.
        """
        options = [entry.option for entry in ALLOWED]
        self.assertEqual(len(options), len(set(options)))
        for entry in ALLOWED:
            self.assertIsInstance(entry, AllowedOption)
            self.assertTrue(entry.option.startswith("--"), entry)
            self.assertTrue(entry.help)
        self.assertEqual(
            {e.option for e in ALLOWED if e.value is None}, set(FLAGS))
        self.assertEqual(
            {e.usage for e in ALLOWED if e.value is not None},
            {"--get-config=NAME", "--set-config=NAME=VALUE",
             "--set-config-index=NAME=N", "--set-config-value=NAME=VALUE"})
        self.assertEqual(set(ALIASES.values()) - set(FLAGS), set())

    def test_describeAllowed(self):
        """
        L{describe_allowed} is one line naming every option and alias.
        """
        text = describe_allowed()
        self.assertNotIn("\n", text)
        self.assertTrue(text.startswith("allowed: "))
        for entry in ALLOWED:
            self.assertIn(entry.usage, text)
        for short in ALIASES:
            self.assertIn(short, text)

    def test_flags(self):
        """
        Each flag option maps to itself.
        """
        for flag in FLAGS:
            self.assertEqual(parse_cmd_args(args(flag)), [flag])

    def test_aliases(self):
        """
        The short aliases map to their long form.
        """
        expected = {"-a": "--abilities", "-l": "--list-folders",
                    "-L": "--list-files", "-n": "--num-files",
                    "-v": "--version"}
        self.assertEqual(ALIASES, expected)
        for short, long in expected.items():
            self.assertEqual(parse_cmd_args(args(short)), [long])

    def test_strValue(self):
        """
        An already-decoded str is accepted too.
        """
        self.assertEqual(parse_cmd_args(["--summary"]), ["--summary"])

    def test_getConfig(self):
        """
        C{--get-config=NAME} passes config names and paths.
        """
        for name in ["iso", "/main/imgsettings/iso", "d002", "shutter-speed",
                     "capture_target", "eos.remote.mode", "5", "A" * 128]:
            self.assertEqual(parse_cmd_args(args(f"--get-config={name}")),
                             [f"--get-config={name}"])

    def test_setConfig(self):
        """
        C{--set-config=NAME=VALUE} passes the value as one argv element;
        spaces, '=' and leading '-' are fine inside VALUE.
        """
        for value in ["100", "1/125", "-0.3", "Jane Doe", "a=b", "", "é ü",
                      "x" * 256, "--hook-script=/tmp/x"]:
            for option in ["--set-config", "--set-config-value"]:
                self.assertEqual(
                    parse_cmd_args(args(f"{option}=/main/artist={value}")),
                    [f"{option}=/main/artist={value}"])

    def test_setConfigIndex(self):
        """
        C{--set-config-index=NAME=N} takes a number.
        """
        self.assertEqual(parse_cmd_args(args("--set-config-index=iso=3")),
                         ["--set-config-index=iso=3"])
        self.assertEqual(
            parse_cmd_args(args("--set-config-index=/main/a/b=0")),
            ["--set-config-index=/main/a/b=0"])

    def test_resultIsOneElement(self):
        """
        Every accepted argument becomes exactly one argv element of str.
        """
        for text in FLAGS + list(ALIASES) + ["--get-config=iso",
                                             "--set-config=iso=100 200"]:
            argv = parse_cmd_args(args(text))
            self.assertEqual(len(argv), 1)
            self.assertIsInstance(argv[0], str)


class DangerousTests(RefusalAssertions, SynchronousTestCase):
    """
    Options that touch the host, the card or the device are refused by name.
    """

    def test_dangerous(self):
        """
        Each dangerous option is refused with its name in the message.
        """
        for text, name in DANGEROUS:
            self.assertRefused(args(text), name)

    def test_shortNamesLong(self):
        """
        A refused short option is also named by its long form.
        """
        self.assertRefused(args("-u/etc/passwd"), "-u", "--upload-file")
        self.assertRefused(args("-f/DCIM"), "-f", "--folder")
        self.assertRefused(args("-D"), "-D", "--delete-all-files")

    def test_reasons(self):
        """
        Well-known options say why they are refused.
        """
        self.assertRefused(args("--hook-script=x"), "runs a program")
        self.assertRefused(args("--capture-image"), "/capture")
        self.assertRefused(args("--port=usb:"), "overrides")
        self.assertRefused(args("--zzz"), "not on the allow-list")

    def test_flagWithValue(self):
        """
        A flag given a value is refused.
        """
        self.assertRefused(args("--summary=1"), "--summary", "no value")
        self.assertRefused(args("--list-files=/DCIM"), "--list-files")

    def test_notAnOption(self):
        """
        Bare words, '-' and '--' are refused.
        """
        self.assertRefused(args("summary"), "not a gphoto2 option")
        self.assertRefused(args("/etc/passwd"), "not a gphoto2 option")
        self.assertRefused(args("-"), "'-'")
        self.assertRefused(args("--"), "'--'")

    def test_caseAndSpacing(self):
        """
        Only the exact spelling is accepted.
        """
        for text in ["--SUMMARY", "--Summary", " --summary", "--summary ",
                     "--summary\t", "---summary", "--get-config =iso",
                     "--get-config= iso", "--get-config:iso"]:
            self.assertRefused(args(text))

    def test_echoEscaped(self):
        """
        Untrusted text in a refusal is escaped and truncated.
        """
        error = self.assertRefused(args("--\u202ehook" + "x" * 500))
        self.assertLess(len(error.reason), 200)
        self.assertNotIn("\u202e", str(error))


class RefusalWordsTests(SynchronousTestCase):
    """
    The refusal's first line and the allow-list, word for word.
    """

    def reason(self, text):
        return self.assertRaises(CommandRefused, parse_cmd_args,
                                 args(text)).reason

    def test_reasons(self):
        for text, reason in [
                ("-Z", "'-Z': is not on the allow-list"),
                ("-u", "'-u' (--upload-file): uploads to the camera"),
                ("--upload-file", "'--upload-file': uploads to the camera"),
                ("--newer", "'--newer': is not on the allow-list"),
                ("--new-x", "'--new-x': concerns downloads, which are not "
                 "allowed"),
                ("--folder-x", "'--folder-x': selects a folder for file "
                 "operations"),
                ("--" + "x" * 46, "'--%s': is not on the allow-list"
                 % ("x" * 46,)),
                ("--" + "x" * 47, "'--%s...': is not on the allow-list"
                 % ("x" * 46,))]:
            self.assertEqual(self.reason(text),
                             "refused gphoto2 option " + reason, text)

    def test_allow_list(self):
        self.assertEqual(describe_allowed(), (
            "allowed: --auto-detect, --summary, --abilities, --storage-info, "
            "--list-config, --list-all-config, --list-folders, --list-files, "
            "--num-files, --manual, --about, --version, --list-cameras, "
            "--list-ports, --get-config=NAME, --set-config=NAME=VALUE, "
            "--set-config-index=NAME=N, --set-config-value=NAME=VALUE; "
            "aliases: -a (--abilities), -l (--list-folders), -L "
            "(--list-files), -n (--num-files), -v (--version)"))


class ArgumentCountTests(RefusalAssertions, SynchronousTestCase):
    """
    Exactly one C{arg} is required, and it must be UTF-8 text.
    """

    def test_missing(self):
        """
        No C{arg} at all is refused.
        """
        self.assertRefused(None, "missing arg")
        error = self.assertRefused([])
        self.assertEqual(error.reason,
                         "missing arg: pass one gphoto2 option as ?arg=")

    def test_longest(self):
        """
        An argument of exactly the longest length is looked at (here its
        VALUE is too long); one character more is refused for its length.
        """
        text = "--set-config=iso=" + "1" * (MAX_ARG - 17)
        error = self.assertRefused(args(text))
        self.assertEqual(error.reason, "refused --set-config: VALUE longer "
                         "than %d characters" % (MAX_VALUE,))
        error = self.assertRefused(args(text + "1"))
        self.assertIn("longer than %d characters" % (MAX_ARG,),
                      error.reason)

    def test_repeated(self):
        """
        Two C{arg} values are refused, even if both are allowed.
        """
        self.assertRefused([b"--summary", b"--summary"], "repeated")
        self.assertRefused([b"--get-config=iso", b"--hook-script=x"],
                           "repeated")

    def test_empty(self):
        """
        An empty C{arg} is refused.
        """
        error = self.assertRefused([b""])
        self.assertEqual(error.reason, "refused empty arg")

    def test_notUTF8(self):
        """
        Bytes that are not UTF-8 are refused.
        """
        error = self.assertRefused([b"--summary\xff"])
        self.assertEqual(error.reason, "refused arg: not valid UTF-8")
        self.assertRefused([b"--get-config=\xc3"], "UTF-8")
        # A UTF-8-encoded surrogate is not valid UTF-8.
        self.assertRefused([b"--get-config=\xed\xa0\x80"], "UTF-8")

    def test_notText(self):
        """
        Something that is neither bytes nor str is refused.
        """
        error = self.assertRefused([42])
        self.assertEqual(error.reason, "refused arg: not text")


class ValueTests(RefusalAssertions, SynchronousTestCase):
    """
    NAME, VALUE and N are checked; nothing can be smuggled past them.
    """

    def test_valueRequired(self):
        """
        A valued option without C{=} says to use the C{=} form.
        """
        self.assertRefused(args("--get-config"), "--get-config=NAME")
        self.assertRefused(args("--set-config"), "--set-config=NAME=VALUE")
        self.assertRefused(args("--set-config-index"),
                           "--set-config-index=NAME=N")
        self.assertRefused(args("--set-config-value"),
                           "--set-config-value=NAME=VALUE")

    def test_nameCharacters(self):
        """
        A NAME with anything but letters, digits, '/', '-', '_' and '.'
        is refused, and the refusal says which are allowed.
        """
        error = self.assertRefused(args("--get-config=iso*"))
        self.assertTrue(error.reason.startswith("refused --get-config: NAME "),
                        error.reason)
        self.assertTrue(error.reason.endswith(
            " may only contain letters, digits, '/', '-', '_' and '.'"),
            error.reason)

    def test_nameCharactersSet(self):
        for text in ("--set-config=iso*=1", "--set-config=iso*"):
            error = self.assertRefused(args(text))
            self.assertTrue(error.reason.startswith(
                "refused --set-config: NAME "), error.reason)

    def test_emptyName(self):
        """
        An empty NAME is refused.
        """
        self.assertRefused(args("--get-config="), "--get-config", "empty NAME")
        self.assertRefused(args("--set-config==1"), "--set-config",
                           "empty NAME")

    def test_missingEquals(self):
        """
        A C{--set-config*} without C{NAME=} is refused.
        """
        self.assertRefused(args("--set-config=iso"), "missing '='")
        self.assertRefused(args("--set-config-value=iso"), "missing '='")
        self.assertRefused(args("--set-config-index=iso"), "missing '='")

    def test_badName(self):
        """
        NAME may only hold config-path characters.
        """
        for name in ["iso=1", "is o", "iso;rm", "$(id)", "`id`", "iso'",
                     "-iso", "--hook-script", "é", "iso\\x", "~", "*"]:
            self.assertRefused(args(f"--get-config={name}"), "--get-config")

    def test_longName(self):
        """
        NAME is limited to L{MAX_NAME} characters.
        """
        self.assertEqual(MAX_NAME, 128)
        self.assertRefused(args("--get-config=" + "a" * 129), "NAME longer")
        self.assertRefused(args("--set-config=" + "a" * 129 + "=1"),
                           "NAME longer")

    def test_longValue(self):
        """
        VALUE is limited to L{MAX_VALUE} characters.
        """
        self.assertEqual(MAX_VALUE, 256)
        self.assertRefused(args("--set-config=artist=" + "x" * 257),
                           "VALUE longer")
        self.assertRefused(args("--set-config-value=artist=" + "x" * 257),
                           "VALUE longer")

    def test_hugeArg(self):
        """
        A huge argument is refused without being echoed in full.
        """
        error = self.assertRefused(args("--set-config=a=" + "x" * 100000),
                                   "longer than")
        self.assertLess(len(error.reason), 200)

    def test_badIndex(self):
        """
        N must be digits.
        """
        for index in ["", "-1", "1.5", "x", "1 2", "1" * 7, "\u0663"]:
            self.assertRefused(args(f"--set-config-index=iso={index}"),
                               "--set-config-index", "N must")

    def test_controlCharacters(self):
        """
        Control and other non-printable characters are refused anywhere.
        """
        for bad in ["\n", "\r", "\x00", "\t", "\x1b", "\x7f", "\x85",
                    "\u2028", "\u202e", "\u200b"]:
            for text in [f"--set-config=artist=a{bad}b",
                         f"--get-config=iso{bad}",
                         f"--summary{bad}"]:
                error = self.assertRefused(args(text))
                self.assertTrue(error.reason.endswith(
                    ": contains control or non-printable characters"),
                    error.reason)

    def test_smuggling(self):
        """
        A second option cannot ride along in the NAME.
        """
        self.assertRefused(args("--get-config=iso --hook-script=x"),
                           "--get-config", "NAME")
        self.assertRefused(args("--set-config=iso --port=usb:=1"),
                           "--set-config", "NAME")
        self.assertRefused(args("--set-config-index=iso --shell=1"),
                           "--set-config-index", "NAME")
        self.assertRefused(args("--get-config=iso\n--hook-script=x"),
                           "control")
        self.assertRefused(args("--summary --hook-script=x"), "--summary")
        self.assertRefused(args("--summary\x00--shell"), "control")


class InstalledGphoto2Tests(SynchronousTestCase):
    """
    The allow-list matches the installed gphoto2 CLI.
    """

    def test_helpListsAllowed(self):
        """
        Every allowed long option and alias appears in C{gphoto2 --help}.
        """
        gphoto2 = shutil.which("gphoto2")
        self.assertIsNotNone(gphoto2, "gphoto2 is not installed")
        result = subprocess.run(
            [gphoto2, "--help"], stdin=subprocess.DEVNULL,
            capture_output=True, timeout=30, env=english_env())
        self.assertEqual(result.returncode, 0, result.stderr)
        text = result.stdout.decode("utf-8", "replace")
        for entry in ALLOWED:
            pattern = re.escape(entry.option) + (
                r"\s" if entry.value is None else "=")
            self.assertTrue(re.search(pattern, text),
                            f"{entry.usage} is not in gphoto2 --help")
        for short, long in ALIASES.items():
            self.assertIn(f"{short}, {long}", text)
