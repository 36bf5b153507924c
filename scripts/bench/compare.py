#!/usr/bin/env python3
"""Medians of several run.sh result folders per server, and Tozalash ÷ peer ratios.

    compare.py OUTDIR     reads OUTDIR/tozalash-N and OUTDIR/peer-N (N = 1, 2, …)
"""
import glob
import json
import os
import statistics
import sys


def load(out, who):
    dirs = sorted(glob.glob(os.path.join(out, f"{who}-[0-9]*")), key=lambda d: int(d.rsplit("-", 1)[1]))
    return [json.load(open(os.path.join(d, "results.json"))) for d in dirs if os.path.exists(os.path.join(d, "results.json"))]


def med(xs):
    xs = [x for x in xs if isinstance(x, (int, float))]
    return statistics.median(xs) if xs else None


def per_scenario(runs):
    table = {}
    for run in runs:
        for s in run["scenarios"]:
            row = table.setdefault(s["id"], {"name": s["name"], "rps": [], "p50": [], "p99": [], "bad": 0})
            row["rps"].append(s["rps_2xx"])
            row["p50"].append(s["latency_ms"]["p50"])
            row["p99"].append(s["latency_ms"]["p99"])
            row["bad"] += s["non_2xx"] + s["errors"]
    return table


def mem(runs, key):
    return med([r["meta"]["server_memory_kb"].get(key) for r in runs])


def fmt(v, nd=1):
    return "n/a" if v is None else f"{v:,.{nd}f}"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else sys.exit(__doc__)
    ours, peer = load(out, "tozalash"), load(out, "peer")
    if not ours:
        sys.exit(f"no tozalash-N/results.json under {out}")
    a, b = per_scenario(ours), per_scenario(peer)
    first = ours[0]["meta"]
    print(f"Medians of {len(ours)} Tozalash run(s)" + (f" and {len(peer)} peer run(s), alternating" if peer else "")
          + f"; {first['machine']['cpus']} CPUs {first['machine']['cpu_model']}; {first['load_generator']}; "
          f"{first['params']['warmup']} warm-up + {first['params']['duration']} per scenario\n")
    if peer:
        print("| # | scenario | Tozalash req/s | peer req/s | × | Tozalash p99 ms | peer p99 ms | p99 ratio | non-2xx+errors |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    else:
        print("| # | scenario | req/s (2xx) | p50 ms | p99 ms | non-2xx+errors | req/s per run |")
        print("|---|---|---:|---:|---:|---:|---|")
    for sid, row in a.items():
        rps, p99 = med(row["rps"]), med(row["p99"])
        if peer:
            other = b.get(sid)
            prps = med(other["rps"]) if other else None
            pp99 = med(other["p99"]) if other else None
            ratio = rps / prps if rps and prps else None
            pratio = p99 / pp99 if p99 and pp99 else None
            bad = row["bad"] + (other["bad"] if other else 0)
            print(f"| {sid} | {row['name']} | {fmt(rps, 0)} | {fmt(prps, 0)} | {fmt(ratio, 2)} | {fmt(p99, 2)} | "
                  f"{fmt(pp99, 2)} | {fmt(pratio, 2)} | {bad} |")
        else:
            print(f"| {sid} | {row['name']} | {fmt(rps, 0)} | {fmt(med(row['p50']), 2)} | {fmt(p99, 2)} | {row['bad']} | "
                  f"{' / '.join(fmt(v, 0) for v in row['rps'])} |")
    if "S6" in a and "S1" in a:
        s1, s6 = med(a["S1"]["p99"]), med(a["S6"]["p99"])
        if s1 and s6:
            print(f"\nS6: S1's p99 during the login flood is {s6 / s1:.2f}× S1's p99 alone (target ≤ 3×).")
    print()
    for who, runs in (("Tozalash", ours), ("peer", peer)):
        if runs:
            mib = lambda kb: "n/a" if kb is None else f"{kb / 1024:.1f} MiB"
            print(f"- {who} RSS: before S1 {mib(mem(runs, 'rss_before'))}, peak (VmHWM) {mib(mem(runs, 'peak_vmhwm'))}, "
                  f"after the idle wait {mib(mem(runs, 'rss_idle'))} (medians)")


if __name__ == "__main__":
    main()
