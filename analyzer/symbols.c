/* Offline symbolization with libdw: one Dwfl per module file, opened on
 * first use after its build-id is checked, and a per-(module, ip) cache.
 *
 * Each module gets its own Dwfl, reported at bias 0, and is asked about
 * ip - load bias: modules that were unloaded and replaced at the same
 * address never collide, and no module layout has to be rebuilt. */
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbols.h"

enum { MOD_UNOPENED = 0, MOD_OK = 1, MOD_FAILED = -1 };

struct sym_mod {
    int state;
    unsigned flags; /* SYM_SYSTEM / SYM_RECORDER from the path */
    Dwfl *dwfl;
    Dwfl_Module *dm;
};

/* Bump arena for results and strings: freed all at once. */
struct arena_blk { struct arena_blk *next; size_t used, cap; char data[]; };

struct sym_ctx {
    const struct an_meta *m;
    sym_warn_fn warn;
    void *user;
    struct sym_mod *mods;
    struct sym_ip **slots; /* open addressing on (module, ip) */
    size_t nslots, nused;
    struct arena_blk *arena;
    struct sym_ip oom;     /* returned when out of memory */
    struct sym_frame oom_frame;
};

static void *arena_alloc(struct sym_ctx *s, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct arena_blk *b = s->arena;
    if (!b || b->used + n > b->cap) {
        size_t cap = n > 60000 ? n : 65536 - sizeof *b;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = s->arena;
        b->used = 0;
        b->cap = cap;
        s->arena = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

static const char *arena_str(struct sym_ctx *s, const char *str)
{
    if (!str)
        return NULL;
    size_t n = strlen(str) + 1;
    char *p = arena_alloc(s, n);
    if (p)
        memcpy(p, str, n);
    return p;
}

/* ------------------------------------------------------------ demangling */

typedef char *(*cxa_demangle_fn)(const char *, char *, size_t *, int *);

/* The C++ runtime's demangler, looked up at run time: mallocan stays a C
 * program that does not load libstdc++ unless a trace has mangled names. */
static cxa_demangle_fn demangler(void)
{
    static int tried;
    static cxa_demangle_fn fn;
    if (!tried) {
        tried = 1;
        fn = (cxa_demangle_fn)dlsym(RTLD_DEFAULT, "__cxa_demangle");
        if (!fn) {
            void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
            if (h)
                fn = (cxa_demangle_fn)dlsym(h, "__cxa_demangle");
        }
    }
    return fn;
}

char *sym_demangle(const char *name)
{
    if (!name || name[0] != '_' || name[1] != 'Z')
        return NULL;
    cxa_demangle_fn fn = demangler();
    if (!fn)
        return NULL;
    int status = -1;
    char *out = fn(name, NULL, NULL, &status);
    if (status != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* ------------------------------------------------------------ modules */

static int starts(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

unsigned sym_classify_path(const char *path)
{
    if (!path)
        return 0;
    const char *b = an_base_name(path);
    if (starts(b, "libmallocrec"))
        return SYM_RECORDER;
    static const char *const sys[] = {
        "libc.so",      "libc-",        "ld-linux",      "ld.so",       "ld64.so",      "libstdc++.so",
        "libgcc_s.so",  "libpthread.so", "libpthread-", "libdl.so",     "libc++.so",    "libc++abi.so",
        "linux-vdso",   "linux-gate",
    };
    for (size_t i = 0; i < sizeof sys / sizeof *sys; i++)
        if (starts(b, sys[i]))
            return SYM_SYSTEM;
    return 0;
}

static void warnf(struct sym_ctx *s, const char *fmt, ...)
{
    if (!s->warn)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    s->warn(s->user, buf);
}

static char *debuginfo_path;
static const Dwfl_Callbacks offline_cb = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

static void hex(char *out, const uint8_t *b, int n)
{
    for (int i = 0; i < n && i < 20; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    if (n > 20)
        strcat(out, "..");
}

/* Opens module i's file once; on failure warns once and remembers it. */
static struct sym_mod *mod_open(struct sym_ctx *s, int i)
{
    struct sym_mod *sm = &s->mods[i];
    if (sm->state != MOD_UNOPENED)
        return sm;
    const struct an_module *mod = &s->m->mods[i];
    sm->state = MOD_FAILED;
    /* the vdso ("linux-vdso.so.1") has no file: offsets, silently.  A
     * relative path (a dlopen("./x.so")) is tried from here: the build-id
     * check says whether it is the same file. */
    if (!mod->path || !strchr(mod->path, '/'))
        return sm;
    Dwfl *d = dwfl_begin(&offline_cb);
    if (!d) {
        warnf(s, "%s: %s; its frames show as module+offset", mod->path, dwfl_errmsg(-1));
        return sm;
    }
    dwfl_report_begin(d);
    Dwfl_Module *dm = dwfl_report_elf(d, an_base_name(mod->path), mod->path, -1, 0, true);
    dwfl_report_end(d, NULL, NULL);
    if (!dm) {
        warnf(s, "%s: cannot open (%s); its frames show as module+offset", mod->path, dwfl_errmsg(-1));
        dwfl_end(d);
        return sm;
    }
    if (mod->build_id_len > 0) {
        const unsigned char *bits = NULL;
        GElf_Addr vaddr;
        int n = dwfl_module_build_id(dm, &bits, &vaddr);
        if (n != mod->build_id_len || memcmp(bits, mod->build_id, (size_t)n)) {
            char want[48] = "", got[48] = "none";
            hex(want, mod->build_id, mod->build_id_len);
            if (n > 0)
                hex(got, bits, n);
            warnf(s, "%s: build-id %s differs from the recorded %s (rebuilt or replaced since the trace); its frames "
                     "show as module+offset",
                  mod->path, got, want);
            dwfl_end(d);
            return sm;
        }
    }
    sm->dwfl = d;
    sm->dm = dm;
    sm->state = MOD_OK;
    return sm;
}

struct sym_ctx *sym_new(const struct an_meta *m, sym_warn_fn warn, void *user)
{
    struct sym_ctx *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->m = m;
    s->warn = warn;
    s->user = user;
    s->mods = calloc((size_t)m->nmods + 1, sizeof *s->mods);
    s->nslots = 1024;
    s->slots = calloc(s->nslots, sizeof *s->slots);
    if (!s->mods || !s->slots) {
        sym_free(s);
        return NULL;
    }
    for (int i = 0; i < m->nmods; i++)
        s->mods[i].flags = sym_classify_path(m->mods[i].path);
    s->oom_frame = (struct sym_frame){0};
    s->oom = (struct sym_ip){.nframes = 1, .frames = &s->oom_frame, .flags = SYM_NO_DEBUG};
    return s;
}

void sym_free(struct sym_ctx *s)
{
    if (!s)
        return;
    for (int i = 0; s->mods && i < s->m->nmods; i++)
        if (s->mods[i].dwfl)
            dwfl_end(s->mods[i].dwfl);
    while (s->arena) {
        struct arena_blk *n = s->arena->next;
        free(s->arena);
        s->arena = n;
    }
    free(s->mods);
    free(s->slots);
    free(s);
}

/* ------------------------------------------------------------ lookups */

struct fbuf { struct sym_frame f[32]; int n; };

static const char *die_name(Dwarf_Die *die)
{
    Dwarf_Attribute at;
    const char *n = NULL;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &at) || dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &at))
        n = dwarf_formstring(&at);
    if (!n && dwarf_attr_integrate(die, DW_AT_name, &at))
        n = dwarf_formstring(&at);
    return n;
}

/* dir/file with "." and ".." segments folded, lexically (the file need not
 * exist here).  @return out. */
static char *join_path(char *out, size_t n, const char *dir, const char *file)
{
    char tmp[4096];
    if (file[0] == '/' || !dir || !*dir)
        snprintf(tmp, sizeof tmp, "%s", file);
    else
        snprintf(tmp, sizeof tmp, "%s/%s", dir, file);
    size_t o = 0;
    const char *p = tmp;
    int absolute = tmp[0] == '/';
    while (*p) {
        while (*p == '/')
            p++;
        const char *q = strchrnul(p, '/');
        size_t len = (size_t)(q - p);
        if (len == 0 || (len == 1 && p[0] == '.')) {
            /* skip */
        } else if (len == 2 && p[0] == '.' && p[1] == '.' && o > 0 && !(o >= 2 && !strncmp(out + o - 2, "..", 2))) {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* the slash before the dropped segment */
        } else if (o + len + 2 < n) {
            if (o > 0 || absolute)
                out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p = q;
    }
    if (o == 0 && absolute)
        out[o++] = '/';
    out[o] = 0;
    return out;
}

static void push(struct sym_ctx *s, struct fbuf *fb, const char *fn, const char *file, const char *comp_dir, int line,
                 int inlined)
{
    if (fb->n >= (int)(sizeof fb->f / sizeof *fb->f))
        return;
    char *dm = sym_demangle(fn);
    char path[4096];
    fb->f[fb->n++] = (struct sym_frame){.function = arena_str(s, dm ? dm : fn),
                                        .file = file ? arena_str(s, join_path(path, sizeof path, comp_dir, file)) : NULL,
                                        .line = line,
                                        .inlined = inlined};
    free(dm);
}

/* The frames of address a (module-relative, bias 0): walk the DWARF scopes
 * from the innermost out; each inlined subroutine is a frame whose caller's
 * line is the inline's call_file:call_line. */
static void resolve(struct sym_ctx *s, Dwfl_Module *dm, Dwarf_Addr a, struct fbuf *fb)
{
    const char *file = NULL;
    int line = 0;
    Dwfl_Line *l = dwfl_module_getsrc(dm, a);
    if (l)
        file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(dm, a, &bias);
    /* dwarf_getscopes gives the innermost DIE at a, but continues through
     * abstract origins (lexical scoping); the chain of inlined calls is the
     * concrete nesting of that DIE, which dwarf_getscopes_die gives. */
    Dwarf_Die *scopes = NULL;
    int n = cu ? dwarf_getscopes(cu, a - bias, &scopes) : 0;
    if (n > 0) {
        Dwarf_Die inner = scopes[0];
        free(scopes);
        scopes = NULL;
        n = dwarf_getscopes_die(&inner, &scopes);
    }
    int have_function = 0;
    Dwarf_Attribute cd_attr;
    const char *comp_dir = cu ? dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &cd_attr)) : NULL;
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    for (int i = 0; i < n; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_inlined_subroutine) {
            push(s, fb, die_name(&scopes[i]), file, comp_dir, line, 1);
            Dwarf_Attribute at;
            Dwarf_Word cf = 0, cl = 0;
            file = NULL;
            line = 0;
            if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &at), &cf) == 0 &&
                (files || dwarf_getsrcfiles(cu, &files, &nfiles) == 0) && cf < nfiles)
                file = dwarf_filesrc(files, cf, NULL, NULL);
            if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &at), &cl) == 0)
                line = (int)cl;
        } else if (tag == DW_TAG_subprogram) {
            const char *name = die_name(&scopes[i]);
            if (!name) /* e.g. an artificial or nameless DIE: the symbol table knows */
                name = dwfl_module_addrname(dm, a);
            push(s, fb, name, file, comp_dir, line, 0);
            have_function = 1;
            break;
        }
    }
    free(scopes);
    if (!have_function) /* no DWARF for a: the ELF symbol table */
        push(s, fb, dwfl_module_addrname(dm, a), file, comp_dir, line, 0);
}

