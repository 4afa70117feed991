from setuptools import find_packages, setup

from fourcut import __version__

setup(
    name="fourcut",
    version=__version__,
    description="A camera server for photo booths: gphoto2 live view, "
                "capture and settings over HTTP and WebSocket",
    long_description=open("README.rst", encoding="utf-8").read(),
    long_description_content_type="text/x-rst",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["fourcut", "fourcut.*"])
    + ["twisted.plugins"],
    # The example config and the systemd unit, in share/fourcut/ of the
    # installation (twistd fourcut --print-config / --print-unit).
    data_files=[("share/fourcut", ["etc/fourcut.yaml",
                                   "etc/fourcut.service"])],
    package_data={
        "twisted": ["plugins/fourcut_plugin.py"],
        # Built by ./dev build_iolib before pip copies the package.
        "fourcut.virtualcam": ["iolib/fourcut_usb.c", "iolib/fourcut_usb.so"],
        # The booth's pages: served as files, no build step.
        "fourcut.booth": ["static/*.html", "static/*.css", "static/*.js"],
    },
    install_requires=[
        "twisted>=22.10",
        "autobahn>=23.1",
        "gphoto2>=2.5",
        "treq>=22.1",
        "pyyaml>=6.0",
        "pillow>=10.1",
        "prometheus_client>=0.16",
        "segno>=1.5",
    ],
    extras_require={
        # The booth's browser tests drive Debian's chromium through its
        # chromium-driver (./dev test installs both, and zbar-tools).
        "test": ["hypothesis", "selenium>=4.11", "coverage>=7.10"],
        "bench": ["matplotlib"],
        # tools/mutation (issue 26): mutmut runs the unit tests with pytest.
        "mutation": ["mutmut>=3.8,<4", "pytest>=8"],
    },
)
