# -*- test-case-name: tests.web.test_ws_auth,tests.integration.test_access -*-
"""
The shared token of the access tests, a wrong one, and what needs it.
"""

__all__ = ["TOKEN", "WRONG", "PROTECTED_TYPES", "bearer"]

TOKEN = "booth-secret-0123456789abcdef"
WRONG = "guessed-0123456789abcdef-wrong"

#: WebSocket requests that need the token, whatever C{preview.public} says.
PROTECTED_TYPES = [
    {"type": "capture_photo"},
    {"type": "get_camera_setting", "section": "imgsettings",
     "option": "iso"},
    {"type": "set_camera_setting", "section": "imgsettings",
     "option": "iso", "value": 800},
    {"type": "get_camera_info"},
]


def bearer(token):
    """
    treq's headers presenting C{token}.
    """
    return {"Authorization": ["Bearer " + token]}
