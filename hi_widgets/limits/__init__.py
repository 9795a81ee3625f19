"""HealthImaging's request quotas: the published table, the one token bucket, rate limiting.

A leaf shared by the client and the sandbox: imports nothing else of hi_widgets. The
sandbox uses the table (:mod:`~hi_widgets.limits.quotas`) and the bucket
(:mod:`~hi_widgets.limits.bucket`); the client's :mod:`~hi_widgets.limits.ratelimit` adds a
safety margin and slows down on throttles.
"""
