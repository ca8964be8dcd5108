/* mallocan dump: every record as one line of text — the living spec. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mallocan.h"

static const struct an_opt opts[] = {
    {"stream", 0, "N", "only records of stream N", NULL},
    {"no-modules", 0, NULL, "do not annotate stack ips with module+offset", NULL},
    {0},
};

static void put_str(FILE *f, struct mrz_str s) { an_json_str(f, s.s, s.n); }

struct argv_ctx { FILE *f; int first; };
static void put_arg(void *ctx, struct mrz_str a)
{
    struct argv_ctx *c = ctx;
    fputs(c->first ? "" : ",", c->f);
    c->first = 0;
    put_str(c->f, a);
}

static void dump_framed(FILE *f, const struct mrz_rec *r)
{
    switch (r->type) {
    case MRZ_T_PROCESS: {
        fprintf(f, "process pid=%" PRIu64 " ppid=%" PRIu64 " clock=%s tick_hz=%" PRIu64 " realtime_ns=%" PRIu64
                   " t=%" PRIu64 " exe=",
                r->a, r->b, r->c == MRZ_CLOCK_TSC ? "tsc" : "monotonic", r->d, r->e, r->time);
        put_str(f, r->str);
        fputs(" argv=[", f);
        struct argv_ctx c = {f, 1};
        mrz_process_argv(r, put_arg, &c);
        fputs("]", f);
        break;
    }
    case MRZ_T_MODULE: {
        fprintf(f, "module t=%" PRIu64 " id=%" PRIu64 " base=0x%" PRIx64 " path=", r->time, r->a, r->b);
        put_str(f, r->str);
        fputs(" build_id=", f);
        for (uint32_t i = 0; i < r->str2.n; i++)
            fprintf(f, "%02x", (uint8_t)r->str2.s[i]);
        if (!r->str2.n)
            fputs("-", f);
        struct mrz_segment seg[64];
        int n = mrz_module_segments(r, seg, 64);
        fputs(" segments=[", f);
        for (int i = 0; i < n; i++)
            fprintf(f, "%s0x%" PRIx64 "+0x%" PRIx64 "@0x%" PRIx64 ":%c%c%c", i ? "," : "", seg[i].vaddr,
                    seg[i].memsz, seg[i].offset, seg[i].flags & 4 ? 'r' : '-', seg[i].flags & 2 ? 'w' : '-',
                    seg[i].flags & 1 ? 'x' : '-');
        fputs("]", f);
        break;
    }
    case MRZ_T_MODULE_UNLOAD: fprintf(f, "module_unload t=%" PRIu64 " id=%" PRIu64, r->time, r->a); break;
    case MRZ_T_THREAD: fprintf(f, "thread t=%" PRIu64 " tid=%" PRIu64, r->time, r->a); break;
    case MRZ_T_THREAD_EXIT: fprintf(f, "thread_exit t=%" PRIu64 " tid=%" PRIu64, r->time, r->a); break;
    case MRZ_T_THREAD_NAME:
        fprintf(f, "thread_name tid=%" PRIu64 " name=", r->a);
        put_str(f, r->str);
        break;
    case MRZ_T_STRING:
        fprintf(f, "string id=%" PRIu64 " value=", r->a);
        put_str(f, r->str);
        break;
    case MRZ_T_MARK: fprintf(f, "mark t=%" PRIu64 " string=%" PRIu64, r->time, r->a); break;
    case MRZ_T_REGION_BEGIN: fprintf(f, "region_begin t=%" PRIu64 " string=%" PRIu64, r->time, r->a); break;
    case MRZ_T_REGION_END: fprintf(f, "region_end t=%" PRIu64, r->time); break;
    case MRZ_T_LABEL_NEXT: fprintf(f, "label_next string=%" PRIu64, r->a); break;
    case MRZ_T_LOST:
        fprintf(f, "lost t=%" PRIu64 " count=%" PRIu64 " reason=%" PRIu64, r->time, r->a, r->b);
        break;
    case MRZ_T_RECORDING: fprintf(f, "recording t=%" PRIu64 " on=%" PRIu64, r->time, r->a); break;
    case MRZ_T_STREAM_STATE: fprintf(f, "stream_state next_node=%" PRIu64, r->a); break;
    case MRZ_T_OPTIONS:
        fprintf(f, "options t=%" PRIu64 " sample_bytes=%" PRIu64 " stack_depth=%" PRIu64, r->time, r->a, r->b);
        break;
    case MRZ_T_END: {
        static const char *const how[] = {"unknown", "exit", "signal", "exec"};
        fprintf(f, "end t=%" PRIu64 " how=%s value=%" PRIu64 " flags=%" PRIu64 " ns=%" PRIu64, r->time,
                r->a < 4 ? how[r->a] : "?", r->b, r->c, r->d);
        break;
    }
    default: fprintf(f, "unknown type=0x%02x length=%u (skipped)", r->type, r->body_len); break;
    }
}

static void put_ip(FILE *f, const struct an_meta *m, uint64_t ip, int annotate)
{
    fprintf(f, "0x%" PRIx64, ip);
    if (!annotate)
        return;
    const struct an_module *mod = an_module_at(m, ip, 0);
    if (!mod)
        return;
    fprintf(f, " (%s+0x%" PRIx64 ")", an_base_name(mod->path), ip - mod->base);
}

static int run(struct an_ctx *ctx)
{
    const char *path = ctx->traces[0];
    struct mrz_reader *r;
    struct an_meta m;
    int rc = an_open(path, &r, &m);
    if (rc)
        return rc;
    long only = -1;
    if (an_get(ctx, "stream") && an_get_long(ctx, "stream", &only)) {
        mrz_reader_close(r);
        an_meta_free(&m);
        return 2;
    }
    int annotate = !an_get(ctx, "no-modules");
    FILE *f = ctx->out;
    /* Per stream: the last node id defined (UINT64_MAX: unknown), and the seq
     * expected next.  Node ids are implicit (SPEC.md 8.2): after a missing
     * chunk they cannot be known. */
    uint64_t *next_id = calloc((size_t)m.max_stream + 1, sizeof *next_id);
    uint32_t *next_seq = calloc((size_t)m.max_stream + 1, sizeof *next_seq);
    if (!next_id || !next_seq) {
        free(next_id);
        free(next_seq);
        mrz_reader_close(r);
        an_meta_free(&m);
        return an_error(path, "out of memory");
    }
    struct mrz_chunk c;
    int e;
    unsigned major, minor;
    mrz_reader_version(r, &major, &minor);
    fprintf(f, "file version=%u.%u pid=%u size=%" PRIu64 "\n", major, minor, mrz_reader_pid(r), m.file_bytes);
    while ((e = mrz_reader_next(r, &c)) > 0) {
        if (only >= 0 && c.info.stream != (uint64_t)only)
            continue;
        fprintf(f, "chunk offset=%" PRIu64 " stream=%u seq=%u codec=%s payload=%u raw=%u base_ticks=%" PRIu64
                   " base_ns=%" PRIu64 "%s\n",
                c.offset, c.info.stream, c.info.seq, c.info.codec == MRZ_CODEC_ZSTD ? "zstd" : c.info.codec == MRZ_CODEC_COLS ? "columns" : "raw",
                c.info.payload_len, c.info.raw_len, c.info.base_ticks, c.info.base_ns,
                c.info.flags & MRZ_CHUNK_SALVAGED ? " salvaged" : "");
        /* A chunk that opens with STREAM_STATE says its stream's next node
         * id itself, so a gap, or chunks out of seq order (salvage, the
         * recorder's compressor thread), needs no note there; the ids are
         * still unknown until that record (next_node 0 says nothing). */
        int resyncs = c.raw_len > 0 && c.raw[0] == MRZ_T_STREAM_STATE;
        if (c.info.seq != next_seq[c.info.stream] && next_id[c.info.stream] != UINT64_MAX) {
            if (!resyncs)
                fprintf(f, "  (stream %u: seq %u expected; its stack ids are unknown from here)\n", c.info.stream,
                        next_seq[c.info.stream]);
            next_id[c.info.stream] = UINT64_MAX;
        }
        next_seq[c.info.stream] = c.info.seq + 1;
        struct mrz_delta d;
        mrz_delta_reset(&d, c.info.base_ticks);
        const uint8_t *p = c.raw, *end = c.raw + c.raw_len;
        struct mrz_rec rec;
        int k;
        while ((k = mrz_decode(&p, end, &d, &rec)) > 0) {
            fputs("  ", f);
            if (rec.type >= 1 && rec.type <= MRZ_K_MAX) {
                const char *kn = mrz_kind_name(rec.type);
                fprintf(f, "%s t=%" PRIu64 " ptr=0x%" PRIx64 " size=%" PRIu64 " stack=%" PRIu64, kn ? kn : "alloc?",
                        rec.time, rec.ptr, rec.size, rec.stack);
                if (mrz_kind_has_align(rec.type))
                    fprintf(f, " align=%" PRIu64, rec.align);
            } else if (rec.type == MRZ_T_FREE || rec.type == MRZ_T_REALLOC_FREE) {
                fprintf(f, "%s t=%" PRIu64 " ptr=0x%" PRIx64, rec.type == MRZ_T_FREE ? "free" : "realloc_free",
                        rec.time, rec.ptr);
            } else if (rec.type == MRZ_T_STACK) {
                uint64_t id = next_id[c.info.stream] == UINT64_MAX ? 0 : ++next_id[c.info.stream];
                if (id)
                    fprintf(f, "stack id=%" PRIu64 " parent=%" PRIu64 " ip=", id, id - rec.stack);
                else
                    fprintf(f, "stack id=? parent=id-%" PRIu64 " ip=", rec.stack);
                put_ip(f, &m, rec.ip, annotate);
            } else if (rec.type == MRZ_T_CUDA_ALLOC) {
                const char *sn = mrz_space_name(rec.space);
                fprintf(f, "cuda_alloc t=%" PRIu64 " space=%s device=%u ptr=0x%" PRIx64 " size=%" PRIu64
                           " stack=%" PRIu64 " result=%" PRIu64 " stream=%" PRIu64,
                        rec.time, sn ? sn : "?", rec.device, rec.ptr, rec.size, rec.stack, rec.result,
                        rec.cuda_stream);
            } else if (rec.type == MRZ_T_CUDA_FREE) {
                const char *sn = mrz_space_name(rec.space);
                fprintf(f, "cuda_free t=%" PRIu64 " space=%s device=%u ptr=0x%" PRIx64 " result=%" PRIu64, rec.time,
                        sn ? sn : "?", rec.device, rec.ptr, rec.result);
            } else {
                if (rec.type == MRZ_T_STREAM_STATE && rec.a)
                    next_id[c.info.stream] = rec.a - 1; /* resynchronised */
                dump_framed(f, &rec);
            }
            fputc('\n', f);
        }
        if (k < 0)
            an_warn(path, "chunk at byte %" PRIu64 ": %s record at payload byte %td; rest of the chunk skipped",
                    c.offset, mrz_strerror(k), p - c.raw);
    }
    free(next_id);
    free(next_seq);
    an_report_damage(path, r);
    mrz_reader_close(r);
    an_meta_free(&m);
    if (e < 0)
        return an_error(path, "%s", mrz_strerror(e));
    return 0;
}

const struct an_cmd an_cmd_dump = {
    .name = "dump",
    .args = "TRACE",
    .summary = "print every record of a trace as one line of text",
    .opts = opts,
    .min_traces = 1,
    .max_traces = 1,
    .run = run,
};
