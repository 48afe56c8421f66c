#include "CShims.h"

int obs_deflate_init2(z_stream *stream, int level, int windowBits) {
    return deflateInit2(stream, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}

int obs_inflate_init2(z_stream *stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}

sqlite3_destructor_type obs_sqlite_transient(void) {
    return SQLITE_TRANSIENT;
}

#if defined(__GLIBC__)
#include <malloc.h>
int obs_fix_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }
#else
int obs_fix_mmap_threshold(int bytes) { (void)bytes; return 0; }
#endif

extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size))
    __attribute__((weak));

int obs_fuzzer_available(void) { return LLVMFuzzerRunDriver != 0; }

int obs_fuzzer_run(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size)) {
    return LLVMFuzzerRunDriver ? LLVMFuzzerRunDriver(argc, argv, callback) : -1;
}
