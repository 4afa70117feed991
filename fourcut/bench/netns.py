# -*- test-case-name: tests.integration.test_bench -*-
"""
A private network for the slow-link scenario: slow screens on shaped links
beside fast ones on loopback, without touching the machine's own network.

Two network namespaces of the benchmark's own, made with C{ip netns}:

 - I{bench}: the benchmark process enters it (C{setns}) for the
   scenario, so the virtual camera, the server and the fast clients it
   starts run there, on that namespace's own loopback, unshaped, exactly
   as in the other scenarios;
 - I{far}: the slow clients, run with C{ip netns exec}.

They are joined by one veth pair per slow client (link I{i}: the server's
end C{10.213.i.1/30} in I{bench}, the client's end C{10.213.i.2/30} in
I{far}), and the server listens on every address of I{bench}: its
loopback and those veth ends, nothing of the machine's. Each link's
download (the egress of the server's end) is shaped by HTB to the rate
under test, with the link's default queue (pfifo, 1000 packets); its
upload (requests, acknowledgements) is not. The server's end sends
1500-byte packets (MTU 1500, C{gso_max_segs 1}), as a Wi-Fi link would
carry them, not 64 KB loopback super-packets that HTB would release in
lumps of a quarter of a second.

Needs Linux, C{ip} and C{tc} (iproute2) and CAP_NET_ADMIN with
CAP_SYS_ADMIN (root); L{unavailable} says why not. Both namespaces are
deleted on leaving, also on error; namespaces left by a benchmark that
was killed are deleted by the next one (their names carry its PID).
"""

import ctypes
import os
import re
import shutil
import subprocess
import sys

__all__ = ["Unavailable", "unavailable", "run", "remove_stale", "Lab"]

#: CLONE_NEWNET, for setns(2).
CLONE_NEWNET = 0x40000000
#: Capability bits (linux/capability.h).
CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21

PREFIX = "fourcut-slowlink-"
NETNS_DIR = "/var/run/netns"


class Unavailable(Exception):
    """
    The private network cannot be made here; the message says why.
    """


def _capabilities():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return None


def unavailable(platform=None, which=shutil.which, capabilities=None):
    """
    Why the private network cannot be made here, or L{None} if it can.
    """
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return "network namespaces need Linux (this is %s)" % (platform,)
    missing = [tool for tool in ("ip", "tc") if which(tool) is None]
    if missing:
        return ("no %s: install iproute2 (./dev test does)"
                % " or ".join("`%s`" % tool for tool in missing))
    caps = _capabilities() if capabilities is None else capabilities
    if caps is None:
        return "cannot read this process's capabilities"
    lacking = [name for name, bit in (("CAP_NET_ADMIN", CAP_NET_ADMIN),
                                      ("CAP_SYS_ADMIN", CAP_SYS_ADMIN))
               if not caps & (1 << bit)]
    if lacking:
        return ("needs %s to make network namespaces and shape links "
                "(run as root)" % " and ".join(lacking))
    return None


def _setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, "setns: %s" % os.strerror(error))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run(argv, check=True):
    """
    Run an C{ip} or C{tc} command; its stdout. A failure raises
    L{Unavailable} with the command's own words.
    """
    done = subprocess.run(argv, capture_output=True, timeout=30,
                          stdin=subprocess.DEVNULL)
    if check and done.returncode != 0:
        raise Unavailable("`%s` failed: %s" % (
            " ".join(argv), done.stderr.decode("utf-8", "replace").strip()))
    return done.stdout.decode("utf-8", "replace")


