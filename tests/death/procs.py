"""Process trees: one trace per process, each with that process's own
counts.  samples/forker allocates 100 blocks of 4242 bytes, then forks (the
child allocates 200 and execs samples/ends, which allocates 300), vforks
and execs, posix_spawns (with our environment, and with one that lacks
LD_PRELOAD and every MALLOCREC_ variable), or execs in place.  The child's
trace must not hold the parent's unflushed records, every trace names its
parent, and with --no-follow only the first process is recorded.

usage: procs.py MALLOCREC MALLOCAN FORKER ENDS"""
import os

from deathlib import Dump, args, expect, info, run, tmpdir, traces

mallocrec, mallocan, forker, ends = args(4)
BLOCK = 4242


def record(folder, mode, *extra):
    os.mkdir(folder)
    p = run([mallocrec, "run", *extra, "-o", os.path.join(folder, "%n.%p.mrz"), "--", forker, mode, ends])
    expect(p.returncode == 0, f"{mode}: exit status {p.returncode}: {p.stderr}")
    ts = traces(folder)
    for t in ts:
        expect(t in p.stderr, f"{mode}: mallocrec did not list {t}: {p.stderr}")
    got = []
    for t in ts:
        j = info(mallocan, t)
        expect(not j["damaged"] and not j["_stderr"], f"{mode}: {t}: {j['_stderr']}")
        got.append({"name": os.path.basename(t).split(".")[0], "pid": j["pid"], "ppid": j["ppid"],
                    "end": j["end"]["how"], "blocks": Dump(mallocan, t).count(BLOCK)})
    return got


def one(got, name, end):
    m = [g for g in got if g["name"] == name and g["end"] == end]
    expect(len(m) == 1, f"expected one {name} trace ending by {end}: {got}")
    return m[0]


figures = []
with tmpdir() as d:
    # fork: parent 100; child 200 then exec; the exec'd image 300
    got = record(os.path.join(d, "fork"), "fork")
    expect(len(got) == 3, f"fork: {got}")
    parent, child, image = one(got, "forker", "exit"), one(got, "forker", "exec"), one(got, "ends", "exit")
    expect((parent["blocks"], child["blocks"], image["blocks"]) == (100, 200, 300), f"fork: counts {got}")
    expect(child["ppid"] == parent["pid"] and image["pid"] == child["pid"] and image["ppid"] == parent["pid"],
           f"fork: pids {got}")
    figures.append("fork 100/200/300")

    for mode in ("vfork", "spawn", "bareenv"):
        got = record(os.path.join(d, mode), mode)
        expect(len(got) == 2, f"{mode}: {got}")
        parent, image = one(got, "forker", "exit"), one(got, "ends", "exit")
        expect((parent["blocks"], image["blocks"]) == (100, 300), f"{mode}: counts {got}")
        expect(image["ppid"] == parent["pid"] and image["pid"] != parent["pid"], f"{mode}: pids {got}")
        figures.append(f"{mode} 100/300")

    # exec in place: one pid, two images, two traces
    got = record(os.path.join(d, "exec"), "exec")
    expect(len(got) == 2, f"exec: {got}")
    before, after = one(got, "forker", "exec"), one(got, "ends", "exit")
    expect((before["blocks"], after["blocks"]) == (100, 300) and before["pid"] == after["pid"], f"exec: {got}")
    figures.append("exec 100/300")

    # --no-follow: the first process only, whatever it starts
    for mode in ("fork", "vfork", "spawn", "bareenv", "exec"):
        got = record(os.path.join(d, "nofollow-" + mode), mode, "--no-follow")
        expect(len(got) == 1 and got[0]["name"] == "forker" and got[0]["blocks"] == 100,
               f"--no-follow {mode}: {got}")
    figures.append("--no-follow 1 trace each")
print("ok:", ", ".join(figures))
