"""The sandbox's deterministic demo data, made of real DICOM, and its file cache.

Imports the backend and DICOM rooms: the demo is written by the sandbox's own operations.
"""
