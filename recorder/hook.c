/* Inline hooks on x86-64 (see hook.h).
 *
 * Layout of one hook: the function's entry becomes `jmp rel32` to a page of
 * our own mapped within +-2 GiB of it.  That page starts with an absolute
 * jump to the replacement (which may live anywhere), followed by the
 * trampoline: the moved instructions, then a jump back to the first byte
 * after them.  One page per hook, written once and then made read+exec, so
 * no page that another thread may be executing is ever made writable. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <capstone/capstone.h>

#include "hook.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PAGE 4096u
#define PATCH_LEN 5                        /* jmp rel32 */
#define THUNK_LEN 16                       /* jmp [rip+0]; .quad repl; pad */
#define NEAR_MAX ((1ull << 31) - (1u << 20)) /* page-to-function distance we accept */
#define USER_TOP 0x7ffffffff000ull
#define MAX_HOOKS 512

static const char *const errs[] = {
    "ok", "the prologue does not decode", "the function is shorter than the patch",
    "code branches into the patched bytes", "an instruction of the prologue cannot be moved",
    "no free page within 2 GiB", "the code cannot be made writable", "capstone cannot be opened",
    "too many hooks", "already hooked",
};

const char *rec_hook_strerror(int err)
{
    return err <= 0 && err >= REC_HOOK_EEXIST ? errs[-err] : "unknown error";
}

/* ------------------------------------------------------------ capstone's memory */

/* mmap-backed, so capstone never reaches the malloc we interpose.  Capstone
 * allocates a handful of blocks per session. */
struct csm_hdr { size_t len, pad; };

static void *csm_malloc(size_t n)
{
    size_t len = (n + sizeof(struct csm_hdr) + PAGE - 1) & ~(size_t)(PAGE - 1);
    if (len < n)
        return NULL;
    struct csm_hdr *h = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (h == MAP_FAILED)
        return NULL;
    h->len = len;
    return h + 1;
}

static void csm_free(void *p)
{
    if (p) {
        struct csm_hdr *h = (struct csm_hdr *)p - 1;
        munmap(h, h->len);
    }
}

static void *csm_calloc(size_t n, size_t m)
{
    size_t t;
    return __builtin_mul_overflow(n, m, &t) ? NULL : csm_malloc(t); /* mmap memory is zero */
}

static void *csm_realloc(void *p, size_t n)
{
    if (!p)
        return csm_malloc(n);
    struct csm_hdr *h = (struct csm_hdr *)p - 1;
    size_t have = h->len - sizeof *h;
    if (n <= have)
        return p;
    void *q = csm_malloc(n);
    if (q) {
        memcpy(q, p, have);
        csm_free(p);
    }
    return q;
}

/* ------------------------------------------------------------ capstone itself */

/* Opened on the first hook, not linked: relocating its tables cost every
 * recorded process about 1.5 ms at start (77,000 relocations), and only a
 * program that loads CUDA ever needs it.  dlmopen into the base namespace
 * is dlopen without the recorder's own dlopen, which would scan modules
 * from inside a scan. */
static struct {
    cs_err (*open)(cs_arch, cs_mode, csh *);
    cs_err (*close)(csh *);
    cs_err (*option)(csh, cs_opt_type, size_t);
    bool (*insn_group)(csh, const cs_insn *, unsigned int);
    bool (*disasm_iter)(csh, const uint8_t **, size_t *, uint64_t *, cs_insn *);
    cs_insn *(*malloc)(csh);
    void (*free)(cs_insn *, size_t);
} csf;

