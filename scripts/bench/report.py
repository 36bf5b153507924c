#!/usr/bin/env python3
"""Turns the oha JSON files written by run.sh into OUTDIR/results.json and OUTDIR/results.md."""
import datetime
import json
import os
import platform
import sys


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_mib():
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def num(v):
    if v in (None, "", "null"):
        return None
    try:
        return int(v)
    except ValueError:
        return float(v)


def main():
    out = os.environ["OUTDIR"]
    proc = {}
    with open(sys.argv[1]) as f:
        for line in f:
            s, cpu, wall, rss, hwm = line.rstrip("\n").split("\t")
            proc[s] = {"cpu_s": float(cpu), "wall_s": float(wall), "rss_kb": num(rss), "hwm_kb": num(hwm)}

    rows = []
    for line in os.environ["SCEN_NAMES"].splitlines():
        if not line.strip():
            continue
        sid, method, conns, name = line.split("\t", 3)
        d = json.load(open(os.path.join(out, "raw", f"{sid}.json")))
        codes = {k: int(v) for k, v in (d.get("statusCodeDistribution") or {}).items()}
        errs = {k: int(v) for k, v in (d.get("errorDistribution") or {}).items()}
        ok = sum(v for k, v in codes.items() if k.startswith("2"))
        non2xx = sum(v for k, v in codes.items() if not k.startswith("2"))
        nerr = sum(errs.values())
        total_s = float(d["summary"]["total"])
        lp = d.get("latencyPercentiles") or {}
        ms = lambda k: round(lp[k] * 1000, 2) if lp.get(k) is not None else None
        p = proc.get(sid, {})
        rows.append({
            "id": sid,
            "name": name,
            "method": method,
            "connections": int(conns),
            "duration_s": round(total_s, 3),
            "responses": ok + non2xx,
            "ok_2xx": ok,
            "non_2xx": non2xx,
            "errors": nerr,
            "status_codes": codes,
            "error_kinds": errs,
            "rps": round((ok + non2xx) / total_s, 1) if total_s else None,
            "rps_2xx": round(ok / total_s, 1) if total_s else None,
            "latency_ms": {"p50": ms("p50"), "p90": ms("p90"), "p99": ms("p99"), "p99.9": ms("p99.9"),
                           "mean": round(d["summary"]["average"] * 1000, 2) if d["summary"].get("average") else None,
                           "max": round(d["summary"]["slowest"] * 1000, 2) if d["summary"].get("slowest") else None},
            "server_cpu_s": round(p["cpu_s"], 2) if p.get("cpu_s") is not None and os.environ.get("PID") else None,
            "server_cpu_pct": round(100 * p["cpu_s"] / p["wall_s"], 0) if p.get("wall_s") and os.environ.get("PID") else None,
            "server_rss_kb_after": p.get("rss_kb"),
            "server_hwm_kb_after": p.get("hwm_kb"),
        })

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    meta = {
        "date_utc": now.isoformat(),
        "api": os.environ["API"],
        "server_pid": int(os.environ["PID"]) if os.environ.get("PID") else None,
        "machine": {"cpus": os.cpu_count(), "cpu_model": cpu_model(), "mem_mib": mem_total_mib(),
                    "kernel": platform.release(), "hostname": platform.node()},
        "load_generator": os.environ.get("OHA_VERSION"),
        "params": {"duration": os.environ["DURATION"], "warmup": os.environ["WARMUP"],
                   "connections": int(os.environ["CONNS"]), "login_connections": int(os.environ["LOGIN_CONNS"]),
                   "bench_user": os.environ.get("BENCH_EMAIL"), "service_id": os.environ.get("SERVICE_ID")},
        "server_memory_kb": {"rss_before": num(os.environ.get("RSS_START")), "rss_after": num(os.environ.get("RSS_END")),
                             "peak_vmhwm": num(os.environ.get("HWM_END")),
                             "rss_idle": num(os.environ.get("RSS_IDLE")),
                             "idle_s": num(os.environ.get("IDLE_AFTER"))},
    }
    result = {"meta": meta, "scenarios": rows}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(result, f, indent=2)

    def mib(kb):
        return f"{kb / 1024:.1f} MiB" if isinstance(kb, (int, float)) else "n/a"

    def f(v, nd=1):
        return "n/a" if v is None else (f"{v:,.{nd}f}" if isinstance(v, float) else f"{v:,}")

    lines = [
        f"# Load test: {meta['api']}",
        "",
        f"- date (UTC): {meta['date_utc']}",
        f"- machine: {meta['machine']['cpus']} CPUs ({meta['machine']['cpu_model']}), "
        f"{meta['machine']['mem_mib']} MiB RAM, kernel {meta['machine']['kernel']}; "
        "load generator, server and database share the machine",
        f"- load generator: {meta['load_generator']}; each scenario: {meta['params']['warmup']} warm-up (discarded) "
        f"then {meta['params']['duration']} measured, keep-alive, {meta['params']['connections']} connections "
        f"(login: {meta['params']['login_connections']})",
        f"- server PID {meta['server_pid'] or 'n/a'}: RSS before {mib(meta['server_memory_kb']['rss_before'])}, "
        f"after {mib(meta['server_memory_kb']['rss_after'])}, **peak (VmHWM) {mib(meta['server_memory_kb']['peak_vmhwm'])}**, "
        f"after {meta['server_memory_kb']['idle_s'] or 0} s idle {mib(meta['server_memory_kb']['rss_idle'])}",
        "",
        "| # | scenario | conns | req/s (2xx) | p50 ms | p99 ms | non-2xx | errors | server CPU | VmHWM after |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cpu = f"{r['server_cpu_pct']:.0f}%" if r["server_cpu_pct"] is not None else "n/a"
        lines.append(
            f"| {r['id']} | {r['name']} | {r['connections']} | {f(r['rps_2xx'])} | {f(r['latency_ms']['p50'], 2)} | "
            f"{f(r['latency_ms']['p99'], 2)} | {r['non_2xx']} | {r['errors']} | {cpu} | {mib(r['server_hwm_kb_after'])} |"
        )
    lines += [
        "",
        "req/s counts 2xx responses over the measured window; non-2xx and errors (connection/timeouts) are counted "
        "separately. Server CPU is the server process's user+sys time over wall time (200% = both cores).",
        "",
    ]
    md = "\n".join(lines)
    with open(os.path.join(out, "results.md"), "w") as fh:
        fh.write(md)
    print(md)


if __name__ == "__main__":
    main()
