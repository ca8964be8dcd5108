#!/usr/bin/env python3
"""Records samples/mailbox (blocks handed between two threads as fast as they
go, many freed by the other thread within the clock tick of their allocation)
and checks the engine matches every release to its block: the program's
exact counts, no unknown release, nothing live but the runtime's own blocks.
usage: mailbox.py MALLOCREC RP_CHECK MAILBOX"""
import json, os, re, subprocess, sys, tempfile

rec, rp_check, mailbox = sys.argv[1:4]
tmp = tempfile.mkdtemp()
trace = os.path.join(tmp, "mailbox.mrz")
blocks = 200000
p = subprocess.run([rec, "run", "-q", "-o", trace, "--", mailbox, str(blocks)], capture_output=True, text=True)
assert p.returncode == 0, p.stderr
m = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", p.stdout)}
assert m["blocks"] == blocks, p.stdout

out = subprocess.run([rp_check, trace], capture_output=True, text=True, check=True).stdout
j = json.loads(out)
assert (j["unknown_frees"], j["overwritten"]) == (0, 0), j
# beyond the two threads' calls: pthread_create's block for the thread and
# stdout's buffer, both still live at the end
assert j["allocations"] - (m["malloc"] + m["realloc"]) == 2, (j["allocations"], m)
assert j["reallocs"] == m["realloc"] and j["frees"] == m["free"], (j, m)
assert j["host"]["live_count"] == 2, j["host"]
assert j["handlers"]["allocs"] == j["allocations"] and j["handlers"]["frees"] == j["allocations"] - 2, j
assert j["handlers"]["by_realloc"] == m["realloc"], j["handlers"]
assert j["sum_site_peak_bytes"] == j["host"]["peak_bytes"], j
assert j["sum_site_live_bytes"] == j["host"]["live_bytes"], j
# decoded ahead on a second thread or not, the same replay
one = subprocess.run([rp_check, trace], capture_output=True, text=True, check=True,
                     env=dict(os.environ, MALLOCAN_THREADS="1")).stdout
assert one == out, "decoding ahead changed the replay"
print("mailbox ok: %d blocks handed over, %d events placed by liveness" % (blocks, j["reordered"]))
