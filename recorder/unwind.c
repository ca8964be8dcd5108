/* The recorder's stack walker: cached DWARF CFI rules, x86-64 only.  See
 * unwind.h for the contract. */
#include "unwind.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

volatile uint32_t rec_unw_gen = 1;

void rec_unw_invalidate(void) { __atomic_add_fetch(&rec_unw_gen, 1, __ATOMIC_RELEASE); }

#if defined(__x86_64__)

extern void *__libc_stack_end;

#define CACHE_N (1u << REC_UNW_CACHE_BITS)

int rec_unw_init(struct rec_unw *u, uint32_t tid)
{
    if (!u->cache) {
        void *m = mmap(NULL, CACHE_N * sizeof *u->cache, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return -1;
        u->cache = m;
        u->gen = rec_unw_gen;
    }
    u->tid = tid;
    u->n = u->complete = u->same = 0;
    u->stack_lo = u->stack_hi = 0;
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (tid == (uint32_t)getpid() && here < (uintptr_t)__libc_stack_end &&
        (uintptr_t)__libc_stack_end - here < (1ull << 30)) {
        /* The main thread: every frame lies below the initial stack pointer. */
        u->stack_hi = (uintptr_t)__libc_stack_end + 64;
    } else {
        pthread_attr_t a;
        void *addr;
        size_t size;
        if (pthread_getattr_np(pthread_self(), &a) == 0) {
            if (pthread_attr_getstack(&a, &addr, &size) == 0) {
                u->stack_lo = (uintptr_t)addr;
                u->stack_hi = (uintptr_t)addr + size;
            }
            pthread_attr_destroy(&a);
        }
    }
    return 0;
}

/* ------------------------------------------------------------ CFI parsing */

/* DWARF pointer encodings (DW_EH_PE_*). */
enum {
    PE_ABSPTR = 0x00, PE_ULEB = 0x01, PE_UDATA2 = 0x02, PE_UDATA4 = 0x03, PE_UDATA8 = 0x04,
    PE_SLEB = 0x09, PE_SDATA2 = 0x0a, PE_SDATA4 = 0x0b, PE_SDATA8 = 0x0c,
    PE_PCREL = 0x10, PE_DATAREL = 0x30, PE_INDIRECT = 0x80, PE_OMIT = 0xff,
};

struct cur { const uint8_t *p, *end; int bad; };

static uint64_t uleb(struct cur *c)
{
    uint64_t v = 0;
    for (unsigned s = 0; c->p < c->end && s < 64; s += 7) {
        uint8_t b = *c->p++;
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80))
            return v;
    }
    c->bad = 1;
    return 0;
}

static int64_t sleb(struct cur *c)
{
    int64_t v = 0;
    unsigned s = 0;
    uint8_t b = 0x80;
    while (c->p < c->end && s < 64 && (b & 0x80)) {
        b = *c->p++;
        v |= (int64_t)(b & 0x7f) << s;
        s += 7;
    }
    if (b & 0x80)
        c->bad = 1;
    else if (s < 64 && (b & 0x40))
        v |= -((int64_t)1 << s);
    return v;
}

