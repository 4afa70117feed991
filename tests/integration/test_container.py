"""
fourcut in a container, for real: the C{Dockerfile} builds on a Debian
bookworm base made here (C{mmdebstrap}, then C{docker import}: no image
registry is reachable), the image runs C{compose.yaml}'s command with the
virtual camera, and live view and a capture are read from outside the
container. The test runs a Docker daemon of its own (Debian's C{docker.io},
which C{./dev test} installs) with its own data, state and socket in a
temporary directory, and removes everything it made: container, volume,
images, the daemon and its directories.

It is the suite's longest test (one, run once per suite): the base is
made with just the packages the Dockerfile installs, so the build's apt
steps download nothing, on a tmpfs when there is one.
"""

import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import treq
import yaml
from twisted.internet import reactor
from twisted.logger import Logger
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.support import EOS_STILL, ROOT, english_env, jpeg_size
from tests.support.commands import Output, call, spawn
from tests.support.service import parse_multipart
from tests.support.time import sleep

DOCKER = "/usr/bin/docker"
DOCKERD = "/usr/sbin/dockerd"
MMDEBSTRAP = "/usr/bin/mmdebstrap"
BASE = "fourcut-test-base:bookworm"
IMAGE = "fourcut-test:latest"
NAME = "fourcut-test"
log = Logger()
PHOTOS = "fourcut-test-photos"


def dockerfile_packages():
    """
    Every Debian package the Dockerfile's stages install, for the base.
    """
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        text = f.read().replace("\\\n", " ")
    packages = set()
    for line in re.findall(r"apt-get install ([^&\n]*)", text):
        packages.update(word for word in line.split()
                        if not word.startswith("-"))
    return sorted(packages)


def compose_service():
    with open(os.path.join(ROOT, "compose.yaml")) as f:
        [service] = yaml.safe_load(f)["services"].values()
    return service


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scratch():
    """
    A private directory, on a tmpfs when there is room: the base and the
    images are written and removed once, and need not reach the disk.
    """
    shm = "/dev/shm"
    try:
        usage = shutil.disk_usage(shm)
    except OSError:
        usage = None
    where = shm if usage is not None and usage.free > 4 * 2 ** 30 else None
    return tempfile.mkdtemp(prefix="fourcut-test-docker-", dir=where)


class ComposeTests(TestCase):
    """
    compose.yaml is seed 001's way to run the service.
    """

    def test_service(self):
        service = compose_service()
        self.assertEqual(service["build"], ".")
        self.assertEqual(service["ports"], ["8080:8080"])
        self.assertEqual(service["restart"], "unless-stopped")
        self.assertEqual(service["devices"], ["/dev/bus/usb:/dev/bus/usb"])
        self.assertIn("photos:/app/photos", service["volumes"])
        self.assertIn("./fourcut.yaml:/etc/fourcut/fourcut.yaml:ro",
                      service["volumes"])
        self.assertEqual(service["command"],
                         ["--config", "/etc/fourcut/fourcut.yaml"])
        self.assertTrue(service["init"])


