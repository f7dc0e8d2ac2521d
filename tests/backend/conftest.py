"""Backend tests: plain Python with the backend's packages; the repo root is the import root."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for path in (REPO, REPO / "tests"):  # the backend package; shared test data makers
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
