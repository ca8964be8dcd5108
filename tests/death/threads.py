"""Threads: samples/churn runs 1,000 short-lived threads (8 at a time), each
allocating 10 blocks of 4243 bytes that main frees after the thread is
gone, and each running a thread-specific destructor after the recorder's
own that allocates and frees 4244 bytes.  Every one of those calls must be
in the trace, every block freed, and streams reused (the spill file holds
one slot per thread alive at once, not per thread ever started).
samples/tls_cxx (when a C++ compiler was found): 100 threads whose C++
thread_local destructor frees 4245 bytes and allocates and frees 4246.

usage: threads.py MALLOCREC MALLOCAN CHURN TLS_CXX|''"""
import os
import re

from deathlib import Dump, args, expect, info, run, tmpdir, traces

mallocrec, mallocan, churn, tls_cxx = args(4)

figures = []
with tmpdir() as d:
    t = os.path.join(d, "churn.mrz")
    p = run([mallocrec, "run", "-o", t, "--", churn])
    expect(p.returncode == 0, f"churn: exit status {p.returncode}: {p.stderr}")
    summary = re.search(r"(\d+) allocations, (\d+) frees, (\d+) threads", p.stderr)
    expect(summary, f"churn: mallocrec printed no summary: {p.stderr!r}")
    dump = Dump(mallocan, t)
    n43, n44 = dump.count(4243), dump.count(4244)
    expect(n43 == 10000, f"churn: {n43} of 10000 blocks of 4243 bytes")
    expect(n44 == 1000, f"churn: {n44} of 1000 allocations made in thread-exit destructors")
    live43, live44 = dump.live_at_end(4243), dump.live_at_end(4244)
    expect(live43 == 0 and live44 == 0, f"churn: {live43} + {live44} blocks never freed")
    # one THREAD record per thread on the stream it got, 1,000 + main
    tids = {f["tid"] for s, kind, f, _ in dump.recs if kind == "thread" and s != 0}
    expect(len(tids) == 1001, f"churn: {len(tids)} threads with a stream, expected 1001")
    # stream 0, main's stream, and at most 8 workers' at once
    top = max(dump.streams())
    expect(top <= 9, f"churn: streams up to {top}: slots are not reused")
    j = info(mallocan, t)
    expect(j["end"]["how"] == "exit" and not j["damaged"] and not j["_stderr"], f"churn: {j}")
    # the destructors' calls put each worker's THREAD record in stream 0 too:
    # mallocrec's summary counts threads by id, as info does
    expect([int(x) for x in summary.groups()] == [j["allocations"], j["frees"], j["threads"]] and
           j["threads"] == 1001, f"churn: mallocrec's summary {summary.group(0)!r}, info {j['threads']} threads")
    figures.append(f"churn 10000+1000 calls, 1001 threads on {top + 1} streams")

    if tls_cxx:
        t = os.path.join(d, "tls.mrz")
        p = run([mallocrec, "run", "-q", "-o", t, "--", tls_cxx])
        expect(p.returncode == 0, f"tls_cxx: exit status {p.returncode}: {p.stderr}")
        dump = Dump(mallocan, t)
        got = (dump.count(4245), dump.count(4246), dump.live_at_end(4245), dump.live_at_end(4246))
        expect(got == (100, 100, 0, 0), f"tls_cxx: (new, in destructor, live, live) = {got}")
        figures.append("thread_local 100+100")
    else:
        figures.append("thread_local skipped (no C++ compiler)")
print("ok:", ", ".join(figures))
