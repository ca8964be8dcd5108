"""The manual pages: mallocrec(1) documents every option and MALLOCREC_*
variable of the recorder's option table, `mallocrec --help` lists every
option, and every page in man/ renders without a warning (when man(1) is
installed; the check is skipped otherwise).

usage: man_pages.py SOURCE_ROOT MALLOCREC
"""
import glob
import os
import re
import shutil

from common import argv, expect, run

root, mallocrec = argv(2, 2)

table = open(os.path.join(root, "format", "common", "options.c")).read()
opts = re.findall(r'\{"([a-z][a-z-]*)",\s*(?:\'(.)\'|0),\s*"(MALLOCREC_\w+)"', table)
expect(len(opts) >= 5, f"option table not understood: {opts}")
page = open(os.path.join(root, "man", "mallocrec.1")).read()
helptext = run([mallocrec, "--help"]).stdout
for flag, short, env in opts:
    roff = "\\-\\-" + flag.replace("-", "\\-")
    expect(roff in page, f"mallocrec.1 does not document --{flag}")
    expect(env in page, f"mallocrec.1 does not document {env}")
    expect(f"--{flag}" in helptext, f"mallocrec --help does not list --{flag}")
    if short:
        expect(f"\\-{short}" in page, f"mallocrec.1 does not document -{short}")

pages = sorted(glob.glob(os.path.join(root, "man", "*.[1-8]")))
expect(any(p.endswith("mrz.5") for p in pages), f"man/mrz.5 missing: {pages}")
if not shutil.which("man"):
    print(f"ok: {len(opts)} options documented; man(1) is not installed, rendering not checked")
else:
    for p in pages:
        r = run(["man", "--warnings", "-l", p], env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat"})
        expect(r.returncode == 0 and r.stdout.strip(), f"{p}: man -l failed: {r.stderr}")
        expect(not r.stderr.strip(), f"{p}: warnings:\n{r.stderr}")
    print(f"ok: {len(opts)} options documented; {len(pages)} pages render without warnings")
