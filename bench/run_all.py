"""``make bench``: every benchmark, one after the other, each printing its own ratios."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script, args in (("import_bench.py", []), ("balance_bench.py", []), ("close_bench.py", []),
                     ("concurrency_bench.py", []), ("concurrency_bench.py", ["--mode", "appender"]),
                     ("procedure_bench.py", []), ("impact_bench.py", []), ("income_bench.py", []),
                     ("http_bench.py", ["--client", "wrk"]), ("http_floor.py", [])):
    print(flush=True)
    subprocess.run([sys.executable, str(HERE / script), *args], check=True)
