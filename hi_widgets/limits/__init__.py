"""HealthImaging's request quotas: the published table and the token bucket.

A leaf shared by the client and the sandbox: imports nothing else of hi_widgets.
"""
