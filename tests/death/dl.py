"""dlopen/dlclose: samples/dlmain loads libdlib.so by path and then by bare
name (found through dlmain's RUNPATH, which dlopen only honours for its
real caller), allocates 50 blocks of 4247 bytes through it each time and
unloads it; the library's constructor allocates 4248 bytes at each load.
The trace must keep the module history — a MODULE and a MODULE_UNLOAD for
each load, in order, bracketing the allocations made through it — and the
frames of those allocations must still resolve to the library.  Again with
a SIGKILL after the second round instead of the unload: the second load
must be in the trace all the same.

usage: dl.py MALLOCREC MALLOCAN DLMAIN LIBDIR"""
import os

from deathlib import Dump, args, expect, run, tmpdir

mallocrec, mallocan, dlmain, libdir = args(4)

def check(t, killed):
    dump = Dump(mallocan, t)
    loads = [(int(f["id"]), int(f["t"])) for s, k, f, line in dump.recs
             if k == "module" and line.split(" path=")[1].split()[0].endswith('/libdlib.so"')]
    unloads = {int(f["id"]): int(f["t"]) for s, k, f, _ in dump.recs if k == "module_unload"}
    expect(len(loads) == 2, f"{len(loads)} MODULE records for libdlib.so, expected 2")
    spans = []
    for i, (mid, t_load) in enumerate(loads):
        if killed and i == 1:
            expect(mid not in unloads, f"module {mid} unloaded, though the process died with it loaded")
            spans.append((t_load, 2 ** 64))
            continue
        expect(mid in unloads, f"module {mid} (libdlib.so) has no MODULE_UNLOAD")
        expect(t_load < unloads[mid], f"module {mid}: unloaded at {unloads[mid]} before its load at {t_load}")
        spans.append((t_load, unloads[mid]))
    spans.sort()
    expect(spans[0][1] <= spans[1][0], f"the second load {spans[1]} overlaps the first {spans[0]}")

    # stack nodes per stream; a frame of the library is annotated libdlib.so+0x...
    nodes = {}
    for s, k, f, line in dump.recs:
        if k == "stack":
            nodes[(s, int(f["id"]))] = (int(f["parent"]), "(libdlib.so+0x" in line)

    def in_lib(stream, sid):
        while sid:
            parent, lib = nodes[(stream, sid)]
            if lib:
                return True
            sid = parent
        return False

    for size, want in ((4247, 50), (4248, 1)):
        allocs = dump.allocs(size)
        expect(len(allocs) == 2 * want, f"{len(allocs)} blocks of {size} bytes, expected {2 * want}")
        for lo, hi in spans:
            inside = [a for a in allocs if lo <= int(a[2]["t"]) <= hi]
            expect(len(inside) == want, f"{len(inside)} blocks of {size} bytes while loaded at {lo}..{hi}")
        for s, _, f, line in allocs:
            expect(in_lib(s, int(f["stack"])), f"no libdlib.so frame in the stack of: {line}")


with tmpdir() as d:
    t = os.path.join(d, "dl.mrz")
    p = run([mallocrec, "run", "-q", "-o", t, "--", dlmain, libdir])
    expect(p.returncode == 0, f"dlmain: exit status {p.returncode}: {p.stdout} {p.stderr}")
    check(t, False)
    # and the report names the library's functions, though it is gone
    p = run([mallocan, "report", t])
    expect(p.returncode == 0, f"mallocan report: exit status {p.returncode}: {p.stderr}")
    for fn in ("dlib_alloc", "dlib_init"):
        expect(fn in p.stdout, f"mallocan report does not name {fn}:\n{p.stdout}")

    t = os.path.join(d, "killed.mrz")
    p = run([mallocrec, "run", "-q", "-o", t, "--", dlmain, libdir, "kill"])
    expect(p.returncode == 128 + 9, f"dlmain kill: exit status {p.returncode}: {p.stdout} {p.stderr}")
    check(t, True)
print("ok: libdlib.so loaded and unloaded twice, and killed while loaded; 100 + 2 blocks resolve to it")
