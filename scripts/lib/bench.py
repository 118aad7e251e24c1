#!/usr/bin/env python3
"""scripts/lib/bench.py: the arithmetic of scripts/bench, which runs the servers and load generators.

    bench.py step-record ...   one measured step -> one JSON line (and a line for humans on stderr)
    bench.py next-step ...     the ramp: the next rate to run for a row, or nothing when done
    bench.py report ...        every step of the run -> the table, the ratios and the JSON

A step's rates come from the load generator's counted window (locs whose ts lies in the
window, their friends, the friend frames about exactly them: nearby-loadgen --help);
its CPU from /proc over the script's window of --duration seconds inside it.
The service level: a step meets it when p99 <= SLO_P99_MS and it delivered at least
SLO_DELIVERED_PCT of what it should.
"""
import argparse
import json
import math
import os
import statistics
import sys

SLO_P99_MS = 100
SLO_DELIVERED_PCT = 99.9
CLIENT_BOUND_PCT = 90      # a load generator above this share of its core at the best step
GROWTH = 1.05              # the doubling stops once deliveries grow less than this ...
GIVE_UP_P99_MS = 1000      # ... or p99 passes this, unless the step still met the SLO
REFINE_MIN_GAP = 1.15      # no refining step between rates closer than this


# ---------------------------------------------------------------------------- step-record

def cpu_sample(path):
    """A sample of scripts/bench: {pid: (name, ms)}."""
    t = {}
    for line in open(path):
        pid, name, ms = line.split()
        t[pid] = (name, int(ms))
    return t


def cpu_used(prefix, part):
    """CPU ms each process used between PREFIX.PART0 and PREFIX.PART1, by name; a process that
    began inside the window counts whole, one that ended inside it is lost."""
    t0, t1 = cpu_sample(prefix + "." + part + "0"), cpu_sample(prefix + "." + part + "1")
    by_name = {}
    for pid, (name, ms) in t1.items():
        by_name[name] = by_name.get(name, 0) + ms - t0.get(pid, (name, 0))[1]
    return {k: v for k, v in sorted(by_name.items()) if v > 0}


def last_summary(path):
    summary = None
    for line in open(path):
        line = line.strip()
        if line.startswith("{") and '"summary"' in line:
            summary = json.loads(line)
    return summary


def step_record(a):
    by_process = cpu_used(a.samples, "server")
    server_ms = sum(by_process.values())
    lb_ms = sum(cpu_used(a.samples, "lb").values())
    client_ms = sum(cpu_used(a.samples, "client").values())
    rec = {"row": a.row, "rep": a.rep, "rate": a.rate, "phase": a.phase}
    summary = last_summary(a.summary)
    if summary is None:
        rec["error"] = "no summary from the load generator (see %s.err)" % a.summary
        return rec
    d = a.window_s
    if a.kind == "redis-raw":
        # Messages Redis hands to subscriber connections: no window, no SLO.
        dps = summary.get("messages_per_s", 0)
        rec.update(updates_per_s=summary.get("updates_per_s", 0), deliveries_per_s=round(dps),
                   expected_per_s=round(summary["expected"] / summary["seconds"]) if summary.get("seconds") else None,
                   delivered_pct=None, slo_ok=None)
    else:
        ws = summary.get("window_s") or 0
        expected = summary.get("window_expected")
        delivered = summary.get("window_delivered", 0)
        dps = delivered / ws if ws else 0
        rec.update(updates_per_s=round(summary.get("window_updates", 0) / ws) if ws else 0,
                   deliveries_per_s=round(dps),
                   expected_per_s=round(expected / ws) if ws and expected is not None else None,
                   delivered_pct=round(100.0 * delivered / expected, 3) if expected else None,
                   window_skipped=summary.get("window_skipped", 0),
                   sessions=summary.get("sessions"), window_sessions=summary.get("window_sessions"))
    for k in ("p50_ms", "p99_ms", "p999_ms", "max_ms"):
        rec[k] = summary.get(k)
    if a.kind != "redis-raw":
        # A phone still connecting when the window opened misses its friends' locs meanwhile:
        # the step then says so instead of passing it off as lost deliveries.
        rec["late_phones"] = max(0, a.phones - (rec["window_sessions"] or 0))
        rec["slo_ok"] = bool(rec["p99_ms"] is not None and rec["p99_ms"] <= SLO_P99_MS and
                             rec["delivered_pct"] is not None and rec["delivered_pct"] >= SLO_DELIVERED_PCT
                             and rec["late_phones"] == 0)
    deliveries = dps * d
    per_1k = lambda ms: round(ms / deliveries * 1000, 3) if deliveries else None
    rec.update(
        cpu_window_s=round(d, 3), server_cpu_ms=server_ms, lb_cpu_ms=lb_ms, client_cpu_ms=client_ms,
        server_cpu_pct=round(server_ms / d / 10, 1), client_cpu_pct=round(client_ms / d / 10, 1),
        cpu_ms_per_1k=per_1k(server_ms), lb_cpu_ms_per_1k=per_1k(lb_ms) if lb_ms else 0,
        client_cpu_ms_per_1k=per_1k(client_ms), rss_mb=round(a.rss_kb / 1024, 1),
        server_cpu_ms_by_process=by_process)
    if a.gw_msgs is not None:
        # The gateways' own counters over the CPU window: payloads from pub/sub, frames pushed.
        gw_ms = sum(v for k, v in by_process.items() if k.startswith("gateway-"))
        rec.update(gw_cpu_ms=gw_ms, gw_msgs_in=a.gw_msgs, gw_pushes_out=a.gw_pushes,
                   gw_cpu_us_per_msg=round(gw_ms * 1000 / a.gw_msgs, 3) if a.gw_msgs else None,
                   gw_cpu_us_per_push=round(gw_ms * 1000 / a.gw_pushes, 3) if a.gw_pushes else None,
                   pushes_per_msg=round(a.gw_pushes / a.gw_msgs, 2) if a.gw_msgs else None)
    for k in ("lost", "errors", "check_failures", "rate_limited", "reconnects", "dup"):
        if k in summary:
            rec[k] = summary[k]
    return rec


