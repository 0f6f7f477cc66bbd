"""Summarise a long run's session: resident memory, threads and open file
descriptors after the warm-up against the end, from the session's own
telemetry (one sample a second).

usage: python3 scripts/soak_summary.py SESSION.json
"""

import json
import sys


def main():
    doc = json.load(open(sys.argv[1]))
    samples = doc.get("telemetry") or []
    warmup = (doc.get("config") or {}).get("warmup_secs", 0.0) or 0.0
    # The first reading well after the warm-up is the baseline.
    settled = [s for s in samples if s["t_secs"] >= warmup + 10.0]
    if len(settled) < 2:
        print("too few telemetry samples after the warm-up")
        return 1
    first, last = settled[0], settled[-1]
    mib = 1024 * 1024

    def series(key):
        return [s.get(key) for s in settled if s.get(key) is not None]

    rss = series("rss_bytes")
    summary = doc.get("summary") or {}
    print("run            %.0f s measured, %s requests, %.0f inferences/s" % (
        summary.get("measured_secs", 0.0), summary.get("requests_ok", "?"),
        summary.get("inferences_per_sec", 0.0)))
    print("samples        %d after the warm-up (t = %.0f s .. %.0f s)" % (
        len(settled), first["t_secs"], last["t_secs"]))
    print("RSS            %.1f MiB after warm-up, %.1f MiB at the end (%+.1f MiB), min %.1f, max %.1f" % (
        first["rss_bytes"] / mib, last["rss_bytes"] / mib,
        (last["rss_bytes"] - first["rss_bytes"]) / mib, min(rss) / mib, max(rss) / mib))
    for key, label in (("threads", "threads"), ("open_fds", "open files")):
        values = series(key)
        if values:
            print("%-14s %d after warm-up, %d at the end, max %d" % (
                label, values[0], values[-1], max(values)))
        else:
            print("%-14s not recorded on this platform" % label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
