/* mallocrec.h — the API a program may call to steer the mallocrec recorder.
 *
 * Link with -lmallocrec_api (a library of no-ops), so the program runs with
 * or without the recorder; under `mallocrec run` the preloaded recorder's
 * definitions of the same functions take over.  Every function is safe to
 * call from any thread, at any time, and never allocates.  See mallocrec(3).
 *
 * Names (regions, marks, labels) are copied: the string may be freed or
 * reused as soon as the call returns. */
#ifndef MALLOCREC_H
#define MALLOCREC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @return 1 when the recorder is running in this process, 0 otherwise
 * (the no-op library). */
int mallocrec_attached(void);

/** Stops recording allocations, in every thread, until mallocrec_resume().
 * Frees are still recorded, so a block allocated before the pause and freed
 * during it is not reported as leaked. */
void mallocrec_pause(void);
/** Starts recording again; also ends `mallocrec run --start-paused`. */
void mallocrec_resume(void);

/** Opens a recording window: recording is on while at least one window is
 * open.  Windows nest and may overlap; pair with `mallocrec run
 * --start-paused` to record only inside them.
 * @return the window's index (>= 1), to pass to mallocrec_stop(); 0 from
 *         the no-op library. */
uint64_t mallocrec_start(void);
/** Closes window idx; when the last open window closes, recording pauses.
 * An index that is not open is ignored.
 * @return the number of windows still open. */
uint64_t mallocrec_stop(uint64_t idx);
/** A window without an index (for code that cannot keep one): each
 * mallocrec_register() is closed by one mallocrec_deregister(). */
void mallocrec_register(void);
void mallocrec_deregister(void);

/** Begins a named region on the calling thread: every allocation this
 * thread makes until the matching mallocrec_region_end() is tagged with it.
 * Regions nest; `mallocan report --by region` shows the tree. */
void mallocrec_region_begin(const char *name);
/** Ends the calling thread's innermost region (ignored when none is open). */
void mallocrec_region_end(void);

/** A phase marker: a named instant on the timeline. */
void mallocrec_mark(const char *name);

/** Names the calling thread's next allocation (its label, for
 * `mallocan arenas --group-by label`). */
void mallocrec_label_next(const char *name);

#ifdef __cplusplus
}
#endif

#endif
