/* Function symbols of a loaded object: the exported ones from its dynamic
 * symbol table in memory (a hash lookup per name, as dlsym does, but
 * whatever scope the object was loaded in), and the static ones from the
 * .symtab of its file, which holds what symbol interposition cannot see
 * (cudaMalloc of a statically linked cudart is a local symbol of the
 * executable).  A small reader of our own: no libelf, no malloc.
 *
 * The common case must cost next to nothing: the dynamic symbols are a hash
 * probe per name, a stripped file (every system library) costs an open and
 * two small reads, and an unstripped one a walk of its .symtab (about
 * 0.1 ms for 10,000 symbols). */
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rec_cuda.h"

/* ------------------------------------------------------------ in memory */

static uintptr_t dyn_ptr(const struct dl_phdr_info *info, ElfW(Addr) p)
{
    /* glibc relocates the dynamic section in place, except where it is
     * read-only (the vdso): an address below the bias is still an offset */
    return p < info->dlpi_addr ? info->dlpi_addr + p : p;
}

static uint32_t gnu_hash(const char *s)
{
    uint32_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (uint8_t)*s;
    return h;
}

static uint32_t sysv_hash(const char *s)
{
    uint32_t h = 0;
    for (; *s; s++) {
        h = (h << 4) + (uint8_t)*s;
        h ^= (h >> 24) & 0xf0;
    }
    return h & 0x0fffffff;
}

struct dyn { const ElfW(Sym) *sym; const char *str; const uint32_t *gnu, *sysv; };

static int is_def_func(const ElfW(Sym) *s)
{
    return ELF64_ST_TYPE(s->st_info) == STT_FUNC && s->st_shndx != SHN_UNDEF && s->st_value;
}

static const ElfW(Sym) *dyn_lookup(const struct dyn *d, const char *name)
{
    if (d->gnu) {
        const uint32_t *h = d->gnu, nbuckets = h[0], symoffset = h[1], bloom_size = h[2], shift = h[3];
        const uint64_t *bloom = (const uint64_t *)(h + 4);
        const uint32_t *buckets = (const uint32_t *)(bloom + bloom_size), *chain = buckets + nbuckets;
        uint32_t hv = gnu_hash(name);
        uint64_t word = bloom[(hv / 64) % bloom_size];
        uint64_t mask = 1ull << (hv % 64) | 1ull << ((hv >> shift) % 64);
        if (!nbuckets || (word & mask) != mask)
            return NULL;
        for (uint32_t i = buckets[hv % nbuckets]; i >= symoffset; i++) {
            uint32_t h2 = chain[i - symoffset];
            if ((hv | 1) == (h2 | 1) && !strcmp(name, d->str + d->sym[i].st_name) && is_def_func(&d->sym[i]))
                return &d->sym[i];
            if (h2 & 1)
                break;
        }
        return NULL;
    }
    const uint32_t nbucket = d->sysv[0], *bucket = d->sysv + 2, *chain = bucket + nbucket;
    if (!nbucket)
        return NULL;
    for (uint32_t i = bucket[sysv_hash(name) % nbucket]; i; i = chain[i])
        if (!strcmp(name, d->str + d->sym[i].st_name) && is_def_func(&d->sym[i]))
            return &d->sym[i];
    return NULL;
}

static int lookup_dynamic(const struct dl_phdr_info *info, struct rec_elf_want *w, int nw)
{
    struct dyn d = {0};
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC)
            continue;
        for (const ElfW(Dyn) *dy = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
             dy->d_tag != DT_NULL; dy++) {
            if (dy->d_tag == DT_SYMTAB)
                d.sym = (const ElfW(Sym) *)dyn_ptr(info, dy->d_un.d_ptr);
            else if (dy->d_tag == DT_STRTAB)
                d.str = (const char *)dyn_ptr(info, dy->d_un.d_ptr);
            else if (dy->d_tag == DT_GNU_HASH)
                d.gnu = (const uint32_t *)dyn_ptr(info, dy->d_un.d_ptr);
            else if (dy->d_tag == DT_HASH)
                d.sysv = (const uint32_t *)dyn_ptr(info, dy->d_un.d_ptr);
        }
    }
    if (!d.sym || !d.str || (!d.gnu && !d.sysv))
        return 0;
    int found = 0;
    for (int i = 0; i < nw; i++) {
        const ElfW(Sym) *s = dyn_lookup(&d, w[i].name);
        if (!s)
            continue;
        w[i].addr = info->dlpi_addr + s->st_value;
        w[i].size = s->st_size;
        w[i].exported = ELF64_ST_BIND(s->st_info) != STB_LOCAL && (ELF64_ST_VISIBILITY(s->st_other) == STV_DEFAULT ||
                                                                   ELF64_ST_VISIBILITY(s->st_other) == STV_PROTECTED);
        found++;
    }
    return found;
}

