#include "CShims.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

int obs_crypt_verify(const char *password, const char *hash) {
    struct crypt_data *data = calloc(1, sizeof(struct crypt_data));
    if (data == NULL) return 0;
    const char *computed = crypt_r(password, hash, data);
    int match = 0;
    if (computed != NULL && computed[0] != '*') {
        size_t length = strlen(hash);
        if (strlen(computed) == length) {
            unsigned char difference = 0;
            for (size_t i = 0; i < length; i++) difference |= (unsigned char)(computed[i] ^ hash[i]);
            match = difference == 0;
        }
    }
    free(data);
    return match;
}

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
int obs_set_trim_threshold(int bytes) { return mallopt(M_TRIM_THRESHOLD, bytes); }
int obs_release_free_memory(void) { return malloc_trim(0); }
#else
int obs_fix_mmap_threshold(int bytes) { (void)bytes; return 0; }
int obs_set_trim_threshold(int bytes) { (void)bytes; return 0; }
int obs_release_free_memory(void) { return 0; }
#endif

extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size))
    __attribute__((weak));

int obs_fuzzer_available(void) { return LLVMFuzzerRunDriver != 0; }

int obs_fuzzer_run(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size)) {
    return LLVMFuzzerRunDriver ? LLVMFuzzerRunDriver(argc, argv, callback) : -1;
}
