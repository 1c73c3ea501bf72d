"""Number formatting for the pages: one way to write a rate, a duration, a week everywhere."""

from __future__ import annotations

import datetime as dt
import json

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from ingest.weeks import in_progress, week_label
from reports import selectors
from reports.weekly import short_of_100

register = template.Library()


@register.filter
def pct(value: float | None, digits: int = 1) -> str:
    """0.9424 -> "94.2%"; a rate that is exactly 1 is written 100%, never rounded up to it."""
    if value is None:
        return "–"
    return f"{short_of_100(float(value) * 100, digits):.{digits}f}%"


@register.filter
def score(value: float | None) -> str:
    """Isolation score 0-100 with one decimal; 100 only when every run was clean."""
    if value is None:
        return "–"
    return f"{short_of_100(float(value)):.1f}"


@register.filter
def ms(value: float | int | None) -> str:
    """235 -> "235 ms", 1234 -> "1.23 s", 95000 -> "1 min 35 s"."""
    if value is None or value == "":
        return "–"
    v = float(value)
    if v < 1000:
        return f"{v:,.0f} ms" if v >= 10 else f"{v:,.1f} ms"
    if v < 60_000:
        return f"{v / 1000:,.2f} s"
    minutes, seconds = divmod(round(v / 1000), 60)  # 119.6 s is 2 min 0 s, not 1 min 60 s
    return f"{minutes} min {seconds} s"


@register.filter
def kind_label(value: str) -> str:
    """A finding kind or a run's cause as pages write it: order_dependent -> "order-dependent"."""
    return selectors.KIND_LABELS.get(value, str(value).replace("_", " "))


@register.filter
def week(value: dt.date | dt.datetime | None) -> str:
    return "–" if value is None else week_label(value)


@register.filter
def progress(value: dt.date | None) -> str:
    """ "in progress: N days to go" for the week under way, "" for a week that is over."""
    return "" if value is None else in_progress(value, timezone.now().date())


@register.filter
def sha(value: str | None) -> str:
    return (value or "")[:10]


@register.filter
def get(mapping: dict | None, key: object) -> object:
    """mapping|get:key — dictionary lookup with a variable key."""
    if not mapping:
        return None
    return mapping.get(key)


@register.filter
def num(value: object) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        return f"{value:,.3g}" if value < 1 else f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


@register.filter
def figure_script(figure: object, element_id: str) -> SafeString:
    """`json_script`, for the large JSON of a figure: compact, and escaped by three replaces
    (json_script's `str.translate` took a project page 8 ms for its five figures)."""
    text = json.dumps(figure, cls=DjangoJSONEncoder, separators=(",", ":"))
    text = text.replace("&", "\\u0026").replace("<", "\\u003C").replace(">", "\\u003E")
    return format_html(
        '<script id="{}" type="application/json">{}</script>', element_id, mark_safe(text)
    )


@register.simple_tag
def page_url(name: str, *args: object) -> str:
    """`{% url 'pages:NAME' ... %}` memoised: a page links to the same tests and runs row after
    row, and reversing each link was a good part of a long page's time."""
    return selectors.page_url(name, *args)


@register.simple_tag
def outcome_badge(label: str) -> str:
    return format_html('<span class="outcome outcome-{}">{}</span>', label, label)
