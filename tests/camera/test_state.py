"""
The camera's state (L{fourcut.camera.state}) and the demand for live view
(L{fourcut.camera.demand}): what they tell their subscribers.
"""

from twisted.trial.unittest import SynchronousTestCase

from fourcut.camera.demand import Demand
from fourcut.camera.modes import CameraModes
from fourcut.camera.state import CameraState


class CameraStateTests(SynchronousTestCase):
    def test_changes_only(self):
        """
        A subscriber hears each change of state with the last error, not
        a state set again.
        """
        state = CameraState()
        heard = []
        state.subscribe(lambda *change: heard.append(change))
        state.failed("it died\n")
        state.set_state("recovering")
        state.set_state("recovering")
        state.recovered()
        state.set_state("previewing")
        self.assertEqual(heard, [("recovering", "it died"),
                                 ("previewing", None)])

    def test_unsubscribe(self):
        state = CameraState()
        heard = []
        unsubscribe = state.subscribe(heard.append)
        unsubscribe()
        unsubscribe()
        state.set_state("busy")
        self.assertEqual(heard, [])

    def test_failing_listener(self):
        """
        A listener that raises is logged; the others still hear.
        """
        state = CameraState()
        heard = []
        state.subscribe(lambda *change: 1 / 0)
        state.subscribe(lambda *change: heard.append(change))
        state.set_state("busy")
        self.assertEqual(heard, [("busy", None)])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_mode_errors(self):
        state = CameraState()
        state.mode_entered("standby", ["iso: no"])
        self.assertEqual(state.mode_errors, {"standby": ["iso: no"]})
        state.mode_entered("standby", [])
        self.assertEqual(state.mode_errors, {})


class DemandTests(SynchronousTestCase):
    def test_changed(self):
        demand = Demand()
        heard = []
        unsubscribe = demand.subscribe(heard.append)
        demand.changed(2)
        unsubscribe()
        demand.changed(0)
        self.assertEqual(heard, [2])
        self.assertEqual(demand.count, 0)


class CameraModesTests(SynchronousTestCase):
    def test_iso_goes_last(self):
        modes = CameraModes.with_iso(live_view=[("shutterspeed", "1/60")],
                                     preview_iso=800, capture_iso=100)
        self.assertEqual(modes.settings("live_view"),
                         (("shutterspeed", "1/60"), ("iso", "800")))
        self.assertEqual(modes.settings("capture"), (("iso", "100"),))
        self.assertEqual(modes.settings("standby"), ())
