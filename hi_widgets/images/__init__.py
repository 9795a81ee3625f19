"""Image frames: fetched with GetImageFrame, decoded, windowed and cached for previews.

May import :mod:`hi_widgets.api`.
"""
