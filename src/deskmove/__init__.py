"""deskmove: move a support team's history between helpdesks."""

from __future__ import annotations

__version__ = "0.1.0"
