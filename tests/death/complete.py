"""Completing a trace when it is read: a program recorded without the
launcher (LD_PRELOAD alone) and killed leaves its trace and <trace>.wip;
mallocan completes the trace from the spill file once the process is gone,
leaves it alone (with a warning) while the process runs, completes a
private copy when the trace's folder cannot be written, and cuts off a
chunk torn by the death so the completed trace reads without damage.

usage: complete.py MALLOCAN ENDS LIBMALLOCREC"""
import os
import shutil
import signal
import subprocess

from deathlib import Dump, args, expect, info, run, tmpdir, traces, wait_for_file

mallocan, ends, lib = args(3)
N = 3000
BLOCK = 4242


def direct(folder, mode, *extra):
    """Runs ends under LD_PRELOAD alone; returns the Popen (not waited)."""
    env = dict(os.environ, LD_PRELOAD=lib, MALLOCREC_OUTPUT=os.path.join(folder, "%n.%p.mrz"))
    return subprocess.Popen([ends, mode, str(N), *extra], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def killed_trace(folder):
    os.mkdir(folder)
    p = direct(folder, "kill")
    p.wait(timeout=60)
    expect(p.returncode == -signal.SIGKILL, f"ends kill: status {p.returncode}")
    (t,) = traces(folder)
    expect(os.path.exists(t + ".wip"), f"no spill file beside {t}")
    return t


figures = []
with tmpdir() as d:
    # 1. completed by the first read, once
    t = killed_trace(os.path.join(d, "dead"))
    j = info(mallocan, t)
    expect(not os.path.exists(t + ".wip"), "the spill file is still there after the read")
    expect(j["end"]["completed_after_exit"] and not j["end"]["known"], f"end {j['end']}")
    expect(not j["damaged"], f"damaged: {j['_stderr']}")
    expect(Dump(mallocan, t).count(BLOCK) == N, "blocks missing after completion")
    size = os.path.getsize(t)
    info(mallocan, t)
    expect(os.path.getsize(t) == size, "a second read changed the trace")
    figures.append(f"completed on read {N}/{N}")

    # 2. a process still recording: read what is there, touch nothing
    folder = os.path.join(d, "alive")
    os.mkdir(folder)
    pidfile = os.path.join(folder, "pid")
    p = direct(folder, "wait", pidfile)
    wait_for_file(pidfile, p)
    (t,) = [x for x in traces(folder)]
    j = info(mallocan, t)
    expect("still running" in j["_stderr"], f"no warning for a live process: {j['_stderr']!r}")
    expect(os.path.exists(t + ".wip"), "the spill file of a live process was removed")
    p.kill()
    p.wait(timeout=60)
    expect(Dump(mallocan, t).count(BLOCK) == N, "blocks missing after the live process was killed")
    expect(not os.path.exists(t + ".wip"), "the spill file is still there after the process died")
    figures.append("live process left alone")

    # 3. a folder we cannot write: a private copy is completed and read
    t = killed_trace(os.path.join(d, "ro"))
    folder = os.path.dirname(t)
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] if setpriv else None
        os.chmod(d, 0o755)
    else:
        prefix = []
        os.chmod(folder, 0o555)
    if prefix is None:
        figures.append("read-only folder skipped (root without setpriv)")
    else:
        before = open(t, "rb").read()
        p = run(prefix + [mallocan, "info", "--format", "json", t])
        expect(p.returncode == 0, f"read-only: exit status {p.returncode}: {p.stderr}")
        expect("cannot be completed in place" in p.stderr, f"read-only: no warning: {p.stderr!r}")
        p2 = run(prefix + [mallocan, "dump", t])
        got = sum(1 for line in p2.stdout.splitlines() if " size=4242 " in line)
        expect(got == N, f"read-only: {got} of {N} blocks")
        expect(open(t, "rb").read() == before and os.path.exists(t + ".wip"), "read-only: trace changed")
        os.chmod(folder, 0o755)
        figures.append(f"read-only folder {got}/{N}")

    # 4. a chunk torn by the death at the end of the trace is cut off
    t = killed_trace(os.path.join(d, "torn"))
    whole = open(os.path.join(d, "dead", os.listdir(os.path.join(d, "dead"))[0]), "rb").read()
    with open(t, "ab") as f:
        f.write(whole[32:32 + 48 + 20])  # a chunk header and 20 bytes of its payload
    j = info(mallocan, t)
    expect(not j["damaged"] and "damaged" not in j["_stderr"] and "truncated" not in j["_stderr"],
           f"torn tail: {j['_stderr']!r}")
    expect(Dump(mallocan, t).count(BLOCK) == N, "torn tail: blocks missing")
    figures.append("torn chunk cut")
print("ok:", ", ".join(figures))
