#!/usr/bin/env python3
"""Records samples and checks the replay engine's figures against what the
programs are known to do.  usage: engine_checks.py MALLOCREC RP_CHECK THREADS STACKGROW ARENA [ALLOC_STORM]"""
import json, os, re, subprocess, sys, tempfile

rec, rp_check, threads, stackgrow, arena = sys.argv[1:6]
storm = sys.argv[6] if len(sys.argv) > 6 else None
tmp = tempfile.mkdtemp()

def record(prog, *args):
    out = os.path.join(tmp, os.path.basename(prog) + ".mrz")
    p = subprocess.run([rec, "run", "-q", "-o", out, "--", prog, *args], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    j = json.loads(subprocess.run([rp_check, out], capture_output=True, text=True, check=True).stdout)
    return p.stdout, j

def consistent(j):
    # every alloc is seen by the handler, every free matched, the site
    # snapshots at the peak add up to the peak itself
    assert j["handlers"]["allocs"] == j["allocations"], j
    assert j["unknown_frees"] == 0 and j["overwritten"] == 0, j
    assert j["sum_site_peak_bytes"] == j["host"]["peak_bytes"], j
    assert j["sum_site_live_bytes"] == j["host"]["live_bytes"], j

# threads.c: 4 threads x 1000 blocks of 48 bytes, each freed by another thread
_, j = record(threads)
consistent(j)
worker = [s for s in j["site_list"] if s["allocs"] == 4000]
assert len(worker) == 1, j["site_list"]
w = worker[0]
assert (w["frees"], w["bytes"], w["live_bytes"], w["peak_bytes"]) == (4000, 4000 * 48, 0, 4000 * 48), w
assert w["temporaries"] == 0, w
assert j["threads"] == 5, j
print("threads ok")

if storm and os.path.exists(storm):
    out, j = record(storm, "2", "300000")  # enough chunks for the prefetcher
    consistent(j)
    m = dict(re.findall(r"(\w+)=(\d+)", out))
    printed = int(m["malloc"]) + int(m["calloc"]) + int(m["realloc"])
    # beyond the workers: main's two callocs, pthread_create's two, stdout's buffer
    extra = j["allocations"] - printed
    assert extra == 5, (extra, j["allocations"], printed)
    assert j["reallocs"] == int(m["realloc"]), j
    assert j["frees"] == int(m["free"]) + 2, (j["frees"], m)
    assert j["host"]["live_count"] == 3, j["host"]  # pthread TLS x2 + stdout buffer
    print("alloc_storm ok", j["events"], "events")
    # chunks decoded ahead on a second thread give exactly what one thread gives
    trace = os.path.join(tmp, "alloc_storm.mrz")
    one = subprocess.run([rp_check, trace], capture_output=True, text=True, check=True,
                         env=dict(os.environ, MALLOCAN_THREADS="1")).stdout
    two = subprocess.run([rp_check, trace], capture_output=True, text=True, check=True).stdout
    assert one == two, "prefetching changed the replay"
    print("prefetch ok")

# A lost chunk: the stream's later chunks still name the right stacks (each
# chunk opens with STREAM_STATE, so implicit node ids resynchronise); blocks
# whose stacks were defined in the lost chunk fall to "no stack".
grow = os.path.join(tmp, "stackgrow.mrz")
p = subprocess.run([rec, "run", "-q", "-o", grow, "--", stackgrow], capture_output=True, text=True)
assert p.returncode == 0, p.stderr
mallocan = os.path.join(os.path.dirname(rp_check), "..", "..", "analyzer", "mallocan")
dump = subprocess.run([mallocan, "dump", grow], capture_output=True, text=True, check=True).stdout.splitlines()
chunks = [dict(re.findall(r"(\w+)=(\S+)", l)) for l in dump if l.startswith("chunk ")]
for i, l in enumerate(dump):
    if l.startswith("chunk "):
        assert dump[i + 1].strip().startswith("stream_state next_node="), dump[i + 1]
main = [c for c in chunks if c["stream"] != "0"]
assert len(main) >= 4, len(main)
victim = [c for c in main if c["seq"] == "1"][0]
data = bytearray(open(grow, "rb").read())
data[int(victim["offset"]) + 48 + int(victim["payload"]) // 2] ^= 0xFF
damaged = os.path.join(tmp, "damaged.mrz")
open(damaged, "wb").write(bytes(data))
intact = json.loads(subprocess.run([rp_check, grow], capture_output=True, text=True, check=True).stdout)
p = subprocess.run([rp_check, damaged], capture_output=True, text=True, check=True)
assert "damaged at byte " + victim["offset"] in p.stderr, p.stderr
jd = json.loads(p.stdout)
def by_stack(j):
    out = {}
    for s in j["site_list"]:
        out[tuple(s["stack"])] = out.get(tuple(s["stack"]), 0) + s["allocs"]
    return out
a, b = by_stack(intact), by_stack(jd)
# every stack the damaged replay names is a real stack, or the inner part of
# one whose outer frames were defined in the lost chunk
for stack, n in b.items():
    if stack and stack not in a:
        assert any(full[:len(stack)] == stack for full in a), ("a stack that never happened", len(stack), n)
whole = sum(n for stack, n in b.items() if stack in a and n <= a[stack])
assert whole > intact["allocations"] // 2, (whole, intact["allocations"])
lost = intact["allocations"] - jd["allocations"]
assert 0 < lost < intact["allocations"] // 4, lost
print("lost chunk ok:", lost, "allocations lost with the chunk")

# Labels, regions and strings through the decode-ahead thread: a long arena
# run (17 chunks) reads the same with one thread and with two
ar = os.path.join(tmp, "arena.mrz")
p = subprocess.run([rec, "run", "-q", "-o", ar, "--", arena, "20000", "1000"], capture_output=True, text=True)
assert p.returncode == 0, p.stderr
for args in (["report", "--by", "region", "--format", "json"], ["arenas", "--group-by", "label,size", "--format", "json"],
             ["report", "--format", "json"]):
    one = subprocess.run([mallocan, *args, ar], capture_output=True, text=True, check=True,
                         env=dict(os.environ, MALLOCAN_THREADS="1")).stdout
    two = subprocess.run([mallocan, *args, ar], capture_output=True, text=True, check=True).stdout
    assert one == two and len(one) > 100, ("decode-ahead changed", args)
labels = json.loads(subprocess.run([mallocan, "arenas", "--group-by", "label", "--format", "json", ar],
                                   capture_output=True, text=True, check=True).stdout)
print("arena decode-ahead ok", len(json.dumps(labels)), "bytes of label groups")