static int cs_load(void *(*sym)(void *, const char *))
{
    if (csf.free)
        return 0;
    if (!sym)
        return -1;
    static const char *const names[] = {REC_CAPSTONE_SONAME, "libcapstone.so"};
    void *h = NULL;
    for (size_t i = 0; !h && i < sizeof names / sizeof *names; i++)
        h = dlmopen(LM_ID_BASE, names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return -1;
    void *f[7];
    static const char *const fn[7] = {"cs_open", "cs_close", "cs_option", "cs_insn_group",
                                      "cs_disasm_iter", "cs_malloc", "cs_free"};
    for (int i = 0; i < 7; i++)
        if (!(f[i] = sym(h, fn[i])))
            return -1; /* (left loaded: a later try finds it at once) */
    memcpy(&csf.open, &f[0], sizeof f[0]);
    memcpy(&csf.close, &f[1], sizeof f[1]);
    memcpy(&csf.option, &f[2], sizeof f[2]);
    memcpy(&csf.insn_group, &f[3], sizeof f[3]);
    memcpy(&csf.disasm_iter, &f[4], sizeof f[4]);
    memcpy(&csf.malloc, &f[5], sizeof f[5]);
    memcpy(&csf.free, &f[6], sizeof f[6]);
    return 0;
}

static csh cs;
static int cs_depth;

int rec_hook_begin(void *(*sym)(void *, const char *))
{
    if (cs_depth++)
        return 0;
    if (cs_load(sym)) {
        cs_depth = 0;
        return REC_HOOK_ECAPSTONE;
    }
    cs_opt_mem mem = {csm_malloc, csm_calloc, csm_realloc, csm_free, vsnprintf};
    csf.option(0, CS_OPT_MEM, (size_t)&mem);
    if (csf.open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
        cs_depth = 0;
        return REC_HOOK_ECAPSTONE;
    }
    csf.option(cs, CS_OPT_DETAIL, CS_OPT_ON);
    return 0;
}

void rec_hook_end(void)
{
    if (!cs_depth || --cs_depth)
        return;
    csf.close(&cs);
    /* back to capstone's defaults, should the program use capstone itself */
    cs_opt_mem dflt = {malloc, calloc, realloc, free, vsnprintf};
    csf.option(0, CS_OPT_MEM, (size_t)&dflt);
}

/* ------------------------------------------------------------ the memory map */

struct maps_q {
    uintptr_t fn;
    uintptr_t best, best_dist; /* nearest free page to fn */
    uintptr_t fn_hi;           /* end of fn's mapping */
    int fn_prot;               /* -1 until found */
    uintptr_t prev_hi;
};

static void consider_gap(struct maps_q *q, uintptr_t g0, uintptr_t g1)
{
    if (g0 < 0x10000)
        g0 = 0x10000; /* below mmap_min_addr */
    if (g1 > USER_TOP)
        g1 = USER_TOP;
    if (g1 <= g0 || g1 - g0 < PAGE)
        return;
    uintptr_t cand, dist;
    if (q->fn >= g1) {
        cand = g1 - PAGE;
        dist = q->fn - cand;
    } else {
        cand = g0;
        dist = cand + PAGE - q->fn;
    }
    if (dist < NEAR_MAX && dist < q->best_dist) {
        q->best = cand;
        q->best_dist = dist;
    }
}

static uintptr_t parse_hex(const char **pp)
{
    uintptr_t v = 0;
    const char *p = *pp;
    for (;; p++) {
        unsigned c = (unsigned char)*p;
        if (c >= '0' && c <= '9')
            v = v << 4 | (c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v << 4 | (c - 'a' + 10);
        else
            break;
    }
    *pp = p;
    return v;
}

static void maps_line(struct maps_q *q, const char *s)
{
    uintptr_t lo = parse_hex(&s);
    if (*s++ != '-')
        return;
    uintptr_t hi = parse_hex(&s);
    if (*s++ != ' ' || lo >= USER_TOP)
        return;
    consider_gap(q, q->prev_hi, lo);
    if (q->fn >= lo && q->fn < hi) {
        q->fn_prot = (s[0] == 'r' ? PROT_READ : 0) | (s[1] == 'w' ? PROT_WRITE : 0) | (s[2] == 'x' ? PROT_EXEC : 0);
        q->fn_hi = hi;
    }
    if (hi > q->prev_hi)
        q->prev_hi = hi;
}

/* Reads /proc/self/maps (no allocation: a stack buffer, line by line).
 * @return 0, or -1 when it cannot be read or fn is not mapped. */
static int read_maps(struct maps_q *q)
{
    q->best = 0;
    q->best_dist = UINTPTR_MAX;
    q->fn_prot = -1;
    q->prev_hi = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[4096];
    size_t have = 0;
    int skip = 0; /* inside a line longer than buf whose start was parsed */
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
            *nl = 0;
            if (!skip)
                maps_line(q, line);
            skip = 0;
            line = nl + 1;
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
        if (have == sizeof buf - 1) { /* the range and perms lead the line */
            if (!skip)
                maps_line(q, buf);
            skip = 1;
            have = 0;
        }
    }
    close(fd);
    consider_gap(q, q->prev_hi, USER_TOP);
    return q->fn_prot < 0 ? -1 : 0;
}

/* Maps one RW page within reach of q->fn.  @return it, or NULL. */
static uint8_t *near_page(struct maps_q *q)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        if (attempt && read_maps(q))
            return NULL;
        if (!q->best)
            return NULL;
        void *p = mmap((void *)q->best, PAGE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p == (void *)q->best)
            return p;
        if (p != MAP_FAILED)
            munmap(p, PAGE); /* a kernel without MAP_FIXED_NOREPLACE placed it elsewhere */
        /* else another thread took the gap: look again */
    }
    return NULL;
}

