#!/usr/bin/env python3
"""End-to-end checks of the program API (include/mallocrec.h and its Fortran
and Python bindings), `mallocan arenas`, `mallocan lifetimes` and
`mallocan report --by region`.  Every expectation comes from what the
recorded program says it did.

usage: arenas_checks.py MALLOCREC MALLOCAN arena SAMPLE_ARENA
       arenas_checks.py MALLOCREC MALLOCAN gate SAMPLE_API_GATE
       arenas_checks.py MALLOCREC MALLOCAN threads THREADS_API
       arenas_checks.py MALLOCREC MALLOCAN fortran FORTRAN_API
       arenas_checks.py MALLOCREC MALLOCAN python INCLUDE_DIR PY_API"""
import json
import os
import re
import subprocess
import sys
import tempfile

rec, an, mode = sys.argv[1:4]
args = sys.argv[4:]
tmp = tempfile.mkdtemp()


def record(name, cmd, *opts):
    out = os.path.join(tmp, name + ".mrz")
    p = subprocess.run([rec, "run", "-q", "-o", out, *opts, "--", *cmd], capture_output=True, text=True)
    assert p.returncode == 0, (cmd, p.returncode, p.stderr)
    return out, p.stdout


def mallocan(*a, rc=0):
    p = subprocess.run([an, *a], capture_output=True, text=True)
    assert p.returncode == rc, (a, p.returncode, p.stderr)
    return p


def js(*a):
    return json.loads(mallocan(*a, "--format", "json").stdout)


def recording_switches(trace):
    return re.findall(r"recording t=\d+ on=(\d)", mallocan("dump", "--no-modules", trace).stdout)


