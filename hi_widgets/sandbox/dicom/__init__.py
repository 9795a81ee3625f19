"""DICOM in the sandbox: import jobs from S3, reading P10 files, levels, image frames.

Imports the backend room (the state it writes image sets into).
"""
