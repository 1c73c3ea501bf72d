"""Bounded pagination: a list page never counts more rows than it could page through.

An exact COUNT(*) reads every matching row, so on a long history it costs what the history
costs. The lists here count at most `max_rows` (+1, to know there are more) and say "more than"
past that: the newest `max_rows` rows stay reachable page by page, older ones through the
filters (a week, a service), which every such list has.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

MAX_ROWS = 5000


class BoundedPaginator(Paginator):
    # A queryset, counted up to `max_rows` + 1; or a list already read, counted by its length.
    object_list: QuerySet[Any] | list[Any]
    counted = True

    def __init__(
        self, object_list: QuerySet[Any] | list[Any], per_page: int, max_rows: int | None = None
    ) -> None:
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


class UncountedPaginator(BoundedPaginator):
    """Pages through a list without counting it at all: a page reads `per_page` + 1 rows, the
    one more telling whether an older page follows. For lists that grow with the history and
    have no filter to bound them (a test's results over every week), so a page costs the same
    on a year of history as on a week. The deepest page is the one holding row `max_rows`."""

    object_list: QuerySet[Any]
    counted = False

    def get_page(self, number: str | int | None) -> UncountedPage:  # type: ignore[override]
        try:
            page = int(number or 1)
        except (TypeError, ValueError):
            page = 1
        page = min(max(page, 1), max(1, -(-self.max_rows // self.per_page)))
        rows = self._rows(page)
        if not rows and page > 1:
            # A page past the end (an old link, an edited URL): the last page, found by one
            # count bounded like the pages themselves.
            last = self.object_list[: self.max_rows].count()
            page = max(1, -(-last // self.per_page))
            rows = self._rows(page)
        return UncountedPage(rows[: self.per_page], page, self, more=len(rows) > self.per_page)

    def _rows(self, number: int) -> list:
        bottom = (number - 1) * self.per_page
        return list(self.object_list[bottom : bottom + self.per_page + 1])


class UncountedPage(Page):
    paginator: UncountedPaginator

    def __init__(
        self, object_list: list[Any], number: int, paginator: UncountedPaginator, *, more: bool
    ) -> None:
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more

    @property
    def capped(self) -> bool:
        """Whether rows follow that no page reaches (older ones are then listed by week)."""
        return self.more and self.number * self.paginator.per_page >= self.paginator.max_rows

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1

    def start_index(self) -> int:
        return (self.number - 1) * self.paginator.per_page + 1 if self.object_list else 0

    def end_index(self) -> int:
        return (self.number - 1) * self.paginator.per_page + len(self.object_list)


def page_of(
    items: QuerySet[Any] | list[Any],
    per_page: int,
    number: str | None,
    max_rows: int | None = None,
    *,
    count: bool = True,
) -> Page:
    """The page `number` (clamped to the first or last page) of `items`; `count=False` pages
    without counting (UncountedPaginator)."""
    paginator = BoundedPaginator if count else UncountedPaginator
    return paginator(items, per_page, max_rows).get_page(number)
