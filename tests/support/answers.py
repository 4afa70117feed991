# -*- test-case-name: tests.web.test_errors, tests.integration.test_errors -*-
"""
What every error answer of fourcut's looks like (L{fourcut.web.replies}),
checked once for the tests in memory and over the whole chain.
"""

import json

__all__ = ["JSON", "TEXT", "check_error"]

#: The two formats of an error answer.
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"


def check_error(testcase, response, body, code, content_type, fragment,
                what=""):
    """
    C{response} (with its C{body}) is an error answer of C{code} in
    C{content_type}, fourcut's own and never twisted.web's page, whose
    reason holds C{fragment}; return the reason.
    """
    testcase.assertEqual(response.code, code, what)
    testcase.assertEqual(response.headers.getRawHeaders("content-type"),
                         [content_type], what)
    testcase.assertNotIn(b"<html", body.lower(), what)
    testcase.assertNotIn(b"Huh?", body, what)
    if content_type == JSON:
        answer = json.loads(body)
        testcase.assertEqual(answer["status"], code, what)
        reason = answer["error"]
    else:
        reason = body.decode("utf-8")
        testcase.assertTrue(reason.endswith("\n"), what)
    testcase.assertIn(fragment, reason, what)
    return reason
