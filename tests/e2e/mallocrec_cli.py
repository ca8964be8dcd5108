"""The launcher's command line: help, version, bad usage, a missing program,
exit statuses passed through, death by signal, and trace file names.

usage: mallocrec_cli.py MALLOCREC MALLOCAN VERSION
"""
import json
import os
import signal

from common import argv, expect, run, tmpdir

mallocrec, mallocan, version = argv(2, 3)


def one_line(args, rc, what, cwd=None, contains=""):
    r = run([mallocrec, *args], cwd=cwd)
    lines = r.stderr.splitlines()
    expect(r.returncode == rc, f"{what}: exit {r.returncode}, want {rc}; stderr {lines}")
    expect(len(lines) == 1 and lines[0].startswith("mallocrec: ") and contains in lines[0],
           f"{what}: want one line on stderr with {contains!r}, got {lines}")
    return r


with tmpdir() as d:
    r = run([mallocrec, "--help"])
    expect(r.returncode == 0 and r.stdout.startswith("usage: mallocrec run") and not r.stderr, "--help")
    for flag in ("--output", "--no-follow", "--stack-depth", "--no-stacks", "--quiet", "--help"):
        expect(flag in r.stdout, f"--help does not list {flag}")
    expect(run([mallocrec, "run", "--help"]).stdout == r.stdout, "run --help differs from --help")
    r = run([mallocrec, "--version"])
    expect(r.returncode == 0 and r.stdout == f"mallocrec {version} (trace format 1.0)\n", f"--version: {r.stdout!r}")

    # bad usage: exit 2, one line, nothing written
    one_line([], 2, "no command", contains="missing command")
    one_line(["record"], 2, "unknown command", contains="'record'")
    one_line(["run"], 2, "no program", contains="no program")
    one_line(["run", "--bogus", "--", "true"], 2, "unknown long option", cwd=d, contains="'--bogus'")
    one_line(["run", "-Z", "--", "true"], 2, "unknown short option", cwd=d, contains="'-Z'")
    one_line(["run", "--stack-depth"], 2, "missing argument", cwd=d, contains="'--stack-depth' needs an argument")
    one_line(["run", "--stack-depth", "deep", "--", "true"], 2, "bad number", cwd=d, contains="not a number")
    one_line(["run", "--no-stacks=1", "--", "true"], 2, "flag with a value", cwd=d, contains="takes no argument")
    one_line(["run", "-o", os.path.join(d, "no", "such", "dir", "x.mrz"), "--", "true"], 2, "missing output folder",
             contains="cannot write traces there")
    expect(os.listdir(d) == [], f"bad usage left files: {os.listdir(d)}")

    # a program that cannot be run: 127, one line
    one_line(["run", "--", "no-such-program-mrz"], 127, "missing program", cwd=d, contains="command not found")
    one_line(["run", "--", os.path.join(d, "nope")], 127, "missing path", cwd=d, contains="No such file")
    expect(os.listdir(d) == [], f"a missing program left files: {os.listdir(d)}")

    # exit status passed through; the default name is %n.%p.mrz in the current folder
    r = run([mallocrec, "run", "--", "sh", "-c", "echo $$; exit 3"], cwd=d)
    expect(r.returncode == 3, f"exit 3 came back as {r.returncode}")
    pid = int(r.stdout.strip())
    trace = os.path.join(d, f"sh.{pid}.mrz")
    expect(os.listdir(d) == [f"sh.{pid}.mrz"], f"default trace name: {os.listdir(d)}, want sh.{pid}.mrz")
    lines = r.stderr.splitlines()
    expect(len(lines) == 1 and lines[0].startswith(f"mallocrec: {trace}: ") and "allocations" in lines[0],
           f"summary line: {lines}")
    j = json.loads(run([mallocan, "info", "--format", "json", trace]).stdout)
    expect(j["pid"] == pid and j["end"]["how"] == "exit" and j["end"]["value"] == 3, f"end of exit 3: {j['end']}")
    os.unlink(trace)

    # death by a signal: 128 + N, and the trace completed from the spill file
    for sig in (signal.SIGTERM, signal.SIGKILL):
        out = os.path.join(d, "sub", f"%n-{sig.name}-%p.mrz")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        r = run([mallocrec, "run", "-q", "-o", out, "--", "sh", "-c", f"echo $$; kill -{sig.name[3:]} $$"])
        expect(r.returncode == 128 + sig, f"{sig.name}: exit {r.returncode}, want {128 + sig}")
        expect(not r.stderr, f"-q printed {r.stderr!r}")
        pid = int(r.stdout.strip())
        trace = os.path.join(d, "sub", f"sh-{sig.name}-{pid}.mrz")
        expect(os.path.exists(trace), f"{sig.name}: no {trace}: {os.listdir(os.path.dirname(out))}")
        expect(not os.path.exists(trace + ".wip"), f"{sig.name}: the spill file was left behind")
        j = json.loads(run([mallocan, "info", "--format", "json", trace]).stdout)
        expect(j["end"]["how"] == "signal" and j["end"]["value"] == sig, f"{sig.name}: end {j['end']}")
        expect(j["end"]["completed_after_exit"] and j["salvaged_chunks"] > 0, f"{sig.name}: not salvaged: {j}")
        expect(j["allocations"] > 0 and not j["damaged"], f"{sig.name}: {j['allocations']} allocations")
    print("ok")
