"""
A virtual PTP/IP camera that the real gphoto2 CLI and python-gphoto2 drive
over loopback, for tests and for trying fourcut without a DSLR.
"""
