/* Unit test of the symbolizer (analyzer/symbols.c) against programs built
 * with -g: runs each, which prints its own module and a few captured return
 * addresses, then checks function, file, line (the lines marked "@TAG" in
 * the source), inlined frames (two levels) and demangling; then the same addresses
 * against a copy without debug info, a copy whose build-id differs, a
 * missing file and the recorder's own library.
 * usage: sym_test SYMPROG SYMPROG_SOURCE STRIPPED [CXXPROG CXX_SOURCE] */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbols.h"

static int failures;
#define CHECK(cond, ...)                                                                                              \
    do {                                                                                                              \
        if (!(cond)) {                                                                                                \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                           \
            fprintf(stderr, __VA_ARGS__);                                                                             \
            fputc('\n', stderr);                                                                                      \
            failures++;                                                                                               \
        }                                                                                                             \
    } while (0)

struct prog {
    uint64_t bias;
    uint8_t id[64];
    int idlen;
    struct mrz_segment seg[16];
    int nseg;
    char tag[16][32];
    uint64_t ip[16];
    int nip;
};

static int run_prog(const char *path, struct prog *p)
{
    memset(p, 0, sizeof *p);
    FILE *f = popen(path, "r");
    if (!f)
        return -1;
    char line[512], hexid[160];
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b, c;
        unsigned fl;
        if (sscanf(line, "module %lx %159s", &a, hexid) == 2) {
            p->bias = a;
            for (int i = 0; hexid[2 * i] && hexid[2 * i + 1] && i < 64; i++) {
                unsigned byte;
                sscanf(hexid + 2 * i, "%2x", &byte);
                p->id[p->idlen++] = (uint8_t)byte;
            }
        } else if (sscanf(line, "seg %lx %lx %lx %u", &a, &b, &c, &fl) == 4 && p->nseg < 16) {
            p->seg[p->nseg++] = (struct mrz_segment){a, b, c, fl};
        } else if (p->nip < 16 && sscanf(line, "ip %31s %lx", p->tag[p->nip], &a) == 2) {
            p->ip[p->nip++] = a;
        }
    }
    int st = pclose(f);
    return p->nseg && p->nip && st != -1 ? 0 : -1;
}

static uint64_t ip_of(const struct prog *p, const char *tag)
{
    for (int i = 0; i < p->nip; i++)
        if (!strcmp(p->tag[i], tag))
            return p->ip[i];
    fprintf(stderr, "FAIL: the program printed no address for %s\n", tag);
    exit(1);
}

/* The line of the source that carries "@tag" (the expected line). */
static int marker_line(const char *source, const char *tag)
{
    FILE *f = fopen(source, "r");
    char line[512], want[64];
    snprintf(want, sizeof want, "/* @%s */", tag);
    for (int n = 1; f && fgets(line, sizeof line, f); n++)
        if (strstr(line, want)) {
            fclose(f);
            return n;
        }
    fprintf(stderr, "FAIL: no marker %s in %s\n", want, source);
    exit(1);
}

static void meta_one(struct an_meta *m, struct an_module *mod, const struct prog *p, const char *path)
{
    memset(m, 0, sizeof *m);
    memset(mod, 0, sizeof *mod);
    mod->base = p->bias;
    mod->t_unload = UINT64_MAX;
    mod->path = (char *)path;
    memcpy(mod->build_id, p->id, (size_t)p->idlen);
    mod->build_id_len = p->idlen;
    memcpy(mod->seg, p->seg, sizeof p->seg);
    mod->nseg = p->nseg;
    m->mods = mod;
    m->nmods = 1;
}

struct warns { int n; char last[1024]; };
static void on_warn(void *user, const char *msg)
{
    struct warns *w = user;
    w->n++;
    snprintf(w->last, sizeof w->last, "%s", msg);
}

static const char *base(const char *p)
{
    const char *s = p ? strrchr(p, '/') : NULL;
    return s ? s + 1 : p;
}

static int streq(const char *a, const char *b) { return a && b && !strcmp(a, b); }

static void expect_frame(const struct sym_ip *r, int i, const char *fn, const char *file, int line, int inlined)
{
    if (i >= r->nframes) {
        CHECK(0, "frame %d of %d wanted (%s)", i, r->nframes, fn);
        return;
    }
    const struct sym_frame *f = &r->frames[i];
    CHECK(streq(f->function, fn), "frame %d function '%s', want '%s'", i, f->function ? f->function : "(null)", fn);
    if (file)
        CHECK(streq(base(f->file), file), "frame %d file '%s', want '%s'", i, f->file ? f->file : "(null)", file);
    else
        CHECK(!f->file, "frame %d file '%s', want none", i, f->file);
    CHECK(f->line == line, "frame %d (%s) line %d, want %d", i, fn, f->line, line);
    CHECK(f->inlined == inlined, "frame %d inlined %d, want %d", i, f->inlined, inlined);
}