static uint64_t rd(struct cur *c, unsigned n)
{
    if ((size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, c->p, n);
    c->p += n;
    return v;
}

/* Reads an encoded pointer; datarel is relative to dbase. */
static uintptr_t enc_ptr(struct cur *c, uint8_t enc, uintptr_t dbase)
{
    if (enc == PE_OMIT)
        return 0;
    uintptr_t at = (uintptr_t)c->p, v;
    switch (enc & 0x0f) {
    case PE_ABSPTR: v = (uintptr_t)rd(c, 8); break;
    case PE_ULEB: v = (uintptr_t)uleb(c); break;
    case PE_UDATA2: v = (uintptr_t)rd(c, 2); break;
    case PE_UDATA4: v = (uintptr_t)rd(c, 4); break;
    case PE_UDATA8: v = (uintptr_t)rd(c, 8); break;
    case PE_SLEB: v = (uintptr_t)sleb(c); break;
    case PE_SDATA2: v = (uintptr_t)(int64_t)(int16_t)rd(c, 2); break;
    case PE_SDATA4: v = (uintptr_t)(int64_t)(int32_t)rd(c, 4); break;
    case PE_SDATA8: v = (uintptr_t)rd(c, 8); break;
    default: c->bad = 1; return 0;
    }
    switch (enc & 0x70) {
    case 0: break;
    case PE_PCREL: v += at; break;
    case PE_DATAREL: v += dbase; break;
    default: c->bad = 1; return 0;
    }
    if (enc & PE_INDIRECT)
        c->bad = 1; /* not used for FDE addresses in practice */
    return v;
}

/* Register rules we track: rbp (6) and the return address (16). */
enum { R_UNDEF, R_SAME, R_OFFSET, R_OTHER };
struct rule { uint8_t how; int64_t off; };
struct row {
    int cfa_reg;        /* 6 rbp, 7 rsp, -1 anything else */
    int64_t cfa_off;
    struct rule rbp, ra;
};

struct cie {
    uint64_t code_align;
    int64_t data_align;
    uint8_t fde_enc;
    int aug_z, signal;
    const uint8_t *insn, *insn_end;
};

static int parse_cie(const uint8_t *p, const uint8_t *sec_end, struct cie *ci)
{
    struct cur c = {p, sec_end, 0};
    uint64_t len = rd(&c, 4);
    if (len == 0xffffffffu || len == 0 || len > (uint64_t)(sec_end - c.p))
        return -1;
    c.end = c.p + len;
    if (rd(&c, 4) != 0)
        return -1; /* not a CIE */
    uint8_t ver = (uint8_t)rd(&c, 1);
    const char *aug = (const char *)c.p;
    size_t al = strnlen(aug, (size_t)(c.end - c.p));
    c.p += al + 1;
    if (ver != 1 && ver != 3 && ver != 4)
        return -1;
    if (strstr(aug, "eh"))
        rd(&c, 8);
    if (ver == 4)
        rd(&c, 2); /* address size, segment size */
    ci->code_align = uleb(&c);
    ci->data_align = sleb(&c);
    uint64_t ra = ver == 1 ? rd(&c, 1) : uleb(&c);
    if (ra != 16)
        return -1;
    ci->fde_enc = PE_ABSPTR;
    ci->aug_z = aug[0] == 'z';
    ci->signal = 0;
    if (ci->aug_z) {
        uint64_t n = uleb(&c);
        const uint8_t *after = c.p + n;
        if (n > (uint64_t)(c.end - c.p))
            return -1;
        for (const char *a = aug + 1; *a && !c.bad; a++) {
            if (*a == 'R')
                ci->fde_enc = (uint8_t)rd(&c, 1);
            else if (*a == 'L')
                rd(&c, 1);
            else if (*a == 'P') {
                uint8_t e = (uint8_t)rd(&c, 1);
                enc_ptr(&c, (uint8_t)(e & ~PE_INDIRECT), 0);
            } else if (*a == 'S')
                ci->signal = 1;
            else
                break; /* unknown letters: the length lets us skip */
        }
        c.p = after;
    }
    if (c.bad)
        return -1;
    ci->insn = c.p;
    ci->insn_end = c.end;
    return 0;
}

static struct rule *reg_rule(struct row *r, uint64_t reg)
{
    return reg == 6 ? &r->rbp : reg == 16 ? &r->ra : NULL;
}

/* Runs CFA instructions until the row for pc is built.  init is the CIE's
 * row (for DW_CFA_restore).  @return 0, or -1 on malformed input. */
static int run_cfi(struct cur *c, const struct cie *ci, uintptr_t loc, uintptr_t pc, struct row *r,
                   const struct row *init)
{
    struct row stack[8];
    int sp = 0;
    while (c->p < c->end && !c->bad) {
        uint8_t op = *c->p++;
        uint64_t reg, delta = 0;
        struct rule *ru;
        switch (op >> 6) {
        case 1: delta = op & 0x3f; goto advance;
        case 2:
            ru = reg_rule(r, op & 0x3f);
            int64_t off = (int64_t)uleb(c) * ci->data_align;
            if (ru)
                ru->how = R_OFFSET, ru->off = off;
            continue;
        case 3:
            ru = reg_rule(r, op & 0x3f);
            if (ru && init)
                *ru = *reg_rule((struct row *)init, op & 0x3f);
            continue;
        }
        switch (op) {
        case 0x00: break;                                       /* nop */
        case 0x01: loc = enc_ptr(c, ci->fde_enc, 0); if (loc > pc) return 0; break; /* set_loc */
        case 0x02: delta = rd(c, 1); goto advance;
        case 0x03: delta = rd(c, 2); goto advance;
        case 0x04: delta = rd(c, 4); goto advance;
        case 0x05: case 0x11: case 0x2f: {                      /* offset_extended(_sf), GNU negative */
            reg = uleb(c);
            int64_t off = op == 0x11 ? sleb(c) * ci->data_align
                        : op == 0x05 ? (int64_t)uleb(c) * ci->data_align : -(int64_t)uleb(c) * ci->data_align;
            if ((ru = reg_rule(r, reg)))
                ru->how = R_OFFSET, ru->off = off;
            break;
        }
        case 0x06:                                              /* restore_extended */
            reg = uleb(c);
            if ((ru = reg_rule(r, reg)) && init)
                *ru = *reg_rule((struct row *)init, reg);
            break;
        case 0x07: case 0x08:                                   /* undefined, same_value */
            if ((ru = reg_rule(r, uleb(c))))
                ru->how = op == 0x07 ? R_UNDEF : R_SAME;
            break;
        case 0x09:                                              /* register */
            reg = uleb(c);
            uleb(c);
            if ((ru = reg_rule(r, reg)))
                ru->how = R_OTHER;
            break;
        case 0x0a:                                              /* remember_state */
            if (sp == 8)
                return -1;
            stack[sp++] = *r;
            break;
        case 0x0b:                                              /* restore_state */
            if (sp == 0)
                return -1;
            {
                int cr = r->cfa_reg;
                int64_t co = r->cfa_off;
                *r = stack[--sp];
                /* the CFA rule is not part of the saved state in GCC's
                 * reading of the spec either way; keep it as saved */
                (void)cr, (void)co;
            }
            break;
        case 0x0c:                                              /* def_cfa */
            reg = uleb(c);
            r->cfa_reg = reg == 6 || reg == 7 ? (int)reg : -1;
            r->cfa_off = (int64_t)uleb(c);
            break;
        case 0x12:                                              /* def_cfa_sf */
            reg = uleb(c);
            r->cfa_reg = reg == 6 || reg == 7 ? (int)reg : -1;
            r->cfa_off = sleb(c) * ci->data_align;
            break;
        case 0x0d:                                              /* def_cfa_register */
            reg = uleb(c);
            r->cfa_reg = reg == 6 || reg == 7 ? (int)reg : -1;
            break;
        case 0x0e: r->cfa_off = (int64_t)uleb(c); break;        /* def_cfa_offset */
        case 0x13: r->cfa_off = sleb(c) * ci->data_align; break; /* def_cfa_offset_sf */
        case 0x0f: {                                            /* def_cfa_expression */
            uint64_t n = uleb(c);
            if (n > (uint64_t)(c->end - c->p))
                return -1;
            c->p += n;
            r->cfa_reg = -1;
            break;
        }
        case 0x10: case 0x16: {                                 /* expression, val_expression */
            reg = uleb(c);
            uint64_t n = uleb(c);
            if (n > (uint64_t)(c->end - c->p))
                return -1;
            c->p += n;
            if ((ru = reg_rule(r, reg)))
                ru->how = R_OTHER;
            break;
        }
        case 0x14: case 0x15:                                   /* val_offset(_sf) */
            reg = uleb(c);
            if (op == 0x14)
                uleb(c);
            else
                sleb(c);
            if ((ru = reg_rule(r, reg)))
                ru->how = R_OTHER;
            break;
        case 0x2e: uleb(c); break;                              /* GNU_args_size */
        default: return -1;
        }
        continue;
    advance:
        loc += delta * ci->code_align;
        if (loc > pc)
            return 0;
    }
    return c->bad ? -1 : 0;
}

/* Finds the FDE for pc through the object's .eh_frame_hdr search table. */
static const uint8_t *find_fde(uintptr_t pc, const uint8_t *hdr, uintptr_t *sec_end)
{
    if (hdr[0] != 1)
        return NULL;
    uint8_t fp_enc = hdr[1], cnt_enc = hdr[2], tab_enc = hdr[3];
    struct cur c = {hdr + 4, hdr + 4 + 16, 0};
    uintptr_t eh_frame = enc_ptr(&c, fp_enc, (uintptr_t)hdr);
    uintptr_t count = enc_ptr(&c, cnt_enc, (uintptr_t)hdr);
    if (c.bad || tab_enc != (PE_DATAREL | PE_SDATA4) || count == 0)
        return NULL;
    const int32_t *tab = (const int32_t *)c.p;
    size_t lo = 0, hi = count;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if ((uintptr_t)hdr + (intptr_t)tab[2 * mid] <= pc)
            lo = mid;
        else
            hi = mid;
    }
    if ((uintptr_t)hdr + (intptr_t)tab[2 * lo] > pc)
        return NULL;
    /* .eh_frame ends with a zero terminator; its size is not in the table,
     * so bounds come from each record's own length. */
    *sec_end = (uintptr_t)-1;
    (void)eh_frame;
    return (const uint8_t *)((uintptr_t)hdr + (intptr_t)tab[2 * lo + 1]);
}