def remove_stale(runner=run, alive=_alive):
    """
    Delete namespaces a killed benchmark left behind (its PID is in their
    name and it is gone). Returns their names.
    """
    removed = []
    for line in runner(["ip", "netns", "list"], check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        found = re.match(re.escape(PREFIX) + r"(\d+)-", name)
        if found and not alive(int(found.group(1))):
            runner(["ip", "netns", "delete", name], check=False)
            removed.append(name)
    return removed


class Lab:
    """
    The two namespaces and their links; a context manager. Inside it the
    calling thread is in the I{bench} namespace.

    @ivar bench: the I{bench} namespace's name.
    @ivar far: the I{far} namespace's name.
    @ivar links: the number of veth links.

    TCP congestion control is the machine's default, which a new namespace
    inherits (a namespace may choose only among
    C{tcp_allowed_congestion_control}, a setting of the whole machine that
    the benchmark leaves alone); L{describe} names it.
    """

    def __init__(self, links=2, tag="0"):
        self.links = links
        base = "%s%d-%s" % (PREFIX, os.getpid(), tag)
        self.bench = base + "-bench"
        self.far = base + "-far"
        self._made = []
        self._home = None
        self.rate = None

    @staticmethod
    def device(link):
        return "sl%d" % link

    def server_address(self, link):
        """
        The server's address as seen from the far end of C{link}.
        """
        return "10.213.%d.1" % (link + 1)

    def exec_argv(self):
        """
        The prefix that runs a command in the I{far} namespace.
        """
        return ["ip", "netns", "exec", self.far]

    def __enter__(self):
        why = unavailable()
        if why:
            raise Unavailable(why)
        remove_stale()
        try:
            self._build()
            self._enter()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc):
        try:
            self._leave()
        finally:
            self._remove()
        return False

    def _build(self):
        for name in (self.bench, self.far):
            run(["ip", "netns", "add", name])
            self._made.append(name)
            run(["ip", "-n", name, "link", "set", "lo", "up"])
        for link in range(self.links):
            near, far = self.device(link), self.device(link) + "c"
            prefix = "10.213.%d." % (link + 1)
            run(["ip", "link", "add", near, "netns", self.bench, "type",
                 "veth", "peer", "name", far, "netns", self.far])
            run(["ip", "-n", self.bench, "addr", "add", prefix + "1/30",
                 "dev", near])
            run(["ip", "-n", self.far, "addr", "add", prefix + "2/30",
                 "dev", far])
            # 1500-byte packets on the shaped side.
            run(["ip", "-n", self.bench, "link", "set", "dev", near,
                 "gso_max_segs", "1", "gso_max_size", "1500"])
            for ns, dev in ((self.bench, near), (self.far, far)):
                run(["ip", "-n", ns, "link", "set", "dev", dev, "up"])

    def _enter(self):
        self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(os.path.join(NETNS_DIR, self.bench), os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
    def _leave(self):
        if self._home is not None:
            try:
                _setns(self._home)
            finally:
                os.close(self._home)
                self._home = None

    def _remove(self):
        # Processes still inside keep a namespace alive until they end;
        # its name goes now.
        for name in reversed(self._made):
            run(["ip", "netns", "delete", name], check=False)
        self._made = []

    def shape(self, rate_bits):
        """
        Shape every link's download to C{rate_bits} bits a second.
        """
        rate = "%dbit" % int(rate_bits)
        for link in range(self.links):
            dev = self.device(link)
            # HTB cannot be changed in place ("replace" of an HTB root is a
            # change): a new one, with fresh counters.
            run(["tc", "-n", self.bench, "qdisc", "del", "dev", dev,
                 "root"], check=False)
            run(["tc", "-n", self.bench, "qdisc", "add", "dev", dev,
                 "root", "handle", "1:", "htb", "default", "1"])
            run(["tc", "-n", self.bench, "class", "add", "dev", dev,
                 "parent", "1:", "classid", "1:1", "htb", "rate", rate,
                 "ceil", rate])
        self.rate = rate_bits

    def link_stats(self):
        """
        Per link, what its HTB class passed and dropped so far, from
        C{tc -s class show}: C{[{"sent_bytes", "dropped", "backlog"}...]}.
        """
        stats = []
        for link in range(self.links):
            text = run(["tc", "-n", self.bench, "-s", "class", "show", "dev",
                        self.device(link)], check=False)
            sent = re.search(r"Sent (\d+) bytes", text)
            dropped = re.search(r"dropped (\d+)", text)
            backlog = re.search(r"backlog (\S+)", text)
            stats.append({
                "sent_bytes": int(sent.group(1)) if sent else None,
                "dropped": int(dropped.group(1)) if dropped else None,
                "backlog": backlog.group(1) if backlog else None,
            })
        return stats

    def describe(self):
        """
        The setup, for the report.
        """
        def sysctl(name):
            try:
                with open("/proc/sys/net/ipv4/" + name) as f:
                    return f.read().split()
            except OSError:
                return None

        return {
            "bench_netns": self.bench, "far_netns": self.far,
            "links": self.links,
            "congestion_control": (sysctl("tcp_congestion_control")
                                   or [None])[0],
            "tcp_wmem": sysctl("tcp_wmem"),
            "shaping": "HTB on the server's veth end (egress), default "
                       "pfifo queue (1000 packets), MTU 1500, no GSO; "
                       "uploads unshaped",
        }