/* ------------------------------------------------------------ in the file */

static int read_at(int fd, void *buf, size_t n, uint64_t off)
{
    for (size_t done = 0; done < n;) {
        ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (r <= 0)
            return -1;
        done += (size_t)r;
    }
    return 0;
}

/* A section of the file, mapped (cheaper than reading it: pages come
 * straight from the page cache, a few at a time). */
struct section_map { uint8_t *map; size_t len; const uint8_t *data; };

static int map_section(int fd, const Elf64_Shdr *sh, struct section_map *m)
{
    uint64_t start = sh->sh_offset & ~(uint64_t)4095;
    if (!sh->sh_size || sh->sh_size > (1ull << 32))
        return -1;
    m->len = (size_t)(sh->sh_offset - start + sh->sh_size);
    m->map = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, (off_t)start);
    if (m->map == MAP_FAILED) {
        m->map = NULL;
        return -1;
    }
    m->data = m->map + (sh->sh_offset - start);
    return 0;
}

static void unmap_section(struct section_map *m)
{
    if (m->map)
        munmap(m->map, m->len);
}

/* Whether the bytes at addr, in an executable segment of the object, are
 * those the file has for the symbol: a file replaced since it was loaded,
 * or code another tool has patched, is left alone. */
static int same_in_memory(int fd, const Elf64_Shdr *sec, const Elf64_Sym *s, const struct dl_phdr_info *info,
                          uintptr_t addr, size_t n)
{
    uint8_t bytes[16];
    if (sec->sh_type != SHT_PROGBITS || s->st_value < sec->sh_addr || s->st_value - sec->sh_addr + n > sec->sh_size ||
        read_at(fd, bytes, n, sec->sh_offset + (s->st_value - sec->sh_addr)))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && addr >= lo && addr + n <= lo + ph->p_memsz)
            return !memcmp(bytes, (const void *)addr, n);
    }
    return 0;
}

static int lookup_symtab(const char *path, const struct dl_phdr_info *info, struct rec_elf_want *w, int nw)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    Elf64_Ehdr eh;
    Elf64_Shdr sh[128];
    struct section_map strm = {0}, symm = {0};
    const Elf64_Shdr *tab = NULL;
    int found = 0;
    if (read_at(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_shentsize != sizeof(Elf64_Shdr) || !eh.e_shnum || eh.e_shnum > 128 ||
        read_at(fd, sh, eh.e_shnum * sizeof *sh, eh.e_shoff))
        goto out;
    unsigned nsh = eh.e_shnum;
    for (unsigned i = 0; i < nsh && !tab; i++)
        if (sh[i].sh_type == SHT_SYMTAB && sh[i].sh_entsize == sizeof(Elf64_Sym) && sh[i].sh_link < nsh)
            tab = &sh[i];
    if (!tab || map_section(fd, &sh[tab->sh_link], &strm) ||
        map_section(fd, tab, &symm))
        goto out;
    const char *str = (const char *)strm.data;
    size_t strn = sh[tab->sh_link].sh_size;
    const Elf64_Sym *sym = (const Elf64_Sym *)symm.data;
    for (size_t k = 1; k < tab->sh_size / sizeof *sym; k++) {
        const Elf64_Sym *s = &sym[k];
        if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF || s->st_shndx >= nsh ||
            !s->st_value || s->st_name >= strn)
            continue;
        const char *name = str + s->st_name;
        if (name[0] != 'c' || name[1] != 'u')
            continue;
        for (int i = 0; i < nw; i++) {
            if (w[i].addr || strncmp(name, w[i].name, strn - s->st_name) ||
                strnlen(name, strn - s->st_name) != strlen(w[i].name))
                continue;
            uintptr_t addr = info->dlpi_addr + s->st_value;
            if (same_in_memory(fd, &sh[s->st_shndx], s, info, addr, s->st_size && s->st_size < 16 ? s->st_size : 16)) {
                w[i].addr = addr;
                w[i].size = s->st_size;
                w[i].exported = 0;
                found++;
            }
            break;
        }
    }
out:
    unmap_section(&symm);
    unmap_section(&strm);
    close(fd);
    return found;
}

int rec_elf_lookup(const char *path, const struct dl_phdr_info *info, struct rec_elf_want *w, int nw)
{
    for (int i = 0; i < nw; i++)
        w[i].addr = w[i].size = w[i].exported = 0;
    int found = lookup_dynamic(info, w, nw);
    if (found < nw && path && *path)
        found += lookup_symtab(path, info, w, nw);
    return found;
}
