#!/usr/bin/env python3
"""The CI gates end to end: two builds of samples/leaky.c recorded, then
mallocan diff and mallocan check on them.  Every figure below follows from
leaky.c (see its header):
  A: steady() x2 (50 x 256 B each), grow_some() 20 x 1 KiB, leak_some()
     10 x 512 B all freed, old_scratch() 3 x 128 B
  B: grow_some() 40 x 1 KiB, leak_some() frees 6 of 10, new_cache() 8 KiB,
     no old_scratch(); its lines are shifted by #line 1000
usage: gates.py MALLOCREC MALLOCAN LEAKY_A LEAKY_B MALLOCAN_1"""
import json, os, re, shutil, subprocess, sys, tempfile

rec, an, leaky_a, leaky_b, manpage = sys.argv[1:6]
tmp = tempfile.mkdtemp()

KiB = 1024
steady = 2 * 50 * 256
A = dict(allocations=50 * 2 + 20 + 10 + 3, bytes=steady + 20 * KiB + 10 * 512 + 3 * 128,
         peak=20 * KiB, leaked=0, leaked_blocks=0)
B = dict(allocations=50 * 2 + 40 + 10 + 1, bytes=steady + 40 * KiB + 10 * 512 + 8 * KiB,
         peak=40 * KiB, leaked=4 * 512, leaked_blocks=4)

# The two builds as CI has them: one program name, two folders.
progs = {}
for name, src in (("a", leaky_a), ("b", leaky_b)):
    os.makedirs(os.path.join(tmp, name))
    progs[name] = os.path.join(tmp, name, "leaky")
    shutil.copy(src, progs[name])


