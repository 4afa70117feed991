"""
The C{twistd fourcut} plugin. Kept tiny: importing it must be cheap, since
twistd imports every plugin to list them.
"""

from twisted.application.service import ServiceMaker

fourcut = ServiceMaker(
    "fourcut",
    "fourcut.tap",
    "A camera server for photo booths (gphoto2 live view and capture over "
    "HTTP)",
    "fourcut",
)