/* ------------------------------------------------------------ encoding */

static int fits32(int64_t v) { return v == (int32_t)v; }
static void put32(uint8_t *p, int32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint8_t *emit_jmp_abs(uint8_t *o, uint64_t to)
{
    o[0] = 0xff, o[1] = 0x25; /* jmp [rip+0] */
    put32(o + 2, 0);
    put64(o + 6, to);
    return o + 14;
}

static uint8_t *emit_jmp(uint8_t *o, uint64_t to)
{
    int64_t d = (int64_t)(to - ((uintptr_t)o + 5));
    if (!fits32(d))
        return emit_jmp_abs(o, to);
    o[0] = 0xe9;
    put32(o + 1, (int32_t)d);
    return o + 5;
}

static uint8_t *emit_call(uint8_t *o, uint64_t to)
{
    int64_t d = (int64_t)(to - ((uintptr_t)o + 5));
    if (fits32(d)) {
        o[0] = 0xe8;
        put32(o + 1, (int32_t)d);
        return o + 5;
    }
    static const uint8_t seq[8] = {0xff, 0x15, 2, 0, 0, 0, 0xeb, 8}; /* call [rip+2]; jmp +8 */
    memcpy(o, seq, 8);
    put64(o + 8, to);
    return o + 16;
}

static uint8_t *emit_jcc(uint8_t *o, unsigned cc, uint64_t to)
{
    int64_t d = (int64_t)(to - ((uintptr_t)o + 6));
    if (fits32(d)) {
        o[0] = 0x0f, o[1] = (uint8_t)(0x80 | cc);
        put32(o + 2, (int32_t)d);
        return o + 6;
    }
    o[0] = (uint8_t)(0x70 | (cc ^ 1)), o[1] = 14; /* the inverse condition skips the far jump */
    return emit_jmp_abs(o + 2, to);
}

static int is_rel_branch(const cs_insn *in) { return csf.insn_group(cs, in, CS_GRP_BRANCH_RELATIVE); }

static uint64_t branch_target(const cs_insn *in)
{
    const cs_x86 *x = &in->detail->x86;
    return x->op_count == 1 && x->operands[0].type == X86_OP_IMM ? (uint64_t)x->operands[0].imm : 0;
}

/* Moves one instruction of the patched range [lo, hi) to o.
 * @return the byte after it, or NULL with *err set. */
static uint8_t *relocate(const cs_insn *in, uintptr_t lo, uintptr_t hi, uint8_t *o, int *err)
{
    const cs_x86 *x = &in->detail->x86;
    if (is_rel_branch(in)) {
        uint64_t t = branch_target(in);
        int call = in->id == X86_INS_CALL;
        if (!t) {
            *err = REC_HOOK_ERELOC;
            return NULL;
        }
        if ((t > lo && t < hi) || (!call && t == lo)) {
            *err = REC_HOOK_EBRANCH;
            return NULL;
        }
        if (call)
            return emit_call(o, t);
        if (in->id == X86_INS_JMP)
            return emit_jmp(o, t);
        uint8_t b0 = x->opcode[0], b1 = x->opcode[1];
        if (b0 >= 0x70 && b0 <= 0x7f)
            return emit_jcc(o, b0 & 15u, t);
        if (b0 == 0x0f && (b1 & 0xf0) == 0x80)
            return emit_jcc(o, b1 & 15u, t);
        *err = REC_HOOK_ERELOC; /* loop, jrcxz, xbegin */
        return NULL;
    }
    memcpy(o, in->bytes, in->size);
    for (int i = 0; i < x->op_count; i++) {
        const cs_x86_op *op = &x->operands[i];
        if (op->type != X86_OP_MEM || op->mem.base != X86_REG_RIP)
            continue;
        uint64_t target = in->address + in->size + (uint64_t)op->mem.disp;
        int64_t nd = (int64_t)(target - ((uintptr_t)o + in->size));
        if (x->encoding.disp_size != 4 || !x->encoding.disp_offset || !fits32(nd)) {
            *err = REC_HOOK_ERELOC;
            return NULL;
        }
        put32(o + x->encoding.disp_offset, (int32_t)nd);
        break;
    }
    return o + in->size;
}

static int ends_flow(const cs_insn *in)
{
    switch (in->id) {
    case X86_INS_RET: case X86_INS_JMP: case X86_INS_UD2: case X86_INS_INT3: case X86_INS_HLT:
        return 1;
    default:
        return 0;
    }
}

/* Whether [from, to) holds only nop and int3 instructions. */
static int padding_to(cs_insn *in, uintptr_t from, uintptr_t to, uintptr_t map_hi)
{
    const uint8_t *code = (const uint8_t *)from;
    size_t left = map_hi - from < 32 ? map_hi - from : 32;
    uint64_t addr = from;
    while (addr < to) {
        if (!csf.disasm_iter(cs, &code, &left, &addr, in) || (in->id != X86_INS_NOP && in->id != X86_INS_INT3))
            return 0;
    }
    return 1;
}

/* Whether any relative branch in [from, to) lands inside (lo, hi). */
static int branches_into(cs_insn *in, uintptr_t from, uintptr_t to, uintptr_t lo, uintptr_t hi)
{
    const uint8_t *code = (const uint8_t *)from;
    size_t left = to - from;
    uint64_t addr = from;
    while (left) {
        if (!csf.disasm_iter(cs, &code, &left, &addr, in)) {
            code++, left--, addr++; /* data in the text: step over a byte */
            continue;
        }
        if (is_rel_branch(in)) {
            uint64_t t = branch_target(in);
            if (t > lo && t < hi)
                return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ hooks */

static struct { uintptr_t fn; uint8_t *page; } hooks[MAX_HOOKS];
static int nhooks;

int rec_hook_is_patched(const void *fn)
{
    int n = __atomic_load_n(&nhooks, __ATOMIC_ACQUIRE);
    for (int i = 0; i < n; i++)
        if (hooks[i].fn && hooks[i].fn == (uintptr_t)fn)
            return 1;
    return 0;
}

void rec_hook_forget(uintptr_t lo, uintptr_t hi)
{
    for (int i = 0; i < nhooks; i++)
        if (hooks[i].fn >= lo && hooks[i].fn < hi) {
            munmap(hooks[i].page, PAGE);
            hooks[i].fn = 0;
        }
}

/* Writes the 5-byte jump at fn: one aligned 8-byte store where it fits, so
 * a thread that fetches those bytes sees the old or the new instruction. */
static int write_patch(uintptr_t fn, const uint8_t patch[PATCH_LEN], int prot)
{
    uintptr_t p0 = fn & ~(uintptr_t)(PAGE - 1), p1 = (fn + PATCH_LEN + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
    if (mprotect((void *)p0, p1 - p0, PROT_READ | PROT_WRITE | PROT_EXEC) &&
        mprotect((void *)p0, p1 - p0, PROT_READ | PROT_WRITE))
        return REC_HOOK_EPROT;
    if ((fn & 7) + PATCH_LEN <= 8) {
        uint64_t *w = (uint64_t *)(fn & ~(uintptr_t)7), v = *w;
        memcpy((uint8_t *)&v + (fn & 7), patch, PATCH_LEN);
        __atomic_store_n(w, v, __ATOMIC_SEQ_CST);
    } else {
        memcpy((void *)fn, patch, PATCH_LEN);
    }
    mprotect((void *)p0, p1 - p0, prot);
    return 0;
}

int rec_hook_install(void *fn_, size_t size, void *repl, void **orig)
{
    uintptr_t fn = (uintptr_t)fn_;
    if (!cs_depth)
        return REC_HOOK_ECAPSTONE;
    if (rec_hook_is_patched(fn_))
        return REC_HOOK_EEXIST;
    int slot = 0;
    while (slot < nhooks && hooks[slot].fn)
        slot++;
    if (slot == MAX_HOOKS)
        return REC_HOOK_EFULL;
    struct maps_q q = {.fn = fn};
    if (read_maps(&q) || !(q.fn_prot & PROT_EXEC))
        return REC_HOOK_EDECODE;
    uint8_t *page = near_page(&q);
    if (!page)
        return REC_HOOK_ENEAR;

    cs_insn *in = csf.malloc(cs);
    int err = in ? 0 : REC_HOOK_ECAPSTONE;
    /* decode the prologue: whole instructions covering PATCH_LEN bytes */
    const uint8_t *code = (const uint8_t *)fn;
    size_t avail = q.fn_hi - fn < 64 ? q.fn_hi - fn : 64;
    if (size && size < avail)
        avail = size;
    uint64_t addr = fn;
    uint8_t *o = page + THUNK_LEN;
    while (!err && addr < fn + PATCH_LEN) {
        if (!csf.disasm_iter(cs, &code, &avail, &addr, in)) {
            err = avail ? REC_HOOK_EDECODE : REC_HOOK_ESHORT;
            break;
        }
        /* the patched range is [fn, fn+PATCH_LEN) rounded to instructions;
         * branches into its first PATCH_LEN bytes are what breaks */
        o = relocate(in, fn, fn + PATCH_LEN, o, &err);
        if (!err && addr < fn + PATCH_LEN && ends_flow(in)) {
            /* a stub shorter than the patch (jmp rel8) followed by the
             * alignment padding before the next function: the patch may
             * cover that padding, which never runs */
            if (size && addr == fn + size && padding_to(in, addr, fn + PATCH_LEN, q.fn_hi))
                break;
            err = REC_HOOK_ESHORT;
        }
    }
    uintptr_t moved = (uintptr_t)(addr - fn);
    if (!err && size > moved && branches_into(in, fn + moved, fn + size, fn, fn + moved))
        err = REC_HOOK_EBRANCH;
    if (in)
        csf.free(in, 1);
    if (err) {
        munmap(page, PAGE);
        return err;
    }
    emit_jmp(o, fn + moved);
    emit_jmp_abs(page, (uintptr_t)repl);
    if (mprotect(page, PAGE, PROT_READ | PROT_EXEC)) {
        munmap(page, PAGE);
        return REC_HOOK_EPROT;
    }
    __atomic_store_n(orig, (void *)(page + THUNK_LEN), __ATOMIC_RELEASE);
    uint8_t patch[PATCH_LEN] = {0xe9};
    put32(patch + 1, (int32_t)((intptr_t)page - (intptr_t)(fn + PATCH_LEN)));
    if ((err = write_patch(fn, patch, q.fn_prot))) {
        __atomic_store_n(orig, NULL, __ATOMIC_RELEASE);
        munmap(page, PAGE);
        return err;
    }
    hooks[slot].page = page;
    __atomic_store_n(&hooks[slot].fn, fn, __ATOMIC_RELEASE);
    if (slot == nhooks)
        __atomic_store_n(&nhooks, slot + 1, __ATOMIC_RELEASE);
    return 0;
}
