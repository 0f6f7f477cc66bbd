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

Last, what `profile --repeat N` reports: leaving each run out in turn, is
it inside the prediction interval ("a next run in") of the other runs?
That should hold about 95 % of the time, run-to-run variation included.
"""

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile


# Student's t, two-sided 95 %, by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
       9: 2.262, 10: 2.228, 12: 2.179, 14: 2.145, 16: 2.120, 18: 2.101, 19: 2.093, 20: 2.086,
       25: 2.060, 30: 2.042}


def t95(df):
    return T95.get(df) or T95[max(k for k in T95 if k <= df)] if df >= 1 else math.inf


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
        left_out_inside = 0
        for j in range(runs):
            others = [v for i, v in enumerate(values) if i != j]
            mean = statistics.mean(others)
            half = t95(len(others) - 1) * statistics.stdev(others) * math.sqrt(1 + 1 / len(others))
            left_out_inside += mean - half <= values[j] <= mean + half
        print(f"{key}: each run inside the --repeat prediction interval of the others: "
              f"{left_out_inside}/{runs} = {left_out_inside / runs:.2f} (expect about 0.95)")


if __name__ == "__main__":
    main()
