#!/usr/bin/env python3
"""Renders the flamegraph and timeline SVGs in headless Chromium: each must
load and paint without error, the PNG must show the picture's own colours
(frames, the peak's dot), and the scripts must work: a click zooms, Search
highlights and measures, hovering fills the details line.  Skipped (exit 77)
when Chromium is not installed (Debian: apt-get install chromium).

Set PICTURES_PNG_DIR to keep the PNGs.
usage: render.py MALLOCREC MALLOCAN FLAME MKPIC"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

rec, an, flame, mkpic = sys.argv[1:5]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


browser = next((shutil.which(b) for b in ["chromium", "chromium-browser", "google-chrome"] if shutil.which(b)), None)
if not browser:
    print("SKIP: Chromium is not installed (Debian: apt-get install chromium)")
    sys.exit(77)

tmp = tempfile.mkdtemp(prefix="mrz-render-")
outdir = os.environ.get("PICTURES_PNG_DIR") or tmp
os.makedirs(outdir, exist_ok=True)


def run(*args):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    expect(p.returncode == 0, "%s: exit %d\n%s" % (" ".join(map(str, args)), p.returncode, p.stderr))
    return p.stdout


def chromium(*args):
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    expect(p.returncode == 0, "chromium %s: exit %d\n%s" % (" ".join(args), p.returncode, p.stderr[-2000:]))
    # a script error in the page shows up on the console
    expect("Uncaught" not in p.stderr, "script error in %s:\n%s" % (args[-1], p.stderr[-2000:]))
    return p.stdout


def size_of(svg):
    head = open(svg).read(600)
    w, h = re.search(r'<svg[^>]* width="(\d+)" height="(\d+)"', head).groups()
    return int(w), int(h)


def png_pixels(path):
    """Decodes an 8-bit RGB/RGBA PNG: (width, height, set of colours, rows)."""
    data = open(path, "rb").read()
    expect(data[:8] == b"\x89PNG\r\n\x1a\n", "%s: not a PNG" % path)
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            expect(depth == 8 and ctype in (2, 6), "%s: PNG depth %d type %d" % (path, depth, ctype))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, prev, rows = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    colours = {}
    for r in rows:
        for i in range(0, stride, bpp):
            c = tuple(r[i:i + 3])
            colours[c] = colours.get(c, 0) + 1
    return w, h, colours


def render(svg, png, must_have):
    w, h = size_of(svg)
    chromium("--window-size=%d,%d" % (w, h), "--screenshot=" + png, svg)
    pw, ph, colours = png_pixels(png)
    expect((pw, ph) == (w, h), "%s: %dx%d, wanted %dx%d" % (png, pw, ph, w, h))
    for name, rgb, least in must_have:
        expect(colours.get(rgb, 0) >= least, "%s: %d pixels of %s %r, wanted at least %d" % (png, colours.get(rgb, 0),
                                                                                           name, rgb, least))
    print("rendered %s: %dx%d, %d colours" % (os.path.basename(png), w, h, len(colours)))


trace = os.path.join(tmp, "flame.mrz")
run(rec, "run", "-q", "-o", trace, "--", flame)
synth = os.path.join(tmp, "synth.mrz")
run(mkpic, synth)

fg = os.path.join(tmp, "flamegraph.svg")
run(an, "flamegraph", "-o", fg, trace)
tl = os.path.join(tmp, "timeline.svg")
run(an, "timeline", "-o", tl, trace)
tl2 = os.path.join(tmp, "timeline-cuda.svg")
run(an, "timeline", "-o", tl2, synth)

GREY = (200, 200, 205)   # the flamegraph's root frame
RED = (192, 24, 42)      # the timeline's peak
render(fg, os.path.join(outdir, "flamegraph.png"), [("root frame", GREY, 1000)])
render(tl, os.path.join(outdir, "timeline.png"), [("peak dot", RED, 20)])
render(tl2, os.path.join(outdir, "timeline-cuda.png"), [("peak dots", RED, 60)])

# The scripts: zoom on build_index, search for xalloc|new_node, hover new_node.
test_js = """<script>
window.prompt = function () { return 'xalloc|new_node'; };
function frame(name) {
  return [].slice.call(document.querySelectorAll('g.f')).filter(function (g) {
    return g.getElementsByTagName('title')[0].textContent.split('\\n')[0] === name; })[0];
}
function fire(el, type) { el.dispatchEvent(new MouseEvent(type, {bubbles: true})); }
fire(frame('build_index').getElementsByTagName('rect')[0], 'click');
fire(document.getElementById('search'), 'click');
fire(frame('new_node').getElementsByTagName('rect')[0], 'mouseover');
</script></svg>"""
zoomed = os.path.join(tmp, "flamegraph-zoomed.svg")
with open(fg) as f, open(zoomed, "w") as g:
    g.write(f.read().replace("</svg>", test_js))
dom = chromium("--dump-dom", zoomed)
frames = {}
for m in re.finditer(r'<g class="f"([^>]*)><title>([^<\n]*)[^<]*</title><rect([^>]*)>', dom):
    frames.setdefault(m.group(2), []).append((m.group(1), m.group(3)))
expect(re.search(r'x="10.00"[^>]* width="1179.50"', frames["build_index"][0][1]), "zoom: build_index %r" % frames["build_index"])
expect("display: none" in frames["load"][0][0] and "display: none" in frames["query"][0][0], "zoom left load/query shown")
expect('opacity="0.6"' in frames["main"][0][0], "zoom: main is not dimmed as an ancestor")
expect(all('fill="rgb(230,0,230)"' in r for _, r in frames["xalloc"] + frames["new_node"]),
       "search did not highlight xalloc and new_node")
expect('fill="rgb(230,0,230)"' not in frames["build_index"][0][1], "search highlighted build_index")
total = 1048576 + 204800 + 25600 + 3200 + 1280
pct = "%.1f%%" % (100.0 * (25600 + 3200 + 1280 + 204800) / total)
expect(re.search(r'id="matched"[^>]*>Matched: ' + re.escape(pct) + "<", dom), "search: no 'Matched: %s'" % pct)
det = re.search(r'id="details"[^>]*>([^<]*)<', dom).group(1)
expect(det.startswith("new_node") and "50 allocations" in det, "details line after hover: %r" % det)
render(zoomed, os.path.join(outdir, "flamegraph-zoomed.png"), [("search highlight", (230, 0, 230), 1000)])
print("zoom, search and details ok")

# The timeline's read-out: hovering a column gives its time and maximum.
hover_js = """<script>
var c = document.getElementById('catcher'), r = c.getBoundingClientRect();
c.dispatchEvent(new MouseEvent('mousemove', {bubbles: true, clientX: r.left + %d + 0.5, clientY: r.top + 20}));
</script></svg>"""
text = open(tl).read()
nb = 1000
dur = float(re.search(r"DUR=(\d+)", text).group(1))
peak_t = float(re.search(r'"peak_time_ns":(\d+)', run(an, "timeline", "--format", "json", trace)).group(1))
col = int(peak_t / (dur / nb))
hovered = os.path.join(tmp, "timeline-hover.svg")
with open(hovered, "w") as g:
    g.write(text.replace("</svg>", hover_js % col))
dom = chromium("--dump-dom", hovered)
ht = re.search(r'id="htext"[^>]*>([^<]*)<', dom).group(1)
expect("host heap 1.22 MiB" in ht, "timeline read-out at the peak's column: %r" % ht)
print("timeline read-out ok:", ht)
