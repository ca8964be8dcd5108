/* mallocan info: what a trace holds — process, duration, threads, modules,
 * counts per call kind, and how compact it is. */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mallocan.h"

static const struct an_opt opts[] = {
    {"format", 0, "FMT", "text or json", "text"},
    {0},
};

struct counts {
    uint64_t kind[MRZ_K_MAX + 1];
    uint64_t free, realloc_free, cuda_alloc, cuda_free, failed, events, max_time;
    uint64_t cuda[MRZ_S_COUNT][3]; /* per CUDA space: allocations, frees, failed calls */
    uint64_t *tids;
    size_t ntids, cap;
};

static void add_tid(struct counts *c, uint64_t tid)
{
    for (size_t i = 0; i < c->ntids; i++)
        if (c->tids[i] == tid)
            return;
    if (c->ntids == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        uint64_t *n = realloc(c->tids, ncap * sizeof *n);
        if (!n)
            return;
        c->tids = n;
        c->cap = ncap;
    }
    c->tids[c->ntids++] = tid;
}

static const char *end_text(const struct an_meta *m, char *buf, size_t n)
{
    if (!m->have_end)
        return "unknown (no end record)";
    switch (m->end_how) {
    case MRZ_END_EXIT: snprintf(buf, n, "exit %d", m->end_value); break;
    case MRZ_END_SIGNAL: snprintf(buf, n, "signal %d (%s)", m->end_value, sigabbrev_np(m->end_value) ? sigabbrev_np(m->end_value) : "?"); break;
    case MRZ_END_EXEC: snprintf(buf, n, "exec"); break;
    default: snprintf(buf, n, "unknown"); break;
    }
    return buf;
}

static const char *end_how_name(int how)
{
    static const char *const names[] = {"unknown", "exit", "signal", "exec"};
    return how >= 0 && how < 4 ? names[how] : "unknown";
}

