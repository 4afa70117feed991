"""
The lifelike Canon EOS (issue 24), on a L{task.Clock}: the body's own live
view rate, 0xA102 to a host polling faster, live view that dies and comes
back only as real bodies let it, "I/O in progress" on a late first
release, the mirror left up.
"""

from twisted.internet import task
from twisted.trial.unittest import TestCase

from fourcut.virtualcam import eospack as eos
from fourcut.virtualcam import ptp
from fourcut.virtualcam.eos import CanonEOSDevice
from fourcut.virtualcam.eosbodies import BODIES

from tests.virtualcam.test_eos_device import Host, set_value


def fired(d):
    """
    The result of a L{Deferred} that has fired.
    """
    results = []
    d.addBoth(results.append)
    if not results:
        raise AssertionError("%r has not fired" % (d,))
    return results[0]


class ClockHost(Host):
    def sync(self, code, *params, data=None):
        return fired(self.op(code, *params, data=data))


class LifelikeTests(TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.device = CanonEOSDevice(self.clock, profile="lifelike")
        self.addCleanup(self.device.end_session)
        self.host = ClockHost(self.device)

    def open(self):
        host = self.host
        for code, params in ((ptp.OC_OpenSession, (1,)),
                             (eos.OC_EOS_SetRemoteMode, (1,)),
                             (eos.OC_EOS_SetEventMode, (1,))):
            d = host.op(code, *params)
            self.clock.advance(1)
            host.assertOK(fired(d))

    def evf(self, output):
        self.host.assertOK(self.host.sync(
            eos.OC_EOS_SetDevicePropValueEx,
            data=set_value(eos.DPC_EOS_EVFOutputDevice, output)))

    def poll(self):
        return self.host.sync(eos.OC_EOS_GetViewFinderData, 0x00200000).code

    def live(self):
        self.open()
        self.evf(2)
        self.clock.advance(self.device.profile.evf_warmup)

    def test_body_rates(self):
        """
        Each body has its rate on the lifelike profile; the other profiles
        keep 30 fps unless told.
        """
        self.assertEqual(self.device.fps, 13.4)
        for model, fps in (("550D", 13.0), ("R8", 40.0)):
            self.assertEqual(CanonEOSDevice(self.clock, model=model,
                                            profile="lifelike").fps, fps)
        self.assertEqual(CanonEOSDevice(self.clock, model="R8").fps, 30.0)
        self.assertEqual(CanonEOSDevice(self.clock, profile="realistic",
                                        fps=20).fps, 20)

    def test_r8_ids(self):
        r8 = CanonEOSDevice(self.clock, model="R8")
        self.assertEqual((r8.model, r8.usb_ids),
                         ("Canon EOS R8", (0x04A9, 0x330C)))
        self.assertEqual(BODIES["R8"].still_size(
            BODIES["R8"].image_formats[0]), (6000, 4000))

    def test_early_poll_not_ready(self):
        """
        Polled before the next frame is ready, the body answers 0xA102;
        at its rate, every poll gets a frame.
        """
        self.live()
        self.assertEqual(self.poll(), ptp.RC_OK)
        self.assertEqual(self.poll(), eos.RC_EOS_NotReady)
        self.clock.advance(0.03)
        self.assertEqual(self.poll(), eos.RC_EOS_NotReady)
        self.assertEqual(self.device.early_answers, 2)
        period = 1 / self.device.fps
        self.clock.advance(period - 0.03)
        for _ in range(20):
            self.assertEqual(self.poll(), ptp.RC_OK)
            self.clock.advance(period)
        self.assertEqual(self.device.early_answers, 2)
        self.assertEqual(self.device.frames_served, 21)

    def test_fast_profile_holds_early_polls(self):
        device = CanonEOSDevice(self.clock)
        self.assertFalse(device.profile.not_ready_when_early)

    def test_dies_cured_by_toggle(self):
        """
        Live view stops delivering after the set time, stills untouched;
        an EVF output toggle brings it back (after its warm-up), and it
        dies again as long after.
        """
        self.device.evf_dies(60)
        self.live()
        self.assertEqual(self.poll(), ptp.RC_OK)
        self.clock.advance(60)
        for _ in range(5):
            self.assertEqual(self.poll(), eos.RC_EOS_NotReady)
            self.clock.advance(1)
        self.assertEqual(self.device.deaths, 1)
        self.evf(0)
        self.evf(2)
        self.clock.advance(self.device.profile.evf_warmup)
        self.assertEqual(self.poll(), ptp.RC_OK)
        self.assertEqual(self.device.revived, {"toggle": 1, "session": 0})
        self.clock.advance(59)
        self.assertEqual(self.poll(), ptp.RC_OK)
        self.clock.advance(1)
        self.assertEqual(self.poll(), eos.RC_EOS_NotReady)
        self.assertEqual(self.device.deaths, 2)

    def test_dies_cured_by_session_only(self):
        self.device.evf_dies(10, cures=("session",))
        self.live()
        self.clock.advance(10)
        self.assertEqual(self.poll(), eos.RC_EOS_NotReady)
        self.evf(0)
        self.evf(2)
        self.clock.advance(5)
        self.assertEqual(self.poll(), eos.RC_EOS_NotReady)
        self.host.assertOK(self.host.sync(ptp.OC_CloseSession))
        self.live()
        self.assertEqual(self.poll(), ptp.RC_OK)
        self.assertEqual(self.device.revived, {"toggle": 0, "session": 1})

    def test_cures_in_turn(self):
        self.assertRaises(ValueError, self.device.evf_dies, 5, ("movie",))
        self.device.evf_dies(5, cures=("toggle", "session"))
        self.live()
        self.clock.advance(5.5)
        self.assertEqual(self.poll(), eos.RC_EOS_NotReady)
        self.evf(0)
        self.evf(2)
        self.clock.advance(5.5 + self.device.profile.evf_warmup)
        self.assertEqual(self.poll(), eos.RC_EOS_NotReady)
        self.assertEqual(self.device._evf_dead, "session")

    def test_io_in_progress(self):
        """
        The first release long after the session opened answers
        DeviceBusy, once; a prompt one does not.
        """
        self.device.io_in_progress_after(5)
        self.open()
        self.clock.advance(6)
        reply = self.host.sync(eos.OC_EOS_RemoteReleaseOn, eos.RELEASE_HALF)
        self.assertEqual(reply.code, ptp.RC_DeviceBusy)
        d = self.host.op(eos.OC_EOS_RemoteReleaseOn, eos.RELEASE_HALF)
        self.clock.advance(1)
        self.host.assertOK(fired(d))
        self.assertEqual(self.device.io_in_progress_answers, 1)

    def test_io_in_progress_prompt_release(self):
        self.device.io_in_progress_after(5)
        self.open()
        d = self.host.op(eos.OC_EOS_RemoteReleaseOn, eos.RELEASE_HALF)
        self.clock.advance(1)
        self.host.assertOK(fired(d))
        self.assertEqual(self.device.io_in_progress_answers, 0)

    def test_mirror_left_up(self):
        """
        A session closed with live view on leaves the mirror up; one that
        ended live view first does not.
        """
        self.live()
        self.host.assertOK(self.host.sync(ptp.OC_CloseSession))
        self.assertEqual((self.device.mirror_up,
                          self.device.mirror_left_up), (True, 1))
        self.live()
        self.evf(0)
        self.host.assertOK(self.host.sync(ptp.OC_CloseSession))
        self.assertEqual((self.device.mirror_up,
                          self.device.mirror_left_up), (False, 1))

    def test_needs_viewfinder(self):
        """
        A body that needs C{viewfinder=1}: the EVF output alone gives no
        live view; the EVF mode switched on does.
        """
        self.device.needs_viewfinder()
        self.live()
        self.assertEqual(self.poll(), eos.RC_EOS_NotReady)
        self.host.assertOK(self.host.sync(
            eos.OC_EOS_SetDevicePropValueEx,
            data=set_value(eos.DPC_EOS_EVFMode, 1)))
        self.clock.advance(self.device.profile.evf_warmup)
        self.assertEqual(self.poll(), ptp.RC_OK)
