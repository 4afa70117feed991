"""
The EOS device through C{handle(request, data)}, the interface every
transport (PTP/IP here, USB elsewhere) calls; no gphoto2 involved.
"""

import struct
from datetime import datetime

from twisted.internet import defer, reactor
from twisted.trial.unittest import TestCase

from fourcut.virtualcam import eospack as eos
from fourcut.virtualcam import ptp
from fourcut.virtualcam.eos import CanonEOSDevice
from fourcut.virtualcam.ptpip import OperationRequest

from tests.support import jpeg_size
from tests.support.time import sleep



def set_value(code, value):
    """
    SetDevicePropValueEx data as libgphoto2 packs an integer value.
    """
    return struct.pack("<III", 12, code, value)


class Host:
    """
    Sends operations to a device one at a time, like a transport.
    """

    def __init__(self, device):
        self.device = device
        self.tid = 0

    def op(self, code, *params, data=None):
        self.tid += 1
        return self.device.handle(
            OperationRequest(2 if data is not None else 1, code, self.tid,
                             params), data)

    async def events(self):
        reply = await self.op(eos.OC_EOS_GetEvent)
        self.assertOK(reply)
        return eos.parse_events(reply.data)

    @staticmethod
    def assertOK(reply):
        if reply.code != ptp.RC_OK:
            raise AssertionError("answer 0x%04x" % (reply.code,))

    async def open(self):
        self.assertOK(await self.op(ptp.OC_OpenSession, 1))
        self.assertOK(await self.op(eos.OC_EOS_SetRemoteMode, 1))
        self.assertOK(await self.op(eos.OC_EOS_SetEventMode, 1))


def announced(records):
    """
    C{{property: raw value}} of the PropValueChanged records.
    """
    return {struct.unpack_from("<I", payload)[0]: payload[4:]
            for kind, payload in records if kind == eos.EC_EOS_PropValueChanged}