/* Computes the rule for return address ip (the row of ip - 1). */
static struct rec_unw_rule compute(uintptr_t ip)
{
    struct rec_unw_rule out = {ip, 0, 0, REC_UNW_GIVEUP, 0};
    uintptr_t pc = ip - 1;
    struct dl_find_object dlfo;
    if (_dl_find_object((void *)pc, &dlfo) != 0 || !dlfo.dlfo_eh_frame)
        return out;
    uintptr_t sec_end;
    const uint8_t *fde = find_fde(pc, dlfo.dlfo_eh_frame, &sec_end);
    if (!fde)
        return out;
    struct cur c = {fde, fde + 8, 0};
    uint64_t len = rd(&c, 4);
    if (len == 0 || len == 0xffffffffu)
        return out;
    c.end = c.p + len;
    const uint8_t *cie_field = c.p;
    uint32_t cie_off = (uint32_t)rd(&c, 4);
    if (cie_off == 0)
        return out; /* a CIE, not an FDE */
    struct cie ci;
    if (parse_cie(cie_field - cie_off, (const uint8_t *)sec_end, &ci) || ci.signal)
        return out;
    uintptr_t begin = enc_ptr(&c, ci.fde_enc, 0);
    uintptr_t range = enc_ptr(&c, (uint8_t)(ci.fde_enc & 0x0f), 0);
    if (c.bad || pc < begin || pc - begin >= range)
        return out;
    if (ci.aug_z) {
        uint64_t n = uleb(&c);
        if (n > (uint64_t)(c.end - c.p))
            return out;
        c.p += n;
    }
    struct row r = {7, 8, {R_SAME, 0}, {R_UNDEF, 0}};
    struct cur ic = {ci.insn, ci.insn_end, 0};
    if (run_cfi(&ic, &ci, begin, (uintptr_t)-1, &r, NULL))
        return out;
    struct row init = r;
    if (run_cfi(&c, &ci, begin, pc, &r, &init))
        return out;
    if (r.ra.how == R_UNDEF) {
        out.kind = REC_UNW_END;
        return out;
    }
    if (r.ra.how != R_OFFSET || r.ra.off != -8 || r.cfa_reg < 0 || r.rbp.how == R_OTHER || r.rbp.how == R_UNDEF)
        return out;
    if (r.cfa_off <= 0 || r.cfa_off > INT32_MAX)
        return out;
    if (r.rbp.how == R_OFFSET) {
        if (r.rbp.off < INT16_MIN || r.rbp.off > INT16_MAX)
            return out;
        out.flags |= REC_UNW_RBP_SAVED;
        out.rbp_off = (int16_t)r.rbp.off;
    }
    out.cfa_off = (int32_t)r.cfa_off;
    out.kind = r.cfa_reg == 6 ? REC_UNW_RBP : REC_UNW_RSP;
    return out;
}