def human_step(r):
    if "error" in r:
        return "  %-14s rate %6s/s: %s" % (r["row"], r["rate"], r["error"])
    line = ("  %-14s rate %6s/s: %s deliveries/s (of %s, %s%%), p50 %s p99 %s p999 %s ms, server %s%% "
            "cpu %s ms/1k, lb %s ms/1k, client %s%% %s" % (
                r["row"], r["rate"], r["deliveries_per_s"], r["expected_per_s"], r.get("delivered_pct"),
                r["p50_ms"], r["p99_ms"], r["p999_ms"], r["server_cpu_pct"], r["cpu_ms_per_1k"],
                r["lb_cpu_ms_per_1k"], r["client_cpu_pct"],
                {True: "[SLO met]", False: "[SLO not met]", None: ""}[r.get("slo_ok")]))
    if r.get("late_phones"):
        line += "\n    %d phones were still connecting when the window opened (a longer --warmup?)" % r["late_phones"]
    if "gw_cpu_us_per_msg" in r:
        line += "\n    gateways: %s messages in, %s pushes out (%s a message), %s us CPU a message, %s us a push" % (
            r["gw_msgs_in"], r["gw_pushes_out"], r["pushes_per_msg"], r["gw_cpu_us_per_msg"],
            r["gw_cpu_us_per_push"])
    line += "\n    server cpu ms: " + " ".join(
        "%s=%s" % kv for kv in sorted(r["server_cpu_ms_by_process"].items(), key=lambda kv: -kv[1]))
    return line


# ---------------------------------------------------------------------------- next-step

def read_steps(path):
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip()]


def next_step(a):
    """The ramp of one row in one repeat: the common rate; then doubling while the step met the
    SLO or deliveries still grew by GROWTH (and p99 stayed under GIVE_UP_P99_MS), at most
    max_steps; then up to `refine` steps at the geometric mean of the highest rate that met the
    SLO and the lowest above it that did not (halving down when none met it)."""
    steps = [s for s in read_steps(a.steps) if s["row"] == a.row and s["rep"] == a.rep]
    if not steps:
        return "%d common" % a.common_rate
    tried = {s["rate"] for s in steps}
    ok = lambda s: "error" not in s and s.get("slo_ok")
    if a.kind == "redis-raw":
        return "0 max" if 0 not in tried else ""
    doubling = [s for s in steps if s["phase"] in ("common", "double")]
    refining = [s for s in steps if s["phase"] == "refine"]
    if not refining:
        last = doubling[-1]
        best_before = max([s.get("deliveries_per_s") or 0 for s in doubling[:-1]] or [0])
        grew = (last.get("deliveries_per_s") or 0) >= best_before * GROWTH
        calm = (last.get("p99_ms") or 0) <= GIVE_UP_P99_MS
        nxt = last["rate"] * 2
        if ("error" not in last and (ok(last) or (grew and calm)) and len(doubling) - 1 < a.max_steps
                and nxt <= a.max_rate):
            return "%d double" % nxt
    if len(refining) >= a.refine:
        return ""
    passed = [s["rate"] for s in steps if ok(s)]
    if passed:
        lo = max(passed)
        above = [s["rate"] for s in steps if s["rate"] > lo and not ok(s)]
        if not above:
            return ""
        hi = min(above)
        if hi / lo < REFINE_MIN_GAP:
            return ""
        nxt = int(round(math.sqrt(lo * hi)))
    else:
        nxt = min(tried) // 2
        if nxt < 1:
            return ""
    return "" if nxt in tried else "%d refine" % nxt


