/* The reader's fuzz target, shared by the libFuzzer build and the corpus
 * replay driver. */
#ifndef FUZZ_READER_H
#define FUZZ_READER_H

#include <stddef.h>
#include <stdint.h>

/** libFuzzer's entry point: reads one input every way the reader can. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/** The bytes the reader is given for a fuzz input (see fuzz_reader.c).
 * @return 0 for a trace file, 1 for a bare chunk payload, -1 for an empty
 *         input; *out is malloc'd. */
int mrz_fuzz_prepare(const uint8_t *data, size_t size, uint8_t **out, size_t *out_len);

#endif