static void test_c_program(const char *prog_path, const char *src, const char *stripped)
{
    struct prog p;
    CHECK(run_prog(prog_path, &p) == 0, "running %s", prog_path);
    if (failures)
        return;
    const char *srcbase = base(src);
    struct an_meta m;
    struct an_module mod;
    struct warns w = {0};

    /* full debug info */
    meta_one(&m, &mod, &p, prog_path);
    struct sym_ctx *s = sym_new(&m, on_warn, &w);
    const struct sym_ip *r = sym_lookup(s, ip_of(&p, "direct"), 0);
    CHECK(r->nframes == 1, "direct: %d frames", r->nframes);
    expect_frame(r, 0, "main", srcbase, marker_line(src, "direct"), 0);
    CHECK(r->flags == 0, "direct: flags %u", r->flags);
    CHECK(r->offset == ip_of(&p, "direct") - p.bias, "direct: offset");
    /* the file as an absolute path (the compilation directory joined) */
    char want_path[4096], got_path[4096];
    CHECK(r->frames[0].file && r->frames[0].file[0] == '/' && realpath(src, want_path) &&
              realpath(r->frames[0].file, got_path) && !strcmp(want_path, got_path),
          "direct: file %s is not %s", r->frames[0].file, src);
    CHECK(streq(r->module_name, base(prog_path)), "module name %s", r->module_name);
    CHECK(sym_lookup(s, ip_of(&p, "direct"), 0) == r, "a second lookup is the cached result");
    CHECK(sym_flags(s, ip_of(&p, "direct"), 0) == 0 && sym_flags(s, 0x10, 0) == SYM_NO_MODULE, "sym_flags");

    r = sym_lookup(s, ip_of(&p, "inlined"), 0);
    CHECK(r->nframes == 3, "inlined: %d frames", r->nframes);
    expect_frame(r, 0, "inner_inline", srcbase, marker_line(src, "inlined"), 1);
    expect_frame(r, 1, "helper_inline", srcbase, marker_line(src, "inline_mid"), 1);
    expect_frame(r, 2, "outer_fn", srcbase, marker_line(src, "inline_site"), 0);

    r = sym_lookup(s, ip_of(&p, "mangled"), 0);
    CHECK(r->nframes == 1, "mangled: %d frames", r->nframes);
    expect_frame(r, 0, "shape::scale(int)", srcbase, marker_line(src, "mangled"), 0);

    /* many distinct addresses (the cache grows), then the first is still cached */
    const struct sym_ip *first = sym_lookup(s, ip_of(&p, "direct"), 0);
    for (uint64_t k = 0; k < 5000; k++)
        sym_lookup(s, p.bias + 0x1000 + k, 0);
    CHECK(sym_lookup(s, ip_of(&p, "direct"), 0) == first, "cached across growth");
    r = sym_lookup(s, 0x10, 0);
    CHECK(r->flags == SYM_NO_MODULE && r->offset == 0x10 && !r->module && r->nframes == 1 && !r->frames[0].function,
          "no module: flags %u", r->flags);
    CHECK(w.n == 0, "no warning for a good module: %s", w.last);
    sym_free(s);

    /* no DWARF: the ELF symbol table, still demangled; no file, no inlines */
    meta_one(&m, &mod, &p, stripped);
    s = sym_new(&m, on_warn, &w);
    r = sym_lookup(s, ip_of(&p, "direct"), 0);
    expect_frame(r, 0, "main", NULL, 0, 0);
    r = sym_lookup(s, ip_of(&p, "inlined"), 0);
    CHECK(r->nframes == 1, "stripped inlined: %d frames", r->nframes);
    expect_frame(r, 0, "outer_fn", NULL, 0, 0);
    r = sym_lookup(s, ip_of(&p, "mangled"), 0);
    expect_frame(r, 0, "shape::scale(int)", NULL, 0, 0);
    CHECK(w.n == 0, "no warning for a stripped copy: %s", w.last);
    sym_free(s);

    /* a copy whose build-id differs (rebuilt): offsets and one warning */
    char tmp[] = "/tmp/sym_test_XXXXXX";
    int fd = mkstemp(tmp);
    FILE *in = fopen(prog_path, "rb");
    CHECK(fd >= 0 && in, "temporary copy");
    if (fd < 0 || !in)
        return;
    static char buf[1 << 22];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    char *idp = memmem(buf, n, p.id, (size_t)p.idlen);
    CHECK(idp != NULL, "build-id bytes found in the file");
    if (idp)
        idp[0] ^= 0xff;
    CHECK(write(fd, buf, n) == (ssize_t)n, "write copy");
    close(fd);
    meta_one(&m, &mod, &p, tmp);
    w.n = 0;
    s = sym_new(&m, on_warn, &w);
    const char *tags[] = {"direct", "inlined", "mangled"};
    for (int i = 0; i < 3; i++) {
        r = sym_lookup(s, ip_of(&p, tags[i]), 0);
        CHECK(r->nframes == 1 && !r->frames[0].function && !r->frames[0].file, "rebuilt %s: no names", tags[i]);
        CHECK(r->flags & SYM_NO_DEBUG, "rebuilt %s: flags %u", tags[i], r->flags);
        CHECK(r->offset == ip_of(&p, tags[i]) - p.bias, "rebuilt %s: offset", tags[i]);
    }
    CHECK(w.n == 1 && strstr(w.last, "build-id") && strstr(w.last, tmp), "one build-id warning: %d '%s'", w.n, w.last);
    sym_free(s);
    unlink(tmp);

    /* a deleted program: offsets and one warning */
    meta_one(&m, &mod, &p, "/nonexistent/dir/symprog");
    w.n = 0;
    s = sym_new(&m, on_warn, &w);
    for (int i = 0; i < 3; i++) {
        r = sym_lookup(s, ip_of(&p, tags[i]), 0);
        CHECK(r->nframes == 1 && !r->frames[0].function && (r->flags & SYM_NO_DEBUG), "missing %s", tags[i]);
    }
    CHECK(w.n == 1 && strstr(w.last, "/nonexistent/dir/symprog"), "one warning: %d '%s'", w.n, w.last);
    sym_free(s);

    /* the recorder's library: flagged, never opened, never warned about */
    meta_one(&m, &mod, &p, "/nonexistent/lib/libmallocrec.so");
    w.n = 0;
    s = sym_new(&m, on_warn, &w);
    r = sym_lookup(s, ip_of(&p, "direct"), 0);
    CHECK((r->flags & SYM_RECORDER) && w.n == 0, "recorder: flags %u, %d warnings", r->flags, w.n);
    CHECK(sym_flags(s, ip_of(&p, "direct"), 0) == SYM_RECORDER, "sym_flags: recorder");
    sym_free(s);
}