def record(prog, out):
    p = subprocess.run([rec, "run", "-q", "-o", out, "--", prog], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return out


def mallocan(*args):
    p = subprocess.run([an, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def gate(*args, want):
    rc, out, err = mallocan(*args)
    assert rc == want, (args, rc, out, err)
    return out, err


a = record(progs["a"], os.path.join(tmp, "a.mrz"))
b = record(progs["b"], os.path.join(tmp, "b.mrz"))


def innermost(site):
    return site["frames"][0]["function"]


# --- diff: totals, and exactly the sites that changed
out, _ = gate("diff", "--format", "json", a, b, want=0)
j = json.loads(out)
assert j["command"] == "diff" and j["version"] == 1 and j["result"] == "pass" and j["limits"] == [], j
(u,) = j["units"]
for side, want in (("base", A), ("new", B)):
    t = u[side]["totals"]
    got = {k: t[k] for k in want}
    assert got == want, (side, got, want)
    assert t["spaces"]["host"]["peak"] == want["peak"], t
assert u["counts"] == {"grown": 2, "shrunk": 0, "new": 1, "gone": 1, "unchanged": 2}, u["counts"]
s = u["sites"]
assert [innermost(x) for x in s["grown"]] == ["grow_some", "leak_some"], s["grown"]  # largest change first
assert [innermost(x) for x in s["new"]] == ["new_cache"], s["new"]
assert [innermost(x) for x in s["gone"]] == ["old_scratch"], s["gone"]
g = s["grown"][0]
assert (g["base"]["allocations"], g["new"]["allocations"]) == (20, 40), g
assert (g["base"]["bytes"], g["new"]["bytes"], g["new"]["peak"]) == (20 * KiB, 40 * KiB, 40 * KiB), g
l = s["grown"][1]
assert (l["base"]["allocations"], l["new"]["allocations"]) == (10, 10), l
assert (l["base"]["leaked"], l["new"]["leaked"], l["new"]["leaked_blocks"]) == (0, 4 * 512, 4), l
n = s["new"][0]
assert n["base"] is None and (n["new"]["allocations"], n["new"]["bytes"]) == (1, 8 * KiB), n
o = s["gone"][0]
assert o["new"] is None and (o["base"]["allocations"], o["base"]["bytes"]) == (3, 3 * 128), o
# matched across a line shift: B's frames sit 900+ lines further down
assert g["frames"][0]["line"] >= 1000 and o["frames"][0]["line"] < 1000, (g["frames"][0], o["frames"][0])
assert g["key"].endswith(";main@leaky.c;grow_some@leaky.c"), g["key"]  # functions and files, no lines
print("diff: sites and totals ok")

# --- a tight threshold fails, naming the crossed limits; a loose one passes
tight = "peak:+5%,leaked:0,allocations:+10%,bytes:+40KiB"
out, err = gate("diff", "--fail-on", tight, a, b, want=1)
assert "grown sites: 2" in out and "new sites: 1" in out and "gone sites: 1" in out, out
assert "grow_some (leaky.c:" in out and "new_cache (leaky.c:" in out, out
lines = err.strip().split("\n")
assert len(lines) == 3, err  # peak, leaked and allocations cross; bytes (+27.5 KiB) does not
assert lines[0] == "mallocan: diff: limit crossed: peak.host 20.0 KiB -> 40.0 KiB > 21.0 KiB allowed (peak:+5%)", lines
assert lines[1] == "mallocan: diff: limit crossed: leaked.host 2.0 KiB > 0 B limit (leaked:0)", lines
assert lines[2] == "mallocan: diff: limit crossed: allocations 133 -> 151 > 146 allowed (allocations:+10%)", lines
out, _ = gate("diff", "--fail-on", tight, "--format", "json", a, b, want=1)
j = json.loads(out)
verdicts = {(x["metric"], x["space"]): x for x in j["limits"]}
assert j["result"] == "fail" and j["crossed"] == 3, j["limits"]
assert verdicts[("peak", "host")]["allowed"] == 21504 and verdicts[("peak", "host")]["crossed"], verdicts
assert verdicts[("bytes", None)]["allowed"] == A["bytes"] + 40 * KiB and not verdicts[("bytes", None)]["crossed"]
# the growth limits exactly at B's figures pass (the allowed value itself is fine)
grow = B["allocations"] - A["allocations"]
loose = "peak:+100%%,allocations:+%d,bytes:+%d,leaked:2KiB,leaked_blocks:4" % (grow, B["bytes"] - A["bytes"])
out, err = gate("diff", "--fail-on", loose, a, b, want=0)
assert "result: ok, within all 5 limits" in out and err == "", (out, err)
gate("diff", "--fail-on", "allocations:+%d" % (grow - 1), a, b, want=1)
out, _ = gate("diff", "--fail-on", tight, "--format", "markdown", a, b, want=1)
assert out.startswith("### mallocan diff: :x: 3 of 4 limits crossed\n"), out
assert "| :x: | `peak:+5%` | peak.host | 20.0 KiB | 40.0 KiB | 21.0 KiB |" in out, out
assert "<summary>Grown sites: 2</summary>" in out and "| `grow_some (leaky.c:" in out, out
# --top limits the lists, not the counts
out, _ = gate("diff", "--top", "1", "--format", "json", a, b, want=0)
u = json.loads(out)["units"][0]
assert len(u["sites"]["grown"]) == 1 and u["counts"]["grown"] == 2, u["counts"]
# a trace against itself: nothing changed
out, _ = gate("diff", "--format", "json", "--fail-on", "peak:+0%,allocations:+0%", a, a, want=0)
assert json.loads(out)["units"][0]["counts"] == {"grown": 0, "shrunk": 0, "new": 0, "gone": 0, "unchanged": 5}
print("diff: limits ok")

# --- check: limits both ways, and the sites behind a crossed one
gate("check", "--max-peak", "20KiB", "--max-leaked", "0", "--max-allocations", str(A["allocations"]), a, want=0)
out, err = gate("check", "--max-peak", "20KiB", "--max-leaked", "0", b, want=1)
assert err.strip().split("\n") == [
    "mallocan: check: limit crossed: peak.host 40.0 KiB > 20.0 KiB limit (--max-peak 20KiB)",
    "mallocan: check: limit crossed: leaked.host 2.0 KiB > 0 B limit (--max-leaked 0)"], err
out, _ = gate("check", "--max-leaked", "0", "--format", "json", b, want=1)
j = json.loads(out)
assert j["result"] == "fail" and j["limits"][0]["value"] == B["leaked"], j["limits"]
(c,) = j["culprits"]
assert c["limit"] == 0 and [innermost(x) for x in c["sites"]] == ["leak_some"] and c["sites"][0]["value"] == 2048, c
gate("check", "--max-allocations", str(B["allocations"]), "--limit", "leaked_blocks:4,leaked.host:2KiB", b, want=0)
gate("check", "--max-allocations", str(B["allocations"] - 1), b, want=1)
gate("check", "--limit", "leaked_blocks:3", b, want=1)
gate("check", "--max-bytes", str(B["bytes"]), "--max-temporaries", "100", b, want=0)
out, _ = gate("check", "--max-peak", "64MiB", "--format", "markdown", a, want=0)
assert out.startswith("### mallocan check: :white_check_mark: within all 1 limits\n"), out
print("check ok")

# --- bad usage: exit 2 and one clear line
bad = [
    (["diff", "--fail-on", "peak+5%", a, b], "mallocan: diff: --fail-on: 'peak+5%': expected METRIC:LIMIT, e.g. peak:+5% or leaked:0"),
    (["diff", "--fail-on", "peak:5%", a, b], "mallocan: diff: --fail-on: 'peak:5%': a percentage is growth over the base: write '+5%'"),
    (["diff", "--fail-on", "heap:+5%", a, b], "unknown metric 'heap'"),
    (["diff", "--fail-on", "bytes:+20MB5", a, b], "'20MB5' is not a size"),
    (["diff", "--fail-on", "peak.gpu:0", a, b], "unknown space 'gpu'"),
    (["diff", "--format", "html", a, b], "--format: 'html' is not one of text|json|markdown"),
    (["diff", a], "diff: expected BASE NEW"),
    (["diff", a, os.path.join(tmp, "missing.mrz")], "missing.mrz: No such file or directory"),
    (["check", "--max-peak", "64XB", a], "mallocan: check: --max-peak: '64XB' is not a size (e.g. 4096, 64KiB, 1.5GiB)"),
    (["check", "--max-leaked", "-1", a], "--max-leaked: '-1' is not a size"),
    (["check", "--max-allocations", "1.5", a], "--max-allocations: '1.5' is not a whole number"),
    (["check", "--limit", "peak:+5%", a], "growth limits ('+...') need a base"),
    (["check", a], "no limits given"),
]
for args, msg in bad:
    rc, out, err = mallocan(*args)
    assert rc == 2 and out == "" and err.count("\n") == 1 and msg in err, (args, rc, out, err)
print("bad usage ok")

# --- several traces per side: ranks named in the file names, or summed
base, new = os.path.join(tmp, "base"), os.path.join(tmp, "new")
os.makedirs(base)
os.makedirs(new)
for rank in (2, 10):
    record(progs["a"], os.path.join(base, "rank%d.mrz" % rank))
    record(progs["b"], os.path.join(new, "rank%d.mrz" % rank))
out, _ = gate("diff", "--format", "json", "--fail-on", "leaked:0", base, new, want=1)
j = json.loads(out)
assert [os.path.basename(p) for p in j["base"]] == ["rank2.mrz", "rank10.mrz"], j["base"]  # natural order
assert [x["label"] for x in j["units"]] == ["leaky", "leaky#1"], j["units"]
assert all(x["counts"]["grown"] == 2 and x["counts"]["new"] == 1 for x in j["units"]), j["units"]
assert [(x["unit"], x["crossed"]) for x in j["limits"]] == [("leaky", True), ("leaky#1", True)], j["limits"]
out, _ = gate("diff", "--aggregate", "--format", "json", base, new, want=0)
(u,) = json.loads(out)["units"]
assert u["label"] == "all" and u["counts"]["grown"] == 2 and u["counts"]["unchanged"] == 2, u
for side, want in (("base", A), ("new", B)):
    assert {k: u[side]["totals"][k] for k in want} == {k: 2 * v for k, v in want.items()}, (side, u[side]["totals"])
# a comma list is the same as the folder
out2, _ = gate("diff", "--aggregate", "--format", "json", base, ",".join(os.path.join(new, f) for f in ("rank10.mrz", "rank2.mrz")), want=0)
assert json.loads(out2)["units"][0]["counts"] == u["counts"]
gate("check", "--max-leaked", str(B["leaked"]), new, want=0)
out, err = gate("check", "--aggregate", "--max-leaked", str(B["leaked"]), new, want=1)
assert "leaked.host 4.0 KiB > 2.0 KiB limit (--max-leaked 2048)" in err, err
print("several traces ok")

# --- no symbols (binary gone): frames compare as module+offset, warnings once
os.remove(progs["a"])
rc, out, err = mallocan("diff", "--format", "json", a, a)
counts = json.loads(out)["units"][0]["counts"]
assert rc == 0 and counts["unchanged"] >= 5 and counts["unchanged"] == sum(counts.values()), (rc, out)
assert err.count("leaky") == 1 and "module+offset" in err, err  # once for both sides
out, _ = gate("check", "-q", "--max-peak", "0", "--top", "1", "--format", "json", a, want=1)
(site,) = json.loads(out)["culprits"][0]["sites"]
assert site["display"].startswith("leaky+0x") and site["frames"][0]["function"] is None, site
assert site["figures"]["allocations"] == 20 and site["value"] == 20 * KiB, site  # grow_some's
rc, out, err = mallocan("diff", "-q", "--format", "json", a, a)
assert rc == 0 and err == "", err
print("no symbols ok")

# --- every option of --help has its entry in the command's man section
man = open(manpage).read()
for cmd in ("diff", "check"):
    section = man.split(".SS %s\n" % cmd)[1].split(".SS ")[0]
    opts = re.findall(r"--([a-z][a-z-]*)", mallocan(cmd, "--help")[1])
    assert len(opts) >= 5, opts
    for o in opts:  # a .TP entry that names it
        roff = re.escape("\\-\\-" + o.replace("-", "\\-"))
        assert re.search(r"\.TP\n\.B[IR]? [^\n]*" + roff + r"(?![a-z\\])", section), (cmd, o)
print("man sections ok")
shutil.rmtree(tmp)
