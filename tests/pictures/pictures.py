#!/usr/bin/env python3
"""mallocan flamegraph and timeline: folded stacks against golden files, the
speedscope JSON against speedscope's file format, the SVGs through an XML
parser, and the timeline's series against figures known by construction.

Two traces: one written by hand (mkpic: CUDA spaces, frames without
symbols, times to the nanosecond) and one recorded from samples/flame.c
(function names; its frames before main, which belong to the C runtime,
are cut before comparing).

usage: pictures.py MALLOCREC MALLOCAN FLAME MKPIC GOLDEN_DIR"""
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

rec, an, flame, mkpic, golden = sys.argv[1:6]
SVG = "{http://www.w3.org/2000/svg}"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def run(*args, rc=0):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    expect(p.returncode == rc, "%s: exit %d, wanted %d\n%s" % (" ".join(map(str, args)), p.returncode, rc, p.stderr))
    return p.stdout


def golden_lines(name):
    with open(os.path.join(golden, name)) as f:
        return f.read().splitlines()


def from_main(lines, inverted=False):
    """Cuts the C runtime's frames (before main, or after it when inverted)."""
    out = []
    for line in lines:
        stack, w = line.rsplit(" ", 1)
        frames = stack.split(";")
        expect("main" in frames, "no main in %r" % line)
        i = frames.index("main")
        frames = frames[: i + 1] if inverted else frames[i:]
        out.append(";".join(frames) + " " + w)
    return out


def check_speedscope(doc, total, unit):
    """The shape speedscope's file-format-spec.ts gives a sampled profile."""
    expect(doc["$schema"] == "https://www.speedscope.app/file-format-schema.json", "speedscope: $schema")
    frames = doc["shared"]["frames"]
    expect(isinstance(frames, list) and frames, "speedscope: shared.frames")
    for fr in frames:
        expect(isinstance(fr["name"], str) and set(fr) <= {"name", "file", "line", "col"}, "frame %r" % fr)
        expect(isinstance(fr.get("file", ""), str) and isinstance(fr.get("line", 0), int), "frame %r" % fr)
    expect(doc.get("activeProfileIndex", 0) < len(doc["profiles"]), "speedscope: activeProfileIndex")
    expect(len(doc["profiles"]) == 1, "speedscope: one profile")
    p = doc["profiles"][0]
    expect(p["type"] == "sampled" and isinstance(p["name"], str), "speedscope: profile type/name")
    expect(p["unit"] == unit, "speedscope: unit %s, wanted %s" % (p["unit"], unit))
    expect(len(p["samples"]) == len(p["weights"]), "speedscope: samples and weights differ in length")
    for s in p["samples"]:
        expect(s and all(isinstance(i, int) and 0 <= i < len(frames) for i in s), "speedscope: sample %r" % s)
    expect(p["startValue"] == 0 and p["endValue"] == sum(p["weights"]) == total,
           "speedscope: endValue %r, weights sum %r, wanted %r" % (p["endValue"], sum(p["weights"]), total))
    return [";".join(frames[i]["name"] for i in s) + " %d" % w for s, w in zip(p["samples"], p["weights"])]


def svg_frames(path):
    """The flamegraph SVG parsed: {name path: (bytes title line, width)} for each frame."""
    root = ET.parse(path).getroot()
    expect(root.tag == SVG + "svg", "%s: root element is %s" % (path, root.tag))
    frames = []
    for g in root.iter(SVG + "g"):
        if g.get("class") != "f":
            continue
        title = g.find(SVG + "title").text.split("\n")
        rect = g.find(SVG + "rect")
        frames.append((title, float(g.get("data-w")), float(rect.get("width")), int(g.get("data-p"))))
    expect(root.find(SVG + "script") is not None, "%s: no script" % path)
    return root, frames


def check_flame_svg(path, folded):
    """Every frame's width is its weight's share; leaves add up to the folded lines."""
    _, frames = svg_frames(path)
    total = sum(int(l.rsplit(" ", 1)[1]) for l in folded)
    expect(frames[0][0][0] == "all" and frames[0][3] == -1 and abs(frames[0][1] - 1) < 1e-9, "root frame %r" % (frames[0],))
    # the path of each frame, through data-p, and the self weight it leaves
    names = [f[0][0] for f in frames]
    paths = []
    for i, f in enumerate(frames):
        paths.append(names[i] if f[3] <= 0 else paths[f[3]] + ";" + names[i])
    want = {l.rsplit(" ", 1)[0]: int(l.rsplit(" ", 1)[1]) for l in folded}
    children = {}
    for i, f in enumerate(frames):
        if f[3] >= 0:
            children[f[3]] = children.get(f[3], 0) + f[1]
    for i, f in enumerate(frames[1:], 1):
        self_w = f[1] - children.get(i, 0)
        got = round(self_w * total)
        expect(got == want.get(paths[i], 0), "%s: frame %s self weight %d, wanted %d" % (path, paths[i], got, want.get(paths[i], 0)))
    expect(set(p for p in paths[1:] if p in want) == set(want), "%s: frames %r, wanted %r" % (path, paths, sorted(want)))


