"""Uses the Python bindings (include/mallocrec.py) with exactly known
allocations made through libc's malloc: a region as a context manager, a
@traced function, a labelled allocation, one made while paused, and a
recording window.  Prints what it did as JSON.  usage: py_api.py INCLUDE_DIR"""
import ctypes
import json
import sys

sys.path.insert(0, sys.argv[1])
import mallocrec  # noqa: E402

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
LOAD, SOLVE, LABELLED, PAUSED = 123457, 223457, 323457, 423457
N_LOAD, N_SOLVE = 3, 2

with mallocrec.region("load"):
    blocks = [libc.malloc(LOAD) for _ in range(N_LOAD)]


@mallocrec.traced
def solve():
    libc.free(libc.malloc(SOLVE))


for _ in range(N_SOLVE):
    solve()
mallocrec.mark("solved")
mallocrec.label_next("pybuf")
blocks.append(libc.malloc(LABELLED))
mallocrec.pause()
blocks.append(libc.malloc(PAUSED))
mallocrec.resume()
for p in blocks:
    libc.free(p)
with mallocrec.recording():
    pass  # the last window closes: recording pauses
print(json.dumps({"attached": mallocrec.attached(), "load": [LOAD, N_LOAD], "solve": [SOLVE, N_SOLVE],
                  "solve_region": solve.__qualname__, "labelled": LABELLED, "paused": PAUSED}))
