"""Damaged and foreign input: `mallocan info` (and dump) on a trace cut at
every byte, with a corrupted chunk, a chunk cut short before whole ones,
and on files that are not readable traces.

usage: damage.py MALLOCREC MALLOCAN BASIC
"""
import os
import re
import struct

from common import argv, chunk_offsets, expect, record, run, tmpdir

mallocrec, mallocan, basic = argv(3, 3)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def info(path, *extra):
    r = run([mallocan, "info", *extra, path])
    return r.returncode, r.stdout, r.stderr.splitlines()


def chunks_read(out):
    m = re.search(r"^chunks\s+(\d+)", out, re.M)
    return int(m.group(1)) if m else -1


def one_error(path, what):
    """Exit 2 and exactly one line on stderr naming the file, for info and dump."""
    for cmd in ("info", "dump"):
        r = run([mallocan, cmd, path])
        lines = r.stderr.splitlines()
        expect(r.returncode == 2, f"{cmd} {what}: exit {r.returncode}")
        expect(len(lines) == 1 and f"mallocan: {path}: " in lines[0], f"{cmd} {what}: stderr {lines}")
        expect(not r.stdout, f"{cmd} {what}: wrote {r.stdout!r}")
    return lines[0]


with tmpdir() as d:
    trace = os.path.join(d, "basic.mrz")
    r = record(mallocrec, trace, [basic])
    expect(r.returncode == 0, f"mallocrec: {r.stderr}")
    data = open(trace, "rb").read()
    dump = run([mallocan, "dump", trace])
    starts = chunk_offsets(dump.stdout)
    ends = starts[1:] + [len(data)]
    expect(len(starts) >= 2 and starts[0] == 32, f"chunk offsets {starts}")

    # ---- cut at every byte
    for n in range(len(data) + 1):
        # a new file per cut: rewriting one in place makes ext4 flush it each time
        cut = os.path.join(d, f"cut{n}.mrz")
        with open(cut, "wb") as f:
            f.write(data[:n])
        rc, out, err = info(cut)
        os.unlink(cut)
        if n < 32:
            want = "empty file" if n == 0 else "not a .mrz trace" if n < 8 else "truncated inside the 32-byte file header"
            expect(rc == 2 and len(err) == 1 and err[0].startswith(f"mallocan: {cut}: ") and want in err[0],
                   f"cut at {n}: exit {rc}, stderr {err}")
            continue
        whole = sum(1 for e in ends if e <= n)
        expect(rc == 0, f"cut at {n}: exit {rc}, stderr {err}")
        expect(chunks_read(out) == whole, f"cut at {n}: {chunks_read(out)} chunks read, {whole} whole")
        if n == 32 or n in ends:
            expect(not err, f"cut at a chunk boundary {n}: stderr {err}")
        else:
            at = max([32] + [e for e in ends if e <= n])
            expect(len(err) == 1 and err[0] == f"mallocan: warning: {cut}: truncated at byte {at} "
                   f"({n - at} bytes after the last whole chunk ignored)", f"cut at {n}: stderr {err}")

    # ---- one corrupted byte in the middle of each chunk: that chunk only is lost
    bad = os.path.join(d, "bad.mrz")
    for i, (s, e) in enumerate(zip(starts, ends)):
        b = bytearray(data)
        b[(s + 48 + e) // 2] ^= 0x5A
        open(bad, "wb").write(b)
        rc, out, err = info(bad)
        expect(rc == 0, f"corrupt chunk {i}: exit {rc}")
        expect(chunks_read(out) == len(starts) - 1, f"corrupt chunk {i}: {chunks_read(out)} chunks read")
        # the last chunk's damage reaches the end of the file: reported as a truncated tail
        word = "truncated" if e == len(data) else "damaged"
        expect(len(err) == 1 and err[0].startswith(f"mallocan: warning: {bad}: {word} at byte {s} ({e - s} bytes "),
               f"corrupt chunk {i}: stderr {err}")
        if i == len(starts) - 1:
            continue
        d2 = run([mallocan, "dump", bad])
        expect(d2.returncode == 0 and chunk_offsets(d2.stdout) == starts[:i] + starts[i + 1:],
               f"corrupt chunk {i}: dump read chunks {chunk_offsets(d2.stdout)}")

    # ---- a chunk cut short (its writer killed) followed by whole chunks
    s, e = starts[0], ends[0]
    part = data[:s] + data[s:s + 60] + data[e:]
    open(bad, "wb").write(part)
    rc, out, err = info(bad)
    expect(rc == 0 and chunks_read(out) == len(starts) - 1, f"cut-short chunk: exit {rc}, {chunks_read(out)} chunks")
    expect(len(err) == 1 and f"damaged at byte {s} (60 bytes skipped)" in err[0], f"cut-short chunk: {err}")

    # ---- files that are not readable traces: one line naming the file, exit 2
    empty = os.path.join(d, "empty.mrz")
    open(empty, "wb").close()
    expect("empty file" in one_error(empty, "empty file"), "empty file message")
    text = os.path.join(d, "notes.txt")
    open(text, "w").write("these are notes, not a trace\n" * 4)
    expect("not a .mrz trace" in one_error(text, "text file"), "text file message")
    newer = os.path.join(d, "newer.mrz")
    h = bytearray(data)
    h[8:10] = struct.pack("<H", 2)
    h[28:32] = struct.pack("<I", crc32c(bytes(h[:28])))
    open(newer, "wb").write(h)
    expect("newer version" in one_error(newer, "major version 2"), "newer version message")
    badcrc = os.path.join(d, "badcrc.mrz")
    h = bytearray(data)
    h[16] ^= 1
    open(badcrc, "wb").write(h)
    expect("corrupt file header" in one_error(badcrc, "bad header checksum"), "header checksum message")
    missing = os.path.join(d, "missing.mrz")
    expect("No such file" in one_error(missing, "missing file"), "missing file message")
    expect("directory" in one_error(d, "directory"), "directory message")
    print(f"ok: {len(data) + 1} cuts, {len(starts)} corrupted chunks, 6 unreadable files")