class EOSDeviceTests(TestCase):
    def setUp(self):
        self.device = CanonEOSDevice(reactor)
        self.addCleanup(self.device.end_session)
        self.host = Host(self.device)

    async def test_device_info(self):
        reply = await self.host.op(ptp.OC_GetDeviceInfo)
        data = reply.data
        self.assertEqual(struct.unpack_from("<I", data, 2)[0], 0x0000000B)
        operations = self.device.operations
        for code in (0x9114, 0x9115, 0x9116, 0x9127, 0x9108, 0x9110, 0x911B,
                     0x911C, 0x911A, 0x9101, 0x9102, 0x9153, 0x9128, 0x9129,
                     0x910F, 0x9117, 0x911D, 0x9160, 0x913D, 0x1009, 0x101B,
                     0x1008, 0x100B):
            self.assertIn(code, operations)
        for code in eos.OC_FORBIDDEN:
            self.assertNotIn(code, operations)
        self.assertIn("Canon Inc.".encode("utf-16-le"), data)
        self.assertIn("Canon EOS 700D".encode("utf-16-le"), data)
        self.assertEqual(self.device.usb_ids, (0x04A9, 0x3272))

    async def test_550d(self):
        device = CanonEOSDevice(reactor, model="550D")
        self.assertEqual(device.model, "Canon EOS 550D")
        self.assertEqual(device.usb_ids, (0x04A9, 0x31EA))

    async def test_first_get_event_dumps_then_only_changes(self):
        await self.host.open()
        first = await self.host.events()
        values = announced(first)
        for code in (0xD101, 0xD102, 0xD103, 0xD111, 0xD11B, 0xD11C, 0xD120,
                     0xD1B0, 0xD1B1, 0xD199):
            self.assertIn(code, values)
        self.assertEqual(values[0xD103], struct.pack("<I", 0x48))
        kinds = [(kind, struct.unpack_from("<I", payload)[0])
                 for kind, payload in first]
        # the choices follow the value, or libgphoto2 ignores them
        self.assertLess(kinds.index((eos.EC_EOS_PropValueChanged, 0xD103)),
                        kinds.index((eos.EC_EOS_AvailListChanged, 0xD103)))
        self.assertNotIn(0xD1AF, values)     # only on request
        self.assertEqual(await self.host.events(), [])

        reply = await self.host.op(eos.OC_EOS_SetDevicePropValueEx,
                                   data=set_value(0xD103, 0x60))
        self.host.assertOK(reply)
        changes = await self.host.events()
        self.assertEqual(announced(changes), {0xD103: struct.pack("<I", 0x60)})

        self.host.assertOK(await self.host.op(
            eos.OC_EOS_RequestDevicePropValue, 0xD1AF))
        self.assertIn(0xD1AF, announced(await self.host.events()))

    async def test_refused_value(self):
        await self.host.open()
        await self.host.events()
        reply = await self.host.op(eos.OC_EOS_SetDevicePropValueEx,
                                   data=set_value(0xD103, 0x90))
        self.assertEqual(reply.code, ptp.RC_InvalidDevicePropValue)
        reply = await self.host.op(eos.OC_EOS_SetDevicePropValueEx,
                                   data=set_value(0xD111, 0))
        self.assertEqual(reply.code, ptp.RC_AccessDenied)
        reply = await self.host.op(eos.OC_EOS_SetDevicePropValueEx,
                                   data=b"\x30\0\0\0")
        self.assertEqual(reply.code, ptp.RC_InvalidDevicePropFormat)
        self.assertEqual(self.device.value(0xD103), 0x48)
        self.assertEqual(await self.host.events(), [])

    async def test_faults_announced(self):
        await self.host.open()
        await self.host.events()
        self.device.battery_low()
        self.device.card_full()
        changes = announced(await self.host.events())
        self.assertEqual(changes[0xD111], struct.pack("<I", 0))
        self.assertEqual(changes[0xD11B], struct.pack("<I", 0))

    async def test_live_view_warm_up(self):
        await self.host.open()
        reply = await self.host.op(eos.OC_EOS_GetViewFinderData, 0x00200000)
        self.assertEqual(reply.code, eos.RC_EOS_NotReady)
        self.host.assertOK(await self.host.op(
            eos.OC_EOS_SetDevicePropValueEx,
            data=set_value(eos.DPC_EOS_EVFOutputDevice, 2)))
        reply = await self.host.op(eos.OC_EOS_GetViewFinderData, 0x00200000)
        self.assertEqual(reply.code, eos.RC_EOS_NotReady)
        await sleep(self.device.profile.evf_warmup)
        reply = await self.host.op(eos.OC_EOS_GetViewFinderData, 0x00200000)
        self.host.assertOK(reply)
        [(kind, jpeg)] = eos.parse_viewfinder_data(reply.data)
        self.assertEqual(kind, eos.EVF_BLOCK_JPEG)
        self.assertEqual(jpeg_size(jpeg), (960, 640))
        self.assertEqual(self.device.frames_served, 1)
        self.assertEqual(self.device.liveview_starts, 1)
        self.assertEqual(self.device.not_ready_answers, 2)

    async def test_capture_to_ram(self):
        await self.host.open()
        await self.host.events()
        self.host.assertOK(await self.host.op(
            eos.OC_EOS_SetDevicePropValueEx,
            data=set_value(eos.DPC_EOS_CaptureDestination, 4)))
        self.host.assertOK(await self.host.op(eos.OC_EOS_PCHDDCapacity,
                                              0x0FFFFFFF, 0x1000, 1))
        self.assertGreater(announced(await self.host.events())[0xD11B],
                           struct.pack("<I", 0))
        self.host.assertOK(await self.host.op(eos.OC_EOS_RemoteReleaseOn, 1))
        focus = [p for k, p in await self.host.events()
                 if k == eos.EC_EOS_OLCInfoChanged]
        self.assertEqual(focus[-1][8:], eos.focus_info("focused"))
        self.host.assertOK(await self.host.op(eos.OC_EOS_RemoteReleaseOn, 2))
        self.host.assertOK(await self.host.op(eos.OC_EOS_RemoteReleaseOff, 2))
        self.host.assertOK(await self.host.op(eos.OC_EOS_RemoteReleaseOff, 1))
        transfer = None
        for _ in range(100):
            for kind, payload in await self.host.events():
                if kind == eos.EC_EOS_RequestObjectTransfer:
                    transfer = payload
            if transfer:
                break
            await sleep(0.05)
        handle, = struct.unpack_from("<I", transfer)
        size, = struct.unpack_from("<I", transfer, 0x0C)
        chunks = []
        while sum(map(len, chunks)) < size:
            reply = await self.host.op(ptp.OC_GetPartialObject, handle,
                                       sum(map(len, chunks)), 1 << 20)
            self.host.assertOK(reply)
            chunks.append(reply.data)
        self.assertEqual(len(chunks), (size + (1 << 20) - 1) >> 20)
        self.assertEqual(jpeg_size(b"".join(chunks)), (5184, 3456))
        self.host.assertOK(await self.host.op(eos.OC_EOS_TransferComplete,
                                              handle))
        self.assertEqual(self.device.ram_objects, {})
        self.assertEqual(self.device.objects, {})
        self.assertEqual(self.device.captures, 1)
        [entry] = self.device.capture_log
        self.assertIsNotNone(entry["transferred"])

    async def test_no_focus_refuses_release(self):
        await self.host.open()
        self.device.no_focus()
        self.host.assertOK(await self.host.op(eos.OC_EOS_RemoteReleaseOn, 1))
        focus = [p for k, p in await self.host.events()
                 if k == eos.EC_EOS_OLCInfoChanged]
        self.assertEqual(focus[-1][8:], eos.focus_info("failed"))
        reply = await self.host.op(eos.OC_EOS_RemoteReleaseOn, 2)
        self.assertEqual(reply.code, eos.RC_EOS_OperationRefused)
        self.assertEqual(self.device.captures, 0)

    async def test_card_full_refuses_release_to_card(self):
        await self.host.open()
        self.device.card_full()
        self.host.assertOK(await self.host.op(eos.OC_EOS_RemoteReleaseOn, 1))
        reply = await self.host.op(eos.OC_EOS_RemoteReleaseOn, 2)
        self.assertEqual(reply.code, ptp.RC_StoreFull)

    async def test_session_ends_mid_capture(self):
        """
        A capture, a paced download and a live frame under way when the
        host goes: all cancelled, nothing logged as an error (trial fails a
        test that logs one).
        """
        self.device.faults.capture_delay = 5.0
        await self.host.open()
        await self.host.op(eos.OC_EOS_RemoteReleaseOn, 1)
        self.host.assertOK(await self.host.op(eos.OC_EOS_RemoteReleaseOn, 2))
        self.assertTrue(self.device._timers)
        self.device.end_session()
        self.assertFalse(self.device._timers)
        await sleep(0.8)      # the still finishes rendering, unwanted
        self.assertEqual(self.device.captures, 0)
        self.assertEqual(self.device.objects, {})

    async def test_asleep_until_new_session(self):
        await self.host.open()
        self.device.sleep()
        pending = self.host.op(eos.OC_EOS_GetEvent)
        await sleep(0.1)
        self.assertFalse(pending.called)
        self.device.end_session()          # the host gives up
        self.host.assertOK(await self.host.op(ptp.OC_OpenSession, 1))
        self.assertEqual(self.device.sessions_opened, 2)
        self.host.assertOK(await self.host.op(eos.OC_EOS_GetEvent))

    async def test_realistic_download_rate(self):
        device = CanonEOSDevice(reactor, profile="realistic")
        self.addCleanup(device.end_session)
        host = Host(device)
        await host.open()
        stored = device._new_object(1, b"\xff" * 3_000_000, (10, 10),
                                    datetime.now())
        device.objects[stored.handle] = stored
        started = reactor.seconds()
        reply = await host.op(ptp.OC_GetObject, stored.handle)
        host.assertOK(reply)
        elapsed = reactor.seconds() - started
        # 3 MB at 30 MB/s
        self.assertTrue(0.09 <= elapsed < 0.2, elapsed)


class DeferredHelpersTests(TestCase):
    def test_later_cancelled_by_end_session(self):
        device = CanonEOSDevice(reactor)
        d = device.later(10, lambda: None)
        device.end_session()
        return self.assertFailure(d, defer.CancelledError)
