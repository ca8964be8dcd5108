"""The saved fuzz corpus through the reader (in process, by fuzz_replay) and
through mallocan: every input must give exit 0 (warnings allowed, each one
line) or exit 2 with one error line naming the file (after any warnings) — never a
crash, never a hang, and within 1 GiB of address space (not for a
sanitizer build, whose shadow memory needs more).

usage: cli.py FUZZ_REPLAY MALLOCAN CORPUS_DIR"""
import os
import resource
import subprocess
import sys
import tempfile

replay, mallocan, corpus = (os.path.abspath(a) for a in sys.argv[1:4])
COMMANDS = (["info"], ["info", "--format", "json"], ["dump"], ["report"], ["report", "--format", "json"],
            ["lifetimes"], ["arenas"], ["timeline", "--format", "csv"], ["flamegraph", "--format", "folded"])


LIMIT = None if b"__asan_init" in open(mallocan, "rb").read() else 1 << 30


def bounded():
    if LIMIT:
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


with tempfile.TemporaryDirectory(prefix="mrz-fuzz-") as d:
    p = subprocess.run([replay, "--emit", d, corpus], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        fail(f"fuzz_replay: exit {p.returncode}: {p.stdout} {p.stderr}")
    files = sorted(os.listdir(d))
    if not files:
        fail("no corpus inputs")
    worst = {0: 0, 2: 0}
    for name in files:
        path = os.path.join(d, name)
        for cmd in COMMANDS:
            try:
                q = subprocess.run([mallocan, *cmd, path], capture_output=True, text=True, timeout=30,
                                   errors="replace", preexec_fn=bounded)
            except subprocess.TimeoutExpired:
                fail(f"mallocan {' '.join(cmd)} {name}: no answer in 30 s")
            what = f"mallocan {' '.join(cmd)} {name}"
            lines = q.stderr.splitlines()
            if q.returncode not in (0, 2):
                fail(f"{what}: exit status {q.returncode}\n{q.stderr[-2000:]}")
            if q.returncode == 2 and (not lines or not lines[-1].startswith("mallocan: " + path) or
                                      any(not x.startswith("mallocan: warning: ") for x in lines[:-1])):
                fail(f"{what}: exit 2 must come with one error line naming the file, got:\n{q.stderr[-2000:]}")
            if q.returncode == 0 and any(not line.startswith("mallocan: warning: ") for line in lines):
                fail(f"{what}: stray stderr output:\n{q.stderr[-2000:]}")
            worst[q.returncode] += 1
    print(f"ok: {len(files)} inputs x {len(COMMANDS)} commands: {worst[0]} read (maybe with warnings), "
          f"{worst[2]} refused with one line")
