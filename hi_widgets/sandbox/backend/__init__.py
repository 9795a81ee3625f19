"""The sandbox's backend: its state and one typed method per HealthImaging operation.

Owns datastores, image sets, versions and their metadata documents, and AWS's rules for
updates, copies and search. Knows nothing of HTTP. Imports the runtime room (clock).
"""
