/* Unit test of the inline-hook engine (recorder/hook.c) on hand-written
 * prologues: each case is patched, then called, and must return what it
 * returned before while its replacement counts the call; cases that
 * cannot be moved safely must be refused with the right reason and left
 * untouched. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "../../recorder/hook.h"

long g_val = 1000;
int g_flag = 0;

/* Each function takes x in rdi and returns a long in rax. */
__asm__(".text\n"
        ".macro FUNC name\n .globl \\name\n .type \\name, @function\n \\name:\n .endm\n"
        ".macro END name\n .globl \\name\\()_end\n \\name\\()_end:\n .size \\name, .-\\name\n .endm\n"
        /* endbr64 + frame setup: plain copy */
        "FUNC f_std\n endbr64\n push %rbp\n mov %rsp, %rbp\n lea 1(%rdi), %rax\n pop %rbp\n ret\n END f_std\n"
        /* RIP-relative load as first instruction */
        "FUNC f_rip\n mov g_val(%rip), %rax\n add %rdi, %rax\n ret\n END f_rip\n"
        /* RIP-relative compare with a trailing immediate */
        "FUNC f_ripimm\n cmpl $0, g_flag(%rip)\n je 1f\n mov $6, %eax\n ret\n1: mov $5, %eax\n ret\n END f_ripimm\n"
        /* call rel32 first */
        "FUNC f_call\n call get42\n add %rdi, %rax\n ret\n END f_call\n"
        "FUNC get42\n mov $42, %eax\n ret\n END get42\n"
        /* jcc rel8 inside the patched bytes, target outside them */
        "FUNC f_jcc\n test %rdi, %rdi\n je 1f\n mov $1, %eax\n ret\n1: mov $2, %eax\n ret\n END f_jcc\n"
        /* jcc rel32 in the prologue */
        "FUNC f_jcc32\n test %rdi, %rdi\n .byte 0x0f, 0x85\n .long 2f-1f\n1: mov $7, %eax\n ret\n"
        " .fill 200, 1, 0x90\n2: mov $8, %eax\n ret\n END f_jcc32\n"
        /* a tail jump stub, 5 bytes */
        "FUNC f_tail\n .byte 0xe9\n .long triple-1f\n1:\n END f_tail\n"
        "FUNC triple\n lea (%rdi,%rdi,2), %rax\n ret\n END triple\n"
        /* the loop comes back to offset 2, inside the patch: refused */
        "FUNC f_loop\n xor %eax, %eax\n1: add $1, %rax\n cmp %rdi, %rax\n jl 1b\n ret\n END f_loop\n"
        /* a short tail jump followed by alignment padding: patched over the padding */
        ".p2align 4\n"
        "FUNC f_tiny\n jmp triple\n END f_tiny\n"
        ".p2align 4\n"
        /* shorter than the patch, the next function right after: refused */
        "FUNC f_short\n mov %rdi, %rax\n ret\n END f_short\n"
        "FUNC f_after\n mov $1, %eax\n ret\n END f_after\n");

typedef long (*fn_t)(long);
extern long f_std(long), f_rip(long), f_ripimm(long), f_call(long), f_jcc(long), f_jcc32(long), f_tail(long),
    f_loop(long), f_short(long), f_tiny(long);
#define ENDS(n) extern char n##_end[];
ENDS(f_std) ENDS(f_rip) ENDS(f_ripimm) ENDS(f_call) ENDS(f_jcc) ENDS(f_jcc32) ENDS(f_tail) ENDS(f_loop) ENDS(f_short) ENDS(f_tiny)

#define CASE(name)                                                                                       \
    static fn_t orig_##name;                                                                             \
    static int hits_##name;                                                                              \
    static long repl_##name(long x)                                                                      \
    {                                                                                                    \
        hits_##name++;                                                                                   \
        return orig_##name(x);                                                                           \
    }
CASE(f_std) CASE(f_rip) CASE(f_ripimm) CASE(f_call) CASE(f_jcc) CASE(f_jcc32) CASE(f_tail) CASE(f_loop)
CASE(f_short) CASE(f_tiny) CASE(far_call) CASE(far_jcc) CASE(far_rip)