static __attribute__((noinline)) const struct rec_unw_rule *miss(struct rec_unw_rule *e, uintptr_t ip)
{
    *e = compute(ip);
    return e;
}

static inline uint32_t slot_of(uintptr_t ip)
{
    return (uint32_t)(((uint64_t)ip * 0x9e3779b97f4a7c15ull) >> (64 - REC_UNW_CACHE_BITS));
}

/* Frame flags while walking. */
#define F_RBP_BASED 1
#define F_RBP_SAVED 2

/* Checks, from frame q outward, that what the last walk read beyond frame q
 * is still in place: the return address slots of frames q-1 .. 0 and the rbp
 * slots read stepping out of frames q .. 1 (a frame without one points its
 * rbp_slot at the rbp the walk recorded, which always compares equal).
 * @return -1 when all are, else the largest k such that frames above k
 *         cannot be reused (a reuse at k or below may still be). */
static inline int changed_below(const struct rec_unw *u, int q)
{
    uintptr_t bad = 0;
    for (int k = 0; k < q; k++)
        bad |= (((const uintptr_t *)u->sp[k])[-1] ^ u->ip[k]) | (*(const uintptr_t *)u->rbp_slot[k + 1] ^ u->rbp[k]);
    if (__builtin_expect(!bad, 1))
        return -1;
    for (int k = q - 1; k >= 0; k--)
        if (((const uintptr_t *)u->sp[k])[-1] != u->ip[k] || *(const uintptr_t *)u->rbp_slot[k + 1] != u->rbp[k])
            return k;
    return -1;
}

