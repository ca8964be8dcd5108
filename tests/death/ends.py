"""Every way a process can end loses nothing: samples/ends allocates N
blocks of 4242 bytes from one function and ends by return, exit, _exit,
_Exit, abort, SIGSEGV, exec, SIGKILL from itself and SIGKILL from outside;
each trace must hold all N blocks and say how the process ended.  Then
threads: killed from outside while 4 threads allocate, and still
allocating when main returns; each thread's stream must hold every
allocation the thread saw return (and at most the one under way).

usage: ends.py MALLOCREC MALLOCAN ENDS"""
import json
import os
import signal
import struct

from deathlib import Dump, args, expect, fail, info, kill_from_outside, run, tmpdir, traces

N = 5000
CHURN = 1000000  # allocations before the kill
BLOCK = 4242

mallocrec, mallocan, ends = args(3)

# mode -> (launcher exit status, END how, END value, completed after the fact)
MODES = {
    "return": (0, "exit", 0, False),
    "exit": (3, "exit", 3, False),
    "_exit": (4, "exit", 4, False),
    "_Exit": (5, "exit", 5, False),
    "abort": (128 + signal.SIGABRT, "signal", signal.SIGABRT, True),
    "segv": (128 + signal.SIGSEGV, "signal", signal.SIGSEGV, True),
    "kill": (128 + signal.SIGKILL, "signal", signal.SIGKILL, True),
    "wait": (128 + signal.SIGKILL, "signal", signal.SIGKILL, True),  # killed from outside
    "exec": (0, "exec", 0, False),
}

figures = []
with tmpdir() as d:
    for mode, (code, how, value, after) in MODES.items():
        out = os.path.join(d, mode)
        os.mkdir(out)
        cmd = [mallocrec, "run", "-o", os.path.join(out, "%n.%p.mrz"), "--", ends, mode, N]
        if mode == "wait":
            cmd.append(os.path.join(out, "pid"))
            rc, err = kill_from_outside(cmd, os.path.join(out, "pid"))
        else:
            p = run(cmd)
            rc, err = p.returncode, p.stderr
        expect(rc == code, f"{mode}: mallocrec exit status {rc}, expected {code}: {err}")
        ts = traces(out)
        expect(len(ts) == (2 if mode == "exec" else 1), f"{mode}: traces {ts}")
        for t in ts:
            expect(t in err, f"{mode}: mallocrec did not list {t}: {err}")
            expect(not os.path.exists(t + ".wip"), f"{mode}: {t}.wip left behind")
        first = ts[0] if mode != "exec" else [t for t in ts if not t.endswith(".1.mrz")][0]
        got = Dump(mallocan, first).count(BLOCK)
        expect(got == N, f"{mode}: {got} of {N} blocks of {BLOCK} bytes in {first}")
        j = info(mallocan, first)
        e = j["end"]
        expect(e["how"] == how and e["value"] == value and e["known"],
               f"{mode}: end {e}, expected {how} {value}")
        expect(e["completed_after_exit"] == after, f"{mode}: completed_after_exit {e}")
        expect(not j["damaged"] and not j["_stderr"], f"{mode}: damaged or warned: {j['_stderr']}")
        if mode == "exec":
            # same pid, same program: the new image's trace gets a suffix
            second = [t for t in ts if t.endswith(".1.mrz")]
            expect(len(second) == 1, f"exec: no .1 trace in {ts}")
            j2 = info(mallocan, second[0])
            expect(j2["pid"] == j["pid"], f"exec: pids {j['pid']} and {j2['pid']}")
            expect(j2["end"]["how"] == "exit" and j2["end"]["value"] == 0, f"exec: new image {j2['end']}")
            expect(Dump(mallocan, second[0]).count(BLOCK) == 0, "exec: the new image has blocks it never made")
        figures.append(f"{mode} {got}/{N}")

    # Threads: killed from outside mid-allocation, and alive when main returns.
    for mode in ("threads", "running"):
        out = os.path.join(d, mode)
        os.mkdir(out)
        pidfile = os.path.join(out, "pid")
        cmd = [mallocrec, "run", "-q", "-o", os.path.join(out, "%n.%p.mrz"), "--", ends, mode, 0, pidfile]
        if mode == "threads":
            rc, err = kill_from_outside(cmd, pidfile)
            expect(rc == 128 + signal.SIGKILL, f"threads: exit status {rc}: {err}")
        else:
            p = run(cmd)
            expect(p.returncode == 0, f"running: exit status {p.returncode}: {p.stderr}")
        raw = open(pidfile + ".count", "rb").read(64)
        counts, tids = struct.unpack("4q", raw[:32]), struct.unpack("4q", raw[32:])
        (t,) = traces(out)
        dump = Dump(mallocan, t)
        stream_of = {int(f["tid"]): s for s, kind, f, _ in dump.recs if kind == "thread"}
        per = dump.per_stream(BLOCK)
        for i in range(4):
            expect(tids[i] in stream_of, f"{mode}: thread {tids[i]} has no stream")
            got = per.get(stream_of[tids[i]], 0)
            expect(counts[i] <= got <= counts[i] + 1,
                   f"{mode}: thread {i} saw {counts[i]} allocations return, its stream holds {got}")
        figures.append(f"{mode} {sum(per.values())}/{sum(counts)}+")

    # Churn: killed from outside with chunks on their way to the trace
    # (handed to the recorder's compressor thread); every allocation the
    # program saw return is there.
    out = os.path.join(d, "churn")
    os.mkdir(out)
    pidfile = os.path.join(out, "pid")
    cmd = [mallocrec, "run", "-q", "-o", os.path.join(out, "%n.%p.mrz"), "--", ends, "churn", CHURN, pidfile]
    rc, err = kill_from_outside(cmd, pidfile)
    expect(rc == 128 + signal.SIGKILL, f"churn: exit status {rc}: {err}")
    counts = struct.unpack("4q", open(pidfile + ".count", "rb").read(32))
    (t,) = traces(out)
    j = info(mallocan, t)
    expect(j["chunks"] >= CHURN // 100000, f"churn: only {j['chunks']} chunks")
    ar = run([mallocan, "arenas", "--group-by", "size", "--top", "0", "--format", "json", t])
    expect(ar.returncode == 0, f"churn: mallocan arenas: {ar.stderr}")
    got = sum(g["count"] for g in json.loads(ar.stdout)["groups"] if g["size"] == BLOCK)
    expect(sum(counts) <= got <= sum(counts) + 1,
           f"churn: the program saw {sum(counts)} allocations return, the trace holds {got}")
    figures.append(f"churn {got}/{sum(counts)}+ in {j['chunks']} chunks")
print("ok:", ", ".join(figures))
