/* The module map: every loaded object with its build-id, load bias and
 * segments, written to stream 0 at start and whenever the set changes, so
 * the analyzer can symbolize offline. */
#include <elf.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "rec.h"

#define MAX_MODULES 4096

struct known {
    uintptr_t base;
    uint64_t name_hash;
    uint32_t id;
    uint8_t seen;
};

static struct known *known;  /* rec_mmap'd, MAX_MODULES entries */
static uint32_t nknown, next_id;
static unsigned long last_adds, last_subs;
/* Earliest dlopen entry not yet followed by a scan (0: none), and the load
 * time given to the objects the running scan finds. */
static uint64_t pending_since, load_time, last_unload;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

void rec_modules_reset(void)
{
    nknown = 0;
    next_id = 0;
    last_adds = last_subs = 0;
    pending_since = last_unload = 0;
}

void rec_modules_note_load(uint64_t t)
{
    uint64_t cur = __atomic_load_n(&pending_since, __ATOMIC_RELAXED);
    while ((!cur || t < cur) &&
           !__atomic_compare_exchange_n(&pending_since, &cur, t, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* Build-id from the PT_NOTE segments mapped in memory. */
static size_t build_id(const struct dl_phdr_info *info, const uint8_t **out)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const void *)p;
            size_t name = (nh->n_namesz + 3) & ~3u, desc = (nh->n_descsz + 3) & ~3u;
            const uint8_t *d = p + sizeof *nh + name;
            if (d + nh->n_descsz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(p + sizeof *nh, "GNU", 4)) {
                *out = d;
                return nh->n_descsz;
            }
            p = d + desc;
        }
    }
    return 0;
}

static void emit_module(const struct dl_phdr_info *info, const char *path, uint32_t id)
{
    struct rec_stream *m = rec_g.meta;
    size_t plen = strlen(path);
    if (plen > 4000)
        plen = 4000;
    rec_reserve(m, 1 + MRZ_VARINT_MAX * (8 + 4 * (size_t)info->dlpi_phnum) + plen + 64);
    const uint8_t *bid = NULL;
    size_t blen = build_id(info, &bid);
    struct mrz_framed f;
    uint8_t *p = mrz_framed_begin(&f, m->pos, MRZ_T_MODULE);
    p = mrz_put_uvar(p, load_time);
    p = mrz_put_uvar(p, id);
    p = mrz_put_uvar(p, info->dlpi_addr);
    p = mrz_put_str(p, path, plen);
    p = mrz_put_str(p, (const char *)bid, blen);
    uint32_t nseg = 0;
    for (int i = 0; i < info->dlpi_phnum; i++)
        nseg += info->dlpi_phdr[i].p_type == PT_LOAD;
    p = mrz_put_uvar(p, nseg);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        p = mrz_put_uvar(p, ph->p_vaddr);
        p = mrz_put_uvar(p, ph->p_memsz);
        p = mrz_put_uvar(p, ph->p_offset);
        p = mrz_put_uvar(p, ph->p_flags);
    }
    m->pos = mrz_framed_end(&f, p);
    rec_commit(m);
}

struct scan { int index, emit; };

/* Pass 1 (emit 0) marks the known objects still loaded; pass 2 writes the
 * new ones. */
static int scan_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct scan *sc = arg;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    char exe[4096];
    if (!*name) {
        /* the first object is the main program; other nameless ones are rare */
        if (sc->index++ == 0) {
            ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
            exe[n > 0 ? n : 0] = 0;
            name = exe;
        } else {
            name = "[unnamed]";
        }
    } else {
        sc->index++;
    }
    uint64_t h = hash_str(name);
    for (uint32_t i = 0; i < nknown; i++) {
        if (known[i].base == info->dlpi_addr && known[i].name_hash == h) {
            known[i].seen = 1;
            return 0;
        }
    }
    if (!sc->emit || nknown >= MAX_MODULES)
        return 0;
    known[nknown] = (struct known){info->dlpi_addr, h, next_id++, 1};
    emit_module(info, name, known[nknown].id);
    nknown++;
    return 0;
}

static int counts_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long *c = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        c[0] = info->dlpi_adds;
        c[1] = info->dlpi_subs;
    }
    return 1;
}

static void scan_locked(void);

void rec_modules_after_dlopen(void)
{
    if (!__atomic_load_n(&pending_since, __ATOMIC_RELAXED))
        return;
    rec_tls.busy++;
    rec_modules_check(1);
    rec_tls.busy--;
}

/* A cheap test first: dl_iterate_phdr stops after the first object. */
void rec_modules_check(int wait)
{
    if (!rec_g.meta)
        return;
    unsigned long c[2] = {0, 0};
    dl_iterate_phdr(counts_cb, c);
    if (c[0] == __atomic_load_n(&last_adds, __ATOMIC_RELAXED) &&
        c[1] == __atomic_load_n(&last_subs, __ATOMIC_RELAXED))
        return;
    if (wait)
        pthread_mutex_lock(&rec_g.lock);
    else if (pthread_mutex_trylock(&rec_g.lock))
        return; /* a later check will do; see rec.h */
    scan_locked();
    pthread_mutex_unlock(&rec_g.lock);
}

static void scan_locked(void)
{
    if (!known)
        known = rec_mmap(MAX_MODULES * sizeof *known);
    if (!known || !rec_g.meta)
        return;
    unsigned long c[2] = {0, 0};
    dl_iterate_phdr(counts_cb, c);
    if (nknown && c[0] == last_adds && c[1] == last_subs)
        return;
    last_adds = c[0];
    last_subs = c[1];
    uint64_t now = rec_ticks();
    for (uint32_t i = 0; i < nknown; i++)
        known[i].seen = 0;
    struct scan sc = {0, 0};
    dl_iterate_phdr(scan_cb, &sc);
    /* Objects no longer present were unloaded (before now). */
    uint32_t k = 0;
    for (uint32_t i = 0; i < nknown; i++) {
        if (known[i].seen) {
            known[k++] = known[i];
            continue;
        }
        struct rec_stream *m = rec_g.meta;
        rec_reserve(m, 1 + 3 * MRZ_VARINT_MAX);
        struct mrz_framed f;
        uint8_t *p = mrz_framed_begin(&f, m->pos, MRZ_T_MODULE_UNLOAD);
        p = mrz_put_uvar(p, now);
        p = mrz_put_uvar(p, known[i].id);
        m->pos = mrz_framed_end(&f, p);
        rec_commit(m);
        last_unload = now;
    }
    nknown = k;
    /* New objects count as loaded when the dlopen that brought them was
     * called (their constructors may allocate before this scan), but never
     * before an unload already written: one may sit where another was. */
    load_time = __atomic_exchange_n(&pending_since, 0, __ATOMIC_RELAXED);
    if (!load_time)
        load_time = now;
    if (load_time < last_unload)
        load_time = last_unload;
    sc = (struct scan){0, 1};
    dl_iterate_phdr(scan_cb, &sc);
}

void rec_modules_scan(void)
{
    pthread_mutex_lock(&rec_g.lock);
    scan_locked();
    pthread_mutex_unlock(&rec_g.lock);
}

static int self_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t me = (uintptr_t)arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (ph->p_type == PT_LOAD && me >= lo && me < hi) {
            rec_g.self_lo = lo;
            rec_g.self_hi = hi;
            return 1;
        }
    }
    return 0;
}

void rec_self_range(void) { dl_iterate_phdr(self_cb, (void *)(uintptr_t)&rec_self_range); }