struct entry {
    struct sym_ip pub;
    int mod; /* index in m->mods, -1 for none */
};

static size_t slot_of(uint64_t ip, int mod, size_t mask)
{
    uint64_t h = (ip ^ ((uint64_t)(uint32_t)mod << 48)) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 29) & mask;
}

static int grow(struct sym_ctx *s)
{
    size_t n = s->nslots * 2;
    struct sym_ip **ns = calloc(n, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < s->nslots; i++) {
        struct entry *e = (struct entry *)s->slots[i];
        if (!e)
            continue;
        size_t j = slot_of(e->pub.ip, e->mod, n - 1);
        while (ns[j])
            j = (j + 1) & (n - 1);
        ns[j] = &e->pub;
    }
    free(s->slots);
    s->slots = ns;
    s->nslots = n;
    return 0;
}

static int module_index(const struct an_meta *m, const struct an_module *mod)
{
    return mod ? (int)(mod - m->mods) : -1;
}

unsigned sym_flags(struct sym_ctx *s, uint64_t ip, uint64_t t)
{
    const struct an_module *mod = an_module_at(s->m, ip, t);
    return mod ? s->mods[module_index(s->m, mod)].flags : SYM_NO_MODULE;
}

const struct sym_ip *sym_lookup(struct sym_ctx *s, uint64_t ip, uint64_t t)
{
    const struct an_module *mod = an_module_at(s->m, ip, t);
    int mi = module_index(s->m, mod);
    size_t mask = s->nslots - 1, j = slot_of(ip, mi, mask);
    for (struct entry *e; (e = (struct entry *)s->slots[j]); j = (j + 1) & mask)
        if (e->pub.ip == ip && e->mod == mi)
            return &e->pub;

    struct fbuf fb = {.n = 0};
    unsigned flags = 0;
    uint64_t offset = ip;
    if (!mod) {
        flags = SYM_NO_MODULE;
    } else {
        offset = ip - mod->base;
        struct sym_mod *sm = &s->mods[mi];
        flags = sm->flags;
        /* the recorder's frames are dropped by the caller: don't open it */
        if (!(flags & SYM_RECORDER))
            sm = mod_open(s, mi);
        if (sm->state == MOD_OK)
            resolve(s, sm->dm, offset - 1, &fb);
        else
            flags |= SYM_NO_DEBUG;
        if (fb.n == 1 && !fb.f[0].function && !fb.f[0].file)
            fb.n = 0;
        if (sm->state == MOD_OK && !fb.n)
            flags |= SYM_NO_DEBUG;
    }
    if (!fb.n)
        fb.f[fb.n++] = (struct sym_frame){0};

    struct entry *e = arena_alloc(s, sizeof *e);
    struct sym_frame *frames = arena_alloc(s, (size_t)fb.n * sizeof *frames);
    if (!e || !frames)
        return &s->oom;
    memcpy(frames, fb.f, (size_t)fb.n * sizeof *frames);
    e->mod = mi;
    e->pub = (struct sym_ip){
        .ip = ip,
        .module = mod ? mod->path : NULL,
        .module_name = mod ? an_base_name(mod->path) : NULL,
        .offset = offset,
        .flags = flags,
        .nframes = fb.n,
        .frames = frames,
    };
    if ((s->nused + 1) * 2 > s->nslots) {
        if (grow(s))
            return &e->pub; /* correct, just not cached */
        mask = s->nslots - 1;
    }
    j = slot_of(ip, mi, mask);
    while (s->slots[j])
        j = (j + 1) & mask;
    s->slots[j] = &e->pub;
    s->nused++;
    return &e->pub;
}
