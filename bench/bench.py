#!/usr/bin/env python3
"""Recording overhead, trace size and analyzer speed, side by side with
heaptrack and with the program alone.

Each workload runs three ways -- alone, under heaptrack, under mallocrec --
interleaved, --runs times; every figure is the median of its runs and every
ratio is to the program alone in the same session.  Printed per workload:
wall and CPU time (user + sys) and their ratios, peak RSS, and trace bytes per
event; then `mallocan report` on the alloc_storm trace (events per second,
peak RSS) beside heaptrack_print on heaptrack's, and, with --scale, report's
peak RSS on a trace four times longer.

Workloads: alloc_storm (../shared/bench/alloc_storm.c, 2 threads), py_work
(../shared/bench/py_work.py under PYTHONMALLOC=malloc), lulesh (bench/
lulesh_mini.c, a LULESH-style solver).  "events" are the allocations and
releases of the mallocrec trace (`mallocan info`); heaptrack's bytes per
event divide its trace by the same count.

usage: bench/bench.py [--build DIR] [--runs N] [--only a,b] [--steps N]
                      [--no-heaptrack] [--scale] [--json FILE] [--keep DIR]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "bench"))


MEASURE = None  # bench/measure.c, built into the work directory


def run(cmd, env=None):
    """Runs cmd; @return (wall s, cpu s, peak RSS KiB of its largest process)."""
    res = os.path.join(os.path.dirname(MEASURE), "measure.out")
    rc = subprocess.run([MEASURE, res] + cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    if rc != 0:
        raise SystemExit("bench: %s failed (exit %d)" % (" ".join(cmd), rc))
    with open(res) as f:
        wall, cpu, rss = f.read().split()
    return float(wall), float(cpu), int(rss)


def size_of(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


def build_workloads(work, which):
    global MEASURE
    cc = os.environ.get("CC", "gcc")
    progs = {}
    MEASURE = os.path.join(work, "measure")
    subprocess.run([cc, "-O2", os.path.join(HERE, "measure.c"), "-o", MEASURE], check=True)
    if "alloc_storm" in which:
        src = os.path.join(SHARED, "alloc_storm.c")
        if not os.path.exists(src):
            raise SystemExit("bench: %s not found" % src)
        exe = os.path.join(work, "alloc_storm")
        subprocess.run([cc, "-O2", "-g", "-pthread", src, "-o", exe], check=True)
        progs["alloc_storm"] = exe
    if "lulesh" in which:
        exe = os.path.join(work, "lulesh_mini")
        subprocess.run([cc, "-O2", "-g", os.path.join(HERE, "lulesh_mini.c"), "-o", exe, "-lm"], check=True)
        progs["lulesh"] = exe
    return progs


def workloads(progs, steps, which):
    """name -> (argv, extra environment)"""
    w = {}
    if "alloc_storm" in which:
        w["alloc_storm"] = ([progs["alloc_storm"], "2", str(steps)], {})
    if "py_work" in which:
        w["py_work"] = ([sys.executable, os.path.join(SHARED, "py_work.py")], {"PYTHONMALLOC": "malloc"})
    if "lulesh" in which:
        w["lulesh"] = ([progs["lulesh"], "40", "40"], {})
    return w


def trace_events(mallocan, trace):
    info = json.loads(subprocess.run([mallocan, "info", "--format", "json", trace], check=True,
                                     capture_output=True, text=True).stdout)
    c = info["counts"]
    return sum(v for k, v in c.items() if isinstance(v, int))


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_bytes(kib):
    return "%.1f MiB" % (kib / 1024.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="meson build directory (default: build)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each way (default 3)")
    ap.add_argument("--only", default="alloc_storm,py_work,lulesh", help="workloads, comma-separated")
    ap.add_argument("--steps", type=int, default=1000000, help="alloc_storm steps per thread (default 1000000)")
    ap.add_argument("--no-heaptrack", action="store_true", help="skip heaptrack even if installed")
    ap.add_argument("--scale", action="store_true", help="also report on a 4x longer alloc_storm trace")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--keep", help="keep binaries and traces in this directory")
    ap.add_argument("--rec-opt", action="append", default=[], help="extra `mallocrec run` option (repeatable)")
    a = ap.parse_args()

    mallocrec = os.path.join(a.build, "recorder", "mallocrec")
    mallocan = os.path.join(a.build, "analyzer", "mallocan")
    for t in (mallocrec, mallocan):
        if not os.access(t, os.X_OK):
            raise SystemExit("bench: %s not built (meson setup %s && ninja -C %s)" % (t, a.build, a.build))
    heaptrack = None if a.no_heaptrack else shutil.which("heaptrack")
    heaptrack_print = shutil.which("heaptrack_print") if heaptrack else None
    which = [x for x in a.only.split(",") if x]
    work = a.keep or tempfile.mkdtemp(prefix="mrbench.")
    os.makedirs(work, exist_ok=True)
    progs = build_workloads(work, which)
    ways = ["alone"] + (["heaptrack"] if heaptrack else []) + ["mallocrec"]
    results = {"machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname())}, "runs": a.runs,
               "workloads": {}}

    for name, (argv, extra) in workloads(progs, a.steps, which).items():
        env = dict(os.environ, **extra)
        m = {w: {"wall": [], "cpu": [], "rss": [], "trace": []} for w in ways}
        for r in range(a.runs):
            for w in ways:
                if w == "alone":
                    cmd, trace = argv, None
                elif w == "heaptrack":
                    base = os.path.join(work, "%s.ht%d" % (name, r))
                    cmd, trace = [heaptrack, "-o", base] + argv, base + ".zst"
                else:
                    trace = os.path.join(work, "%s.%d.mrz" % (name, r))
                    cmd = [mallocrec, "run", "-q", "-o", trace] + a.rec_opt + ["--"] + argv
                for f in (trace,):
                    if f and os.path.exists(f):
                        os.unlink(f)
                wall, cpu, rss = run(cmd, env)
                m[w]["wall"].append(wall)
                m[w]["cpu"].append(cpu)
                m[w]["rss"].append(rss)
                m[w]["trace"].append(size_of(trace) if trace else 0)
        events = trace_events(mallocan, os.path.join(work, "%s.%d.mrz" % (name, a.runs - 1)))
        res = {"events": events}
        for w in ways:
            res[w] = {"wall_s": med(m[w]["wall"]), "cpu_s": med(m[w]["cpu"]), "peak_rss_kib": med(m[w]["rss"]),
                      "wall_runs": m[w]["wall"], "cpu_runs": m[w]["cpu"]}
            if w != "alone":
                res[w]["wall_ratio"] = res[w]["wall_s"] / res["alone"]["wall_s"]
                res[w]["cpu_ratio"] = res[w]["cpu_s"] / res["alone"]["cpu_s"]
                res[w]["trace_bytes"] = med(m[w]["trace"])
                res[w]["bytes_per_event"] = res[w]["trace_bytes"] / events if events else float("nan")
        results["workloads"][name] = res

    # the analyzer, on alloc_storm's traces
    if "alloc_storm" in which:
        trace = os.path.join(work, "alloc_storm.%d.mrz" % (a.runs - 1))
        ev = results["workloads"]["alloc_storm"]["events"]
        an = {"wall": [], "cpu": [], "rss": []}
        for _ in range(a.runs):
            wall, cpu, rss = run([mallocan, "report", trace])
            an["wall"].append(wall), an["cpu"].append(cpu), an["rss"].append(rss)
        res = {"events": ev, "wall_s": med(an["wall"]), "cpu_s": med(an["cpu"]), "peak_rss_kib": med(an["rss"])}
        res["events_per_s"] = ev / res["wall_s"]
        if heaptrack_print:
            ht = os.path.join(work, "alloc_storm.ht%d.zst" % (a.runs - 1))
            walls = [run([heaptrack_print, ht])[0] for _ in range(a.runs)]
            res["heaptrack_print_wall_s"] = med(walls)
            res["heaptrack_print_events_per_s"] = ev / med(walls)
        if a.scale:
            big = os.path.join(work, "alloc_storm.x4.mrz")
            if os.path.exists(big):
                os.unlink(big)
            run([mallocrec, "run", "-q", "-o", big, "--", progs["alloc_storm"], "2", str(4 * a.steps)])
            bev = trace_events(mallocan, big)
            wall, cpu, rss = run([mallocan, "report", big])
            res["x4"] = {"events": bev, "wall_s": wall, "peak_rss_kib": rss, "events_per_s": bev / wall}
        results["analyzer"] = res

    # ---------------------------------------------------------------- table
    print("machine: %d CPUs; medians of %d interleaved runs; ratios to the program alone" % (os.cpu_count(), a.runs))
    print("%-12s %-10s %9s %7s %9s %7s %11s %10s" % ("workload", "way", "wall s", "ratio", "cpu s", "ratio",
                                                     "peak RSS", "B/event"))
    for name, res in results["workloads"].items():
        for w in ways:
            x = res[w]
            print("%-12s %-10s %9.3f %7s %9.3f %7s %11s %10s" % (
                name, w, x["wall_s"], "%.2fx" % x["wall_ratio"] if "wall_ratio" in x else "",
                x["cpu_s"], "%.2fx" % x["cpu_ratio"] if "cpu_ratio" in x else "", fmt_bytes(x["peak_rss_kib"]),
                "%.2f" % x["bytes_per_event"] if "bytes_per_event" in x else ""))
        print("%-12s %d events" % ("", res["events"]))
    if "analyzer" in results:
        x = results["analyzer"]
        print("mallocan report (alloc_storm, %d events): %.3f s, %.1f M events/s, peak RSS %s" % (
            x["events"], x["wall_s"], x["events_per_s"] / 1e6, fmt_bytes(x["peak_rss_kib"])))
        if "heaptrack_print_wall_s" in x:
            print("heaptrack_print (same run):        %.3f s, %.1f M events/s" % (
                x["heaptrack_print_wall_s"], x["heaptrack_print_events_per_s"] / 1e6))
        if "x4" in x:
            y = x["x4"]
            print("mallocan report (4x longer, %d events): %.3f s, %.1f M events/s, peak RSS %s" % (
                y["events"], y["wall_s"], y["events_per_s"] / 1e6, fmt_bytes(y["peak_rss_kib"])))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
