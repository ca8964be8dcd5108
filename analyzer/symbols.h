/* symbols.h — offline symbolization of recorded return addresses (libdw).
 *
 * Given a trace's module list (an_meta), turns an instruction pointer into
 * its module, function (C++ names demangled), file:line and the chain of
 * inlined frames.  Each module file is opened once, on first use, and only
 * when its on-disk build-id equals the one the recorder saw; otherwise (file
 * missing, rebuilt, not an ELF file) its frames read `module+0xOFFSET` and
 * the warning callback is called once for that module.  Results are cached
 * per (module, ip), so asking again is a hash lookup.
 *
 * Not thread-safe: one sym_ctx per thread. */
#ifndef SYMBOLS_H
#define SYMBOLS_H

#include <stdint.h>

#include "mallocan.h"

/* sym_ip.flags */
enum {
    SYM_SYSTEM = 1,    /* libc, libstdc++, libgcc_s, ld.so (and the like) */
    SYM_RECORDER = 2,  /* the recorder's own code (libmallocrec): never shown */
    SYM_NO_MODULE = 4, /* no recorded module maps this address */
    SYM_NO_DEBUG = 8,  /* module known but not symbolized (missing, rebuilt, no symbols) */
};

struct sym_frame {
    const char *function; /* demangled name, or NULL when unknown */
    const char *file;     /* source file as the debug info names it, or NULL */
    int line;             /* 0 when unknown */
    int inlined;          /* 1: this frame was inlined into the next one */
};

/* What one return address resolves to: frames[0] is the innermost (an
 * inlined callee when there is one), frames[nframes-1] the real function. */
struct sym_ip {
    uint64_t ip;
    const char *module;   /* the module's path as recorded, or NULL */
    const char *module_name; /* its base name (for display), or NULL */
    uint64_t offset;      /* ip - the module's load bias (ip itself when no module) */
    unsigned flags;
    int nframes;          /* >= 1 */
    const struct sym_frame *frames;
};

/** Called once per module that cannot be symbolized, with one line saying
 * why (path and reason, no trailing newline). */
typedef void (*sym_warn_fn)(void *user, const char *msg);

/** Creates a symbolizer over m's modules; m must outlive it.  warn may be
 * NULL.  @return NULL on allocation failure. */
struct sym_ctx *sym_new(const struct an_meta *m, sym_warn_fn warn, void *user);
void sym_free(struct sym_ctx *s);

/** Resolves a return address (the symbolizer looks up ip - 1, the call
 * instruction).  t is the time in ticks the address was seen at (it picks
 * between modules loaded at the same address at different times; 0 when
 * unknown).  @return the cached result, valid until sym_free; never NULL
 * (an out-of-memory lookup gives a frame without names). */
const struct sym_ip *sym_lookup(struct sym_ctx *s, uint64_t ip, uint64_t t);

/** The flags ip's module alone implies (SYM_SYSTEM, SYM_RECORDER, or
 * SYM_NO_MODULE), without symbolizing: lets a caller that hides the C
 * library's frames skip resolving them. */
unsigned sym_flags(struct sym_ctx *s, uint64_t ip, uint64_t t);

/** @return SYM_SYSTEM / SYM_RECORDER flags that a module path alone implies. */
unsigned sym_classify_path(const char *path);

/** Demangles an Itanium C++ name with the C++ runtime's own demangler
 * (loaded on first use).  @return a string to free(), or NULL when name is
 * not a mangled name or no demangler is available. */
char *sym_demangle(const char *name);

#endif
