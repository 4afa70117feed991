"""
Error answers that carry the camera's own texts, over a real listening
fourcut with the virtual Canon EOS 700D on USB and the generic camera over
PTP/IP: a client's mistake that gphoto2 refuses is a 400, camera trouble
stays a 503/504. The error format itself, for every error a client can
provoke, is tested in memory (L{tests.web.test_errors}).
"""

import treq

from tests.support import PTPIP
from tests.support.answers import JSON, TEXT, check_error
from tests.support.service import ServiceTestCase



class ErrorAssertions:
    """
    Requests, and checks of their error answers, for a L{ServiceTestCase}.
    """

    def request(self, method, path, headers=None):
        return treq.request(method, self.base + path, headers=headers or {},
                            pool=self.pool)

    async def assertError(self, response, code, content_type, fragment,
                          what):
        return check_error(self, response, await response.content(), code,
                           content_type, fragment, what)


class CameraTroubleTests(ErrorAssertions, ServiceTestCase):
    """
    gphoto2's own texts for a camera that is gone, through the whole chain.
    (Every other error answer: L{tests.web.test_errors}.)
    """

    #: gphoto2's words for a capture from the unplugged camera, and for
    #: the camera's info with no camera at all: a USB camera that is gone
    #: is not detected.
    UNPLUGGED = "Could not detect any camera"
    ABSENT = "Could not detect any camera"

    async def test_camera_trouble_stays_503_and_504(self):
        self.camera.unplug()
        response = await self.request("GET", "/capture")
        await self.assertError(response, 503, TEXT, self.UNPLUGGED,
                               "capture, unplugged")
        await self.camera.stop()
        self.session._info_at = None
        response = await self.request("GET", "/camera/info")
        # It was gphoto2's text as text/plain.
        reason = await self.assertError(response, 504, JSON, self.ABSENT,
                                        "camera info, no camera")
        self.assertNotIn("\n\n", reason)


class PTPIPErrorTests(ErrorAssertions, ServiceTestCase):
    """
    The camera's own texts from the generic camera over PTP/IP: a camera
    gone away resets the connection, none listening refuses it.
    """

    virtual = PTPIP
    UNPLUGGED = "Connection reset"
    ABSENT = "Connection refused"
    test_camera_trouble_stays_503_and_504 = (
        CameraTroubleTests.test_camera_trouble_stays_503_and_504)

    async def test_refused_value_is_400(self):
        """
        A value the camera does not offer, through C{/cmd}: a 400 with
        gphoto2's text (it was a 503, "unavailable").
        """
        response = await self.request("GET",
                                      "/cmd?arg=--set-config-index=iso=999")
        await self.assertError(response, 400, TEXT,
                               "Choice 999 not found within list of "
                               "choices", "refused value")


class EOSRefusalTests(ErrorAssertions, ServiceTestCase):
    """
    A refused request on the virtual Canon EOS 700D over USB, whose driver
    says only "Bad parameters".
    """

    async def test_refused_value_is_400(self):
        for arg in ("--set-config-index=iso=999", "--get-config=nosuch"):
            response = await self.request("GET", "/cmd?arg=" + arg)
            await self.assertError(response, 400, TEXT, "Bad parameters",
                                   arg)
