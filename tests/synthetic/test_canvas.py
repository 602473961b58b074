"""The renderer paints each shape only where it reaches (Canvas.paint's window, Canvas.stroke's box):
the frame must be what blending every pixel gives, to the bit."""

import numpy as np
import pytest

from starbatch.synthetic.faces import SIZE, Canvas, _coverage, _ellipse, _polyline


def frame(seed: int, scale: float, tilt: float) -> Canvas:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    cos, sin = np.cos(tilt), np.sin(tilt)
    dx, dy = x - SIZE / 2, y - SIZE / 2
    u, v = (dx * cos + dy * sin) / scale, (-dx * sin + dy * cos) / scale
    return Canvas(rng.random((SIZE, SIZE, 3)).astype(np.float32), u, v, scale)


def blended_everywhere(canvas: Canvas, inside, colour, alpha=1.0) -> np.ndarray:
    """The blend over the whole frame, as the renderer did before it painted in windows."""
    a = _coverage(inside, canvas.scale) * alpha
    rgb = canvas.rgb.copy()
    rgb += (np.asarray(colour, dtype=np.float32) - rgb) * a[..., None]  # in place: float32, as the canvas
    return rgb


@pytest.mark.parametrize("seed", range(4))
def test_strokes_and_small_shapes_paint_the_frame_blending_everywhere_would(seed):
    rng = np.random.default_rng(seed)
    canvas = frame(seed, scale=SIZE * rng.uniform(0.15, 0.3), tilt=rng.uniform(-0.6, 0.6))
    for _ in range(20):
        points = [tuple(p) for p in rng.uniform(-1.5, 1.5, (int(rng.integers(2, 8)), 2))]
        half_width, colour, alpha = rng.uniform(0.003, 0.06), rng.random(3), rng.uniform(0.2, 1)
        expected = blended_everywhere(canvas, _polyline(canvas.u, canvas.v, points, half_width), colour, alpha)
        canvas.stroke(points, half_width, colour, alpha)
        assert np.array_equal(canvas.rgb, expected)
        centre, radii = rng.uniform(-1.5, 1.5, 2), rng.uniform(0.01, 0.4, 2)
        inside = _ellipse(canvas.u, canvas.v, *centre, *radii)
        texture = rng.random((SIZE, SIZE, 3)).astype(np.float32)  # a colour per pixel, as hair's
        expected = blended_everywhere(canvas, inside, texture)
        coverage = canvas.paint(inside, texture)
        assert np.array_equal(canvas.rgb, expected)
        assert np.array_equal(coverage, _coverage(inside, canvas.scale))  # whole-frame, for shapes inside it


def test_a_stroke_off_the_frame_paints_nothing():
    canvas = frame(0, scale=SIZE * 0.2, tilt=0.3)
    before = canvas.rgb.copy()
    canvas.stroke([(9.0, 9.0), (9.5, 9.2)], 0.05, (1, 0, 0))
    assert np.array_equal(canvas.rgb, before)