static void test_cxx_program(const char *prog_path, const char *src)
{
    struct prog p;
    CHECK(run_prog(prog_path, &p) == 0, "running %s", prog_path);
    if (failures)
        return;
    struct an_meta m;
    struct an_module mod;
    meta_one(&m, &mod, &p, prog_path);
    struct sym_ctx *s = sym_new(&m, NULL, NULL);
    const struct sym_ip *r = sym_lookup(s, ip_of(&p, "cxx_method"), 0);
    CHECK(r->nframes == 1, "cxx: %d frames", r->nframes);
    expect_frame(r, 0, "geo::Box<long>::grow(long)", base(src), marker_line(src, "cxx_method"), 0);
    sym_free(s);
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 6) {
        fprintf(stderr, "usage: sym_test SYMPROG SOURCE STRIPPED [CXXPROG CXXSOURCE]\n");
        return 2;
    }
    unsetenv("DEBUGINFOD_URLS"); /* offline and deterministic */

    char *d = sym_demangle("_ZN5shape5scaleEi");
    CHECK(streq(d, "shape::scale(int)"), "demangle: %s", d ? d : "(null)");
    free(d);
    CHECK(sym_demangle("main") == NULL && sym_demangle("_Znotmangled!") == NULL, "not mangled");
    CHECK(sym_classify_path("/lib/x86_64-linux-gnu/libc.so.6") == SYM_SYSTEM, "libc");
    CHECK(sym_classify_path("/usr/lib/x86_64-linux-gnu/libstdc++.so.6") == SYM_SYSTEM, "libstdc++");
    CHECK(sym_classify_path("/lib/x86_64-linux-gnu/libgcc_s.so.1") == SYM_SYSTEM, "libgcc_s");
    CHECK(sym_classify_path("/lib64/ld-linux-x86-64.so.2") == SYM_SYSTEM, "ld.so");
    CHECK(sym_classify_path("/opt/x/libmallocrec.so") == SYM_RECORDER, "recorder");
    CHECK(sym_classify_path("/usr/lib/libcurl.so.4") == 0 && sym_classify_path("/bin/app") == 0, "other");

    test_c_program(argv[1], argv[2], argv[3]);
    if (argc == 6)
        test_cxx_program(argv[4], argv[5]);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok: symbolizer%s\n", argc == 6 ? " (C and C++)" : " (C; no C++ compiler)");
    return 0;
}
