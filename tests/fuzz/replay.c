/* Replays saved fuzz inputs through the reader's fuzz target, so the corpus
 * runs in `meson test` with any compiler, and optionally writes each input
 * as the trace file the reader saw, for the mallocan CLI check.
 *
 *   fuzz_replay [--emit DIR] FILE|DIR...
 *
 * A bare chunk payload (see fuzz_reader.c) is emitted wrapped in a valid
 * file header and one raw chunk, so the analyzer meets its records. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_reader.h"
#include "mrz.h"

static const char *emit_dir;
static int nfiles;

static int emit(const char *name, const uint8_t *data, size_t size)
{
    uint8_t *buf;
    size_t len;
    int raw = mrz_fuzz_prepare(data, size, &buf, &len);
    if (raw < 0)
        return 0;
    const char *base = strrchr(name, '/');
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.mrz", emit_dir, base ? base + 1 : name);
    FILE *f = fopen(path, "wb");
    int ok = f != NULL;
    if (ok && raw && len <= MRZ_CHUNK_RAW_MAX) {
        uint8_t h[MRZ_FILE_HEADER_SIZE];
        mrz_file_header(h, 1);
        uint8_t *chunk = malloc(mrz_chunk_bound(len));
        struct mrz_chunk_info ci = {.stream = 1};
        long n = chunk ? mrz_chunk_encode(chunk, NULL, 0, &ci, buf, len) : -1;
        ok = n > 0 && fwrite(h, 1, sizeof h, f) == sizeof h && fwrite(chunk, 1, (size_t)n, f) == (size_t)n;
        free(chunk);
    } else if (ok && !raw) {
        ok = fwrite(buf, 1, len, f) == len;
    }
    if (f && fclose(f))
        ok = 0;
    free(buf);
    if (!ok)
        fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
    return ok ? 0 : -1;
}

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *data = NULL;
    size_t size = 0, cap = 0, n;
    uint8_t chunk[65536];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (size + n > cap) {
            cap = (size + n) * 2;
            uint8_t *nd = realloc(data, cap);
            if (!nd) {
                free(data);
                fclose(f);
                return -1;
            }
            data = nd;
        }
        memcpy(data + size, chunk, n);
        size += n;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data ? data : (const uint8_t *)"", size);
    int e = emit_dir ? emit(path, data ? data : (const uint8_t *)"", size) : 0;
    free(data);
    nfiles++;
    return e;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int replay(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char **nn = realloc(names, (n + 1) * sizeof *names);
        if (!nn)
            break;
        names = nn;
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        if (names[n])
            snprintf(names[n++], len, "%s/%s", path, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        rc |= replay_file(names[i]);
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    int i = 1, rc = 0;
    if (argc > 2 && !strcmp(argv[1], "--emit")) {
        emit_dir = argv[2];
        i = 3;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: fuzz_replay [--emit DIR] FILE|DIR...\n");
        return 2;
    }
    for (; i < argc; i++)
        rc |= replay(argv[i]);
    printf("fuzz_replay: %d inputs replayed\n", nfiles);
    return rc ? 1 : nfiles ? 0 : 1;
}
