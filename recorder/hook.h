/* hook.h — inline hooks on x86-64: a function's first instructions are
 * replaced by a jump to a replacement, and the instructions moved into a
 * trampoline (rel32 branches and RIP-relative operands fixed up) that runs
 * the original.  Decoding uses capstone with our own mmap-backed allocator,
 * so installing a hook never reaches the interposed malloc.
 *
 * Depends only on libc and capstone (the unit test links it alone). */
#ifndef REC_HOOK_H
#define REC_HOOK_H

#include <stddef.h>
#include <stdint.h>

#define REC_HOOK_HIDDEN __attribute__((visibility("hidden")))

enum rec_hook_err {
    REC_HOOK_OK = 0,
    REC_HOOK_EDECODE = -1,   /* the prologue does not decode */
    REC_HOOK_ESHORT = -2,    /* the function ends before the 5-byte patch */
    REC_HOOK_EBRANCH = -3,   /* code jumps into the bytes the patch replaces */
    REC_HOOK_ERELOC = -4,    /* an instruction cannot be moved (loop, jrcxz, far RIP operand) */
    REC_HOOK_ENEAR = -5,     /* no free page within +-2 GiB of the function */
    REC_HOOK_EPROT = -6,     /* the code cannot be made writable */
    REC_HOOK_ECAPSTONE = -7, /* capstone failed to open */
    REC_HOOK_EFULL = -8,     /* too many hooks */
    REC_HOOK_EEXIST = -9,    /* the function is already hooked */
};

/** @return a static English phrase for a REC_HOOK_E* code. */
REC_HOOK_HIDDEN const char *rec_hook_strerror(int err);

/** Opens a capstone session for a batch of installs (and sets capstone's
 * allocator to ours for its duration), loading capstone on first use.
 * Calls nest.
 * @param sym  dlsym, or a caller's own way to it (the recorder's dlsym
 *             entry point does work of its own).
 * @return 0 or REC_HOOK_ECAPSTONE. */
REC_HOOK_HIDDEN int rec_hook_begin(void *(*sym)(void *, const char *));
/** Closes the session opened by the matching rec_hook_begin. */
REC_HOOK_HIDDEN void rec_hook_end(void);

/** Patches the function at fn so that calls to it reach repl; stores into
 * *orig, before the patch is written, an entry that runs the original.
 * @param size  the function's length in bytes (from its symbol), or 0 when
 *              unknown; when known, the whole body is checked for branches
 *              into the patched bytes.
 * Preconditions: inside rec_hook_begin/end; no other thread executes fn
 * while it is patched (before the program's threads start, or for an
 * object dlopen has just loaded).
 * @return 0, or a negative REC_HOOK_E* code (nothing was changed). */
REC_HOOK_HIDDEN int rec_hook_install(void *fn, size_t size, void *repl, void **orig);

/** @return 1 when fn is the entry of a function this module has patched. */
REC_HOOK_HIDDEN int rec_hook_is_patched(const void *fn);

/** Forgets the hooks of functions in [lo, hi) (their object was unloaded)
 * and releases their trampolines. */
REC_HOOK_HIDDEN void rec_hook_forget(uintptr_t lo, uintptr_t hi);

#endif
