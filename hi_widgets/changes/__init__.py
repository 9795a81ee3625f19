"""The change log: what each version of an image set changed, and metadata diffs.

Owns comparing metadata documents and fetching them for every version. May import
:mod:`hi_widgets.api`, :mod:`hi_widgets.bulk` (for its rate-limited engine),
:mod:`hi_widgets.limits` and :mod:`hi_widgets.export` (for the PHI rule).
"""
