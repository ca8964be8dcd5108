"""Helpers of the death, process, thread and dlopen tests: running the
tools, reading `mallocan dump` and `mallocan info --format json`, failing
with a message that says what differed."""
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77  # meson's exit status for a skipped test
ALLOC_KINDS = {"malloc", "calloc", "realloc", "reallocarray", "memalign", "posix_memalign",
               "aligned_alloc", "valloc", "pvalloc"}


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def args(n):
    """The script's n arguments, made absolute (meson passes build-tree
    paths relative to the build folder); '' stays ''."""
    a = sys.argv[1:1 + n]
    if len(a) != n:
        fail(f"usage: expected {n} arguments, got {sys.argv[1:]}")
    return [os.path.abspath(x) if x else x for x in a]


def run(cmd, **kw):
    """Runs a command, capturing text output; never raises on exit status."""
    kw.setdefault("timeout", 120)
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def tmpdir():
    return tempfile.TemporaryDirectory(prefix="mrz-death-")


def traces(folder):
    return sorted(glob.glob(os.path.join(folder, "*.mrz")))


CHUNK_RE = re.compile(r"^chunk offset=(\d+) stream=(\d+) seq=(\d+)")
REC_RE = re.compile(r"^  (\w+)(.*)$")
FIELD_RE = re.compile(r"(\w+)=(\S+)")


class Dump:
    """`mallocan dump` of a trace: records as (stream, kind, fields, line)."""

    def __init__(self, mallocan, trace):
        p = run([mallocan, "dump", trace])
        expect(p.returncode == 0, f"mallocan dump {trace}: exit {p.returncode}: {p.stderr}")
        self.stderr = p.stderr
        self.recs = []
        stream = None
        for line in p.stdout.splitlines():
            m = CHUNK_RE.match(line)
            if m:
                stream = int(m.group(2))
                continue
            m = REC_RE.match(line)
            if m and stream is not None:
                self.recs.append((stream, m.group(1), dict(FIELD_RE.findall(m.group(2))), line))

    def allocs(self, size=None):
        return [r for r in self.recs if r[1] in ALLOC_KINDS and (size is None or int(r[2]["size"]) == size)]

    def count(self, size):
        return len(self.allocs(size))

    def per_stream(self, size):
        out = {}
        for r in self.allocs(size):
            out[r[0]] = out.get(r[0], 0) + 1
        return out

    def streams(self):
        return {r[0] for r in self.recs}

    def live_at_end(self, size):
        """Blocks of this size still allocated after replaying every event
        in time order (frees matched by address)."""
        events = []
        for stream, kind, f, _ in self.recs:
            if kind in ALLOC_KINDS or kind in ("free", "realloc_free"):
                events.append((int(f["t"]), 0 if kind in ALLOC_KINDS else 1, kind, f))
        events.sort(key=lambda e: (e[0], e[1]))
        live = {}
        for _, _, kind, f in events:
            if kind in ALLOC_KINDS:
                live[f["ptr"]] = int(f["size"])
            else:
                live.pop(f["ptr"], None)
        return sum(1 for s in live.values() if s == size)


def info(mallocan, trace):
    p = run([mallocan, "info", "--format", "json", trace])
    expect(p.returncode == 0, f"mallocan info {trace}: exit {p.returncode}: {p.stderr}")
    j = json.loads(p.stdout)
    j["_stderr"] = p.stderr
    return j


def wait_for_file(path, proc, seconds=30):
    """Waits until path exists (written by the program) or proc ends."""
    end = time.time() + seconds
    while not os.path.exists(path):
        if proc.poll() is not None:
            fail(f"the program ended before writing {path}: {proc.stderr.read() if proc.stderr else ''}")
        if time.time() > end:
            proc.kill()
            fail(f"timed out waiting for {path}")
        time.sleep(0.01)


def kill_from_outside(cmd, pidfile, env=None):
    """Starts cmd, waits for the program to write its pid, SIGKILLs that
    pid and waits for cmd.  Returns (returncode, stderr)."""
    proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env)
    wait_for_file(pidfile, proc)
    os.kill(int(open(pidfile).read()), signal.SIGKILL)
    err = proc.communicate(timeout=60)[1]
    return proc.returncode, err