tmp = tempfile.mkdtemp(prefix="mrz-pictures-")

# ---------------------------------------------------------------- hand-made trace
synth = os.path.join(tmp, "synth.mrz")
run(mkpic, synth)
for weight in ["bytes", "count", "peak", "leaked", "temporary"]:
    got = run(an, "flamegraph", "--format", "folded", "--weight", weight, synth).splitlines()
    expect(got == golden_lines("synth.%s.folded" % weight), "synth %s: got\n%s" % (weight, "\n".join(got)))
got = run(an, "flamegraph", "--format", "folded", "--inverted", synth).splitlines()
expect(got == golden_lines("synth.inverted.folded"), "synth inverted: got\n%s" % "\n".join(got))
got = run(an, "flamegraph", "--format", "folded", "--space", "host", synth).splitlines()
expect(got == golden_lines("synth.host.folded"), "synth --space host: got\n%s" % "\n".join(got))
# -o writes the same bytes as stdout
out = os.path.join(tmp, "synth.folded")
run(an, "flamegraph", "--format", "folded", "-o", out, synth)
expect(open(out).read().splitlines() == golden_lines("synth.bytes.folded"), "-o FILE differs from stdout")

ss = json.loads(run(an, "flamegraph", "--format", "speedscope", synth))
expect(check_speedscope(ss, 1048576 + 65536 + 4000, "bytes") == golden_lines("synth.bytes.folded"), "synth speedscope samples")
ss = json.loads(run(an, "flamegraph", "--format", "speedscope", "--weight", "count", synth))
expect(check_speedscope(ss, 4, "none") == golden_lines("synth.count.folded"), "synth speedscope count")

svg = os.path.join(tmp, "synth-flame.svg")
run(an, "flamegraph", "-o", svg, synth)
check_flame_svg(svg, golden_lines("synth.bytes.folded"))

# the timeline: 10 columns of 1 ms, every event mid-column (see mkpic.c)
tl = json.loads(run(an, "timeline", "--format", "json", "--buckets", "10", synth))
expect(tl["duration_ns"] == 10000000 and tl["buckets"] == 10 and tl["pid"] == 4242, "synth timeline header %r" % tl)
sp = {s["space"]: s for s in tl["spaces"]}
expect(list(sp) == ["host", "cuda-device", "cuda-managed"], "synth spaces %r" % list(sp))
M = 1048576
want = {
    "host": ((4000, 2, 2500000, 0), [0, 1000, 4000, 4000, 4000, 4000, 3000, 3000, 0, 0],
             [0, 0, 1000, 4000, 4000, 3000, 3000, 0, 0, 0]),
    "cuda-device": ((M, 1, 3500000, 0), [0, 0, 0, M, M, M, M, 0, 0, 0], [0, 0, 0, 0, M, M, 0, 0, 0, 0]),
    "cuda-managed": ((65536, 1, 4500000, 65536), [0] * 4 + [65536] * 6, [0] * 5 + [65536] * 5),
}
for name, (peak, mx, mn) in want.items():
    s = sp[name]
    expect((s["peak_bytes"], s["peak_count"], s["peak_time_ns"], s["end_live_bytes"]) == peak, "%s peak %r" % (name, s))
    expect(s["max"] == mx and s["min"] == mn, "%s series max %r min %r" % (name, s["max"], s["min"]))
expect([(m["time_ns"], m["name"]) for m in tl["marks"]] == [(2200000, "phase one"), (6800000, 'phase <two> & "quotes"')],
       "synth marks %r" % tl["marks"])
csv = run(an, "timeline", "--format", "csv", "--buckets", "10", synth).splitlines()
expect(csv[0] == "start_ns,end_ns,host_max_bytes,host_min_bytes,cuda-device_max_bytes,cuda-device_min_bytes,"
       "cuda-managed_max_bytes,cuda-managed_min_bytes", "csv header %r" % csv[0])
expect(len(csv) == 11 and csv[3] == "2000000,3000000,4000,1000,0,0,0,0", "csv rows %r" % csv[:4])

svg = os.path.join(tmp, "synth-timeline.svg")
run(an, "timeline", "-o", svg, synth)
root = ET.parse(svg).getroot()
panels = [g.get("id") for g in root.iter(SVG + "g") if g.get("class") == "panel"]
expect(panels == ["panel-host", "panel-cuda-device", "panel-cuda-managed"], "timeline panels %r" % panels)
texts = ["".join(t.itertext()) for t in root.iter(SVG + "text")]
for label in ["peak 3.91 KiB at 2.50 ms (4,000 bytes in 2 blocks)", "peak 1.00 MiB at 3.50 ms (1,048,576 bytes in 1 block)",
              "peak 64.0 KiB at 4.50 ms (65,536 bytes in 1 block)", "phase one", 'phase <two> & "quotes"']:
    expect(label in texts, "timeline SVG lacks the text %r" % label)
