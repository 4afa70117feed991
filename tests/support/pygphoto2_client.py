"""
A python-gphoto2 client run as a child process by the tests.

It runs in its own process for two reasons found with strace against the
PyPI wheel (python-gphoto2 2.6.4, libgphoto2 2.5.34): C{Camera.exit()} holds
the GIL while it waits for the CloseSession answer, so a camera served on
the same process's reactor cannot answer it; and libgphoto2 closes file
descriptor 0 on exit, which in a long-running process may by then be a
socket of the reactor's.

Usage: python -m tests.support.pygphoto2_client PORT MODEL ACTION OUTDIR
Prints one JSON object on stdout. The action C{detect} ignores PORT and
MODEL: it auto-detects, as a booth with one USB camera does.

For the virtual USB camera the parent passes L{usbport.child_env}'s
environment, whose IOLIBS the import of gphoto2 overwrites:
L{usbport.restore_iolibs} puts it back (and does nothing otherwise).
"""

import json
import os
import sys

import gphoto2 as gp

from fourcut.virtualcam.usbport import restore_iolibs
restore_iolibs()


def open_camera(port, model):
    camera = gp.Camera()
    ports = gp.PortInfoList()
    ports.load()
    camera.set_port_info(ports[ports.lookup_path(port)])
    abilities = gp.CameraAbilitiesList()
    abilities.load()
    camera.set_abilities(abilities[abilities.lookup_model(model)])
    camera.init()
    return camera


def preview(camera, outdir):
    mimes = []
    for index in range(3):
        picture = camera.capture_preview()
        mimes.append(picture.get_mime_type())
        with open(os.path.join(outdir, "preview%d.jpg" % index), "wb") as f:
            f.write(bytes(picture.get_data_and_size()))
    return {"mime_types": mimes}


def capture(camera, outdir):
    path = camera.capture(gp.GP_CAPTURE_IMAGE)
    picture = camera.file_get(path.folder, path.name, gp.GP_FILE_TYPE_NORMAL)
    with open(os.path.join(outdir, "capture.jpg"), "wb") as f:
        f.write(bytes(picture.get_data_and_size()))
    return {"folder": path.folder, "name": path.name}


def config(camera, outdir):
    tree = camera.get_config()
    iso = tree.get_child_by_name("iso")
    before = iso.get_value()
    choices = list(iso.get_choices())
    iso.set_value("1600")
    camera.set_config(tree)
    battery = camera.get_single_config("batterylevel")
    return {"before": before, "choices": choices,
            "after": camera.get_single_config("iso").get_value(),
            "battery": battery.get_value(),
            "battery_readonly": battery.get_readonly()}


def refused(camera, outdir):
    widget = camera.get_single_config("iso")
    widget.set_value("12345")
    try:
        camera.set_single_config("iso", widget)
    except gp.GPhoto2Error as e:
        return {"error": e.code,
                "iso": camera.get_single_config("iso").get_value()}
    return {"error": None}


def detect(outdir):
    """
    What auto-detection finds, then a camera opened without a port or
    model (libgphoto2 takes the first one detected) and its ISO.
    """
    found = [list(entry) for entry in gp.Camera.autodetect()]
    camera = gp.Camera()
    camera.init()
    try:
        iso = camera.get_single_config("iso").get_value()
    finally:
        camera.exit()
    return {"detected": found, "iso": iso}


def eos_config(camera, outdir):
    """
    What a booth reads from and sets on an EOS body.
    """
    model = camera.get_single_config("cameramodel").get_value()
    battery = camera.get_single_config("batterylevel").get_value()
    iso = camera.get_single_config("iso")
    before = iso.get_value()
    choices = list(iso.get_choices())
    iso.set_value("400")
    camera.set_single_config("iso", iso)
    return {"model": model, "battery": battery, "iso_before": before,
            "iso_choices": choices,
            "iso_after": camera.get_single_config("iso").get_value(),
            "lens": camera.get_single_config("lensname").get_value()}


def eos_capture(camera, outdir):
    """
    One capture and download in a held session; a failed capture answers
    its error code instead of raising.
    """
    try:
        path = camera.capture(gp.GP_CAPTURE_IMAGE)
    except gp.GPhoto2Error as e:
        return {"error": e.code}
    picture = camera.file_get(path.folder, path.name, gp.GP_FILE_TYPE_NORMAL)
    with open(os.path.join(outdir, "capture.jpg"), "wb") as f:
        f.write(bytes(picture.get_data_and_size()))
    return {"folder": path.folder, "name": path.name}


ACTIONS = {"preview": preview, "capture": capture, "config": config,
           "refused": refused, "eos_config": eos_config,
           "eos_capture": eos_capture}


def main(port, model, action, outdir):
    if action == "detect":
        json.dump(detect(outdir), sys.stdout)
        return
    camera = open_camera(port, model)
    try:
        result = ACTIONS[action](camera, outdir)
    finally:
        camera.exit()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:])
