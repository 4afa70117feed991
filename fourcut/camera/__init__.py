"""
Everything that touches the camera device.
"""