static int failures;

#define CHECK(cond, ...)                                                                                 \
    do {                                                                                                 \
        if (!(cond)) {                                                                                   \
            failures++;                                                                                  \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                 \
            printf(__VA_ARGS__);                                                                         \
            printf("\n");                                                                                \
        }                                                                                                \
    } while (0)


/* Hooks fn and checks it still computes the same values on args. */
static void hooked_same(const char *name, fn_t volatile fn, size_t size, fn_t repl, fn_t *orig, int *hits, const long *args,
                        int nargs)
{
    long before[8];
    for (int i = 0; i < nargs; i++)
        before[i] = fn(args[i]);
    int e = rec_hook_install((void *)fn, size, (void *)repl, (void **)orig);
    CHECK(e == 0, "%s: install: %s", name, rec_hook_strerror(e));
    if (e)
        return;
    CHECK(rec_hook_is_patched((void *)fn), "%s: not reported patched", name);
    CHECK(((unsigned char *)fn)[0] == 0xe9, "%s: no jmp at the entry", name);
    for (int i = 0; i < nargs; i++) {
        long now = fn(args[i]);
        CHECK(now == before[i], "%s(%ld) = %ld after hooking, %ld before", name, args[i], now, before[i]);
    }
    CHECK(*hits == nargs, "%s: replacement ran %d times, want %d", name, *hits, nargs);
    e = rec_hook_install((void *)fn, size, (void *)repl, (void **)orig);
    CHECK(e == REC_HOOK_EEXIST, "%s: second install gave %d", name, e);
}

static void refused(const char *name, fn_t volatile fn, size_t size, fn_t repl, fn_t *orig, int want, long arg)
{
    unsigned char before[8];
    memcpy(before, (void *)fn, sizeof before);
    long r0 = fn(arg);
    int e = rec_hook_install((void *)fn, size, (void *)repl, (void **)orig);
    CHECK(e == want, "%s: install gave %d (%s), want %d (%s)", name, e, rec_hook_strerror(e), want,
          rec_hook_strerror(want));
    CHECK(!memcmp(before, (void *)fn, sizeof before), "%s: bytes changed by a refused install", name);
    CHECK(*orig == NULL, "%s: orig set by a refused install", name);
    CHECK(fn(arg) == r0, "%s: result changed", name);
    CHECK(!rec_hook_is_patched((void *)fn), "%s: reported patched", name);
}

/* Code the trampoline cannot reach with rel32: a 4 GiB reservation, the
 * functions 1 GiB into it and their targets 2 GiB - 4 KiB above them, so
 * the nearest free page (below the reservation) is 3 GiB from the targets
 * and the moved call and jcc must take their absolute forms, while a moved
 * RIP-relative operand cannot and is refused. */
