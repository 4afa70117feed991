import os
import shutil

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

from fourcut import __version__

# The virtual camera's USB port library: a shared library libgphoto2 loads
# from a directory (IOLIBS), not a Python module, so it keeps its plain
# name. It needs gcc and libgphoto2's headers (Debian: gcc, libgphoto2-dev);
# without them fourcut still installs, with a note in place of the library
# saying what was missing, which --virtual-camera on USB reports at start
# (fourcut.virtualcam.usbport.library_path).
IOLIB = "fourcut.virtualcam.iolib.fourcut_usb"
HEADER = "gphoto2/gphoto2-port.h"


class build_iolib(build_ext):
    def get_ext_filename(self, fullname):
        # Called with the full name and with its last part alone.
        if IOLIB.endswith(fullname):
            return os.path.join(*fullname.split(".")) + ".so"
        return build_ext.get_ext_filename(self, fullname)

    def build_extension(self, ext):
        note = self.get_ext_fullpath(ext.name)[:-len(".so")] + ".missing"
        if os.path.exists(note):
            os.remove(note)
        missing = self.missing()
        if not missing:
            try:
                return build_ext.build_extension(self, ext)
            except Exception as e:
                missing = "successful build (%s)" % (e,)
        self.warn("fourcut_usb.so not built: no %s; --virtual-camera on "
                  "USB will not start" % (missing,))
        os.makedirs(os.path.dirname(note), exist_ok=True)
        with open(note, "w") as f:
            f.write(missing + "\n")

    def missing(self):
        compiler = self.compiler.compiler_so[0]
        if shutil.which(compiler) is None:
            return "C compiler (%s; Debian: gcc)" % (compiler,)
        dirs = self.include_dirs + ["/usr/include", "/usr/local/include"]
        if not any(os.path.isfile(os.path.join(d, HEADER)) for d in dirs):
            return "libgphoto2 headers (%s; Debian: libgphoto2-dev)" % (
                HEADER,)
        return None


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
        "fourcut.virtualcam": ["iolib/fourcut_usb.c"],
        # The booth's pages: served as files, no build step.
        "fourcut.booth": ["static/*.html", "static/*.css", "static/*.js",
                          "static/*.ico",
                          "frames/*.yaml", "frames/*.png"],
        # The operator page's.
        "fourcut.admin": ["static/*.html", "static/*.css", "static/*.js"],
    },
    ext_modules=[Extension(
        IOLIB, ["fourcut/virtualcam/iolib/fourcut_usb.c"],
        libraries=["gphoto2_port"],
        extra_compile_args=["-std=gnu99", "-Wall", "-Wextra"])],
    cmdclass={"build_ext": build_iolib},
    install_requires=[
        "twisted>=22.10",
        "autobahn>=23.1",
        "gphoto2>=2.5",
        "treq>=22.1",
        "pyyaml>=6.0",
        "pillow>=10.1",
        "prometheus_client>=0.16",
        "segno>=1.5",
        # Printing through CUPS (fourcut.printing): builds against
        # Debian's libcups2-dev, which ./dev installs.
        "pycups>=2.0",
        "python-mimeparse>=2.0",
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
