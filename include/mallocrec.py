"""mallocrec: steer the mallocrec recorder from Python (see mallocrec(3)).

Under ``mallocrec run -- python3 app.py`` the recorder is preloaded into the
interpreter and these functions reach it; otherwise every one of them does
nothing, so a program can keep its calls in production.

    import mallocrec

    with mallocrec.region("load"):         # allocations inside are tagged "load"
        data = load()

    @mallocrec.traced                       # a region named after the function
    def solve(data): ...

    with mallocrec.recording():             # with `mallocrec run --start-paused`:
        step()                              # record only inside

    mallocrec.mark("checkpoint")            # a marker on the timeline
    mallocrec.label_next("buffer")          # names the next allocation

Only allocations that reach malloc are recorded: CPython serves small
objects from its own pools (set PYTHONMALLOC=malloc to see those too).
"""
import ctypes
import functools

__all__ = ["attached", "pause", "resume", "start", "stop", "register", "deregister", "region_begin",
           "region_end", "mark", "label_next", "region", "traced", "recording"]


def _load():
    try:
        lib = ctypes.CDLL(None)  # the process's own symbols: the preloaded recorder's
        lib.mallocrec_attached.restype = ctypes.c_int
        if not lib.mallocrec_attached():
            return None  # the no-op library, linked by some extension
    except (OSError, AttributeError):
        return None
    lib.mallocrec_start.restype = ctypes.c_uint64
    lib.mallocrec_stop.restype = ctypes.c_uint64
    lib.mallocrec_stop.argtypes = [ctypes.c_uint64]
    for name in ("mallocrec_region_begin", "mallocrec_mark", "mallocrec_label_next"):
        getattr(lib, name).argtypes = [ctypes.c_char_p]
        getattr(lib, name).restype = None
    for name in ("mallocrec_pause", "mallocrec_resume", "mallocrec_register", "mallocrec_deregister",
                 "mallocrec_region_end"):
        getattr(lib, name).argtypes = []
        getattr(lib, name).restype = None
    return lib


_lib = _load()


def _name(name):
    return name if isinstance(name, bytes) else str(name).encode("utf-8", "replace")


def attached():
    """True when the recorder runs in this process."""
    return _lib is not None


def pause():
    """Stops recording allocations (frees are still recorded)."""
    if _lib:
        _lib.mallocrec_pause()


def resume():
    """Records again; also ends ``mallocrec run --start-paused``."""
    if _lib:
        _lib.mallocrec_resume()


def start():
    """Opens a recording window; returns its index for stop() (0 when not recording)."""
    return _lib.mallocrec_start() if _lib else 0


def stop(idx):
    """Closes window idx; returns how many windows are still open."""
    return _lib.mallocrec_stop(idx) if _lib else 0


def register():
    """Opens a window without an index (closed by deregister())."""
    if _lib:
        _lib.mallocrec_register()


def deregister():
    if _lib:
        _lib.mallocrec_deregister()


def region_begin(name):
    """Begins a region on this thread: its allocations are tagged with name."""
    if _lib:
        _lib.mallocrec_region_begin(_name(name))


def region_end():
    if _lib:
        _lib.mallocrec_region_end()


def mark(name):
    """A phase marker on the timeline."""
    if _lib:
        _lib.mallocrec_mark(_name(name))


def label_next(name):
    """Names this thread's next allocation."""
    if _lib:
        _lib.mallocrec_label_next(_name(name))


class region:
    """A region as a context manager (``with region("load"):``) or a
    decorator (``@region("load")``)."""

    def __init__(self, name):
        self._name = _name(name)

    def __enter__(self):
        if _lib:
            _lib.mallocrec_region_begin(self._name)
        return self

    def __exit__(self, *exc):
        if _lib:
            _lib.mallocrec_region_end()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return wrapper


def traced(fn=None, *, name=None):
    """Decorator: each call of the function is a region named after it
    (its qualified name, or name=...).  Works as @traced and @traced(name=...)."""
    if fn is None:
        return lambda f: traced(f, name=name)
    return region(name or fn.__qualname__)(fn)


class recording:
    """A recording window as a context manager: with ``mallocrec run
    --start-paused``, only what runs inside is recorded."""

    def __enter__(self):
        self._idx = start()
        return self

    def __exit__(self, *exc):
        stop(self._idx)
        return False
