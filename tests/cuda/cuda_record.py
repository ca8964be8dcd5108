#!/usr/bin/env python3
"""Records a CUDA test program with mallocrec and checks, record by record,
that `mallocan dump` holds exactly the CUDA calls the program reports making
(space, device, pointer, size, result, stream, in order), that `mallocan
info` counts them, and that each allocation's stack starts in the code that
made the call.

usage: cuda_record.py CASE MALLOCREC MALLOCAN HOOKS PROGRAM [PLUGIN]
HOOKS is 1 when the recorder has inline hooks (capstone).  CASE:
  runtime          shared (mock) libcudart, every runtime allocator
  driver           (mock) libcuda: exports, cuGetProcAddress(_v2), dlsym
  static           the runtime inside the executable, hidden (as nvcc links
                   cudart): patched in place, so runtime-level records
  static_stripped  the same program stripped: only the driver layer can see
                   its calls, so driver-level records
  local            a plugin loaded RTLD_LOCAL that links libcudart
  nvcc             samples/cuda_alloc built by nvcc ('' when nvcc is absent)
  nvcc_shared      the same with the shared cudart"""
import itertools
import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from common import FIELD_RE, SKIP, expect, fail, parse_dump, record, run, tmpdir  # noqa: E402

MOCK_RT_STATE = 4321  # mock_cuda.h: host heap bytes the mock runtime allocates when it starts

# (allocations, frees) each program makes: a guard against a program that
# printed nothing, compared with what it printed.
COUNTS = {"runtime": (12, 10), "driver": (13, 12), "static": (5, 3), "static_stripped": (5, 3), "local": (1, 1)}

EXPECT_RE = re.compile(r"^expect(\[\w+\])? (cuda_alloc|cuda_free) (.*)$")
KEYS = {"cuda_alloc": ("space", "device", "ptr", "size", "result", "stream"),
        "cuda_free": ("space", "device", "ptr", "result")}
MODULE_RE = re.compile(r"\((\S+)\+0x[0-9a-f]+\)")


def norm(kind, fields):
    rec = {"kind": kind}
    for k in KEYS[kind]:
        rec[k] = fields[k] if k == "space" else int(fields[k], 0)
    return rec


def expected_lines(stdout, tag):
    """The records the program printed (EXPECT_ALLOC / EXPECT_FREE)."""
    out = []
    for line in stdout.splitlines():
        m = EXPECT_RE.match(line)
        if m and (m.group(1) or "") == tag:
            out.append(norm(m.group(2), dict(FIELD_RE.findall(m.group(3)))))
    return out


def expected_table(stdout):
    """samples/cuda_alloc's table: call space bytes rc dev pointer error."""
    out = []
    for line in stdout.splitlines()[1:]:
        f = line.split()
        if len(f) != 7 or not f[0].startswith("cuda"):
            fail("unexpected line from cuda_alloc: " + line)
        call, space, size, rc, dev = f[0], f[1], int(f[2]), int(f[3]), int(f[4])
        ptr = 0 if f[5] == "(nil)" else int(f[5], 16)
        if call.startswith("cudaFree"):
            out.append({"kind": "cuda_free", "space": space, "device": dev, "ptr": ptr, "result": rc})
        else:
            out.append({"kind": "cuda_alloc", "space": space, "device": dev, "ptr": 0 if rc else ptr,
                        "size": size, "result": rc, "stream": 0})
    return out


def recorded(dump):
    """CUDA records in trace order, and each allocation's innermost module."""
    nodes, recs, inner = {}, [], []
    for stream, kind, fields, rest in parse_dump(dump):
        if kind == "stack":
            m = MODULE_RE.search(rest)
            nodes[(stream, int(fields["id"]))] = m.group(1) if m else "?"
        elif kind in KEYS:
            recs.append(norm(kind, fields))
            if kind == "cuda_alloc":
                inner.append(nodes.get((stream, int(fields["stack"]))))
    return recs, inner


def show(rec):
    return " ".join(f"{k}={rec[k]:#x}" if k == "ptr" else f"{k}={rec[k]}" for k in rec) if rec else "(none)"


