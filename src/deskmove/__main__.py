"""``python -m deskmove``: the same as the ``deskmove`` command."""

from deskmove.cli import main

main()