static void far_cases(void)
{
    const uint64_t G = 1ull << 30;
    uint8_t *r = mmap(NULL, 4 * G, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) {
        printf("skip far cases: no 4 GiB of address space\n");
        return;
    }
    uint8_t *f = mmap(r + G, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    uint8_t *t = mmap(r + G + (2 * G - 4096), 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(f != MAP_FAILED && t != MAP_FAILED, "far: mmap");
    if (f == MAP_FAILED || t == MAP_FAILED)
        return;
    static const uint8_t t42[] = {0xb8, 42, 0, 0, 0, 0xc3}, t7[] = {0xb8, 7, 0, 0, 0, 0xc3};
    memcpy(t, t42, sizeof t42);
    memcpy(t + 16, t7, sizeof t7);
    *(long *)(t + 32) = 99;
    /* far_call: call t; add rax, rdi; ret */
    uint8_t *c = f;
    c[0] = 0xe8;
    int32_t d = (int32_t)(t - (c + 5));
    memcpy(c + 1, &d, 4);
    memcpy(c + 5, "\x48\x01\xf8\xc3", 4);
    /* far_jcc: test rdi, rdi; jne t+16; mov eax, 8; ret */
    uint8_t *j = f + 64;
    memcpy(j, "\x48\x85\xff\x0f\x85", 5);
    d = (int32_t)(t + 16 - (j + 9));
    memcpy(j + 5, &d, 4);
    memcpy(j + 9, "\xb8\x08\0\0\0\xc3", 6);
    /* far_rip: mov rax, [rip + t+32]; add rax, rdi; ret */
    uint8_t *m = f + 128;
    memcpy(m, "\x48\x8b\x05", 3);
    d = (int32_t)(t + 32 - (m + 7));
    memcpy(m + 3, &d, 4);
    memcpy(m + 7, "\x48\x01\xf8\xc3", 4);
    const long a[] = {0, 3};
    hooked_same("far_call", (fn_t)(void *)c, 9, repl_far_call, &orig_far_call, &hits_far_call, a, 2);
    hooked_same("far_jcc", (fn_t)(void *)j, 15, repl_far_jcc, &orig_far_jcc, &hits_far_jcc, a, 2);
    /* the trampolines really are out of rel32 reach of the targets */
    int64_t dist = (int64_t)((uintptr_t)t - (uintptr_t)(void *)orig_far_call);
    CHECK(dist > INT32_MAX || dist < INT32_MIN, "far: trampoline only %lld bytes from the target", (long long)dist);
    refused("far_rip", (fn_t)(void *)m, 11, repl_far_rip, &orig_far_rip, REC_HOOK_ERELOC, 1);
}

int main(void)
{
    /* capstone is not linked: the first session loads it */
    CHECK(!dlopen(REC_CAPSTONE_SONAME, RTLD_NOW | RTLD_NOLOAD), "%s loaded before the first session", REC_CAPSTONE_SONAME);
    if (rec_hook_begin(dlsym)) {
        printf("FAIL capstone\n");
        return 1;
    }
    CHECK(dlopen(REC_CAPSTONE_SONAME, RTLD_NOW | RTLD_NOLOAD) != NULL, "%s not loaded by the session", REC_CAPSTONE_SONAME);
    const long a[] = {0, 1, -5, 1234};
    hooked_same("f_std", f_std, (size_t)(f_std_end - (char *)f_std), repl_f_std, &orig_f_std, &hits_f_std, a, 4);
    hooked_same("f_rip", f_rip, (size_t)(f_rip_end - (char *)f_rip), repl_f_rip, &orig_f_rip, &hits_f_rip, a, 4);
    hooked_same("f_ripimm", f_ripimm, (size_t)(f_ripimm_end - (char *)f_ripimm), repl_f_ripimm, &orig_f_ripimm, &hits_f_ripimm, a, 1);
    g_flag = 1;
    CHECK(f_ripimm(0) == 6, "f_ripimm with the flag set");
    hooked_same("f_call", f_call, (size_t)(f_call_end - (char *)f_call), repl_f_call, &orig_f_call, &hits_f_call, a, 4);
    hooked_same("f_jcc", f_jcc, (size_t)(f_jcc_end - (char *)f_jcc), repl_f_jcc, &orig_f_jcc, &hits_f_jcc, a, 4);
    hooked_same("f_jcc32", f_jcc32, (size_t)(f_jcc32_end - (char *)f_jcc32), repl_f_jcc32, &orig_f_jcc32, &hits_f_jcc32, a, 4);
    hooked_same("f_tail", f_tail, (size_t)(f_tail_end - (char *)f_tail), repl_f_tail, &orig_f_tail, &hits_f_tail, a, 4);
    refused("f_loop", f_loop, (size_t)(f_loop_end - (char *)f_loop), repl_f_loop, &orig_f_loop, REC_HOOK_EBRANCH, 9);
    CHECK(f_tiny_end - (char *)f_tiny == 2, "f_tiny is %d bytes, want a 2-byte jmp", (int)(f_tiny_end - (char *)f_tiny));
    hooked_same("f_tiny", f_tiny, (size_t)(f_tiny_end - (char *)f_tiny), repl_f_tiny, &orig_f_tiny, &hits_f_tiny, a, 4);
    far_cases();
    refused("f_short", f_short, (size_t)(f_short_end - (char *)f_short), repl_f_short, &orig_f_short, REC_HOOK_ESHORT, 9);
    rec_hook_end();
    if (failures)
        return 1;
    printf("ok: 10 prologues hooked, 3 refused\n");
    return 0;
}
