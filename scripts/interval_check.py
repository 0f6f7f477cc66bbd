"""Do repeated runs fall inside each other's 95 % intervals as often as the
intervals promise?

    python3 scripts/interval_check.py BINARY MODEL RUNS SECONDS [profile flags...]

Runs `BINARY profile MODEL` RUNS times (each SECONDS long, sessions written
to a temporary folder), then, for p50 and p99, counts the ordered pairs of
runs (i, j) where run j's estimate lies inside run i's interval.

For two independent estimates of the same quantity with equal-width 95 %
intervals, that happens with probability P(|Z| < 1.96 / sqrt(2)) = 0.834,
not 0.95: both estimates vary. The script also reports the share of runs
whose interval holds the median of all runs' estimates (close to the true
value when runs are many), which should be near 0.95.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile


def main():
    binary, model, runs, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    extra = sys.argv[5:]
    sessions = []
    with tempfile.TemporaryDirectory() as folder:
        for index in range(runs):
            path = os.path.join(folder, f"run{index}.json")
            subprocess.run(
                [binary, "profile", model, "--duration", seconds, "--warmup", "1s",
                 "--no-layer-profile", "--quiet", "--export", path, *extra],
                check=True, stdout=subprocess.DEVNULL)
            with open(path) as f:
                sessions.append(json.load(f))
    for key in ("p50", "p99"):
        values = [s["summary"]["latency"][f"{key}_micros"] for s in sessions]
        intervals = [s["summary"]["latency"][f"{key}_ci_micros"] for s in sessions]
        pairs = [(i, j) for i in range(runs) for j in range(runs) if i != j]
        inside = sum(1 for i, j in pairs if intervals[i][0] <= values[j] <= intervals[i][1])
        centre = statistics.median(values)
        holds = sum(1 for low, high in intervals if low <= centre <= high)
        widths = [(high - low) / 2 for low, high in intervals]
        print(f"{key}: estimates {min(values):.1f}-{max(values):.1f} µs (median {centre:.1f}), "
              f"half-width median {statistics.median(widths):.1f} µs; "
              f"other runs inside: {inside}/{len(pairs)} = {inside / len(pairs):.3f} (expect about 0.83); "
              f"intervals holding the median of all runs: {holds}/{runs} = {holds / runs:.2f} (expect about 0.95)")


if __name__ == "__main__":
    main()
