/* svg.h — small helpers shared by the pictures (flamegraph, timeline):
 * XML-safe text, human units, axis ticks, and the output file. */
#ifndef SVG_H
#define SVG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** Writes s as XML character data / attribute text: markup characters
 * escaped, control characters and malformed UTF-8 replaced by '?', so the
 * document stays well-formed whatever a symbol name holds.  At most max
 * bytes of s are written (whole characters only); max < 0 means all. */
void svg_text(FILE *f, const char *s, long max);

/** Formats a byte count as "1.5 MiB" (binary units, 3 significant digits).
 * @return buf. */
char *svg_bytes(char *buf, size_t n, double bytes);

/** Formats a count with thousands separators: "4,949,401".  @return buf. */
char *svg_count(char *buf, size_t n, uint64_t v);

/** Formats a duration in a given unit (1, 1e3, 1e6 or 1e9 ns): "1.5 s".
 * @return buf. */
char *svg_duration_in(char *buf, size_t n, double ns, double unit);
/** The unit (1, 1e3, 1e6, 1e9 ns) that suits durations up to max. */
double svg_time_unit(double max);

/** Formats a duration as "1.25 s", "340 ms", "12 us", "80 ns".  @return buf. */
char *svg_duration(char *buf, size_t n, double ns);

/** A "nice" tick step (1, 2 or 5 times a power of ten) that splits [0, max]
 * into about `ticks` intervals.  binary: in the byte unit of max (so 0.5 MiB,
 * 1 MiB...), never below 1 byte.  @return the step (> 0). */
double svg_nice_step(double max, int ticks, int binary);
/** The largest power of 1024 not above max (at least 1). */
double svg_byte_unit(double max);
/** Formats v bytes in a given unit (a power of 1024): "1.5 MiB".  @return buf. */
char *svg_bytes_in(char *buf, size_t n, double v, double unit);

/** A stable colour for a name: a hue family (0 warm, 1 cool, 2 grey-blue)
 * and a shade from the name's hash.  Writes "rgb(r,g,b)" into buf. */
char *svg_color(char *buf, size_t n, const char *name, int family);

/** Opens the output named by -o (or returns stdout for NULL or "-").
 * Prints one error line and returns NULL when it cannot be created. */
FILE *svg_open_out(const char *path);
/** Closes what svg_open_out opened.  @return 0, or 2 after printing an
 * error when the output could not be written. */
int svg_close_out(FILE *f, const char *path);

#endif
