/* Opening a trace and reading its metadata: process, modules, end, clock. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mallocan.h"

static char *dup_str(struct mrz_str s)
{
    char *p = malloc((size_t)s.n + 1);
    if (p) {
        memcpy(p, s.s, s.n);
        p[s.n] = 0;
    }
    return p;
}

struct argv_buf { char *s; size_t n, cap; };

static void add_arg(void *ctx, struct mrz_str a)
{
    struct argv_buf *b = ctx;
    if (b->n + a.n + 2 > b->cap) {
        size_t ncap = (b->n + a.n + 2) * 2;
        char *ns = realloc(b->s, ncap);
        if (!ns)
            return;
        b->s = ns;
        b->cap = ncap;
    }
    if (b->n)
        b->s[b->n++] = ' ';
    memcpy(b->s + b->n, a.s, a.n);
    b->n += a.n;
    b->s[b->n] = 0;
}

static void meta_record(struct an_meta *m, const struct mrz_rec *r)
{
    switch (r->type) {
    case MRZ_T_PROCESS: {
        m->pid = (uint32_t)r->a;
        m->ppid = (uint32_t)r->b;
        m->clock = (unsigned)r->c;
        m->tick_hz = r->d;
        m->realtime_ns = r->e;
        m->start_ticks = r->time;
        free(m->exe);
        m->exe = dup_str(r->str);
        struct argv_buf b = {0};
        mrz_process_argv(r, add_arg, &b);
        free(m->cmdline);
        m->cmdline = b.s ? b.s : dup_str((struct mrz_str){"", 0});
        break;
    }
    case MRZ_T_MODULE: {
        struct an_module *nm = realloc(m->mods, (size_t)(m->nmods + 1) * sizeof *nm);
        if (!nm)
            return;
        m->mods = nm;
        struct an_module *mod = &m->mods[m->nmods++];
        memset(mod, 0, sizeof *mod);
        mod->id = (uint32_t)r->a;
        mod->base = r->b;
        mod->t_load = r->time;
        mod->t_unload = UINT64_MAX;
        mod->path = dup_str(r->str);
        mod->build_id_len = r->str2.n < sizeof mod->build_id ? (int)r->str2.n : (int)sizeof mod->build_id;
        memcpy(mod->build_id, r->str2.s, (size_t)mod->build_id_len);
        int n = mrz_module_segments(r, mod->seg, 16);
        mod->nseg = n > 0 ? n : 0;
        break;
    }
    case MRZ_T_OPTIONS:
        m->sample_bytes = r->a;
        break;
    case MRZ_T_MODULE_UNLOAD:
        for (int i = m->nmods - 1; i >= 0; i--)
            if (m->mods[i].id == r->a && m->mods[i].t_unload == UINT64_MAX) {
                m->mods[i].t_unload = r->time;
                break;
            }
        break;
    case MRZ_T_END:
        /* The last END that knows how the process ended wins: the launcher's
         * (it saw the signal) comes after the recorder's own. */
        if (!m->have_end || r->a != MRZ_END_UNKNOWN) {
            m->end_how = (int)r->a;
            m->end_value = (int)r->b;
        }
        m->have_end = 1;
        if (r->time)
            m->end_ticks = r->time;
        if (r->c & 1)
            m->end_after_death = 1;
        break;
    default:
        break;
    }
}

struct pair { double t, ns; };

/* Clock pairs (ticks, ns) seen so far: the earliest and the latest. */
struct clock_fit { struct pair lo, hi; int have; };

static void fit_add(struct clock_fit *f, struct pair p)
{
    if (!f->have || p.t < f->lo.t)
        f->lo = p;
    if (!f->have || p.t > f->hi.t)
        f->hi = p;
    f->have = 1;
}

struct meta_ctx { struct an_meta *m; struct clock_fit *fit; };

static void meta_each(void *ctx, const struct mrz_rec *rec)
{
    struct meta_ctx *c = ctx;
    meta_record(c->m, rec);
    if (rec->type == MRZ_T_END && rec->time && rec->d)
        fit_add(c->fit, (struct pair){(double)rec->time, (double)rec->d});
}