# ---------------------------------------------------------------------------- report

# Per row and repeat: the figures the issue asks for, and where they come from.
FIGURES = ["slo_deliveries_per_s", "deliveries_per_s", "cpu_ms_per_1k", "lb_cpu_ms_per_1k",
           "p50_ms", "p99_ms", "p999_ms", "client_cpu_pct", "rss_mb", "slo_rate", "slo_p99_ms",
           "best_rate", "best_client_cpu_pct", "common_deliveries_per_s", "common_delivered_pct",
           "slo_cpu_ms_per_1k", "slo_lb_cpu_ms_per_1k",
           "gw_cpu_us_per_msg", "gw_cpu_us_per_push", "pushes_per_msg",
           "slo_gw_cpu_us_per_msg", "slo_gw_cpu_us_per_push", "slo_pushes_per_msg"]

RATIOS = [
    # name, numerator (row, figure), denominator (row, figure), goal
    ("nearby_over_floor_cpu_per_1k", ("nearby", "cpu_ms_per_1k"), ("floor", "cpu_ms_per_1k"), ("<=", 1.25)),
    ("nearby_over_socketio_cpu_per_1k", ("nearby", "cpu_ms_per_1k"), ("socketio", "cpu_ms_per_1k"), ("<=", 1 / 3)),
    ("nearby_over_floor_slo", ("nearby", "slo_deliveries_per_s"), ("floor", "slo_deliveries_per_s"), (">=", 0.7)),
    ("nearby_lb_over_floor_lb_slo", ("nearby_lb", "slo_deliveries_per_s"), ("floor_lb", "slo_deliveries_per_s"), (">=", 0.7)),
    ("nearby_over_socketio_slo", ("nearby", "slo_deliveries_per_s"), ("socketio", "slo_deliveries_per_s"), (">=", 10)),
    ("nearby_p99_ms_common", ("nearby", "p99_ms"), None, ("<=", 10)),
    # for the record, no goal: what the balancer and the client library cost
    ("nearby_lb_over_nearby_slo", ("nearby_lb", "slo_deliveries_per_s"), ("nearby", "slo_deliveries_per_s"), None),
    ("floor_lb_over_floor_slo", ("floor_lb", "slo_deliveries_per_s"), ("floor", "slo_deliveries_per_s"), None),
    ("nearby_lb_http_over_nearby_lb_lb_cpu", ("nearby_lb_http", "lb_cpu_ms_per_1k"), ("nearby_lb", "lb_cpu_ms_per_1k"), None),
    ("floor_lb_http_over_floor_lb_lb_cpu", ("floor_lb_http", "lb_cpu_ms_per_1k"), ("floor_lb", "lb_cpu_ms_per_1k"), None),
    ("socketio_over_socketio_node_slo", ("socketio", "slo_deliveries_per_s"), ("socketio_node", "slo_deliveries_per_s"), None),
]


