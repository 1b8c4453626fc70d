"""How long `hwcnn report` takes on VGG16, against references measured in the same run.

Prints wall-clock medians of: the bare interpreter start (`python -c pass`), importing networkx
(the heaviest dependency of the report path), and `hwcnn report models/vgg16.yaml` end to end;
then the in-process time of spec -> graph -> report for every shipped model.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 5


def _wall(cmd: list[str]) -> float:
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    py = sys.executable
    base = _wall([py, "-c", "pass"])
    nx_import = _wall([py, "-c", "import networkx"])
    report = _wall([py, "-m", "hwcnn", "report", "models/vgg16.yaml"])
    print(f"python -c pass                     {base * 1e3:8.1f} ms")
    print(f"python -c 'import networkx'        {nx_import * 1e3:8.1f} ms")
    print(f"hwcnn report models/vgg16.yaml     {report * 1e3:8.1f} ms   "
          f"= {report / nx_import:.2f}x the networkx import, {report / base:.1f}x interpreter start")

    from hwcnn.frontend.spec import load_spec
    from hwcnn.graph.build import build_graph
    from hwcnn.report.tables import budget_report, render

    for f in sorted((ROOT / "models").glob("*.yaml")):
        times = []
        for _ in range(REPEAT):
            t0 = time.perf_counter()
            render(budget_report(build_graph(load_spec(f))), "json")
            times.append(time.perf_counter() - t0)
        print(f"in-process spec->graph->report {f.name:22s} {statistics.median(times) * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
