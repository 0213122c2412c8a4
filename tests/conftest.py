"""Settings shared by every test: hypothesis profiles and the test helpers on the import path.

Profiles (choose with the `HYPOTHESIS_PROFILE` environment variable, `ci` by default):

- `ci`: derandomized (the same examples on every run, so a red build is reproducible), no
  per-example deadline (the oracle is slow on purpose), enough examples to matter yet a property
  suite that runs in well under two minutes on two cores;
- `dev`: random examples, many more of them, with the failure database on, for hunting bugs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings

# Test helpers (`oracle`, `builders`) are plain modules beside this file.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
    suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large),
)
settings.register_profile(
    "dev",
    max_examples=1000,
    deadline=None,
    print_blob=True,
    suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large),
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