def check_arena(prog):
    steps, nodes = 30, 600
    trace, out = record("arena", [prog, str(steps), str(nodes)])
    tallies = [dict(label=m[0], size=int(m[1]), count=int(m[2]), max_alive=int(m[3]))
               for m in re.findall(r"label=(\w+) size=(\d+) count=(\d+) max_alive=(\d+)", out)]
    assert len(tallies) == 6, out
    by_label = {t["label"]: t for t in tallies}
    # the arrays re-allocated every step; energy is double-buffered
    for name in ("forces", "stress", "gradient"):
        assert by_label[name]["count"] == steps and by_label[name]["max_alive"] == 1, by_label[name]
    assert by_label["energy"]["count"] == steps + 1 and by_label["energy"]["max_alive"] == 2
    repeated = [t for t in tallies if t["count"] > 1]

    # --group-by size: the re-allocated arrays rank first, in the documented
    # order (malloc calls saved, then bytes), with the program's own figures
    j = js("arenas", "--group-by", "size", "--top", "0", trace)
    assert j["group_by"] == "size" and j["paused"] == 0, j
    want = sorted(repeated, key=lambda t: (-(t["count"] - t["max_alive"]), -t["count"] * t["size"]))
    got = j["verdict"][:len(want)]
    assert [v["size"] for v in got] == [t["size"] for t in want], (got, want)
    for v, t in zip(got, want):
        assert v["kind"] == "pool" and v["count"] == t["count"] and v["slots"] == t["max_alive"], (v, t)
        assert v["saved_calls"] == t["count"] - t["max_alive"] and v["holds_bytes"] == t["max_alive"] * t["size"], v
    groups = {g["size"]: g for g in j["groups"]}
    for t in repeated:
        g = groups[t["size"]]
        assert (g["count"], g["max_alive"], g["bytes"], g["distinct_sizes"], g["threads"]) == \
            (t["count"], t["max_alive"], t["count"] * t["size"], 1, 1), (g, t)
        assert g["freed"] == t["count"] and g["live_at_end"] == 0, g
        # the arrays live a time step; a scratch block, freed right after its
        # memset, may live less than one tick of the clock (about 100 ns)
        assert g["median_lifetime_ns"] > 0 or t["label"] == "scratch", g
        assert abs(g["reuse"] - t["count"] / t["max_alive"]) < 1e-3, g
    assert all(g["count"] >= 2 for g in j["groups"]), "--min-count 2 is the default"
    text = mallocan("arenas", trace).stdout
    assert "VERDICT" in text and "a pool of 2 slots x %d B" % by_label["energy"]["size"] in text, text

    # --group-by label: every label, with the same figures
    j = js("arenas", "--group-by", "label", "--min-count", "1", "--top", "0", trace)
    labels = {g["label"]: g for g in j["groups"]}
    for t in tallies:
        g = labels[t["label"]]
        assert (g["count"], g["max_alive"], g["min_size"], g["max_size"]) == \
            (t["count"], t["max_alive"], t["size"], t["size"]), (g, t)
    assert None in labels, "allocations without a label form their own group"
    assert sum(g["count"] for g in j["groups"]) == j["allocations"], j
    text = mallocan("arenas", "-g", "label", trace).stdout
    for t in repeated:
        assert "label " + t["label"] in text, text
    j = js("arenas", "--group-by", "label,size", "--min-count", "1", "--top", "0", trace)
    assert {(g["label"], g["size"]) for g in j["groups"] if g["label"]} == \
        {(t["label"], t["size"]) for t in tallies}, j["groups"]

    # --group-by site: each array has its own call site in the sample
    j = js("arenas", "--group-by", "site", "--top", "0", trace)
    sites = [g for g in j["groups"] if "arena.c" in g["site_name"]]
    assert sorted((g["count"], g["max_size"]) for g in sites) == \
        sorted((steps if t["label"] == "energy" else t["count"], t["size"]) for t in repeated), sites

    # report --by region: the region tree with exact counts and peaks
    j = js("report", "--by", "region", trace)
    reg = {r["name"]: r for r in j["regions"]}
    size = {t["label"]: t["size"] for t in tallies}
    scratch_per_step = by_label["scratch"]["count"] // steps
    assert reg["setup"]["count"] == 2 and reg["setup"]["peak_bytes"] == size["mesh"] + size["energy"], reg["setup"]
    assert reg["nodal"]["count"] == steps * (1 + scratch_per_step), reg["nodal"]
    assert reg["nodal"]["peak_bytes"] == size["forces"] + size["scratch"], reg["nodal"]
    assert reg["elements"]["count"] == steps * 3, reg["elements"]
    elements_peak = size["stress"] + size["gradient"] + 2 * size["energy"]
    assert reg["elements"]["peak_bytes"] == elements_peak, reg["elements"]
    t = reg["timestep"]
    assert (t["count"], t["self_count"]) == (reg["nodal"]["count"] + reg["elements"]["count"], 0), t
    assert t["peak_bytes"] == size["forces"] + elements_peak, t
    assert (t["min_size"], t["max_size"]) == (size["scratch"], size["gradient"]), t
    assert reg["nodal"]["parent"] == t["region"] and reg["elements"]["parent"] == t["region"], reg
    root = j["regions"][0]
    assert root["name"] is None and root["count"] == j["allocations"], root
    assert root["self_count"] == j["allocations"] - 2 - t["count"], root
    sizes = [size["stress"], size["gradient"], size["energy"]]
    mean = sum(sizes) / 3
    sd = (sum((s - mean) ** 2 for s in sizes) / 3) ** 0.5
    e = reg["elements"]
    assert abs(e["mean_size"] - mean) < 1e-2 and abs(e["stddev_size"] - sd) < 1e-2 and e["sum_size"] == e["bytes"], e
    assert "timestep" in mallocan("report", "--by", "region", trace).stdout

    # lifetimes: histograms per size, shortest-lived first
    j = js("lifetimes", "--by", "size", "--top", "0", trace)
    g = {x["size"]: x for x in j["groups"]}
    assert g[size["scratch"]]["freed"] == by_label["scratch"]["count"], g[size["scratch"]]
    assert sum(b["count"] for b in g[size["scratch"]]["buckets"]) == by_label["scratch"]["count"]
    medians = [x["median_ns"] for x in j["groups"]]
    assert medians == sorted(medians), medians
    assert j["all"]["freed"] + j["all"]["live_at_end"] == j["allocations"], j["all"]
    text = mallocan("lifetimes", trace).stdout
    assert "shortest-lived first" in text and "#" in text, text

    # bad usage: one line, exit 2
    p = mallocan("arenas", "--group-by", "colour", trace, rc=2)
    assert p.stderr.count("\n") == 1 and "--group-by" in p.stderr, p.stderr
    mallocan("lifetimes", "--by", "site,size", trace, rc=2)
    mallocan("report", "--by", "thread", trace, rc=2)
    print("arena ok:", len(repeated), "re-allocated arrays ranked first over", steps, "steps")


def check_gate(prog):
    alone = subprocess.run([prog], capture_output=True, text=True, check=True).stdout
    assert "attached=0" in alone, alone  # the no-op library answers
    for paused in (True, False):
        trace, out = record("gate%d" % paused, [prog], *(["--start-paused"] if paused else []))
        assert "attached=1" in out and "after stop(b)=1, after stop(a)=0" in out, out
        lines = re.findall(r"(inside|outside) size=(\d+) count=(\d+) live=(\d+)", out)
        want = {int(s): (int(c), int(live)) for where, s, c, live in lines if where == "inside"}
        if not paused:
            first = int(lines[0][1])  # allocated before any window: recorded when not started paused
            want[first] = (int(lines[0][2]), int(lines[0][3]))
        j = js("arenas", "--group-by", "size", "--min-count", "1", "--top", "0", trace)
        got = {g["size"]: (g["count"], g["live_at_end"]) for g in j["groups"] if 1000 <= g["size"] <= 1008}
        assert got == want, (got, want, out)
        assert j["paused"] == 3, j  # stop(a), deregister, pause
        switches = recording_switches(trace)
        assert switches == (["1", "0"] * 3 + ["1"])[0 if paused else 1:], switches
        # the blocks allocated with recording off that the program freed:
        # frees the report expects, and says so
        unknown = sum(int(c) - int(live) for where, s, c, live in lines if where == "outside" and int(s) not in want)
        totals = js("report", trace)["totals"]
        assert totals["unknown_frees"] == unknown and totals["paused"] == 3, (totals, unknown)
        text = mallocan("report", trace).stdout.splitlines()
        line = ("  unmatched        %d frees of blocks allocated while recording was paused (expected), "
                "0 blocks replaced while live" % unknown)
        assert line in text, (line, text)
    print("gate ok: windows and pause record exactly the allocations inside")


