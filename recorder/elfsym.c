/* Function symbols of a loaded object, read from its file: .dynsym and also
 * .symtab, which holds what symbol interposition cannot see (cudaMalloc of a
 * statically linked cudart is a local symbol of the executable).  A small
 * reader of our own: no libelf, no allocation (the file is mapped). */
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cuda.h"

struct elf_file {
    const uint8_t *map;
    size_t len;
    const Elf64_Shdr *sh;
    unsigned nsh;
};

static const Elf64_Shdr *section(const struct elf_file *f, unsigned i) { return i < f->nsh ? &f->sh[i] : NULL; }

static int in_file(const struct elf_file *f, uint64_t off, uint64_t n) { return off <= f->len && n <= f->len - off; }

/* Whether any of the wanted names can be in this string table: a few
 * sequential scans instead of a look at every symbol of a big binary. */
static int may_hold(const char *strtab, size_t n, const struct rec_elf_want *w, int nw)
{
    for (int i = 0; i < nw; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = !strncmp(w[j].name, w[i].name, 4);
        if (!seen && memmem(strtab, n, w[i].name, strnlen(w[i].name, 4)))
            return 1;
    }
    return 0;
}

/* Whether [addr, addr+n) of the object is mapped executable and holds the
 * bytes the file has for the symbol. */
static int same_in_memory(const struct elf_file *f, const struct dl_phdr_info *info, const Elf64_Sym *s, uintptr_t addr,
                          size_t n)
{
    const Elf64_Shdr *sec = section(f, s->st_shndx);
    if (!sec || sec->sh_type != SHT_PROGBITS || s->st_value < sec->sh_addr ||
        s->st_value - sec->sh_addr + n > sec->sh_size)
        return 0;
    uint64_t off = sec->sh_offset + (s->st_value - sec->sh_addr);
    if (!in_file(f, off, n))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && addr >= lo && addr + n <= lo + ph->p_memsz)
            return !memcmp(f->map + off, (const void *)addr, n);
    }
    return 0;
}

static void scan_table(const struct elf_file *f, const struct dl_phdr_info *info, const Elf64_Shdr *tab, int dynamic,
                       struct rec_elf_want *w, int nw, int *found)
{
    const Elf64_Shdr *str = section(f, tab->sh_link);
    if (!str || tab->sh_entsize != sizeof(Elf64_Sym) || !in_file(f, tab->sh_offset, tab->sh_size) ||
        !in_file(f, str->sh_offset, str->sh_size))
        return;
    const char *strtab = (const char *)f->map + str->sh_offset;
    size_t strn = str->sh_size;
    if (!may_hold(strtab, strn, w, nw))
        return;
    const Elf64_Sym *sym = (const Elf64_Sym *)(f->map + tab->sh_offset);
    size_t nsym = tab->sh_size / sizeof *sym;
    for (size_t k = 1; k < nsym; k++) {
        const Elf64_Sym *s = &sym[k];
        if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF || s->st_shndx >= SHN_LORESERVE ||
            !s->st_value || s->st_name >= strn)
            continue;
        const char *name = strtab + s->st_name;
        if (name[0] != 'c' || name[1] != 'u')
            continue;
        size_t room = strn - s->st_name;
        for (int i = 0; i < nw; i++) {
            if (w[i].addr || strncmp(name, w[i].name, room) || strnlen(name, room) != strlen(w[i].name))
                continue;
            uintptr_t addr = info->dlpi_addr + s->st_value;
            size_t n = s->st_size && s->st_size < 16 ? s->st_size : 16;
            if (!same_in_memory(f, info, s, addr, n))
                break;
            w[i].addr = addr;
            w[i].size = s->st_size;
            w[i].exported = dynamic && ELF64_ST_BIND(s->st_info) != STB_LOCAL &&
                            (ELF64_ST_VISIBILITY(s->st_other) == STV_DEFAULT ||
                             ELF64_ST_VISIBILITY(s->st_other) == STV_PROTECTED);
            ++*found;
            break;
        }
    }
}

int rec_elf_lookup(const char *path, const struct dl_phdr_info *info, struct rec_elf_want *w, int nw)
{
    for (int i = 0; i < nw; i++)
        w[i].addr = w[i].size = w[i].exported = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    struct elf_file f = {0};
    if (fstat(fd, &st) == 0 && st.st_size >= (off_t)sizeof(Elf64_Ehdr))
        f.map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (!f.map || f.map == MAP_FAILED)
        return -1;
    f.len = (size_t)st.st_size;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f.map;
    int found = -1;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shentsize != sizeof(Elf64_Shdr) || !in_file(&f, eh->e_shoff, sizeof(Elf64_Shdr)))
        goto out;
    f.sh = (const Elf64_Shdr *)(f.map + eh->e_shoff);
    f.nsh = eh->e_shnum ? eh->e_shnum : (unsigned)f.sh[0].sh_size; /* SHN_XINDEX form */
    if (!in_file(&f, eh->e_shoff, (uint64_t)f.nsh * sizeof(Elf64_Shdr)))
        goto out;
    found = 0;
    /* .dynsym first, so that a name defined in both is seen as exported */
    for (unsigned i = 0; i < f.nsh; i++)
        if (f.sh[i].sh_type == SHT_DYNSYM)
            scan_table(&f, info, &f.sh[i], 1, w, nw, &found);
    for (unsigned i = 0; i < f.nsh; i++)
        if (f.sh[i].sh_type == SHT_SYMTAB)
            scan_table(&f, info, &f.sh[i], 0, w, nw, &found);
out:
    munmap((void *)f.map, f.len);
    return found;
}
