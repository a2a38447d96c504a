"""``python -m deskmove.audit.scanworker``: one worker process of the audit's scan
(see :mod:`deskmove.audit.parallel`; it reads its task on stdin)."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    from deskmove.audit.parallel import worker_main

    code = worker_main()
    sys.stdout.flush()
    os._exit(code)  # its answer is written: no need to tear down what it held
