"""Matplotlib plots of the tables: version timeline, state counts, activity, change log.

Each plot takes a DataFrame and returns an Axes; colours live in
:mod:`~hi_widgets.plots.colors`. May import :mod:`hi_widgets.api` and
:mod:`hi_widgets.changes` (for the change log's vocabulary).
"""