def check_fortran(prog):
    alone = subprocess.run([prog], capture_output=True, text=True, check=True).stdout
    assert "attached=0" in alone, alone
    trace, out = record("fortran", [prog])
    m = dict(re.findall(r"(\w+)=(-?\d+)", out))
    steps, n = int(m["steps"]), int(m["n"])
    assert m["attached"] == "1" and m["left"] == "0", out
    j = js("arenas", "--group-by", "label,size", "--min-count", "1", "--top", "0", trace)
    labels = {g["label"]: g for g in j["groups"] if g["label"]}
    assert set(labels) == {"u", "work"}, labels
    assert (labels["u"]["size"], labels["u"]["count"]) == (8 * n, 1), labels["u"]
    assert (labels["work"]["size"], labels["work"]["count"], labels["work"]["max_alive"]) == (16 * n, steps, 1)
    sizes = {g["size"] for g in j["groups"]}
    assert 24 * n not in sizes, "the array allocated while paused was recorded"
    j = js("report", "--by", "region", trace)
    solve = [r for r in j["regions"] if r["name"] == "solve"]
    assert len(solve) == 1 and solve[0]["count"] == 1 + steps, j["regions"]
    assert solve[0]["peak_bytes"] == 8 * n + 16 * n, solve
    assert len(re.findall(r"\bmark t=", mallocan("dump", trace).stdout)) == 1
    print("fortran ok")


def check_python(include, script):
    py = sys.executable
    alone = json.loads(subprocess.run([py, script, include], capture_output=True, text=True, check=True).stdout)
    assert alone["attached"] is False, alone
    trace, out = record("python", [py, script, include])
    did = json.loads(out.strip().splitlines()[-1])
    assert did["attached"] is True, did
    j = js("report", "--by", "region", trace)
    reg = {r["name"]: r for r in j["regions"]}
    size, count = did["load"]
    assert (reg["load"]["count"], reg["load"]["min_size"], reg["load"]["max_size"]) == (count, size, size), reg
    size, count = did["solve"]
    r = reg[did["solve_region"]]
    assert (r["count"], r["min_size"], r["max_size"], r["peak_bytes"]) == (count, size, size, size), r
    j = js("arenas", "--group-by", "label,size", "--min-count", "1", "--top", "0", trace)
    labelled = [g for g in j["groups"] if g["label"] == "pybuf"]
    assert [(g["size"], g["count"]) for g in labelled] == [(did["labelled"], 1)], labelled
    assert did["paused"] not in {g["size"] for g in j["groups"]}, "allocated while paused, yet recorded"
    assert recording_switches(trace) == ["0", "1", "0"], recording_switches(trace)
    print("python ok")


def check_threads(prog):
    d = os.path.join(tmp, "threads")
    os.mkdir(d)
    p = subprocess.run([rec, "run", "-q", "-o", os.path.join(d, "t.%p.mrz"), "--", prog], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    m = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", p.stdout)}
    traces = sorted(os.path.join(d, f) for f in os.listdir(d))
    assert len(traces) == 2, traces
    want = {m["threads"] * m["rounds"]: m["threads"], m["child_rounds"]: 1}  # allocations -> threads
    for trace in traces:
        j = js("arenas", "--group-by", "label,size", "--min-count", "1", "--top", "0", trace)
        w = [g for g in j["groups"] if g["label"] == "w"]
        assert len(w) == 1 and w[0]["size"] == m["size"], j["groups"]
        assert want.pop(w[0]["count"]) == w[0]["threads"], (w, want)
        r = {x["name"]: x for x in js("report", "--by", "region", trace)["regions"]}
        assert r["worker"]["count"] == r["worker"]["self_count"] == w[0]["count"], r
        assert mallocan("dump", trace).stdout.count("mark t=") == w[0]["threads"]
    assert not want, want
    print("threads ok: per-thread regions and labels, in a forked child too")


{"arena": check_arena, "gate": check_gate, "fortran": check_fortran, "python": check_python,
 "threads": check_threads}[mode](*args)
