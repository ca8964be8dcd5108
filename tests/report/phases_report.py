"""Records samples/phases, whose heap history is known to the byte (see the
header comment of samples/phases.c), and checks `mallocan report`'s JSON:
the program's own sites exactly (found by the "@tag" marked lines), the peak
(its own 1720283 bytes plus only the C library's small blocks), the top
site at the peak, leaks per site, temporaries, short-lived blocks and the
lifetime histogram; then the text report; then that a trace whose program
was rebuilt or deleted still reports, with offsets and one warning; and that
mallocan(1) documents every option of the report command.

usage: phases_report.py MALLOCREC MALLOCAN PHASES PHASES_SOURCE MALLOCAN_MAN"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

mallocrec, mallocan, phases, source, manpage = sys.argv[1:6]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def run(*args):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True)


def report(trace, *opts):
    p = run(mallocan, "report", "--format", "json", "--top", "0", *opts, trace)
    expect(p.returncode == 0, f"mallocan report {opts}: exit {p.returncode}: {p.stderr}")
    return json.loads(p.stdout), p.stderr


# tag -> line, from the source's "/* @tag */" markers
lines = {}
for n, text in enumerate(open(source), 1):
    m = re.search(r"/\* @(\w+) \*/", text)
    if m:
        lines[m.group(1)] = n
FUNC = {"fill_a": "phase1_a", "fill_b": "phase1_b", "chain_start": "phase2_chain", "chain": "phase2_chain",
        "leak_a": "phase2_leak", "posix": "phase2_aligned", "aligned": "phase2_aligned",
        "memalign": "phase2_aligned", "valloc": "phase2_aligned", "temp_b": "phase2_temporaries",
        "big_a": "phase3_a", "big_b": "phase3_b"}
expect(set(lines) == set(FUNC), f"markers in {source}: {sorted(lines)}")

# The header comment of samples/phases.c, per site:
# allocations, bytes, reallocs, bytes live at the peak, leaked blocks, leaked bytes, temporaries
WANT = {
    "fill_a": (64, 262144, 0, 0, 0, 0, 0),
    "fill_b": (32, 32000, 0, 0, 0, 0, 0),
    "chain_start": (1, 16, 0, 0, 0, 0, 0),
    "chain": (12, 131040, 12, 65536, 0, 0, 0),
    "leak_a": (3, 2331, 0, 2331, 3, 2331, 0),
    "posix": (1, 256, 0, 256, 0, 0, 0),
    "aligned": (1, 512, 0, 512, 0, 0, 0),
    "memalign": (1, 1024, 0, 1024, 1, 1024, 0),
    "valloc": (1, 2048, 0, 2048, 0, 0, 0),
    "temp_b": (10, 480, 0, 0, 0, 0, 10),
    "big_a": (1, 1048576, 0, 1048576, 0, 0, 1),
    "big_b": (2, 600000, 0, 600000, 0, 0, 1),
}
OWN_PEAK, OWN_PEAK_BLOCKS, OWN_LEAKS, OWN_LEAKED = 1720283, 11, 4, 3355


def tag_of(site):
    """The tag whose marked line is this site's first frame, or None."""
    f = site["frames"][0] if site["frames"] else {}
    if not (f.get("file") or "").endswith("phases.c"):
        return None
    for tag, line in lines.items():
        if f["line"] == line:
            expect(f["function"] == FUNC[tag], f"{tag}: function {f['function']}, want {FUNC[tag]}")
            return tag
    return None


# every option of `mallocan report --help` is in the manual page
helptext = run(mallocan, "report", "--help").stdout
page = open(manpage).read()
options = re.findall(r"--([a-z][a-z-]*)", helptext)
expect(len(options) >= 6, f"report --help not understood: {helptext}")
for o in options:
    expect("\\-\\-" + o.replace("-", "\\-") in page, f"mallocan.1 does not document report --{o}")

