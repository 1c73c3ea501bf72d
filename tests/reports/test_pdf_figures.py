"""Page figures made for paper: a point with no neighbour keeps its marker, or it is not drawn."""

from __future__ import annotations

from reports.pdf import _static


def test_lines_lose_markers_unless_a_point_stands_alone() -> None:
    figure = {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "y": [0.9, 0.95, 0.97]},
            {"type": "scatter", "mode": "lines+markers", "y": [0.93]},  # a first week
            {"type": "scatter", "mode": "lines+markers", "y": [0.9, None, 0.8, 0.85]},
            {"type": "bar", "y": [3]},
        ],
        "layout": {"height": 300},
    }
    modes = [t.get("mode") for t in _static(figure)["data"]]
    assert modes == ["lines", "lines+markers", "lines+markers", None]
    assert figure["data"][0]["mode"] == "lines+markers"  # the page's figure is left as it was
