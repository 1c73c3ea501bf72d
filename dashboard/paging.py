"""Bounded pagination: a list page never counts more rows than it could page through.

An exact COUNT(*) reads every matching row, so on a long history it costs what the history
costs. The lists here count at most `max_rows` (+1, to know there are more) and say "more than"
past that: the newest `max_rows` rows stay reachable page by page, older ones through the
filters (a week, a service), which every such list has.
"""

from __future__ import annotations

from functools import cached_property

from django.core.paginator import Page, Paginator

MAX_ROWS = 5000


class BoundedPaginator(Paginator):
    def __init__(self, object_list, per_page: int, max_rows: int | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(object_list, per_page)
        self.max_rows = MAX_ROWS if max_rows is None else max_rows

    @cached_property
    def _counted(self) -> int:
        """The rows, counting no further than one past `max_rows` (one query)."""
        items = self.object_list
        if isinstance(items, list):
            return len(items)
        return items[: self.max_rows + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.max_rows)

    @property
    def capped(self) -> bool:
        """Whether there are more rows than `count` (the pages then say "more than")."""
        return self._counted > self.max_rows


def page_of(items, per_page: int, number: str | None, max_rows: int | None = None) -> Page:  # type: ignore[no-untyped-def]
    """The page `number` (clamped to the first or last page) of `items`."""
    return BoundedPaginator(items, per_page, max_rows).get_page(number)
