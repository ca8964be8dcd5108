/* libmallocrec_api.so: the API of include/mallocrec.h as no-ops, for
 * programs to link so they run without the recorder.  Under `mallocrec run`
 * the preloaded libmallocrec.so comes first in symbol lookup, and its
 * definitions of the same names are the ones called. */
#include "../include/mallocrec.h"

int mallocrec_attached(void) { return 0; }
void mallocrec_pause(void) {}
void mallocrec_resume(void) {}
uint64_t mallocrec_start(void) { return 0; }
uint64_t mallocrec_stop(uint64_t idx) { (void)idx; return 0; }
void mallocrec_register(void) {}
void mallocrec_deregister(void) {}
void mallocrec_region_begin(const char *name) { (void)name; }
void mallocrec_region_end(void) {}
void mallocrec_mark(const char *name) { (void)name; }
void mallocrec_label_next(const char *name) { (void)name; }