/* One step out of the frame at (ip, sp, rbp) with rule r.  @return 0, or -1
 * when the rule gives a CFA outside (sp, hi] or an rbp slot outside
 * [sp, hi) (a walk gone wrong: nothing is read then). */
#define STEP(r, ip, sp, rbp, hi, slot_out)                                      \
    ({                                                                          \
        uintptr_t cfa_ = ((r)->kind == REC_UNW_RBP ? (rbp) : (sp)) + (uintptr_t)(intptr_t)(r)->cfa_off; \
        int bad_ = cfa_ - (sp) - 1 >= (hi) - (sp) || (cfa_ & 7);               \
        (slot_out) = 0;                                                         \
        if (!bad_ && ((r)->flags & REC_UNW_RBP_SAVED)) {                        \
            (slot_out) = cfa_ + (uintptr_t)(intptr_t)(r)->rbp_off;              \
            bad_ = (slot_out) - (sp) >= (hi) - (sp) - 7 || ((slot_out) & 7);   \
        }                                                                       \
        if (!bad_) {                                                            \
            if (slot_out)                                                       \
                (rbp) = *(const uintptr_t *)(slot_out);                         \
            (ip) = ((const uintptr_t *)cfa_)[-1];                               \
            (sp) = cfa_;                                                        \
        }                                                                       \
        bad_ ? -1 : 0;                                                          \
    })

static inline const struct rec_unw_rule *rule_of(struct rec_unw *u, const struct rec_unw_rule *last, uintptr_t ip)
{
    /* recursion repeats a return address: its rule is the last one */
    if (ip == last->ip)
        return last;
    struct rec_unw_rule *e = &u->cache[slot_of(ip)];
    return e->ip == ip ? e : miss(e, ip);
}

