"""The timeline's status colours: failures apart from each other and readable on white."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from hi_widgets.plots.colors import STATUS_COLORS

FAILURES = ("COPY_FAILED", "UPDATE_FAILED", "IMPORT_FAILED")


def _linear(color: str) -> np.ndarray:
    rgb = np.array(to_rgb(color))
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def _contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two sRGB colours."""
    weights = np.array([0.2126, 0.7152, 0.0722])
    high, low = sorted((_linear(a) @ weights, _linear(b) @ weights), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _lab(color: str) -> np.ndarray:
    """CIELAB (D65) of an sRGB colour."""
    xyz = (
        np.array(
            [
                [0.4124, 0.3576, 0.1805],
                [0.2126, 0.7152, 0.0722],
                [0.0193, 0.1192, 0.9505],
            ]
        )
        @ _linear(color)
        / np.array([0.95047, 1.0, 1.08883])
    )
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize("status", FAILURES)
def test_a_failure_colour_has_3_to_1_contrast_with_white(status):
    # WCAG 2.2 1.4.11 Non-text Contrast: graphical objects need 3:1 against adjacent colours.
    assert _contrast(STATUS_COLORS[status], "#ffffff") >= 3.0


@pytest.mark.parametrize("pair", list(itertools.combinations(FAILURES, 2)))
def test_failure_colours_are_far_apart(pair):
    # COPY_FAILED and UPDATE_FAILED were #e6550d and #d62728: Delta E 22, both "red".
    a, b = (STATUS_COLORS[s] for s in pair)
    assert np.linalg.norm(_lab(a) - _lab(b)) >= 35, pair


def test_copy_failed_and_update_failed_differ_in_hue():
    a, b = _lab(STATUS_COLORS["COPY_FAILED"]), _lab(STATUS_COLORS["UPDATE_FAILED"])
    hue = np.degrees(np.arctan2([a[2], b[2]], [a[1], b[1]]))
    assert abs(hue[0] - hue[1]) >= 30, hue
