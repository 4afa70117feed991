# -*- test-case-name: tests.web.test_ws_auth,tests.integration.test_access -*-
"""
The shared token of the access tests, a wrong one, what needs it, and
what a refusal looks like.
"""

import json

__all__ = ["TOKEN", "WRONG", "PROTECTED_TYPES", "JSON_SEGMENTS", "bearer",
           "check_refused"]

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


#: First path segments whose answers are JSON (the REST API).
JSON_SEGMENTS = (b"status", b"camera", b"photos", b"health", b"metrics")


def check_refused(testcase, response, body, wrong=False, what=""):
    """
    C{response} (with its C{body}) is a 401 in the path's format, with the
    challenge for no token or, if C{wrong}, a wrong one, and the token
    nowhere in it.
    """
    testcase.assertEqual(response.code, 401, what)
    [challenge] = response.headers.getRawHeaders("www-authenticate")
    if wrong:
        testcase.assertEqual(challenge, 'Bearer realm="fourcut", '
                             'error="invalid_token"', what)
    else:
        testcase.assertEqual(challenge, 'Bearer realm="fourcut"', what)
    path = response.request.absoluteURI.split(b"/", 3)[3]
    # GET / is the JSON status unless the client prefers HTML (these
    # tests' browsers name text/html first).
    json_path = path.split(b"?")[0].split(b"/")[0] in JSON_SEGMENTS or (
        path.split(b"?")[0] == b"" and not (
            response.request.headers.getRawHeaders(b"accept")
            or [b""])[0].startswith(b"text/html"))
    testcase.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["application/json" if json_path
                          else "text/plain; charset=utf-8"], what)
    if response.request.method != b"HEAD":
        testcase.assertIn(b"the token is wrong" if wrong
                          else b"a token is required", body, what)
        if json_path:
            testcase.assertEqual(json.loads(body)["status"], 401)
    testcase.assertNotIn(TOKEN.encode(), body)
