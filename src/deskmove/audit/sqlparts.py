"""Date expressions that aggregate in SQL the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def year(col: Any, dialect: str) -> Any:
    """The UTC year of a timestamp column, as text."""
    if dialect == "sqlite":
        return sa.func.strftime("%Y", col)
    return sa.func.to_char(sa.func.timezone("UTC", col), "YYYY")


def month(col: Any, dialect: str) -> Any:
    """The UTC month of a timestamp column, as ``YYYY-MM`` text."""
    if dialect == "sqlite":
        return sa.func.strftime("%Y-%m", col)
    return sa.func.to_char(sa.func.timezone("UTC", col), "YYYY-MM")


def local_dow_hour(col: Any, offset_minutes: Any, dialect: str) -> tuple[Any, Any]:
    """(weekday 0=Sunday, hour) of a UTC timestamp shifted by an offset in minutes."""
    if dialect == "sqlite":
        shift = sa.func.printf("%+d minutes", offset_minutes)
        return (
            sa.cast(sa.func.strftime("%w", col, shift), sa.Integer),
            sa.cast(sa.func.strftime("%H", col, shift), sa.Integer),
        )
    local = sa.func.timezone("UTC", col) + sa.func.make_interval(0, 0, 0, 0, 0, offset_minutes)
    return (
        sa.cast(sa.extract("dow", local), sa.Integer),
        sa.cast(sa.extract("hour", local), sa.Integer),
    )
