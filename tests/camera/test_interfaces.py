"""
The camera side's contracts (L{fourcut.camera.interfaces}): each provider
declares its interface and has what it names.
"""

from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from fourcut.camera.cli import CLIDriver, CLILiveView, LiveViewProtocol
from fourcut.camera.gphoto2 import GPhoto2
from fourcut.camera.held import HeldDriver, HeldLiveView
from fourcut.camera.interfaces import (ICameraStateSink, ICaptureObserver,
                                       IDriver, ILiveView)
from fourcut.camera.processes import Children
from fourcut.camera.settings import CameraSettings
from fourcut.camera.state import CameraState
from fourcut.metrics import CaptureMetrics


class FakeTransport:
    pid = 4242


class InterfaceTests(SynchronousTestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.gphoto2 = GPhoto2()
        self.children = Children(self.clock)

    def test_cli_driver(self):
        driver = CLIDriver(self.clock, self.gphoto2, self.children,
                           CameraSettings(self.clock, self.gphoto2))
        self.assertTrue(verifyObject(IDriver, driver))

    def test_held_driver(self):
        driver = HeldDriver(self.clock, self.gphoto2, self.children)
        self.assertTrue(verifyObject(IDriver, driver))

    def test_cli_live_view(self):
        protocol = LiveViewProtocol(lambda data, timestamp: None)
        live = CLILiveView(self.clock, FakeTransport(), protocol)
        self.assertTrue(verifyObject(ILiveView, live))

    def test_held_live_view(self):
        live = HeldLiveView(lambda data, timestamp: None)
        self.assertTrue(verifyObject(ILiveView, live))
        live.stop()
        self.assertTrue(live.ended.called)

    def test_state(self):
        self.assertTrue(verifyObject(ICameraStateSink, CameraState()))

    def test_capture_metrics(self):
        self.assertTrue(verifyObject(ICaptureObserver, CaptureMetrics()))
