"""The recorder's detail-for-speed options, end to end on alloc_storm:

--sample BYTES  every recorded free belongs to a recorded allocation, the
                OPTIONS record carries the rate, and the weighted counts of
                format/SPEC.md (OPTIONS) estimate the program's own counts;
--no-stacks     no STACK record, every allocation with stack 0;
--stack-depth N no stack deeper than N frames, and the same events as a
                full recording.

usage: options.py MALLOCREC MALLOCAN ALLOC_STORM  (exit 77 without it)"""
import math
import os
import re
import subprocess
import sys
import tempfile

rec, an, storm = sys.argv[1:4]
if not storm:
    print("alloc_storm not built (../shared/bench missing): skipped")
    sys.exit(77)
THREADS, STEPS = 2, 50000
tmp = tempfile.mkdtemp()
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def record(name, *opts):
    path = os.path.join(tmp, name + ".mrz")
    out = subprocess.run([rec, "run", "-q", "-o", path, *opts, "--", storm, str(THREADS), str(STEPS)],
                         check=True, capture_output=True, text=True).stdout
    counts = dict(kv.split("=") for kv in out.split())
    dump = subprocess.run([an, "dump", "--no-modules", path], check=True, capture_output=True, text=True).stdout
    return counts, dump.splitlines()


KIND = re.compile(r"^  (malloc|calloc|realloc|free|realloc_free) t=\d+ ptr=(0x[0-9a-f]+) ?(?:size=(\d+))?(?: stack=(\d+))?")


def events(lines):
    """(stream, kind, ptr, size, stack) of every heap event, in file order."""
    stream = None
    for line in lines:
        if line.startswith("chunk "):
            stream = int(re.search(r"stream=(\d+)", line).group(1))
            continue
        m = KIND.match(line)
        if m:
            yield stream, m.group(1), int(m.group(2), 16), int(m.group(3) or 0), int(m.group(4) or 0)


def options(lines):
    for line in lines:
        m = re.match(r"^  options t=\d+ sample_bytes=(\d+) stack_depth=(\d+)", line)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


# ---------------------------------------------------------------- full
counts, full = record("full")
check(options(full) == (0, 128), "a full recording has OPTIONS sample_bytes=0 stack_depth=128: %s" % (options(full),))
n_full = sum(1 for _ in events(full))

# ---------------------------------------------------------------- sampled
RATE = 8192
counts, lines = record("sample", "--sample", str(RATE))
check(options(lines) == (RATE, 128), "OPTIONS carries the sampling rate: %s" % (options(lines),))
live, unknown, est_allocs, n_allocs, n_frees = set(), 0, 0.0, 0, 0
for stream, kind, ptr, size, stack in events(lines):
    if kind in ("free", "realloc_free"):
        n_frees += 1
        if ptr in live:
            live.discard(ptr)
        else:
            unknown += 1
    elif ptr:
        n_allocs += 1
        live.add(ptr)
        # weight 1 / P(recorded) = 1 / (1 - exp(-max(size, 1) / rate))
        est_allocs += 1.0 / -math.expm1(-max(size, 1) / RATE)
exact = int(counts["malloc"]) + int(counts["calloc"])  # realloc's ALLOC is counted by its malloc here
exact_all = exact + int(counts["realloc"])
check(0 < n_allocs < exact_all / 3, "sampling keeps a small part: %d of %d" % (n_allocs, exact_all))
check(unknown == 0, "every recorded free is of a recorded block (%d unknown of %d)" % (unknown, n_frees))
check(abs(est_allocs / exact_all - 1) < 0.05,
      "weighted allocations estimate the program's: %.0f vs %d" % (est_allocs, exact_all))
print("sampled: %d of %d allocations recorded, estimate %.0f (%.2f%%), %d frees" %
      (n_allocs, exact_all, est_allocs, 100 * (est_allocs / exact_all - 1), n_frees))


def report(name):
    import json
    out = subprocess.run([an, "report", "--format", "json", os.path.join(tmp, name + ".mrz")],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


# mallocan report turns the sample into estimates of the whole program: the
# same weights as above, and bytes against the full recording of this
# deterministic workload
rf, rs = report("full"), report("sample")
check(rf["sampling"] is None, "a full recording has no sampling estimates: %s" % rf["sampling"])
smp = rs["sampling"] or {}
check(smp.get("bytes") == RATE, "report names the sampling rate: %s" % smp)
check(abs(smp.get("estimated_allocations", 0) - est_allocs) < 1,
      "report's estimate is the weighted count: %s vs %.0f" % (smp.get("estimated_allocations"), est_allocs))
check(abs(smp.get("estimated_bytes", 0) / rf["totals"]["bytes_allocated"] - 1) < 0.05,
      "estimated bytes %s vs %d recorded in full" % (smp.get("estimated_bytes"), rf["totals"]["bytes_allocated"]))
check(rs["totals"]["allocations"] == n_allocs, "report's own counts are the recorded ones")

# ---------------------------------------------------------------- no stacks
counts, lines = record("nostacks", "--no-stacks")
check(options(lines) == (0, 0), "OPTIONS says no stacks: %s" % (options(lines),))
check(not any(l.startswith("  stack id=") for l in lines), "--no-stacks writes no STACK record")
ev = list(events(lines))
check(len(ev) == n_full, "--no-stacks records every event: %d vs %d" % (len(ev), n_full))
check(all(e[4] == 0 for e in ev if e[1] not in ("free", "realloc_free")), "--no-stacks: every stack id is 0")

# ---------------------------------------------------------------- depth
DEPTH = 3
counts, lines = record("depth", "--stack-depth", str(DEPTH))
check(options(lines) == (0, DEPTH), "OPTIONS carries the depth: %s" % (options(lines),))
parent, depth = {}, {0: 0}
stream, deepest = None, 0
for line in lines:
    if line.startswith("chunk "):
        stream = int(re.search(r"stream=(\d+)", line).group(1))
    m = re.match(r"^  stack id=(\d+) parent=(\d+)", line)
    if m:
        i, p = int(m.group(1)), int(m.group(2))
        depth[(stream, i)] = depth[(stream, p)] + 1 if p else 1
        deepest = max(deepest, depth[(stream, i)])
check(deepest == DEPTH, "--stack-depth %d: deepest stack %d" % (DEPTH, deepest))
ev = list(events(lines))
check(len(ev) == n_full, "--stack-depth records every event: %d vs %d" % (len(ev), n_full))

sys.exit(1 if failures else 0)
