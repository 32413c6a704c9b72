"""Charts that render without a network: a vega-lite spec shown with the JavaScript that
Splink bundles (vega 5, vega-lite 5.2, vega-embed 6).

Notebooks are saved, mailed and opened on county machines that may not reach a CDN, so
every chart carries its libraries inline, in the notebook output and in a saved page alike.
Splink's own charts (match weights, threshold selection, waterfalls, …) and the few plots
the notebooks draw themselves go through the same `Chart`:

>>> import pandas as pd
>>> sweep = pd.DataFrame({"match_threshold": [0.9, 0.99, 0.999], "f1": [0.95, 0.98, 0.97]})
>>> chart = line_chart(sweep, x="match_threshold", y="f1", title="F1 by threshold")
>>> chart.spec["mark"]["type"], [row["f1"] for row in chart.rows]
('line', [0.95, 0.98, 0.97])
>>> "cdn.jsdelivr" in chart.html(), "vegaEmbed(" in chart.html()
(False, True)

Charts hold only the data they are given: a chart of record keys and weights holds no
personal values; one made from an explanation with `show_values=True` does.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
# Splink's own renderer: the spec in a page with its bundled libraries inlined.
from splink.internals.html_utils import chart_html


if TYPE_CHECKING:
    from splink.internals.charts import SplinkChart

VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.2.json"


class Chart:
    """A vega-lite spec that renders offline: in a notebook (`_repr_html_`) and as a page
    (`save`)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        # Plain JSON values only, so the spec can be saved, compared and embedded as is.
        self.spec: dict[str, Any] = json.loads(json.dumps(spec, default=_json_value))

    @classmethod
    def from_splink(cls, chart: SplinkChart) -> Chart:
        """One of Splink's charts (the spec with its data), without Altair."""
        return cls(chart.chart_dict)

    @property
    def title(self) -> str:
        title = self.spec.get("title", "")
        return title.get("text", "") if isinstance(title, dict) else str(title)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The chart's data rows: its inline values, or those of its named datasets."""
        rows = list((self.spec.get("data") or {}).get("values") or [])
        for values in (self.spec.get("datasets") or {}).values():
            rows.extend(values)
        return rows

    def html(self) -> str:
        """An HTML fragment holding the chart and the libraries it needs, inline."""
        return chart_html(self.spec, inline=True)

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        return f"Chart({self.title!r}, {len(self.rows)} rows)"

    def save(self, path: str | Path) -> Path:
        """Write the chart as one standalone page that works offline, owner-only (a chart
        may hold personal data)."""
        return write_owner_only(chart_html(self.spec, inline=True, fullhtml=True), Path(path))


def _json_value(value: Any) -> Any:
    """JSON for the values databases and data frames hand back (decimals, dates, numpy)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):  # numpy arrays
        return value.tolist()
    return str(value)


def write_owner_only(document: str, path: Path) -> Path:
    """Write a page owner-only: charts and dashboards may show personal data."""
    from linkage.outputs import write_text

    return write_text(path, document, "page")


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Data frame rows as JSON values (NaN becomes null, timestamps ISO strings)."""
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def _field_type(frame: pd.DataFrame, column: str) -> str:
    if pd.api.types.is_numeric_dtype(frame[column]):
        return "quantitative"
    if pd.api.types.is_datetime64_any_dtype(frame[column]):
        return "temporal"
    return "nominal"


def _axis(frame: pd.DataFrame, column: str, title: str | None, *,
          log: bool = False) -> dict[str, Any]:
    encoding: dict[str, Any] = {"field": column, "type": _field_type(frame, column),
                                "title": title or column}
    if log:
        encoding["scale"] = {"type": "log"}
    elif encoding["type"] == "quantitative":
        encoding["scale"] = {"zero": False}
    elif encoding["type"] == "nominal":
        encoding["sort"] = None  # categories in the frame's order (thresholds, sizes)
    return encoding


def _tooltip(frame: pd.DataFrame, columns: Sequence[str | None]) -> list[dict[str, Any]]:
    return [{"field": column, "type": _field_type(frame, column)} for column in columns if column]


def _spec(frame: pd.DataFrame, mark: dict[str, Any], encoding: dict[str, Any], title: str,
          color: str | None = None, **size: int) -> Chart:
    """A vega-lite chart of `frame`'s rows; `color` names the column that tells series apart."""
    if color:
        encoding["color"] = {"field": color, "type": "nominal", "title": color}
    return Chart({"$schema": VEGA_LITE_SCHEMA, "title": title, **size,
                  "data": {"values": _rows(frame)}, "mark": mark, "encoding": encoding})


def line_chart(frame: pd.DataFrame, *, x: str, y: str | Sequence[str], color: str | None = None,
               title: str = "", x_title: str | None = None, y_title: str | None = None,
               log_x: bool = False, points: bool = True) -> Chart:
    """A line per series: `color` names the column that tells series apart, or `y` lists
    several columns, each drawn as its own series.

    >>> frame = pd.DataFrame({"records": [10_000, 100_000], "f1": [0.98, 0.97],
    ...                       "bcubed_f1": [0.99, 0.99]})
    >>> chart = line_chart(frame, x="records", y=["f1", "bcubed_f1"], log_x=True)
    >>> len(chart.rows), chart.spec["encoding"]["color"]["field"]
    (4, 'metric')
    """
    if not isinstance(y, str):
        frame = frame.melt(id_vars=[x], value_vars=list(y), var_name="metric", value_name="value")
        y, color, y_title = "value", "metric", y_title or ""
    encoding = {"x": _axis(frame, x, x_title, log=log_x), "y": _axis(frame, y, y_title),
                "tooltip": _tooltip(frame, (x, y, color))}
    return _spec(frame, {"type": "line", "point": points}, encoding, title, color,
                 width=420, height=260)


def bar_chart(frame: pd.DataFrame, *, x: str, y: str, color: str | None = None,
              title: str = "", x_title: str | None = None,
              y_title: str | None = None) -> Chart:
    """Bars of a quantity `x` for each category `y`, kept in the frame's order (stacked by
    `color` when given)."""
    encoding = {"x": {"field": x, "type": "quantitative", "title": x_title or x},
                "y": {"field": y, "type": "nominal", "title": y_title or y, "sort": None},
                "tooltip": _tooltip(frame, (y, x, color))}
    return _spec(frame, {"type": "bar"}, encoding, title, color, width=420)


def heatmap(frame: pd.DataFrame, *, x: str, y: str, color: str, title: str = "",
            domain: Sequence[str] | None = None, tooltip: Sequence[str] = ()) -> Chart:
    """A grid of `color` for each (x, y); `domain` fixes the categories on both axes, so
    a row or column with no data still shows.

    >>> pairs = pd.DataFrame({"a": ["r1", "r2"], "b": ["r2", "r1"], "weight": [12.5, 12.5]})
    >>> heatmap(pairs, x="a", y="b", color="weight", domain=["r1", "r2", "r3"]
    ...         ).spec["encoding"]["x"]["scale"]["domain"]
    ['r1', 'r2', 'r3']
    """
    def axis(column: str) -> dict[str, Any]:
        encoding: dict[str, Any] = {"field": column, "type": "nominal", "title": column,
                                    "sort": None}
        if domain is not None:
            encoding["scale"] = {"domain": list(domain)}
        return encoding

    encoding = {"x": axis(x), "y": axis(y),
                "color": {"field": color, "type": "quantitative", "title": color},
                "tooltip": _tooltip(frame, (x, y, color, *tooltip))}
    return _spec(frame, {"type": "rect"}, encoding, title)
