"""The channel audit and migration plan, built from whatever is in the store.

    from deskmove.audit import run_audit, render
    report = run_audit(project, store)
    text = render(report, "md")        # or "html", "json"

``check(project, store, "email:info@shop.example", note="forward set up")``
ticks an item; ticks and notes survive re-runs, and a ticked item whose
evidence changed since is flagged.
"""

from __future__ import annotations

import importlib
from typing import Any

# The audit is imported only when used, so `deskmove sync` under cron does not pay for it.
__all__ = [
    "FORMATS",
    "NOT_SEEN",
    "SECTIONS",
    "Evidence",
    "Item",
    "Report",
    "check",
    "render",
    "run_audit",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("deskmove.audit.report"), name)
    raise AttributeError(f"module 'deskmove.audit' has no attribute {name!r}")