int an_open(const char *path, struct mrz_reader **out, struct an_meta *m)
{
    memset(m, 0, sizeof *m);
    /* A spill file beside the trace: its process ended before it could
     * finish the trace (and no launcher completed it), or it still runs. */
    int sv = mrz_salvage(path, MRZ_END_UNKNOWN, 0);
    const char *open_path = path;
    char tmp[] = "/tmp/mallocan-XXXXXX";
    if (sv == MRZ_EBUSY) {
        an_warn(path, "the recording process is still running; reading what it has written so far");
    } else if (sv == MRZ_EIO && (errno == EACCES || errno == EPERM || errno == EROFS)) {
        /* a read-only location: complete a private copy instead */
        int why = errno, fd = mkstemp(tmp);
        if (fd >= 0 && mrz_salvage_copy(path, fd, MRZ_END_UNKNOWN, 0) >= 0) {
            an_warn(path, "cannot be completed in place (%s); read together with %s.wip", strerror(why), path);
            open_path = tmp;
        } else {
            an_warn(path, "%s.wip holds records the trace lacks, but they cannot be read (%s); reading the trace "
                          "as it is", path, strerror(fd < 0 ? errno : why));
        }
        if (fd >= 0)
            close(fd);
    } else if (sv < 0) {
        an_warn(path, "%s.wip holds records the trace lacks, but the trace cannot be completed (%s); reading it "
                      "as it is", path, sv == MRZ_EIO ? strerror(errno) : mrz_strerror(sv));
    }
    struct mrz_reader *r;
    int e = mrz_reader_open(open_path, &r);
    if (open_path != path)
        unlink(open_path); /* the reader keeps it open */
    if (e) {
        if (e == MRZ_EIO)
            return an_error(path, "%s", strerror(errno));
        if (e == MRZ_EVERSION)
            return an_error(path, "written by a newer version of the trace format (this mallocan reads %d.x)",
                            MRZ_VERSION_MAJOR);
        if (e == MRZ_ETRUNC)
            return an_error(path, "truncated inside the %d-byte file header", MRZ_FILE_HEADER_SIZE);
        if (e == MRZ_ECORRUPT)
            return an_error(path, "corrupt file header (bad checksum or header length)");
        return an_error(path, "%s", mrz_strerror(e));
    }
    struct mrz_chunk c;
    uint8_t *scratch = NULL;
    size_t cap = 0;
    void *dctx = mrz_dctx_new();
    struct clock_fit fit = {0};
    struct meta_ctx mc = {m, &fit};
    uint64_t first_base = UINT64_MAX; /* start of time when PROCESS is lost */
    while ((e = mrz_reader_next_header(r, &c)) > 0) {
        if (c.info.base_ticks && c.info.base_ticks < first_base)
            first_base = c.info.base_ticks;
        m->chunks++;
        m->raw_bytes += c.info.raw_len;
        m->payload_bytes += c.info.payload_len + MRZ_CHUNK_HEADER_SIZE;
        if (c.info.flags & MRZ_CHUNK_SALVAGED)
            m->salvaged_chunks++;
        if (c.info.stream > m->max_stream)
            m->max_stream = c.info.stream;
        if (c.info.base_ns)
            fit_add(&fit, (struct pair){(double)c.info.base_ticks, (double)c.info.base_ns});
        if (c.info.stream != MRZ_STREAM_META)
            continue;
        struct mrz_chunk full;
        if (mrz_reader_chunk_at(r, c.offset, dctx, &full, &scratch, &cap) < 0)
            continue;
        mrz_chunk_each(&full, meta_each, &mc);
    }
    free(scratch);
    mrz_dctx_free(dctx);
    if (e < 0) {
        mrz_reader_close(r);
        an_meta_free(m);
        return an_error(path, "%s", mrz_strerror(e));
    }
    m->file_bytes = mrz_reader_file_size(r);
    m->damage_at = mrz_reader_damage(r, &m->damage_skipped);
    int have_process = m->exe != NULL;
    if (!have_process) {
        /* its chunk was damaged: the header's pid, the earliest chunk as start */
        m->pid = mrz_reader_pid(r);
        if (first_base != UINT64_MAX)
            m->start_ticks = first_base;
    }
    /* ticks -> ns: the chunk headers' clock pairs, or the calibrated rate */
    double slope = m->tick_hz ? 1e9 / (double)m->tick_hz : 1.0;
    if (have_process && m->clock == MRZ_CLOCK_MONOTONIC)
        slope = 1.0;
    else if (fit.have && fit.hi.t > fit.lo.t && fit.hi.ns > fit.lo.ns &&
             (fit.hi.ns - fit.lo.ns > 5e6 || !m->tick_hz))
        slope = (fit.hi.ns - fit.lo.ns) / (fit.hi.t - fit.lo.t);
    m->fit_slope = slope;
    m->fit_t0 = (double)m->start_ticks;
    m->fit_ns0 = 0;
    mrz_reader_rewind(r);
    *out = r;
    return 0;
}

void an_report_damage(const char *path, struct mrz_reader *r)
{
    uint64_t skipped;
    uint64_t at = mrz_reader_damage(r, &skipped);
    if (at == UINT64_MAX)
        return;
    if (at + skipped == mrz_reader_file_size(r))
        an_warn(path, "truncated at byte %llu (%llu bytes after the last whole chunk ignored)",
                (unsigned long long)at, (unsigned long long)skipped);
    else
        an_warn(path, "damaged at byte %llu (%llu bytes skipped); the whole chunks after the damage were read",
                (unsigned long long)at, (unsigned long long)skipped);
}

void an_meta_free(struct an_meta *m)
{
    for (int i = 0; i < m->nmods; i++)
        free(m->mods[i].path);
    free(m->mods);
    free(m->exe);
    free(m->cmdline);
    memset(m, 0, sizeof *m);
}

double an_ns(const struct an_meta *m, uint64_t ticks)
{
    return m->fit_ns0 + ((double)ticks - m->fit_t0) * m->fit_slope;
}

const struct an_module *an_module_at(const struct an_meta *m, uint64_t ip, uint64_t t)
{
    const struct an_module *best = NULL;
    for (int i = 0; i < m->nmods; i++) {
        const struct an_module *mod = &m->mods[i];
        for (int s = 0; s < mod->nseg; s++) {
            uint64_t lo = mod->base + mod->seg[s].vaddr;
            if (ip >= lo && ip < lo + mod->seg[s].memsz) {
                /* a later load at the same address wins if it was live at t */
                if (!best || (t >= mod->t_load && t < mod->t_unload))
                    best = mod;
                break;
            }
        }
    }
    return best;
}

void an_json_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch == '\t')
            fputs("\\t", f);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

void an_json_cstr(FILE *f, const char *s)
{
    if (s)
        an_json_str(f, s, strlen(s));
    else
        fputs("null", f);
}

const char *an_base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}
