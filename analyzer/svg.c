/* Helpers for the pictures (contract in svg.h). */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "mallocan.h"
#include "svg.h"

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 if malformed. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || (n == 2 && c < 0xc2) || (n == 4 && c > 0xf4))
        return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

void svg_text(FILE *f, const char *s, long max)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    for (long k = 0; *p && (max < 0 || k < max); k++) {
        int n = utf8_len(p);
        if (n == 0 || (*p < 0x20 && *p != '\t') || *p == 0x7f) {
            fputc('?', f);
            p++;
            continue;
        }
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fwrite(p, 1, (size_t)n, f); break;
        }
        p += n;
    }
}

char *svg_bytes(char *buf, size_t n, double bytes)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    double v = bytes;
    while (fabs(v) >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%.0f B", v);
    else
        snprintf(buf, n, "%.*f %s", fabs(v) >= 100 ? 0 : fabs(v) >= 10 ? 1 : 2, v, unit[u]);
    return buf;
}

char *svg_duration(char *buf, size_t n, double ns)
{
    static const char *const unit[] = {"ns", "us", "ms", "s"};
    int u = 0;
    double v = ns;
    while (fabs(v) >= 1000 && u < 3) {
        v /= 1000;
        u++;
    }
    if (u == 0 || v == floor(v))
        snprintf(buf, n, "%.0f %s", v, unit[u]);
    else
        snprintf(buf, n, "%.*f %s", fabs(v) >= 100 ? 0 : fabs(v) >= 10 ? 1 : 2, v, unit[u]);
    return buf;
}

char *svg_count(char *buf, size_t n, uint64_t v)
{
    char digits[32];
    int k = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v), o = 0;
    for (int i = 0; i < k && (size_t)o + 2 < n; i++) {
        if (i && (k - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

double svg_time_unit(double max)
{
    double u = 1;
    while (max >= 1000 * u && u < 1e9)
        u *= 1000;
    return u;
}

char *svg_duration_in(char *buf, size_t n, double ns, double unit)
{
    const char *name = unit >= 1e9 ? "s" : unit >= 1e6 ? "ms" : unit >= 1e3 ? "us" : "ns";
    snprintf(buf, n, "%.4g %s", ns / unit, name);
    return buf;
}

double svg_byte_unit(double max)
{
    double u = 1;
    while (max >= 1024 * u && u < 1125899906842624.0)
        u *= 1024;
    return u;
}

char *svg_bytes_in(char *buf, size_t n, double v, double unit)
{
    static const char *const name[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int k = 0;
    for (double u = unit; u >= 1024 && k < 5; u /= 1024)
        k++;
    snprintf(buf, n, "%.4g %s", v / unit, name[k]);
    return buf;
}

double svg_nice_step(double max, int ticks, int binary)
{
    if (!(max > 0) || ticks < 1)
        return 1;
    /* bytes: decimal 1/2/5 steps in the unit of the maximum (0.5 MiB, 1 MiB) */
    double scale = binary ? svg_byte_unit(max) : 1;
    double raw = max / ticks / scale;
    double mag = pow(10, floor(log10(raw)));
    double r = raw / mag, step = r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10;
    double s = step * mag * scale;
    return s >= 1 || !binary ? s : 1;
}

char *svg_color(char *buf, size_t n, const char *name, int family)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)(name ? name : ""); *p; p++)
        h = (h ^ *p) * 16777619u;
    double a = (h & 0xff) / 255.0, b = ((h >> 8) & 0xff) / 255.0;
    int r, g, bl;
    if (family == 0) { /* warm: the program's own frames */
        r = 205 + (int)(50 * a);
        g = 60 + (int)(150 * b);
        bl = 40 + (int)(40 * a);
    } else if (family == 1) { /* cool: system libraries */
        r = 80 + (int)(60 * a);
        g = 150 + (int)(60 * b);
        bl = 200 + (int)(55 * a);
    } else { /* grey-blue: frames without names */
        r = 160 + (int)(30 * a);
        g = 170 + (int)(30 * a);
        bl = 190 + (int)(30 * b);
    }
    snprintf(buf, n, "rgb(%d,%d,%d)", r, g, bl);
    return buf;
}

FILE *svg_open_out(const char *path)
{
    if (!path || !strcmp(path, "-"))
        return stdout;
    FILE *f = fopen(path, "w");
    if (!f)
        an_error(path, "cannot create the output: %s", strerror(errno));
    return f;
}

int svg_close_out(FILE *f, const char *path)
{
    if (f == stdout)
        return fflush(f) || ferror(f) ? an_error(NULL, "cannot write the output: %s", strerror(errno)) : 0;
    int bad = ferror(f);
    if (fclose(f) || bad)
        return an_error(path, "cannot write the output: %s", strerror(errno));
    return 0;
}
