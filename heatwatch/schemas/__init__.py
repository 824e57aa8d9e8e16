"""JSON Schemas of the wire format, shipped as package data (see ``heatwatch.wire.load_schema``).

This is a regular package, not a bare folder, so setuptools' package discovery includes it and
its ``*.json`` files land in the wheel.
"""
