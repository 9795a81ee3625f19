"""The service calls: clients, identifiers, errors, records, the page walk, typed tables.

Owns everything that talks to HealthImaging one request at a time and turns answers into
records and typed DataFrames, and the output its import jobs write to S3 (``import_*``).
Imports only :mod:`hi_widgets.limits` from the package; every other subpackage builds on
this one.
"""