int rec_unwind(struct rec_unw *u, const struct rec_unw_start *st, int max, uintptr_t skip_lo, uintptr_t skip_hi)
{
    uintptr_t sp = st->sp, rbp = st->rbp, ip = st->ip, hi = u->stack_hi, slot;
    static const struct rec_unw_rule none = {0, 0, 0, REC_UNW_GIVEUP, 0};
    const struct rec_unw_rule *r = &none;
    if (__builtin_expect(u->gen != rec_unw_gen, 0)) {
        memset(u->cache, 0, CACHE_N * sizeof *u->cache);
        u->gen = rec_unw_gen;
        u->n = u->complete = 0;
    }
    if (max > REC_UNW_MAX)
        max = REC_UNW_MAX;
    if (sp < u->stack_lo || sp >= hi || !u->cache)
        goto giveup; /* another stack (sigaltstack, coroutine) */
    /* our own frames, if the walk starts in them */
    while (ip >= skip_lo && ip < skip_hi) {
        r = rule_of(u, r, ip);
        if (r->kind >= REC_UNW_END || STEP(r, ip, sp, rbp, hi, slot) || !ip)
            goto giveup;
    }
    int q = u->complete ? (int)u->n - 1 : -1; /* the last walk's frame to compare with */
    int limit = q + 1;                        /* reuse only at frames below this */
    int w = 0, complete = 0, n;
    while (w < max) {
        while (q >= 0 && u->sp[q] < sp)
            q--;
        if (q >= 0 && u->sp[q] == sp && q < limit && u->ip[q] == ip && (!u->needs_rbp[q] || u->rbp[q] == rbp) &&
            q + 1 + w <= max) {
            /* The last walk passed here with the same registers: keep its
             * frames 0..q if what it read beyond them is still in place,
             * and put the new ones after them. */
            int k = changed_below(u, q);
            if (k < 0) {
                n = q + 1 + w;
                for (int i = q + 1, f = w - 1; f >= 0; i++, f--) {
                    u->ip[i] = u->t[f].ip;
                    u->sp[i] = u->t[f].sp;
                    u->rbp[i] = u->t[f].rbp;
                    u->rbp_slot[i] = u->t[f].rbp_slot ? u->t[f].rbp_slot : (uintptr_t)&u->rbp[i - 1];
                    uint32_t fl = u->t[f].flags;
                    u->needs_rbp[i] = (fl & F_RBP_BASED) || (!(fl & F_RBP_SAVED) && u->needs_rbp[i - 1]);
                }
                u->n = (uint32_t)n;
                u->same = (uint32_t)(q + 1);
                u->complete = 1;
                u->reused++;
                return n;
            }
            limit = k + 1;
        }
        r = rule_of(u, r, ip);
        if (r->kind >= REC_UNW_END) {
            if (r->kind != REC_UNW_END)
                goto giveup;
            u->t[w].ip = ip, u->t[w].sp = sp, u->t[w].rbp = rbp, u->t[w].rbp_slot = 0, u->t[w].flags = 0;
            w++;
            complete = 1;
            break;
        }
        u->t[w].ip = ip, u->t[w].sp = sp, u->t[w].rbp = rbp;
        u->t[w].flags = (r->kind == REC_UNW_RBP ? F_RBP_BASED : 0) | (r->flags & REC_UNW_RBP_SAVED ? F_RBP_SAVED : 0);
        if (STEP(r, ip, sp, rbp, hi, slot))
            goto giveup;
        u->t[w++].rbp_slot = slot;
        if (!ip)
            break; /* a zero return address ends the stack too */
    }
    /* no reuse: the walk is the whole stack (or its innermost max frames) */
    n = w;
    for (int i = 0, f = w - 1; f >= 0; i++, f--) {
        u->ip[i] = u->t[f].ip;
        u->sp[i] = u->t[f].sp;
        u->rbp[i] = u->t[f].rbp;
        u->rbp_slot[i] = u->t[f].rbp_slot || !i ? u->t[f].rbp_slot : (uintptr_t)&u->rbp[i - 1];
        uint32_t fl = u->t[f].flags;
        u->needs_rbp[i] = (fl & F_RBP_BASED) || (!(fl & F_RBP_SAVED) && i > 0 && u->needs_rbp[i - 1]);
    }
    u->n = (uint32_t)n;
    u->same = 0;
    u->complete = (uint32_t)complete;
    return n;
giveup:
    u->n = u->complete = u->same = 0;
    return -1;
}

#else /* not x86-64: always fall back */

int rec_unw_init(struct rec_unw *u, uint32_t tid)
{
    u->tid = tid;
    return 0;
}

int rec_unwind(struct rec_unw *u, const struct rec_unw_start *st, int max, uintptr_t skip_lo, uintptr_t skip_hi)
{
    (void)u, (void)st, (void)max, (void)skip_lo, (void)skip_hi;
    return -1;
}

#endif
