"""Loader lock: samples/loaderlock allocates and frees N blocks of 4249 bytes
inside a dl_iterate_phdr callback (the loader's lock held) while a second
thread's dlopen of a library already loaded (samples' libdlib.so) makes the
recorder scan modules under its own lock.  A
chunk flushed in the callback must not wait for the recorder's lock: the
program ends, and every block is in the trace.

usage: loader.py MALLOCREC MALLOCAN LOADERLOCK LIBDLIB"""
import json
import os
import signal
import subprocess

from deathlib import args, expect, fail, info, run, tmpdir

mallocrec, mallocan, loaderlock, lib = args(4)

with tmpdir() as d:
    t = os.path.join(d, "loader.mrz")
    p = subprocess.Popen([mallocrec, "run", "-q", "-o", t, "--", loaderlock, lib], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        fail("loaderlock: no end in 60 s (recorder deadlocked inside the loader)")
    expect(p.returncode == 0, f"loaderlock: exit status {p.returncode}: {err}")
    n = int(out.split()[0])
    ar = run([mallocan, "arenas", "--group-by", "size", "--top", "0", "--format", "json", t])
    expect(ar.returncode == 0, f"mallocan arenas: {ar.stderr}")
    got = sum(g["count"] for g in json.loads(ar.stdout)["groups"] if g["size"] == 4249)
    expect(got == n, f"loaderlock: {n} blocks of 4249 bytes allocated, the trace holds {got}")
    j = info(mallocan, t)
    expect(j["end"]["how"] == "exit" and not j["damaged"], f"loaderlock: {j}")
    print(f"ok: {got} allocations inside dl_iterate_phdr, {j['chunks']} chunks")