def row_summary(steps):
    """One row in one repeat: figures at the common rate, at the SLO step and at the best step."""
    good = [s for s in steps if "error" not in s]
    if not good:
        return None
    common = ([s for s in good if s["phase"] == "common"] or good[:1])[0]
    best = max(good, key=lambda s: s["deliveries_per_s"] or 0)
    slo = [s for s in good if s.get("slo_ok")]
    slo_step = max(slo, key=lambda s: s["rate"]) if slo else None
    r = {
        "slo_deliveries_per_s": slo_step["deliveries_per_s"] if slo_step else 0,
        "slo_rate": slo_step["rate"] if slo_step else None,
        "slo_p99_ms": slo_step["p99_ms"] if slo_step else None,
        "client_cpu_pct": slo_step["client_cpu_pct"] if slo_step else None,
        "slo_cpu_ms_per_1k": slo_step["cpu_ms_per_1k"] if slo_step else None,
        "slo_lb_cpu_ms_per_1k": slo_step["lb_cpu_ms_per_1k"] if slo_step else None,
        "deliveries_per_s": best["deliveries_per_s"],
        "best_rate": best["rate"],
        "best_client_cpu_pct": best["client_cpu_pct"],
        "cpu_ms_per_1k": common["cpu_ms_per_1k"],
        "lb_cpu_ms_per_1k": common["lb_cpu_ms_per_1k"],
        "p50_ms": common["p50_ms"], "p99_ms": common["p99_ms"], "p999_ms": common["p999_ms"],
        "common_deliveries_per_s": common["deliveries_per_s"],
        "common_delivered_pct": common.get("delivered_pct"),
        "rss_mb": max(s["rss_mb"] for s in good),
    }
    for k in ("gw_cpu_us_per_msg", "gw_cpu_us_per_push", "pushes_per_msg"):
        if k in common:
            r[k] = common[k]
            if slo_step is not None:
                r["slo_" + k] = slo_step.get(k)
    if steps[0].get("slo_ok") is None:  # redis-raw: no service level
        for k in ("slo_deliveries_per_s", "slo_rate", "slo_p99_ms", "client_cpu_pct", "slo_cpu_ms_per_1k",
                  "slo_lb_cpu_ms_per_1k"):
            r[k] = None
    r["client_bound"] = bool(best["client_cpu_pct"] is not None and best["client_cpu_pct"] > CLIENT_BOUND_PCT)
    r["steps"] = steps
    return r


def aggregate(reps):
    """Median of each figure as the plain field, min and max beside it."""
    out = {}
    for k in FIGURES:
        vals = [r[k] for r in reps if r.get(k) is not None]
        if not vals:
            if any(k in r for r in reps):
                out[k] = None
            continue
        out[k] = round(statistics.median(vals), 3)
        out[k + "_min"] = min(vals)
        out[k + "_max"] = max(vals)
    bound = [r["best_client_cpu_pct"] for r in reps if r.get("best_client_cpu_pct") is not None]
    out["client_bound"] = bool(bound and statistics.median(bound) > CLIENT_BOUND_PCT)
    out["repeats"] = reps
    return out


def ratio_of(rows, num, den):
    n = rows.get(num[0], {}).get(num[1])
    if den is None:
        return n
    d = rows.get(den[0], {}).get(den[1])
    return round(n / d, 3) if n is not None and d else None


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return "%.3g" % v if abs(v) < 100 else "%.0f" % v
    return "%d" % v


def cell(row, k, repeat):
    v = row.get(k)
    if repeat > 1 and v is not None and row.get(k + "_min") is not None:
        return "%s (%s-%s)" % (fmt(v), fmt(row[k + "_min"]), fmt(row[k + "_max"]))
    return fmt(v)