static int run(struct an_ctx *ctx)
{
    const char *fmt = an_get_format(ctx, "text|json");
    if (!fmt)
        return 2;
    const char *path = ctx->traces[0];
    struct mrz_reader *r;
    struct an_meta m;
    int rc = an_open(path, &r, &m);
    if (rc)
        return rc;
    struct counts c = {0};
    struct mrz_chunk ch;
    int e;
    while ((e = mrz_reader_next(r, &ch)) > 0) {
        struct mrz_delta d;
        mrz_delta_reset(&d, ch.info.base_ticks);
        const uint8_t *p = ch.raw, *end = ch.raw + ch.raw_len;
        struct mrz_rec rec;
        int k;
        while ((k = mrz_decode(&p, end, &d, &rec)) > 0) {
            uint8_t t = rec.type;
            if (t >= 1 && t <= MRZ_K_MAX) {
                c.kind[t]++;
                c.events++;
                if (!rec.ptr && rec.size)
                    c.failed++;
            } else if (t == MRZ_T_FREE) {
                c.free++;
                c.events++;
            } else if (t == MRZ_T_REALLOC_FREE) {
                c.realloc_free++;
                c.events++;
            } else if (t == MRZ_T_CUDA_ALLOC) {
                c.cuda_alloc++;
                c.events++;
                if (rec.space < MRZ_S_COUNT) {
                    c.cuda[rec.space][0]++;
                    c.cuda[rec.space][2] += rec.result || !rec.ptr;
                }
            } else if (t == MRZ_T_CUDA_FREE) {
                c.cuda_free++;
                c.events++;
                if (rec.space < MRZ_S_COUNT) {
                    c.cuda[rec.space][1]++;
                    c.cuda[rec.space][2] += rec.result != 0;
                }
            } else if (t == MRZ_T_THREAD) {
                add_tid(&c, rec.a);
            }
            if ((t < MRZ_T_FRAMED_MIN && t != MRZ_T_STACK) || t == MRZ_T_THREAD || t == MRZ_T_THREAD_EXIT)
                if (rec.time > c.max_time && rec.time - m.start_ticks < (1ull << 62))
                    c.max_time = rec.time;
        }
        if (k < 0)
            an_warn(path, "chunk at byte %" PRIu64 ": %s record at payload byte %td; rest of the chunk skipped",
                    ch.offset, mrz_strerror(k), p - ch.raw);
    }
    if (e < 0) {
        mrz_reader_close(r);
        an_meta_free(&m);
        free(c.tids);
        return an_error(path, "%s", mrz_strerror(e));
    }
    an_report_damage(path, r);
    uint64_t last = c.max_time > m.end_ticks ? c.max_time : m.end_ticks;
    double dur_ns = last > m.start_ticks ? an_ns(&m, last) - an_ns(&m, m.start_ticks) : 0;
    uint64_t allocs = 0;
    for (int k = 1; k <= MRZ_K_MAX; k++)
        allocs += c.kind[k];
    double bpe = c.events ? (double)m.file_bytes / (double)c.events : 0;
    FILE *f = ctx->out;
    char buf[64];
    unsigned major, minor;
    mrz_reader_version(r, &major, &minor);
    if (!strcmp(fmt, "json")) {
        fputs("{\"trace\":", f);
        an_json_str(f, path, strlen(path));
        fprintf(f, ",\"format_version\":\"%u.%u\",\"pid\":%u,\"ppid\":%u,\"exe\":", major, minor, m.pid,
                m.ppid);
        an_json_str(f, m.exe ? m.exe : "", m.exe ? strlen(m.exe) : 0);
        fputs(",\"command\":", f);
        an_json_str(f, m.cmdline ? m.cmdline : "", m.cmdline ? strlen(m.cmdline) : 0);
        fprintf(f, ",\"start_realtime_ns\":%" PRIu64 ",\"duration_ns\":%.0f", m.realtime_ns, dur_ns);
        fprintf(f, ",\"end\":{\"how\":\"%s\",\"value\":%d,\"known\":%s,\"completed_after_exit\":%s}",
                m.have_end ? end_how_name(m.end_how) : "unknown", m.end_value,
                m.have_end && m.end_how != MRZ_END_UNKNOWN ? "true" : "false",
                m.salvaged_chunks || m.end_after_death ? "true" : "false");
        fprintf(f, ",\"threads\":%zu,\"modules\":[", c.ntids);
        for (int i = 0; i < m.nmods; i++) {
            fprintf(f, "%s{\"path\":", i ? "," : "");
            an_json_str(f, m.mods[i].path, strlen(m.mods[i].path));
            fprintf(f, ",\"base\":%" PRIu64 ",\"build_id\":\"", m.mods[i].base);
            for (int b = 0; b < m.mods[i].build_id_len; b++)
                fprintf(f, "%02x", m.mods[i].build_id[b]);
            fprintf(f, "\",\"unloaded\":%s}", m.mods[i].t_unload != UINT64_MAX ? "true" : "false");
        }
        fputs("],\"counts\":{", f);
        int first = 1;
        for (int k = 1; k <= MRZ_K_MAX; k++)
            if (mrz_kind_name((unsigned)k)) {
                fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",", mrz_kind_name((unsigned)k), c.kind[k]);
                first = 0;
            }
        fprintf(f, ",\"free\":%" PRIu64 ",\"realloc_free\":%" PRIu64 ",\"cuda_alloc\":%" PRIu64
                   ",\"cuda_free\":%" PRIu64 ",\"failed\":%" PRIu64 "}",
                c.free, c.realloc_free, c.cuda_alloc, c.cuda_free, c.failed);
        fputs(",\"cuda\":{", f);
        for (int sp = 1, n = 0; sp < MRZ_S_COUNT; sp++)
            if (c.cuda[sp][0] || c.cuda[sp][1])
                fprintf(f, "%s\"%s\":{\"alloc\":%" PRIu64 ",\"free\":%" PRIu64 ",\"failed\":%" PRIu64 "}",
                        n++ ? "," : "", mrz_space_name((unsigned)sp), c.cuda[sp][0], c.cuda[sp][1], c.cuda[sp][2]);
        fputc('}', f);
        fprintf(f, ",\"events\":%" PRIu64 ",\"allocations\":%" PRIu64 ",\"frees\":%" PRIu64, c.events, allocs, c.free);
        fprintf(f, ",\"chunks\":%" PRIu64 ",\"salvaged_chunks\":%" PRIu64 ",\"compressed_bytes\":%" PRIu64
                   ",\"raw_bytes\":%" PRIu64 ",\"file_bytes\":%" PRIu64 ",\"bytes_per_event\":%.3f",
                m.chunks, m.salvaged_chunks, m.payload_bytes, m.raw_bytes, m.file_bytes, bpe);
        fprintf(f, ",\"damaged\":%s}\n", m.damage_at != UINT64_MAX ? "true" : "false");
    } else {
        fprintf(f, "trace       %s (format %u.%u, %" PRIu64 " bytes)\n", path, major, minor, m.file_bytes);
        fprintf(f, "process     %u (parent %u)\n", m.pid, m.ppid);
        fprintf(f, "command     %s\n", m.cmdline ? m.cmdline : "?");
        fprintf(f, "program     %s\n", m.exe ? m.exe : "?");
        time_t secs = (time_t)(m.realtime_ns / 1000000000ull);
        struct tm tm;
        char when[64] = "?";
        if (m.realtime_ns && gmtime_r(&secs, &tm))
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
        fprintf(f, "started     %s\n", when);
        fprintf(f, "duration    %.3f s\n", dur_ns / 1e9);
        fprintf(f, "ended       %s%s\n", end_text(&m, buf, sizeof buf),
                m.salvaged_chunks || m.end_after_death ? " (trace completed after the process ended)" : "");
        fprintf(f, "threads     %zu\n", c.ntids);
        fprintf(f, "modules     %d\n", m.nmods);
        fprintf(f, "events      %" PRIu64 " (%" PRIu64 " allocations, %" PRIu64 " frees)\n", c.events, allocs, c.free);
        for (int k = 1; k <= MRZ_K_MAX; k++)
            if (c.kind[k])
                fprintf(f, "  %-15s %" PRIu64 "\n", mrz_kind_name((unsigned)k), c.kind[k]);
        if (c.free)
            fprintf(f, "  %-15s %" PRIu64 "\n", "free", c.free);
        if (c.realloc_free)
            fprintf(f, "  %-15s %" PRIu64 "  (blocks released by realloc)\n", "realloc_free", c.realloc_free);
        if (c.cuda_alloc || c.cuda_free)
            fprintf(f, "  %-15s %" PRIu64 "\n  %-15s %" PRIu64 "\n", "cuda_alloc", c.cuda_alloc, "cuda_free",
                    c.cuda_free);
        for (int sp = 1; sp < MRZ_S_COUNT; sp++)
            if (c.cuda[sp][0] || c.cuda[sp][1])
                fprintf(f, "    %-13s %" PRIu64 " allocations, %" PRIu64 " frees, %" PRIu64 " failed calls\n",
                        mrz_space_name((unsigned)sp), c.cuda[sp][0], c.cuda[sp][1], c.cuda[sp][2]);
        if (c.failed)
            fprintf(f, "  %-15s %" PRIu64 "\n", "failed", c.failed);
        fprintf(f, "chunks      %" PRIu64 "%s (%" PRIu64 " bytes compressed, %" PRIu64 " raw, %.1fx)\n", m.chunks,
                m.salvaged_chunks ? " incl. salvaged" : "", m.payload_bytes, m.raw_bytes,
                m.payload_bytes ? (double)m.raw_bytes / (double)m.payload_bytes : 0.0);
        fprintf(f, "bytes/event %.2f\n", bpe);
    }
    free(c.tids);
    mrz_reader_close(r);
    an_meta_free(&m);
    return 0;
}

const struct an_cmd an_cmd_info = {
    .name = "info",
    .args = "TRACE",
    .summary = "process, duration, threads, modules and counts per call kind",
    .opts = opts,
    .min_traces = 1,
    .max_traces = 1,
    .run = run,
};
