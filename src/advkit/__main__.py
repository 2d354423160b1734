"""``python -m advkit``: the ``advkit`` command, also as ``torchrun -m advkit``.

Example:
    python -m advkit evaluate --n 100
    torchrun --nproc-per-node 2 -m advkit -- evaluate --n 100

(``--`` ends torchrun's options: it would take ``--n`` for one of its own.)
"""

from __future__ import annotations

import sys

from advkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