tmp = tempfile.mkdtemp(prefix="mrz-report-")
try:
    trace = os.path.join(tmp, "phases.mrz")
    p = run(mallocrec, "run", "-q", "-o", trace, "--", phases)
    expect(p.returncode == 0, f"mallocrec: exit {p.returncode}: {p.stderr}")
    j, err = report(trace)
    expect(err == "", f"warnings on a fresh trace: {err}")

    # --- every site of the program's own, exactly
    own, other = {}, []
    for s in j["sites"]:
        t = tag_of(s)
        if t:
            expect(t not in own, f"{t}: two sites read the same: {s} / {own.get(t)}")
            own[t] = s
        else:
            other.append(s)
    expect(set(own) == set(WANT), f"own sites {sorted(own)}, want {sorted(WANT)}")
    for t, want in WANT.items():
        s = own[t]
        got = (s["allocations"], s["bytes"], s["reallocs"], s["peak_bytes"], s["leaked_allocations"],
               s["leaked_bytes"], s["temporaries"])
        expect(got == want, f"{t}: (allocs, bytes, reallocs, peak, leaked, leaked bytes, temporaries) = {got}, "
                            f"want {want}")
        # every block not leaked is gone (by free, or released by realloc)
        expect(s["frees"] == s["allocations"] - s["leaked_allocations"], f"{t}: frees {s['frees']}")
    # every other site is the C library's own (a frame of main at most)
    for s in other:
        f = s["frames"][0] if s["frames"] else {}
        expect(f.get("function") in (None, "main") or f.get("system"), f"unexpected site {f}")
    libc_peak = sum(s["peak_bytes"] for s in other)

    # --- totals: the sum of the sites
    tot = j["totals"]
    expect(tot["allocations"] == sum(s["allocations"] for s in j["sites"]), "allocations != sum of sites")
    expect(tot["bytes_allocated"] == sum(s["bytes"] for s in j["sites"]), "bytes != sum of sites")
    expect(tot["reallocs"] == 12, f"reallocs {tot['reallocs']}")
    expect(tot["threads"] == 3, f"threads {tot['threads']}")
    k = tot["kinds"]
    expect((k["posix_memalign"], k["aligned_alloc"], k["memalign"], k["valloc"]) == (1, 1, 1, 1), f"kinds {k}")
    expect(tot["unknown_frees"] == 0 and tot["overwritten"] == 0 and tot["lost"] == 0, f"totals {tot}")

    # --- the peak: own blocks exactly, plus the C library's small blocks
    pk = j["peak"]
    expect(pk["bytes"] == OWN_PEAK + libc_peak, f"peak {pk['bytes']} != {OWN_PEAK} + libc's {libc_peak}")
    expect(libc_peak <= 16384, f"the C library's bytes at the peak: {libc_peak}")
    expect(pk["allocations"] == OWN_PEAK_BLOCKS + sum(s["peak_allocations"] for s in other), f"peak blocks {pk['allocations']}")
    top = pk["sites"][0]["frames"][0]
    expect((top["function"], top["line"]) == ("phase3_a", lines["big_a"]), f"top site at the peak: {top}")
    expect([s["peak_bytes"] for s in pk["sites"]] == sorted((s["peak_bytes"] for s in pk["sites"]), reverse=True),
           "peak sites are not by bytes")
    expect(pk["spaces"][0]["space"] == "host" and pk["spaces"][0]["bytes"] == pk["bytes"], "host space")
    expect(0 < pk["time_ns"] <= tot["duration_ns"], f"peak time {pk['time_ns']} / {tot['duration_ns']}")

    # --- leaks, per site
    lk = j["leaks"]
    own_leaks = {tag_of(s): (s["leaked_allocations"], s["leaked_bytes"]) for s in lk["sites"] if tag_of(s)}
    expect(own_leaks == {"leak_a": (3, 2331), "memalign": (1, 1024)}, f"leak sites {own_leaks}")
    expect(lk["allocations"] == OWN_LEAKS + sum(s["leaked_allocations"] for s in other), f"leaks {lk}")
    expect(lk["bytes"] == OWN_LEAKED + sum(s["leaked_bytes"] for s in other), f"leaks {lk}")

    # --- temporaries, short-lived, lifetimes
    tp = j["temporaries"]
    expect(tp["allocations"] == 12 + sum(s["temporaries"] for s in other), f"temporaries {tp['allocations']}")
    expect({tag_of(s): s["temporaries"] for s in tp["sites"] if tag_of(s)} == {"temp_b": 10, "big_a": 1, "big_b": 1},
           "temporary sites")
    lt = j["lifetimes"]
    expect(lt["freed"] == tot["frees"], f"lifetimes of {lt['freed']} blocks, {tot['frees']} frees")
    expect(sum(b["count"] for b in lt["buckets"]) == lt["freed"], "histogram total")
    expect(all(b["min_ns"] <= b["max_ns"] for b in lt["buckets"]), "bucket bounds")
    expect(lt["still_live"] == lk["allocations"], "still live")
    j_all, _ = report(trace, "--short-lived", "1000s")
    expect(j_all["temporaries"]["short_lived"]["allocations"] == lt["freed"], "short-lived below 1000 s")
    j_none, _ = report(trace, "--short-lived", "0")
    expect(j_none["temporaries"]["short_lived"]["allocations"] == 0, "short-lived below 0 ns")

    # --- sort keys and --top
    for key, field in (("bytes", "bytes"), ("count", "allocations"), ("peak", "peak_bytes"),
                       ("leaked", "leaked_bytes"), ("temporary", "temporaries")):
        js, _ = report(trace, "--sort", key)
        vals = [s[field] for s in js["sites"]]
        expect(vals == sorted(vals, reverse=True), f"--sort {key}: {vals}")
    js, _ = report(trace, "--sort", "bytes")
    expect(tag_of(js["sites"][0]) == "big_a", "--sort bytes: big_a first")
    p = run(mallocan, "report", "--format", "json", "--top", "3", trace)
    expect(len(json.loads(p.stdout)["sites"]) == 3, "--top 3")

    # --- --full-stacks shows the C library's frames, the default none
    jf, _ = report(trace, "--full-stacks")
    expect(any(f["system"] for s in jf["sites"] for f in s["frames"]), "--full-stacks: no system frame")
    expect(not any(f["system"] for s in own.values() for f in s["frames"]), "default: system frames shown")

    # --- text: the peak's first row names big_a's function and line
    p = run(mallocan, "report", trace)
    expect(p.returncode == 0 and p.stderr == "", f"text report: {p.returncode} {p.stderr}")
    out = p.stdout
    for head in ("TOTALS", "PEAK host heap", "LEAKS", "TEMPORARIES", "LIFETIMES", "TOP SITES by peak"):
        expect(head in out, f"text report lacks {head}")
    peak_rows = out.split("PEAK host heap")[1].splitlines()
    expect(f"phase3_a (phases.c:{lines['big_a']})" in peak_rows[2], f"first peak row: {peak_rows[2]}")
    expect(f"({pk['bytes']} bytes)" in peak_rows[0], f"peak line: {peak_rows[0]}")
    expect(max(len(l) for l in out.splitlines()) <= 160, "text lines too long")

    # --- bad usage: exit 2, one line
    for bad in (("--sort", "nope"), ("--short-lived", "5parsecs"), ("--format", "xml")):
        p = run(mallocan, "report", *bad, trace)
        expect(p.returncode == 2 and len(p.stderr.splitlines()) == 1, f"{bad}: {p.returncode} {p.stderr}")

    # --- the program rebuilt (another build-id) or deleted: offsets, one warning
    copy = os.path.join(tmp, "phases-copy")
    shutil.copy(phases, copy)
    trace2 = os.path.join(tmp, "copy.mrz")
    p = run(mallocrec, "run", "-q", "-o", trace2, "--", copy)
    expect(p.returncode == 0, f"mallocrec (copy): {p.stderr}")
    data = bytearray(open(copy, "rb").read())
    # the GNU build-id note: namesz 4, descsz, type 3, "GNU\0", then the id
    at = data.find(b"\x04\x00\x00\x00\x14\x00\x00\x00\x03\x00\x00\x00GNU\x00")
    expect(at >= 0, "no build-id note in the sample")
    data[at + 16] ^= 0xFF
    open(copy, "wb").write(bytes(data))
    for case in ("rebuilt", "deleted"):
        if case == "deleted":
            os.unlink(copy)
        jr, err = report(trace2)
        warn = [l for l in err.splitlines() if copy in l]
        expect(len(warn) == 1 and len(err.splitlines()) == 1, f"{case}: want one warning, got {err!r}")
        expect(case != "rebuilt" or "build-id" in warn[0], f"{case}: {warn[0]}")
        big = max(jr["sites"], key=lambda s: s["peak_bytes"])
        f = big["frames"][0]
        expect(f["function"] is None and f["module"] == copy and f["offset"] > 0, f"{case}: frame {f}")
        expect(jr["peak"]["bytes"] >= OWN_PEAK and jr["totals"]["allocations"] == tot["allocations"], f"{case}")
        p = run(mallocan, "report", trace2)
        expect(p.returncode == 0 and "phases-copy+0x" in p.stdout, f"{case}: text report has no module+offset")
    print(f"ok: {len(own)} own sites exact; peak {pk['bytes']} = {OWN_PEAK} + {libc_peak} (C library); "
          f"leaks {lk['allocations']} blocks / {lk['bytes']} bytes; temporaries {tp['allocations']}")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
