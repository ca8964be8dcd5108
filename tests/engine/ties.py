#!/usr/bin/env python3
"""Events of two threads stamped within a tick of each other (format/SPEC.md,
9.3): replays the traces mkties writes and checks the engine's figures against
those of the order the events really happened in, which mkties prints.
usage: ties.py MKTIES RP_CHECK MALLOCAN"""
import json, os, subprocess, sys, tempfile

mkties, rp_check, mallocan = sys.argv[1:4]
tmp = tempfile.mkdtemp()
out = subprocess.run([mkties, tmp], capture_output=True, text=True, check=True).stdout
cases = [json.loads(l) for l in out.splitlines()]
assert len(cases) >= 10, out

def replay(trace, threads):
    env = dict(os.environ, MALLOCAN_THREADS=threads)
    return subprocess.run([rp_check, trace], capture_output=True, text=True, check=True, env=env).stdout

for c in cases:
    # one chunk per thread, or one per event (a look ahead in a stream goes
    # on in its next chunks; enough chunks to be decoded ahead on a second
    # thread): the same figures, decoded on one thread or two
    out = replay(c["trace"], "1")
    for trace, threads in ((c["trace"], "2"), (c["split"], "1"), (c["split"], "2")):
        assert replay(trace, threads) == out, (c["name"], trace, threads)
    j = json.loads(out)
    got = {"allocations": j["allocations"], "frees": j["frees"], "reallocs": j["reallocs"],
           "by_realloc": j["handlers"]["by_realloc"], "unknown_frees": j["unknown_frees"],
           "host": {k: j["host"][k] for k in ("live_bytes", "live_count", "peak_bytes")},
           "cuda": {k: j["spaces"][1][k] for k in ("live_bytes", "live_count", "peak_bytes")}}
    want = {k: c[k] for k in got}
    assert got == want, (c["name"], "engine", got, "true order", want)
    assert j["overwritten"] == 0, (c["name"], j)
    # each site's snapshot at its space's peak: they add up to the peaks
    assert j["sum_site_peak_bytes"] == sum(s["peak_bytes"] for s in j["spaces"]), (c["name"], j)
    assert j["handlers"]["allocs"] == j["allocations"], (c["name"], j)
    # where ordering by stamps alone gets the figures wrong, the engine
    # placed at least one event by liveness
    assert (j["reordered"] > 0) == c["stamps_alone_wrong"], (c["name"], j["reordered"], c["stamps_alone_wrong"])
    print("%-18s ok: peak %d, live %d, reordered %d%s" % (c["name"], j["host"]["peak_bytes"], j["host"]["live_bytes"],
          j["reordered"], "" if c["stamps_alone_wrong"] else " (stamps alone suffice)"))

# the same figures through `mallocan report --format json`
h = next(c for c in cases if c["name"] == "handoff")
r = json.loads(subprocess.run([mallocan, "report", "--format", "json", h["trace"]], capture_output=True, text=True,
                              check=True).stdout)
assert r["peak"]["bytes"] == h["host"]["peak_bytes"], r["peak"]
assert (r["leaks"]["bytes"], r["leaks"]["allocations"]) == (h["host"]["live_bytes"], h["host"]["live_count"]), r["leaks"]
assert (r["totals"]["unknown_frees"], r["totals"]["overwritten"]) == (0, 0), r["totals"]
assert all(b["min_ns"] >= 0 for b in r["lifetimes"]["buckets"]), r["lifetimes"]
print("report ok: peak %d, leaked %d B in %d" % (r["peak"]["bytes"], r["leaks"]["bytes"], r["leaks"]["allocations"]))
