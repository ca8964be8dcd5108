"""Real programs record without a crash and their traces read and report:
python3 with PYTHONMALLOC=malloc (1,000 bytearrays of 4249 bytes are 1,000
mallocs of 4250), `gcc -c` (driver, cc1 and as: one trace each, children
naming the driver as parent), and sqlite3 or else git where installed.

usage: real.py MALLOCREC MALLOCAN"""
import os
import shutil
import sys

from deathlib import Dump, SKIP, args, expect, info, run, tmpdir, traces

mallocrec, mallocan = args(2)


def check(t, what):
    """The trace reads cleanly, ended with exit 0, and reports."""
    j = info(mallocan, t)
    expect(j["end"]["how"] == "exit" and j["end"]["value"] == 0, f"{what}: {t}: end {j['end']}")
    expect(not j["damaged"] and not j["_stderr"], f"{what}: {t}: {j['_stderr']}")
    expect(j["allocations"] > 0, f"{what}: {t}: no allocations")
    p = run([mallocan, "report", t])
    expect(p.returncode == 0 and "PEAK" in p.stdout, f"{what}: mallocan report {t}: {p.returncode} {p.stderr}")
    return j


figures = []
with tmpdir() as d:
    # python3: the interpreter running this test
    folder = os.path.join(d, "py")
    os.mkdir(folder)
    env = dict(os.environ, PYTHONMALLOC="malloc")
    p = run([mallocrec, "run", "-q", "-o", os.path.join(folder, "%n.%p.mrz"), "--", sys.executable, "-c",
             "b = [bytearray(4249) for _ in range(1000)]"], env=env)
    expect(p.returncode == 0, f"python3: exit status {p.returncode}: {p.stderr}")
    (t,) = traces(folder)
    j = check(t, "python3")
    got = Dump(mallocan, t).count(4250)
    expect(got == 1000, f"python3: {got} of 1000 mallocs of 4250 bytes")
    figures.append(f"python3 {j['allocations']} allocations")

    gcc = shutil.which("gcc")
    if gcc:
        folder = os.path.join(d, "gcc")
        os.mkdir(folder)
        src = os.path.join(d, "t.c")
        open(src, "w").write("int twice(int x) { return 2 * x; }\n")
        p = run([mallocrec, "run", "-q", "-o", os.path.join(folder, "%n.%p.mrz"), "--", gcc, "-c", src, "-o",
                 os.path.join(d, "t.o")])
        expect(p.returncode == 0, f"gcc -c: exit status {p.returncode}: {p.stderr}")
        procs = {}
        for t in traces(folder):
            j = check(t, "gcc -c")
            procs[os.path.basename(j["exe"])] = j
        names = sorted(procs)
        expect(len(names) == 3 and "cc1" in names and any("as" == n.split("-")[-1] for n in names),
               f"gcc -c: traces of {names}, expected the driver, cc1 and as")
        driver = [j for n, j in procs.items() if n != "cc1" and n.split("-")[-1] != "as"][0]
        for n, j in procs.items():
            if j is not driver:
                expect(j["ppid"] == driver["pid"], f"gcc -c: {n}'s parent is {j['ppid']}, not the driver")
        figures.append("gcc -c: " + ", ".join(f"{n} {procs[n]['allocations']}" for n in names))
    else:
        figures.append("gcc absent")

    for prog, argv in (("sqlite3", [":memory:", "create table t(a); insert into t values (1), (2); "
                                                "select sum(a) from t;"]),
                       ("git", ["--version"])):
        exe = shutil.which(prog)
        if not exe:
            continue
        folder = os.path.join(d, prog)
        os.mkdir(folder)
        p = run([mallocrec, "run", "-q", "-o", os.path.join(folder, "%n.%p.mrz"), "--", exe, *argv])
        expect(p.returncode == 0, f"{prog}: exit status {p.returncode}: {p.stderr}")
        ts = traces(folder)
        expect(len(ts) >= 1, f"{prog}: no trace")
        j = check(ts[0], prog)
        figures.append(f"{prog} {j['allocations']} allocations")
        break
    else:
        figures.append("neither sqlite3 nor git installed")
print("ok:", ", ".join(figures))