def main():
    case, mallocrec, mallocan, hooks = sys.argv[1:5]
    progs = sys.argv[5:]
    hooks = hooks == "1"
    if case.startswith("nvcc") and not progs[0]:
        print("SKIP: nvcc not found (neither on PATH nor in /usr/local/cuda/bin): "
              "no program built with the real CUDA runtime to record")
        return SKIP
    with tmpdir() as d:
        argv, module, tag = [progs[0]], os.path.basename(progs[0]), ""
        if case == "static":
            tag = "[runtime]" if hooks else "[driver]"
        elif case == "static_stripped":
            strip = shutil.which("strip")
            if not strip:
                print("SKIP: no strip(1) to make the stripped program")
                return SKIP
            argv = [os.path.join(d, "cuda_static_stripped")]
            shutil.copy(progs[0], argv[0])
            p = run([strip, "--strip-all", argv[0]])
            expect(p.returncode == 0, "strip failed: " + p.stderr)
            module, tag = "cuda_static_stripped", "[driver]"
        elif case == "local":
            argv.append(progs[1])
            module = os.path.basename(progs[1])
        trace = os.path.join(d, "cuda.mrz")
        p = record(mallocrec, trace, argv)
        expect(p.returncode == 0, f"{case}: {argv[0]} exited {p.returncode} under mallocrec:\n{p.stdout}{p.stderr}")
        # without inline hooks, a runtime built into the program is out of
        # reach, and the recorder says so
        unreachable = not hooks and case in ("static", "nvcc")
        expect(("mallocrec: cannot hook" in p.stderr) == unreachable,
               f"{case}: the recorder {'did not say' if unreachable else 'said'} it cannot hook a function:\n{p.stderr}")
        if unreachable and case == "nvcc":
            print("SKIP: mallocrec was built without inline hooks (capstone), so the static cudart of "
                  "cuda_alloc is out of its reach, and without a driver no call reaches the driver layer; "
                  "it said so: " + p.stderr.strip())
            return SKIP
        want = expected_table(p.stdout) if case.startswith("nvcc") else expected_lines(p.stdout, tag)
        n_alloc = sum(r["kind"] == "cuda_alloc" for r in want)
        n_free = len(want) - n_alloc
        if case.startswith("nvcc"):
            ok = sum(r["kind"] == "cuda_alloc" and not r["result"] for r in want)
            expect(n_alloc == 6 and n_free == ok, f"cuda_alloc printed {n_alloc} allocations, {n_free} frees")
        else:
            expect((n_alloc, n_free) == COUNTS[case],
                   f"{case}: the program reports {n_alloc} allocations and {n_free} frees, "
                   f"not {COUNTS[case]}:\n{p.stdout}")

        dump = run([mallocan, "dump", trace])
        expect(dump.returncode == 0, "mallocan dump failed: " + dump.stderr)
        got, inner = recorded(dump.stdout)
        if got != want:
            lines = [f"{case}: the trace's CUDA records differ from the calls made (program | trace):"]
            for i, (a, b) in enumerate(itertools.zip_longest(want, got)):
                lines.append(f"{'  ' if a == b else '! '}{i}: {show(a)}\n     {show(b)}")
            fail("\n".join(lines))

        info = run([mallocan, "info", "--format", "json", trace])
        expect(info.returncode == 0, "mallocan info failed: " + info.stderr)
        j = json.loads(info.stdout)
        counts = j["counts"]
        expect((counts["cuda_alloc"], counts["cuda_free"]) == (n_alloc, n_free),
               f"{case}: info counts {counts['cuda_alloc']} cuda_alloc / {counts['cuda_free']} cuda_free, "
               f"want {n_alloc} / {n_free}")
        spaces = {}
        for r in want:
            sp = spaces.setdefault(r["space"], {"alloc": 0, "free": 0, "failed": 0})
            sp["alloc" if r["kind"] == "cuda_alloc" else "free"] += 1
            sp["failed"] += r["result"] != 0
        expect(j["cuda"] == spaces, f"{case}: info's CUDA spaces {j['cuda']}, want {spaces}")
        bad = [i for i, m in enumerate(inner) if m != module]
        expect(not bad, f"{case}: allocations {bad} have stacks starting in {[inner[i] for i in bad]}, "
                        f"not in {module}")
        if case == "runtime":
            # the mock runtime's own host allocation, made inside the first call
            state = [f for _, k, f, _ in parse_dump(dump.stdout) if k == "malloc" and f["size"] == str(MOCK_RT_STATE)]
            expect(len(state) == 1, f"runtime: {len(state)} host mallocs of {MOCK_RT_STATE} bytes, want 1")
        print(f"ok: {case}: {n_alloc} CUDA allocations and {n_free} frees recorded as made, "
              f"stacks from {module}" + (f" ({tag[1:-1]} layer)" if tag else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
