"""write_figure's faster saving draws the same figures as plain ``savefig``.

write_figure lays each figure out once per format itself and saves with the layout engine off
(no second, drawing-disabled pass inside ``savefig``), and encodes opaque PNGs as RGB with Pillow
instead of matplotlib's RGBA. Compared here with the plain way (``savefig`` with the constrained
layout engine on, PNG as matplotlib writes it): the SVG bytes and the PNG pixels must be equal.
"""

from __future__ import annotations

import io

import matplotlib as mpl
import numpy as np
import pytest
from PIL import Image

from research.artifacts.registry import get
from research.artifacts.render_figures import (
    PNG_METADATA,
    SVG_METADATA,
    draw_figure,
    png_bytes,
)
from research.artifacts.stamp import Stamp
from research.artifacts.theme import PNG_DPI, apply_theme

STAMP = Stamp(data_sha256="0123456789abcdef" * 4, commit="abc1234567", seed=918273)


def _plain_savefig(spec, bundle, data, lang, stamp: Stamp = STAMP) -> tuple[bytes, bytes]:
    """PNG and SVG of one figure as write_figure wrote them before: savefig with the engine on."""
    with mpl.rc_context():
        apply_theme()
        fig = draw_figure(spec, data, lang, bundle, stamp)
        assert fig.get_layout_engine() is not None
        png, svg = io.BytesIO(), io.BytesIO()
        fig.savefig(png, format="png", dpi=PNG_DPI, metadata=PNG_METADATA)
        fig.savefig(svg, format="svg", metadata=SVG_METADATA)
        fig.clear()
    return png.getvalue(), svg.getvalue()


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGBA"))


@pytest.mark.parametrize("fid", ["F01", "F04", "F06", "F10", "F11"])
def test_write_figure_draws_what_plain_savefig_draws(fid, sample_bundle, sample_figure_files):
    spec = get(fid)
    written, stamp = sample_figure_files(fid)  # write_figure's files, as the session's build wrote them
    data = spec.build_function()(sample_bundle)
    for lang in ("zh", "en"):
        png, svg = _plain_savefig(spec, sample_bundle, data, lang, stamp)
        assert written[f"{lang}.svg"].read_bytes() == svg, f"{fid} {lang}: SVG differs from plain savefig"
        new = written[f"{lang}.png"].read_bytes()
        assert np.array_equal(_pixels(new), _pixels(png)), f"{fid} {lang}: PNG pixels differ from plain savefig"
        with Image.open(io.BytesIO(new)) as im:
            assert im.mode == "RGB"  # opaque: no alpha channel
            assert round(im.info["dpi"][0]) == PNG_DPI and "Software" not in im.info
            assert not im.text  # no text chunks (no software version, no date)


def test_png_bytes_keeps_alpha_when_not_opaque():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    fig.patch.set_alpha(0.0)
    fig.add_subplot().plot([0, 1], [0, 1])
    canvas = fig.canvas
    data = png_bytes(fig)
    assert fig.canvas is canvas  # the caller's canvas is put back
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "RGBA" and im.size == (PNG_DPI, PNG_DPI)
        assert np.asarray(im)[..., 3].min() == 0
    reference = io.BytesIO()
    fig.savefig(reference, format="png", dpi=PNG_DPI, metadata=PNG_METADATA)
    assert np.array_equal(_pixels(data), _pixels(reference.getvalue()))
