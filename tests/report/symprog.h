/* Shared by the symbolizer's test programs: capture() keeps the return
 * address of its call (an address inside the caller, as a recorded stack
 * holds), and main prints, the way the recorder sees it, its own module
 * (load bias, build-id, PT_LOAD segments) and the captured addresses:
 *   module BIAS BUILDID
 *   seg VADDR MEMSZ OFFSET FLAGS
 *   ip TAG ADDR */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

static struct { const char *tag; void *ip; } captured[16];
static int ncaptured;

__attribute__((noinline)) int capture(const char *tag, int x)
{
    captured[ncaptured].tag = tag;
    captured[ncaptured].ip = __builtin_return_address(0);
    ncaptured++;
    __asm__ volatile("" ::: "memory");
    return x + 1;
}

static int print_main_module(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    printf("module %lx ", (unsigned long)info->dlpi_addr);
    int have_id = 0;
    for (int i = 0; i < info->dlpi_phnum && !have_id; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
            const unsigned char *desc = (const unsigned char *)p + sizeof *n + ((n->n_namesz + 3) & ~3u);
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && !memcmp(p + sizeof *n, "GNU", 4)) {
                for (unsigned k = 0; k < n->n_descsz; k++)
                    printf("%02x", desc[k]);
                have_id = 1;
                break;
            }
            p = (const char *)desc + ((n->n_descsz + 3) & ~3u);
        }
    }
    printf("%s\n", have_id ? "" : "-");
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD)
            printf("seg %lx %lx %lx %u\n", (unsigned long)ph->p_vaddr, (unsigned long)ph->p_memsz,
                   (unsigned long)ph->p_offset, (unsigned)ph->p_flags);
    }
    return 1; /* the first object is the program itself */
}

static void print_report(void)
{
    dl_iterate_phdr(print_main_module, NULL);
    for (int i = 0; i < ncaptured; i++)
        printf("ip %s %lx\n", captured[i].tag, (unsigned long)(uintptr_t)captured[i].ip);
}

#ifdef __cplusplus
}
#endif
