"""Records ../shared/bench/alloc_storm and checks the trace's counts per call
kind against the counts the program prints for its worker threads.

usage: alloc_storm.py MALLOCREC MALLOCAN ALLOC_STORM  (ALLOC_STORM '' = skip)

alloc_storm prints the exact malloc/calloc/realloc/free calls of its workers
(each worker's window array included).  Everything else happens on the main
thread, and the test checks that stream exactly too:
  - main's own calloc(threads, sizeof(pthread_t)) and calloc(threads,
    sizeof(struct result)) (8 and 48 bytes per thread), and their two frees;
  - one calloc per pthread_create: glibc's thread-local storage vector;
  - one malloc: the stdout buffer of the final printf.
"""
import json
import os
import re
import sys

from common import SKIP, argv, expect, parse_dump, run, tmpdir

THREADS, STEPS = 2, 200000

mallocrec, mallocan, storm = argv(3, 3)
if not storm or not os.path.exists(storm):
    print("SKIP: alloc_storm was not built (../shared/bench/alloc_storm.c is not beside the checkout)")
    sys.exit(SKIP)

with tmpdir() as d:
    trace = os.path.join(d, "storm.mrz")
    r = run([mallocrec, "run", "-o", trace, "--", storm, THREADS, STEPS])
    expect(r.returncode == 0, f"mallocrec exited {r.returncode}: {r.stderr}")
    m = re.search(r"threads=(\d+) malloc=(\d+) calloc=(\d+) realloc=(\d+) free=(\d+)", r.stdout)
    expect(m, f"alloc_storm printed no counts: {r.stdout!r}")
    threads, p_malloc, p_calloc, p_realloc, p_free = map(int, m.groups())
    expect(threads == THREADS, f"alloc_storm ran {threads} threads")

    info = run([mallocan, "info", "--format", "json", trace])
    expect(info.returncode == 0 and not info.stderr, f"mallocan info: {info.returncode} {info.stderr}")
    j = json.loads(info.stdout)
    c = j["counts"]

    # The main thread's stream: the one whose THREAD record has tid == pid
    # (streams are dumped one by one, the small ones come first).
    main = None
    for stream in range(threads + 2):
        dump = run([mallocan, "dump", "--no-modules", "--stream", stream, trace])
        expect(dump.returncode == 0 and not dump.stderr, f"mallocan dump: {dump.stderr}")
        recs = parse_dump(dump.stdout)
        if any(kind == "thread" and int(f["tid"]) == j["pid"] for _, kind, f, _ in recs):
            main = [(kind, f) for _, kind, f, _ in recs]
            break
    expect(main is not None, "no stream has the main thread's THREAD record")
    mm = [f for k, f in main if k == "malloc"]
    mc = [f for k, f in main if k == "calloc"]
    mf = [f for k, f in main if k == "free"]
    other = sorted({k for k, _ in main} - {"thread", "stack", "stream_state", "malloc", "calloc", "free"})
    expect(not other, f"main thread made unexpected calls: {other}")

    # main: exactly the calls listed above
    sizes = sorted(int(f["size"]) for f in mc)
    expect(len(mc) == 2 + threads, f"main thread callocs: {sizes}")
    expect(8 * threads in sizes and 48 * threads in sizes, f"main's own callocs missing: {sizes}")
    own = {f["ptr"] for f in mc if int(f["size"]) in (8 * threads, 48 * threads)}
    expect(sorted(f["ptr"] for f in mf) == sorted(own), f"main's frees {mf} are not of its callocs {own}")
    expect(len(mm) == 1, f"main thread mallocs: {mm}")

    # the workers: exactly what the program printed
    want = {"malloc": p_malloc + len(mm), "calloc": p_calloc + len(mc), "realloc": p_realloc,
            "free": p_free + len(mf), "realloc_free": p_realloc}
    got = {k: c[k] for k in want}
    expect(got == want, f"counts {got} != program's {want}")
    for k in ("reallocarray", "memalign", "posix_memalign", "aligned_alloc", "valloc", "pvalloc", "failed",
              "cuda_alloc", "cuda_free"):
        expect(c[k] == 0, f"{k} = {c[k]}")
    expect(j["threads"] == threads + 1, f"threads = {j['threads']}")
    expect(j["end"]["how"] == "exit" and j["end"]["value"] == 0, f"end = {j['end']}")
    expect(not j["damaged"], "trace damaged")
    expect(j["allocations"] == want["malloc"] + want["calloc"] + want["realloc"], "allocations total")
    # mallocrec's own summary counts from the tag columns alone: the same figures
    s = re.search(r"(\d+) allocations, (\d+) frees, (\d+) threads, (\d+) bytes", r.stderr)
    expect(s, f"mallocrec printed no summary: {r.stderr!r}")
    expect(list(map(int, s.groups())) == [j["allocations"], want["free"], threads + 1, j["file_bytes"]],
           f"mallocrec's summary {s.group(0)} != info's")
    print(f"ok: workers malloc={p_malloc} calloc={p_calloc} realloc={p_realloc} free={p_free}; "
          f"main thread: {len(mm)} malloc, {len(mc)} calloc, {len(mf)} free; "
          f"{j['file_bytes']} bytes, {j['bytes_per_event']} bytes/event")
