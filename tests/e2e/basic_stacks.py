"""Records samples/basic and checks its stacks in `mallocan dump`: every
allocation of the program's own has its innermost frame in the `basic`
module, inside the function that made the call (by nm's symbol ranges),
and the stack trie of the stream is well formed.

usage: basic_stacks.py MALLOCREC MALLOCAN BASIC
"""
import os
import re

from common import argv, expect, parse_dump, record, run, tmpdir

mallocrec, mallocan, basic = argv(3, 3)
name = os.path.basename(basic)

# function ranges of the sample, from its symbol table
nm = run(["nm", "-S", "--defined-only", basic])
expect(nm.returncode == 0, f"nm: {nm.stderr}")
funcs = {}
for line in nm.stdout.splitlines():
    parts = line.split()
    if len(parts) == 4 and parts[2] in "tT":
        funcs[parts[3]] = (int(parts[0], 16), int(parts[0], 16) + int(parts[1], 16))
expect("make" in funcs and "main" in funcs, f"nm found no make/main in {basic}")


def func_of(off):
    # ips are return addresses: the call is at ip - 1
    return next((f for f, (lo, hi) in funcs.items() if lo <= off - 1 < hi), None)


with tmpdir() as d:
    trace = os.path.join(d, "basic.mrz")
    r = record(mallocrec, trace, [basic])
    expect(r.returncode == 0, f"mallocrec: {r.returncode} {r.stderr}")
    dump = run([mallocan, "dump", trace])
    expect(dump.returncode == 0 and not dump.stderr, f"mallocan dump: {dump.stderr}")
    recs = parse_dump(dump.stdout)

    # the stack trie, per stream: ids are 1, 2, 3... and parents come first
    nodes = {}
    for s, kind, f, rest in recs:
        if kind != "stack":
            continue
        sid, parent = int(f["id"]), int(f["parent"])
        expect(sid == sum(1 for k in nodes if k[0] == s) + 1, f"stream {s}: stack id {sid} out of order")
        expect(parent == 0 or (s, parent) in nodes, f"stream {s}: node {sid} has unknown parent {parent}")
        m = re.search(r"\((\S+)\+0x([0-9a-f]+)\)", rest)
        nodes[(s, sid)] = (parent, int(f["ip"], 16), m.group(1) if m else None, int(m.group(2), 16) if m else None)

    def frames(s, sid):
        out = []
        while sid:
            parent, ip, mod, off = nodes[(s, sid)]
            out.append((mod, off))
            sid = parent
        return out

    def own(kind, size):
        hits = [(s, int(f["stack"])) for s, k, f, _ in recs if k == kind and int(f["size"]) == size]
        expect(len(hits) == 1, f"{kind} of {size} bytes: {len(hits)} records")
        s, sid = hits[0]
        expect(sid != 0, f"{kind} of {size} bytes has no stack")
        return frames(s, sid)

    # make(16), make(32), make(64): malloc called from make, make from main
    made = [own("malloc", n) for n in (16, 32, 64)]
    for st in made:
        expect(st[0][0] == name and func_of(st[0][1]) == "make", f"innermost frame {st[0]} is not in make()")
        expect(st[1][0] == name and func_of(st[1][1]) == "main", f"second frame {st[1]} is not in main()")
        expect(any(m and m.startswith("libc.so") for m, _ in st[2:]), f"no libc frame outside main: {st}")
    expect(len({st[0] for st in made}) == 1, "make()'s malloc call site differs between calls")
    expect(len({st[1] for st in made}) == 3, "main's three calls of make() share a call site")
    expect(len({tuple(st[2:]) for st in made}) == 1, "frames outside main differ between calls")
    # calloc and realloc are called from main itself
    for kind, size in (("calloc", 1000), ("realloc", 256)):
        st = own(kind, size)
        expect(st[0][0] == name and func_of(st[0][1]) == "main", f"{kind}: innermost frame {st[0]} not in main()")
    print(f"ok: {len(nodes)} stack nodes; make() at {name}+0x{made[0][0][1]:x}")
