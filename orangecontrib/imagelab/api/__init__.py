"""Scripting functions: core jobs wrapped to take and return Orange tables.

Each module here runs one core job and converts its result with ``tables``;
none imports Qt.
"""