marks = [g for g in root.iter(SVG + "g") if g.get("class") == "marker"]
expect(len(marks) == 2, "timeline SVG markers: %d" % len(marks))
print("hand-made trace ok")

# ---------------------------------------------------------------- recorded sample
trace = os.path.join(tmp, "flame.mrz")
p = subprocess.run([rec, "run", "-q", "-o", trace, "--", flame], capture_output=True, text=True)
expect(p.returncode == 0, "recording samples/flame: %s" % p.stderr)
for weight in ["bytes", "count", "peak", "leaked", "temporary"]:
    got = from_main(run(an, "flamegraph", "--format", "folded", "--weight", weight, trace).splitlines())
    expect(got == golden_lines("flame.%s.folded" % weight), "flame %s: got\n%s" % (weight, "\n".join(got)))
got = from_main(run(an, "flamegraph", "--format", "folded", "--inverted", "--hide-system", trace).splitlines(), True)
expect(got == golden_lines("flame.inverted.folded"), "flame inverted: got\n%s" % "\n".join(got))
# system frames: kept by default, gone with --hide-system
full = run(an, "flamegraph", "--format", "folded", trace)
hidden = run(an, "flamegraph", "--format", "folded", "--hide-system", trace)
expect("__libc_start" in full and "__libc_start" not in hidden, "--hide-system left libc frames:\n" + hidden)

total = 1048576 + 204800 + 25600 + 3200 + 1280
ss = json.loads(run(an, "flamegraph", "--format", "speedscope", trace))
expect(from_main(check_speedscope(ss, total, "bytes")) == golden_lines("flame.bytes.folded"), "flame speedscope")
names = {f["name"]: f for f in ss["shared"]["frames"]}
expect(names["xalloc"]["file"].endswith("flame.c") and names["xalloc"]["line"] > 0, "xalloc frame %r" % names["xalloc"])

for weight, gold in [("bytes", "flame.bytes.folded"), ("peak", "flame.peak.folded")]:
    svg = os.path.join(tmp, "flame-%s.svg" % weight)
    run(an, "flamegraph", "--weight", weight, "-o", svg, trace)
    folded = run(an, "flamegraph", "--format", "folded", "--weight", weight, trace).splitlines()
    check_flame_svg(svg, folded)
_, frames = svg_frames(os.path.join(tmp, "flame-bytes.svg"))
nn = [f for f in frames if f[0][0] == "new_node"]
expect(len(nn) == 1 and "(inlined)" in nn[0][0] and nn[0][0][-1].startswith("200 KiB in 50 allocations, 15.96%"),
       "new_node's tooltip %r" % (nn,))

tl = json.loads(run(an, "timeline", "--format", "json", trace))
host = tl["spaces"][0]
expect(len(tl["spaces"]) == 1 and host["space"] == "host", "flame spaces %r" % [s["space"] for s in tl["spaces"]])
expect((host["peak_bytes"], host["peak_count"], host["end_live_bytes"]) == (1280256, 161, 1280), "flame peak %r" % host)
mk = [(m["name"], m["time_ns"]) for m in tl["marks"]]
expect([m[0] for m in mk] == ["start", "loaded", "indexed", "queried", "end"], "flame marks %r" % mk)
expect(mk[2][1] < host["peak_time_ns"] < mk[3][1], "the peak is not between 'indexed' and 'queried': %r" % tl)
# downsampling keeps the peak: in the column of its time, and nowhere above it
col = int(host["peak_time_ns"] / (tl["duration_ns"] / tl["buckets"]))
expect(max(host["max"]) == 1280256 and host["max"][min(col, tl["buckets"] - 1)] == 1280256, "peak lost in the series")
svg = os.path.join(tmp, "flame-timeline.svg")
run(an, "timeline", "-o", svg, trace)
texts = ["".join(t.itertext()) for t in ET.parse(svg).getroot().iter(SVG + "text")]
expect(any(t.startswith("peak 1.22 MiB at ") and t.endswith("(1,280,256 bytes in 161 blocks)") for t in texts),
       "timeline peak label: %r" % [t for t in texts if "peak" in t])

# bad input: one line naming the problem, exit 2
err = subprocess.run([an, "flamegraph", "--weight", "heavy", trace], capture_output=True, text=True)
expect(err.returncode == 2 and "heavy" in err.stderr and err.stdout == "", "bad --weight: %r" % err.stderr)
err = subprocess.run([an, "timeline", os.path.join(tmp, "missing.mrz")], capture_output=True, text=True)
expect(err.returncode == 2 and "missing.mrz" in err.stderr, "missing trace: %r" % err.stderr)
print("recorded sample ok")
