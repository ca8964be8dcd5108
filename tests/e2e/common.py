"""Helpers shared by the end-to-end tests: running the tools, parsing
`mallocan dump`, and failing with a message that says what differed."""
import os
import re
import subprocess
import sys
import tempfile

SKIP = 77  # meson's exit status for a skipped test


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def run(args, **kw):
    """Runs a command, capturing text output; never raises on exit status."""
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)


def tmpdir():
    return tempfile.TemporaryDirectory(prefix="mrz-e2e-")


def record(mallocrec, trace, prog_args, extra=()):
    """Records prog_args into trace; returns the CompletedProcess."""
    return run([mallocrec, "run", "-q", *extra, "-o", trace, "--", *prog_args])


CHUNK_RE = re.compile(r"^chunk offset=(\d+) stream=(\d+) seq=(\d+)")
REC_RE = re.compile(r"^  (\w+)(.*)$")
FIELD_RE = re.compile(r"(\w+)=(\S+)")


def parse_dump(text):
    """`mallocan dump` output as a list of (stream, kind, fields, rest), where
    fields maps key to the raw token and rest is the text after the kind."""
    out = []
    stream = None
    for line in text.splitlines():
        m = CHUNK_RE.match(line)
        if m:
            stream = int(m.group(2))
            continue
        m = REC_RE.match(line)
        if m and stream is not None:
            out.append((stream, m.group(1), dict(FIELD_RE.findall(m.group(2))), m.group(2)))
    return out


def chunk_offsets(text):
    return [int(m.group(1)) for m in map(CHUNK_RE.match, text.splitlines()) if m]


def argv(npaths, count):
    """The script's count arguments, the first npaths made absolute (meson
    passes build-tree paths relative to the build folder); '' stays ''."""
    a = sys.argv[1:1 + count]
    if len(a) != count:
        fail(f"usage: expected {count} arguments, got {a}")
    return [os.path.abspath(x) if i < npaths and x else x for i, x in enumerate(a)]