class ContainerTests(TestCase):
    timeout = 290

    def setUp(self):
        for program, package in ((DOCKER, "docker.io"),
                                 (DOCKERD, "docker.io"),
                                 (MMDEBSTRAP, "mmdebstrap")):
            self.assertTrue(os.access(program, os.X_OK),
                            "%s is missing: install Debian's %s (./dev test "
                            "does)" % (program, package))
        self.work = scratch()
        self.addCleanup(self.remove_work)
        self.socket = os.path.join(self.work, "docker.sock")
        self.env = english_env(
            DOCKER_HOST="unix://" + self.socket, DOCKER_BUILDKIT="1",
            DOCKER_CONFIG=os.path.join(self.work, "client"))

    def remove_work(self):
        # Whatever the daemon left mounted under its directories first.
        with open("/proc/self/mounts") as f:
            points = [line.split()[1] for line in f]
        for point in reversed(points):
            if point.startswith(self.work + "/"):
                subprocess.call(["umount", "--lazy", point])
        shutil.rmtree(self.work, True)

    def docker(self, *args, timeout=240):
        return call(self, [DOCKER] + list(args), self.work, self.env,
                    timeout=timeout)

    async def start_daemon(self):
        """
        dockerd with its own data root, exec root, socket and pid file;
        host networking only (no bridge, no iptables rules), so it changes
        nothing on the machine.
        """
        log = os.path.join(self.work, "dockerd.log")
        daemon = Output()
        spawn(self, daemon, [
            DOCKERD, "--data-root", os.path.join(self.work, "data"),
            "--exec-root", os.path.join(self.work, "exec"),
            "--pidfile", os.path.join(self.work, "dockerd.pid"),
            "--host", "unix://" + self.socket, "--iptables=false",
            "--ip6tables=false", "--bridge=none", "--log-level=warn"],
            # Niced, with what it runs (the build): see BACKGROUND.
            self.work, english_env(), grace=30, background=True)
        for _ in range(300):
            if daemon.ended.called:
                self.fail("dockerd ended:\n" + daemon.text())
            if os.path.exists(self.socket):
                probe = Output()
                spawn(self, probe, [DOCKER, "version"], self.work, self.env)
                if await probe.ended == 0:
                    return daemon
            await sleep(0.2)
        self.fail("dockerd did not answer within 60 s:\n%s (%s)"
                  % (daemon.text(), log))

    async def make_base(self):
        """
        Debian bookworm (mmdebstrap's apt variant) with the Dockerfile's
        packages already in, imported as an image.
        """
        tarball = os.path.join(self.work, "base.tar")
        await call(self, [
            MMDEBSTRAP, "--quiet", "--variant=apt",
            "--include=" + ",".join(dockerfile_packages()),
            # A merged /usr without the usrmerge package (and the perl it
            # brings), as Docker's bookworm images.
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
            # apt-get update in the build finds the lists current.
            "--skip=cleanup/apt/lists",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            "bookworm", tarball], self.work, dict(self.env, TMPDIR=self.work),
            background=True)
        await self.docker("import", tarball, BASE)
        os.remove(tarball)

    async def build(self):
        args = ["build", "--network", "host", "--build-arg", "BASE=" + BASE,
                "--tag", IMAGE]
        # The machine's CA bundle for pip, as behind a company proxy.
        bundles = [os.environ.get("PIP_CERT"),
                   ssl.get_default_verify_paths().cafile,
                   "/etc/ssl/certs/ca-certificates.crt"]
        for bundle in bundles:
            if bundle and os.path.isfile(bundle):
                args += ["--secret", "id=ca,src=" + bundle]
                break
        await self.docker(*(args + [ROOT]))

    async def timed(self, what, d):
        """
        Wait for C{d}, and log how long it took in the test log: the
        figures of README's "Running in a container".
        """
        start = time.monotonic()
        result = await d
        log.info("container test: {what} took {seconds:.1f} s", what=what,
                 seconds=time.monotonic() - start)
        return result

    async def test_build_and_run(self):
        await self.timed("starting dockerd", self.start_daemon())
        await self.timed("mmdebstrap and docker import",
                         self.make_base())
        await self.timed("docker build", self.build())
        size = await self.docker("image", "inspect", "--format", "{{.Size}}",
                                 IMAGE)
        log.info("container test: the image is {size} MB",
                 size=int(size) // 10 ** 6)
        self.addCleanup(self.docker, "rmi", IMAGE, BASE)

        # The example config, for compose.yaml's ./fourcut.yaml.
        example = await self.docker("run", "--rm", "--network", "none",
                                    IMAGE, "--print-config")
        self.assertIn("\ncamera:\n", example)

        service = compose_service()
        config = os.path.join(self.work, "fourcut.yaml")
        with open(config, "w") as f:
            yaml.safe_dump({"camera": {"virtual": True,
                                       "virtual_profile": "fast"}}, f)
        os.chmod(config, 0o644)
        [target] = [volume.split(":")[1] for volume in service["volumes"]
                    if volume.startswith("./fourcut.yaml:")]
        [photos] = [volume.split(":")[1] for volume in service["volumes"]
                    if volume.startswith("photos:")]
        port = free_port()
        base = "http://127.0.0.1:%d/" % (port,)
        # compose.yaml's service, but on the host's network (this daemon
        # has no bridge) and without USB devices (the camera is virtual).
        await self.docker(
            "run", "--detach", "--name", NAME, "--init", "--network", "host",
            "--volume", "%s:%s:ro" % (config, target),
            "--volume", "%s:%s" % (PHOTOS, photos),
            "--health-interval", "1s",
            "--env", "FOURCUT_HEALTH_URL=%shealth" % (base,),
            IMAGE, *(service["command"] + [
                "--listen", "tcp:%d:interface=127.0.0.1" % (port,)]))
        self.addCleanup(self.docker, "volume", "rm", PHOTOS)
        self.addCleanup(self.docker, "rm", "--force", NAME)

        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        for _ in range(300):
            try:
                response = await treq.get(base + "status", pool=pool)
                await response.content()
                break
            except Exception:
                await sleep(0.2)
        else:
            self.fail("fourcut did not answer:\n"
                      + await self.docker("logs", NAME))

        response = await treq.get(base + "preview?timeout=1.5", pool=pool)
        self.assertEqual(response.code, 200)
        parts, closed = parse_multipart(await response.content())
        self.assertTrue(closed)
        self.assertGreater(len(parts), 2)
        for headers, frame in parts:
            self.assertEqual(jpeg_size(frame), (960, 640))

        response = await treq.get(base + "capture", pool=pool)
        body = await response.content()
        self.assertEqual(response.code, 200, body[:300])
        self.assertEqual(jpeg_size(body), EOS_STILL)
        [saved] = (await self.docker("exec", NAME, "ls", photos)).split()
        self.assertEqual(saved.rsplit(".", 1)[1], "jpg")

        # Not root; the HEALTHCHECK finds /health.
        self.assertEqual(
            (await self.docker("exec", NAME, "id", "-un")).strip(), "fourcut")
        for _ in range(100):
            health = (await self.docker(
                "inspect", "--format", "{{.State.Health.Status}}",
                NAME)).strip()
            if health != "starting":
                break
            await sleep(0.2)
        self.assertEqual(health, "healthy")

        # docker stop sends SIGINT (STOPSIGNAL), which twistd ends on.
        await self.docker("stop", "--time", "20", NAME)
        status = await self.docker("inspect", "--format",
                                   "{{.State.ExitCode}}", NAME)
        # Ended by the signal (130: SIGINT through --init), not killed.
        self.assertIn(status.strip(), ("0", "130"))