def report(a):
    steps = read_steps(a.steps)
    meta = json.loads(a.meta)
    order = a.rows.split(",")
    rows = {}
    for name in order:
        reps = []
        for rep in sorted({s["rep"] for s in steps if s["row"] == name}):
            r = row_summary([s for s in steps if s["row"] == name and s["rep"] == rep])
            if r is not None:
                reps.append(r)
        if reps:
            rows[name] = aggregate(reps)
    ratios = {}
    reps_all = sorted({s["rep"] for s in steps})
    for name, num, den, goal in RATIOS:
        v = ratio_of(rows, num, den)
        if v is None:
            continue
        ratios[name] = v
        per = []
        for rep in reps_all:
            one = {}
            for rn, row in rows.items():
                for r in row["repeats"]:
                    if r["steps"][0]["rep"] == rep:
                        one[rn] = r
            pv = ratio_of(one, num, den)
            if pv is not None:
                per.append(pv)
        if len(per) > 1:
            ratios[name + "_min"], ratios[name + "_max"] = min(per), max(per)
    model = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    result = dict(rows)
    result["ratios"] = ratios
    result["slo"] = {"p99_ms_at_most": SLO_P99_MS, "delivered_pct_at_least": SLO_DELIVERED_PCT}
    result["machine"] = {"nproc": os.cpu_count(), "model": model,
                         "loadavg_at_end": open("/proc/loadavg").read().split()[:3]}
    result["load"] = meta

    repeat = int(meta.get("repeat", 1))
    cols = [("slo_deliveries/s", "slo_deliveries_per_s"), ("deliveries/s", "deliveries_per_s"),
            ("cpu_ms/1k", "cpu_ms_per_1k"), ("lb_ms/1k", "lb_cpu_ms_per_1k"), ("p50_ms", "p50_ms"),
            ("p99_ms", "p99_ms"), ("client%", "client_cpu_pct"), ("rss_mb", "rss_mb")]
    table = [["row"] + [c[0] for c in cols] + ["client_bound"]]
    for name in order:
        if name in rows:
            r = rows[name]
            table.append([name] + [cell(r, k, repeat) for _, k in cols] + [str(r["client_bound"]).lower()])
    widths = [max(len(t[i]) for t in table) for i in range(len(table[0]))]
    print()
    for t in table:
        print("  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(t, widths))))
    gw = [n for n in order if n in rows and rows[n].get("gw_cpu_us_per_msg") is not None]
    if gw:
        print("\ngateway CPU (gateway processes only), at the common rate and at the SLO step:")
        for n in gw:
            r = rows[n]
            print("  %-16s %s us per Redis message, %s us per push, %s pushes per message;"
                  " at the SLO step %s us, %s us, %s" % (
                      n, cell(r, "gw_cpu_us_per_msg", repeat), cell(r, "gw_cpu_us_per_push", repeat),
                      cell(r, "pushes_per_msg", repeat), cell(r, "slo_gw_cpu_us_per_msg", repeat),
                      cell(r, "slo_gw_cpu_us_per_push", repeat), cell(r, "slo_pushes_per_msg", repeat)))
    print()
    for name, num, den, goal in RATIOS:
        if name not in ratios:
            continue
        v = ratios[name]
        span = " (%s-%s)" % (fmt(ratios[name + "_min"]), fmt(ratios[name + "_max"])) if name + "_min" in ratios else ""
        if goal is None:
            print("  %-38s %8s%s" % (name, fmt(v), span))
        else:
            op, t = goal
            met = v <= t if op == "<=" else v >= t
            print("  %-38s %8s%s   goal %s %.3g: %s" % (name, fmt(v), span, op, t, "met" if met else "NOT met"))
    print("\nload: %s phones x %s friends (%s shape); cpu and latency at %s updates/s, slo_deliveries/s at the "
          "highest step with p99 <= %d ms and >= %s %% delivered, deliveries/s at the best step; %s; "
          "%s repeat(s), median (min-max)" % (
              meta["phones"], meta["friends"], meta["shape"], meta["common_rate_updates_per_s"], SLO_P99_MS,
              SLO_DELIVERED_PCT, meta["pinning"], repeat))
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(result, fh, indent=2)
            fh.write("\n")
        print("JSON: %s" % a.out)


def main():
    p = argparse.ArgumentParser(prog="scripts/lib/bench.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("step-record")
    s.add_argument("--row", required=True)
    s.add_argument("--rep", type=int, required=True)
    s.add_argument("--rate", type=int, required=True)
    s.add_argument("--phase", required=True)
    s.add_argument("--kind", choices=["loadgen", "redis-raw"], default="loadgen")
    s.add_argument("--summary", required=True)
    s.add_argument("--samples", required=True,
                   help="PREFIX of the CPU samples PREFIX.{server,lb,client}{0,1}: PID NAME MS lines")
    s.add_argument("--window-s", type=float, required=True, help="seconds between the samples")
    s.add_argument("--rss-kb", type=int, required=True)
    s.add_argument("--phones", type=int, required=True)
    s.add_argument("--gw-msgs", type=int)
    s.add_argument("--gw-pushes", type=int)
    s.add_argument("--steps", required=True, help="append the record here")
    n = sub.add_parser("next-step")
    n.add_argument("--steps", required=True)
    n.add_argument("--row", required=True)
    n.add_argument("--rep", type=int, required=True)
    n.add_argument("--kind", choices=["loadgen", "redis-raw"], default="loadgen")
    n.add_argument("--common-rate", type=int, required=True)
    n.add_argument("--max-steps", type=int, required=True)
    n.add_argument("--refine", type=int, required=True)
    n.add_argument("--max-rate", type=int, required=True)
    r = sub.add_parser("report")
    r.add_argument("--steps", required=True)
    r.add_argument("--rows", required=True, help="row names in table order, comma-separated")
    r.add_argument("--meta", required=True, help="JSON: the load and its conditions")
    r.add_argument("--out", default="")
    a = p.parse_args()
    if a.cmd == "step-record":
        rec = step_record(a)
        with open(a.steps, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        print(human_step(rec), file=sys.stderr)
    elif a.cmd == "next-step":
        print(next_step(a))
    else:
        report(a)


if __name__ == "__main__":
    main()
