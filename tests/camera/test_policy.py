"""
Widgets that run camera operations are never changed, whatever the route
and however the name is spelled (L{fourcut.policy}); a photo on the
card survives every attempt.
"""

from twisted.trial.unittest import SynchronousTestCase

from fourcut import policy
from fourcut.camera.commands import parse_cmd_args, setting_change

from tests.support.service import PTPIPWebSocketTestCase

#: A raw PTP DeleteObject of every object, and an InitiateCapture: what a
#: stranger sends through libgphoto2's opcode widget.
DELETE_ALL = "0x100B,0xffffffff"
CAPTURE = "0x100E,0x0,0x0"


class PolicyTests(SynchronousTestCase):
    def test_settings_allowed(self):
        for section, name in [("imgsettings", "iso"),
                              ("capturesettings", "shutterspeed"),
                              ("settings", "capturetarget"),
                              ("settings", "artist")]:
            self.assertIsNone(policy.write_refusal(section, name))

    def test_sections_refused(self):
        for section in ("actions", "status", "wifiprofiles", "other",
                        "somethingnew"):
            text = policy.write_refusal(section, "x")
            self.assertIn("%s/x may not be changed" % (section,), text)

    def test_operations_in_setting_sections_refused(self):
        for name in ("chdk", "remotemode", "eventmode", "capture"):
            text = policy.write_refusal("settings", name)
            self.assertIn("settings/%s" % (name,), text)

    def test_names_without_a_camera(self):
        self.assertIn("actions/opcode", policy.name_refusal("opcode"))
        for path in ("/main/actions/opcode", "/actions/opcode",
                     "//main//actions/opcode", "actions/opcode"):
            self.assertIn("actions/opcode", policy.name_refusal(path))
        self.assertIn("settings/chdk", policy.name_refusal("chdk"))
        self.assertIsNone(policy.name_refusal("iso"))
        self.assertIsNone(policy.name_refusal("/main/imgsettings/iso"))
        # A bare name only the camera can place: decided there.
        self.assertIsNone(policy.name_refusal("autofocus"))
        self.assertIn("/main/SECTION/NAME",
                      policy.name_refusal("/main/a/b/c"))

    def test_setting_change(self):
        self.assertEqual(
            setting_change(parse_cmd_args([b"--set-config=iso=100"])),
            ("--set-config", "iso", "100"))
        self.assertEqual(
            setting_change(parse_cmd_args(
                [b"--set-config-value=/actions/opcode=0x1,0x2"])),
            ("--set-config-value", "/actions/opcode", "0x1,0x2"))
        self.assertIsNone(setting_change(parse_cmd_args([b"--summary"])))
        self.assertIsNone(setting_change(
            parse_cmd_args([b"--get-config=opcode"])))


class RawOperationTests(PTPIPWebSocketTestCase):
    """
    Against the virtual camera through the real gphoto2 and python-gphoto2:
    without the policy, each of these deleted the card's photos or took a
    photo that only went to the card. On the generic camera over PTP/IP,
    which keeps its photos on the card.
    """

    async def setUp(self):
        await PTPIPWebSocketTestCase.setUp(self)
        response = await self.get("/capture")
        self.assertEqual(response.code, 200)
        await response.content()
        self.card = dict(self.camera.device.objects)
        self.assertEqual(len(self.card), 1)

    def assertCardUntouched(self, route):
        self.assertEqual(self.camera.device.objects, self.card,
                         "the card changed after %s" % (route,))

    async def test_cmd_every_spelling(self):
        attempts = []
        for option in ("--set-config", "--set-config-value"):
            for name in ("opcode", "/actions/opcode", "/main/actions/opcode",
                         "//actions//opcode", "actions/opcode"):
                for value in (DELETE_ALL, CAPTURE):
                    attempts.append("%s=%s=%s" % (option, name, value))
        attempts += ["--set-config-index=opcode=0", "--set-config=bulb=1",
                     "--set-config=/actions/bulb=1",
                     "--set-config=/main/other/500f=100",
                     "--set-config=500f=100"]
        for arg in attempts:
            response = await self.get("/cmd?arg=" + arg.replace(
                ",", "%2C").replace("/", "%2F"))
            body = (await response.content()).decode()
            self.assertEqual(response.code, 400, (arg, body))
            self.assertIn("may not be changed", body, arg)
            self.assertCardUntouched(arg)

    async def test_cmd_setting_still_works(self):
        for arg in ("--set-config=iso=800", "--set-config=/imgsettings/iso=1600",
                    "--set-config-index=iso=2",
                    "--set-config-value=/main/imgsettings/iso=200"):
            response = await self.get("/cmd?arg=" + arg)
            body = await response.content()
            self.assertEqual(response.code, 200, (arg, body))
        response = await self.get("/cmd?arg=--get-config=iso")
        self.assertIn(b"Current: 200", await response.content())
        self.assertCardUntouched("setting iso")

    async def test_websocket_settings(self):
        client = await self.client()
        for section, option in [("actions", "opcode"), ("actions", "bulb"),
                                ("other", "500f")]:
            reply = await client.reply({
                "type": "set_camera_setting", "requestId": option,
                "section": section, "option": option, "value": DELETE_ALL},
                timeout=30)
            self.assertEqual(reply["type"], "error", reply)
            self.assertIn("%s/%s may not be changed" % (section, option),
                          reply["error"])
            self.assertCardUntouched("set_camera_setting %s/%s"
                                     % (section, option))

    async def test_capture_settings(self):
        client = await self.client()
        for name in ("opcode", "bulb"):
            reply = await client.reply({
                "type": "capture_photo", "requestId": name,
                "settings": {name: DELETE_ALL}}, timeout=30)
            self.assertEqual(reply["type"], "error", reply)
            self.assertIn("actions/%s may not be changed" % (name,),
                          reply["error"])
            self.assertCardUntouched("capture_photo with %s" % (name,))

    async def test_apply_checks_the_widget_itself(self):
        """
        The camera-side check decides by the widget a name resolves to, so
        a spelling the start-up check cannot place is refused too.
        """
        answer = await self.session._exclusive(
            "busy", lambda: self.session._with_settings(
                self.session.driver.settings.apply,
                [("/main/actions/opcode", DELETE_ALL), ("iso", "800")]))
        results = {r["name"]: r for r in answer["results"]}
        self.assertEqual(results["/main/actions/opcode"]["reason"],
                         "not-allowed")
        self.assertTrue(results["iso"]["ok"])
        self.assertCardUntouched("apply")


class CardLocationTests(SynchronousTestCase):
    """
    Where gphoto2 says a capture is, and whether that is on the card.
    """

    def test_location(self):
        from fourcut.camera.cli import card_location
        from fourcut.camera.shots import on_card
        card = b"New file is in location /store_00010001/IMG_0001.JPG on " \
               b"the camera\nSaving file as /tmp/x.jpg\n"
        self.assertEqual(card_location(card), "/store_00010001/IMG_0001.JPG")
        self.assertTrue(on_card(card_location(card)))
        ram = b"New file is in location /capt0000.jpg on the camera\n"
        self.assertEqual(card_location(ram), "/capt0000.jpg")
        self.assertFalse(on_card("/capt0000.jpg"))
        self.assertIsNone(card_location(b"Saving file as /tmp/x.jpg\n"))
