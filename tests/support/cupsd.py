# -*- test-case-name: tests.printing.test_cups -*-
"""
A real CUPS scheduler for the printing tests: Debian's C{cupsd}, run as a
child with a configuration of its own, listening only on a local socket
in the test's directory, with Debian's C{cups-pdf} printer.

Nothing of the machine's own CUPS is used or changed but one file per
queue: C{cups-pdf} reads its settings from C{/etc/cups/cups-pdf-NAME.conf}
for a queue whose device is C{cups-pdf:/NAME} (the path is compiled into
it), which is how each queue here writes its PDFs into the test's
directory; L{CupsDaemon.stop} removes those files. C{cupsd} finds its
programs in a C{ServerBin} of links to Debian's, plus C{fourcut-test}, a
backend that reports the paper out and stops the queue, as a real
printer's backend does.

C{cupsd} runs its backends as root only when it runs as root itself (and
C{cups-pdf} is root's only): the test needs root, as CI has.
"""

import errno
import os
import signal
import socket
import subprocess
import time

__all__ = ["CupsDaemon", "PAPER_OUT_BACKEND"]

#: Debian's CUPS programs.
SERVER_BIN = "/usr/lib/cups"

#: Where cups-pdf reads a queue's settings (compiled in).
CUPS_PDF_CONFIG = "/etc/cups/cups-pdf-%s.conf"

#: cups-pdf's PPD.
CUPS_PDF_PPD = "/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd"

#: A backend that says the paper is out and stops the queue (exit 4,
#: CUPS_BACKEND_STOP), keeping the job, as a photo printer's does.
PAPER_OUT_BACKEND = """#!/bin/sh
if [ $# -eq 0 ]; then
    echo 'direct fourcut-test "Unknown" "fourcut test printer"'
    exit 0
fi
cat >/dev/null
echo "STATE: +media-empty-error" >&2
echo "ERROR: the paper tray is empty" >&2
exit 4
"""

CUPS_FILES = """\
ServerRoot {root}/etc
RequestRoot {root}/spool
CacheDir {root}/cache
StateDir {root}/state
TempDir {root}/tmp
AccessLog {root}/log/access_log
ErrorLog {root}/log/error_log
PageLog {root}/log/page_log
ServerBin {root}/bin
DataDir /usr/share/cups
SystemGroup root
FileDevice No
"""

CUPSD = """\
Listen {root}/cups.sock
LogLevel warn
Browsing No
WebInterface No
DefaultAuthType None
JobRetryLimit 0
<Policy default>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
"""

CUPS_PDF = """\
Out {out}
AnonDirName {out}
Spool {root}/tmp
Log {root}/log
"""


class CupsDaemon:
    """
    C{cupsd} in C{root} (a new directory).

    @ivar socket: the path of its socket, for C{CUPS_SERVER} and
        L{fourcut.printing.printer.Cups}.
    """

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.socket = os.path.join(self.root, "cups.sock")
        self.process = None
        self._configs = []

    def _write(self, path, text, mode=0o644):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)

    def start(self, timeout=15.0):
        root = self.root
        for name in ("etc", "etc/ppd", "cache", "state", "spool", "log",
                     "bin", "bin/backend", "out"):
            os.makedirs(os.path.join(root, name), exist_ok=True)
        # Filters run as lp: the temporary directory is everyone's.
        os.makedirs(os.path.join(root, "tmp"), exist_ok=True)
        os.chmod(os.path.join(root, "tmp"), 0o1777)
        for name in os.listdir(SERVER_BIN):
            if name != "backend":
                os.symlink(os.path.join(SERVER_BIN, name),
                           os.path.join(root, "bin", name))
        os.symlink(os.path.join(SERVER_BIN, "backend", "cups-pdf"),
                   os.path.join(root, "bin", "backend", "cups-pdf"))
        self._write(os.path.join(root, "bin", "backend", "fourcut-test"),
                    PAPER_OUT_BACKEND, 0o755)
        files = os.path.join(root, "etc", "cups-files.conf")
        conf = os.path.join(root, "etc", "cupsd.conf")
        self._write(files, CUPS_FILES.format(root=root))
        self._write(conf, CUPSD.format(root=root))
        with open(os.path.join(root, "log", "stderr"), "wb") as stderr:
            self.process = subprocess.Popen(
                ["cupsd", "-f", "-c", conf, "-s", files],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=stderr)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("cupsd ended at once: %s" % (
                    self.log(),))
            probe = socket.socket(socket.AF_UNIX)
            try:
                probe.connect(self.socket)
                return
            except OSError:
                time.sleep(0.05)
            finally:
                probe.close()
        raise RuntimeError("cupsd did not listen within %s s" % (timeout,))

    def log(self):
        texts = []
        for name in ("stderr", "error_log"):
            try:
                with open(os.path.join(self.root, "log", name)) as f:
                    texts.append(f.read()[-2000:])
            except OSError:
                pass
        return "\n".join(texts)

    def env(self):
        return dict(os.environ, CUPS_SERVER=self.socket)

    def run(self, *argv):
        """
        Run a CUPS command (C{lpadmin}, C{cupsdisable}, ...) on this
        scheduler.
        """
        subprocess.run(argv, env=self.env(), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=30)

    def add_pdf_queue(self, name, out=None, error_policy=None):
        """
        A cups-pdf queue C{name} writing its PDFs into C{out} (default:
        C{ROOT/out/NAME}); return that directory.
        """
        out = out or os.path.join(self.root, "out", name)
        if not out.startswith("/dev/"):
            os.makedirs(out, exist_ok=True)
        config = CUPS_PDF_CONFIG % (name,)
        self._configs.append(config)
        self._write(config, CUPS_PDF.format(out=out, root=self.root))
        argv = ["lpadmin", "-p", name, "-E", "-v", "cups-pdf:/" + name,
                "-P", CUPS_PDF_PPD]
        if error_policy is not None:
            argv += ["-o", "printer-error-policy=" + error_policy]
        self.run(*argv)
        return out

    def add_paper_out_queue(self, name):
        self.run("lpadmin", "-p", name, "-E", "-v", "fourcut-test:/",
                 "-m", "raw")

    def stop(self, timeout=10.0):
        """
        End C{cupsd} (TERM, then KILL) and remove the cups-pdf settings
        written for its queues.
        """
        for config in self._configs:
            try:
                os.unlink(config)
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise
        self._configs = []
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
