"""Child-process entry point of the benchmark: run one stage, print its report as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.stages import STAGES


def main() -> None:
    stage, home, options = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    print(json.dumps(STAGES[stage](home, **options), default=str))


if __name__ == "__main__":
    main()
