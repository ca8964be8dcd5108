"""Records ../shared/bench/alloc_storm (2 threads x 1M steps) and checks
that `mallocan report`'s totals equal the counts the program prints for its
workers, plus what the main thread does besides (listed below).  Prints the
report's throughput and peak RSS for information (no timing is asserted).

usage: storm_report.py MALLOCREC MALLOCAN ALLOC_STORM  (ALLOC_STORM '' = skip)

Outside the workers, all on the main thread: main's own two callocs (the
pthread_t and result arrays) and their two frees, one calloc per
pthread_create (glibc's thread-local storage vector, never freed), and the
stdout buffer of the final printf (one malloc, never freed)."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

THREADS, STEPS = 2, 1000000
mallocrec, mallocan, storm = sys.argv[1:4]
if not storm or not os.path.exists(storm):
    print("SKIP: alloc_storm was not built (../shared/bench/alloc_storm.c is not beside the checkout)")
    sys.exit(77)


def expect(cond, msg):
    if not cond:
        print("FAIL: " + msg, file=sys.stderr)
        sys.exit(1)


with tempfile.TemporaryDirectory(prefix="mrz-report-") as d:
    trace = os.path.join(d, "storm.mrz")
    p = subprocess.run([mallocrec, "run", "-q", "-o", trace, "--", storm, str(THREADS), str(STEPS)],
                       capture_output=True, text=True)
    expect(p.returncode == 0, f"mallocrec: {p.returncode} {p.stderr}")
    m = re.search(r"threads=(\d+) malloc=(\d+) calloc=(\d+) realloc=(\d+) free=(\d+)", p.stdout)
    expect(m, f"alloc_storm printed no counts: {p.stdout!r}")
    threads, malloc, calloc, realloc, free = map(int, m.groups())

    out, err = os.path.join(d, "report.json"), os.path.join(d, "report.err")
    t0 = time.monotonic()
    with open(out, "w") as fo, open(err, "w") as fe:
        child = subprocess.Popen([mallocan, "report", "--format", "json", "--top", "0", trace], stdout=fo, stderr=fe)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - t0
    rss_kib = usage.ru_maxrss
    errors = open(err).read()
    expect(os.waitstatus_to_exitcode(status) == 0 and errors == "", f"mallocan report: {status} {errors}")
    j = json.load(open(out))
    t = j["totals"]
    k = t["kinds"]

    main_callocs, main_frees, main_mallocs = 2 + threads, 2, 1
    expect(k["malloc"] == malloc + main_mallocs, f"malloc {k['malloc']} != {malloc} + {main_mallocs}")
    expect(k["calloc"] == calloc + main_callocs, f"calloc {k['calloc']} != {calloc} + {main_callocs}")
    expect(k["realloc"] == realloc and t["reallocs"] == realloc, f"realloc {k['realloc']} != {realloc}")
    expect(t["allocations"] == malloc + calloc + realloc + main_mallocs + main_callocs, f"allocations {t}")
    expect(t["frees"] == free + main_frees, f"frees {t['frees']} != {free} + {main_frees}")
    expect(t["threads"] == threads + 1, f"threads {t['threads']}")
    expect(t["unknown_frees"] == 0 and t["overwritten"] == 0 and t["lost"] == 0, f"totals {t}")
    expect(j["leaks"]["allocations"] == threads + 1, f"leaks {j['leaks']['allocations']}")
    expect(sum(s["allocations"] for s in j["sites"]) == t["allocations"], "sites do not add up")
    expect(sum(s["peak_bytes"] for s in j["sites"]) == j["peak"]["bytes"], "peak sites do not add up")
    # every worker allocation comes from alloc_at's callers in alloc_storm.c
    worker = sum(s["allocations"] for s in j["sites"]
                 if s["frames"] and s["frames"][0]["function"] in ("alloc_at", "worker"))
    expect(worker == malloc + calloc + realloc, f"worker sites hold {worker} allocations")

    events = t["events"]
    size = os.path.getsize(trace)
    print(f"ok: totals match ({t['allocations']} allocations, {t['frees']} frees, {t['reallocs']} reallocs); "
          f"report: {events} events in {wall:.2f} s = {events / wall / 1e6:.1f} M events/s, "
          f"peak RSS {rss_kib / 1024:.0f} MiB, trace {size / 2**20:.0f} MiB")
