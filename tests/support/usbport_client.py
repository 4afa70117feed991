"""
Drives fourcut's USB port library through libgphoto2_port's own API
(Debian's libgphoto2_port.so.12, with ctypes), as a camera driver would,
in a child process: the calls block, and the camera they talk to runs on
the test process's reactor.

Usage: python -m tests.support.usbport_client SCRIPT
SCRIPT is a JSON list of steps; prints a JSON list with one result per step,
each C{{"op", "rc", "data" (hex), "ms"}}. Steps::

    ["list"]                          the ports libgphoto2 lists (paths)
    ["timeout", MS]                   gp_port_set_timeout
    ["open"] ["close"] ["reset"]
    ["write", HEX]  ["read", SIZE]  ["check_int", SIZE]
    ["clear_halt", EP]                0 in, 1 out, 2 interrupt
    ["class_read", REQUEST, VALUE, INDEX, SIZE]
    ["class_write", REQUEST, VALUE, INDEX, HEX]
    ["find_device", VENDOR, PRODUCT]  rc, and "usb" the endpoint settings
    ["find_class", CLASS, SUBCLASS, PROTOCOL]
    ["error"]                         gp_port_get_error, as "text"
"""

import ctypes
import json
import sys
import time

PATH = b"usb:001,007"

lib = ctypes.CDLL("libgphoto2_port.so.12")
lib.gp_port_get_error.restype = ctypes.c_char_p
lib.gp_port_info_list_lookup_path.argtypes = [ctypes.c_void_p,
                                              ctypes.c_char_p]


def setup():
    ports = ctypes.c_void_p()
    lib.gp_port_info_list_new(ctypes.byref(ports))
    lib.gp_port_info_list_load(ports)
    return ports


def listed(ports):
    info = ctypes.c_void_p()
    path = ctypes.c_char_p()
    paths = []
    for index in range(lib.gp_port_info_list_count(ports)):
        lib.gp_port_info_list_get_info(ports, index, ctypes.byref(info))
        lib.gp_port_info_get_path(info, ctypes.byref(path))
        paths.append(path.value.decode())
    return paths


def make_port(ports):
    index = lib.gp_port_info_list_lookup_path(ports, PATH)
    if index < 0:
        return None, index
    info = ctypes.c_void_p()
    lib.gp_port_info_list_get_info(ports, index, ctypes.byref(info))
    port = ctypes.c_void_p()
    lib.gp_port_new(ctypes.byref(port))
    rc = lib.gp_port_set_info(port, info)
    return port, rc


def usb_settings(port):
    # GPPortSettingsUSB starts with inep, outep, intep, config, interface,
    # altsetting, maxpacketsize (ints); the union is at most 256 bytes.
    buffer = ctypes.create_string_buffer(256)
    lib.gp_port_get_settings(port, buffer)
    values = (ctypes.c_int * 7).from_buffer(buffer)
    return dict(zip(("inep", "outep", "intep", "config", "interface",
                     "altsetting", "maxpacketsize"), values))


def step(port, ports, op, args):
    data = b""
    extra = {}
    if op == "list":
        extra["paths"] = listed(ports)
        rc = 0
    elif op == "timeout":
        rc = lib.gp_port_set_timeout(port, args[0])
    elif op == "open":
        rc = lib.gp_port_open(port)
    elif op == "close":
        rc = lib.gp_port_close(port)
    elif op == "reset":
        rc = lib.gp_port_reset(port)
    elif op == "write":
        payload = bytes.fromhex(args[0])
        rc = lib.gp_port_write(port, payload, len(payload))
    elif op in ("read", "check_int"):
        buffer = ctypes.create_string_buffer(max(args[0], 1))
        call = lib.gp_port_read if op == "read" else lib.gp_port_check_int
        rc = call(port, buffer, args[0])
        data = buffer.raw[:max(rc, 0)]
    elif op == "clear_halt":
        rc = lib.gp_port_usb_clear_halt(port, args[0])
    elif op == "class_read":
        buffer = ctypes.create_string_buffer(max(args[3], 1))
        rc = lib.gp_port_usb_msg_class_read(port, args[0], args[1], args[2],
                                            buffer, args[3])
        data = buffer.raw[:max(rc, 0)]
    elif op == "class_write":
        payload = bytes.fromhex(args[3])
        rc = lib.gp_port_usb_msg_class_write(port, args[0], args[1],
                                             args[2], payload, len(payload))
    elif op == "find_device":
        rc = lib.gp_port_usb_find_device(port, args[0], args[1])
        extra["usb"] = usb_settings(port)
    elif op == "find_class":
        rc = lib.gp_port_usb_find_device_by_class(port, *args)
        extra["usb"] = usb_settings(port)
    elif op == "error":
        rc = 0
        extra["text"] = (lib.gp_port_get_error(port) or b"").decode()
    else:
        raise ValueError(op)
    return dict(extra, rc=rc, data=data.hex())


def main(script):
    ports = setup()
    port, rc = make_port(ports)
    results = []
    for op, *args in json.loads(script):
        if port is None and op != "list":
            results.append({"op": op, "rc": rc, "data": "", "ms": 0})
            continue
        started = time.monotonic()
        result = step(port, ports, op, args)
        result["op"] = op
        result["ms"] = int((time.monotonic() - started) * 1000)
        results.append(result)
    json.dump(results, sys.stdout)
    sys.stdout.flush()
    if port is not None:
        lib.gp_port_free(port)


if __name__ == "__main__":
    main(sys.argv[1])
