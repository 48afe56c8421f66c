#ifndef OBS_CSHIMS_H
#define OBS_CSHIMS_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>
#include <sqlite3.h>

/// zlib's init entry points are macros that pass the library version and struct size; Swift cannot
/// call macros, so these wrap them. `windowBits` follows zlib: 15 raw zlib, 15+16 gzip, 15+32 auto-detect
/// gzip or zlib on inflate, -15 raw deflate.
int obs_deflate_init2(z_stream *stream, int level, int windowBits);
int obs_inflate_init2(z_stream *stream, int windowBits);

/// SQLITE_TRANSIENT is a cast of -1 to a function pointer, which Swift cannot express.
sqlite3_destructor_type obs_sqlite_transient(void);

/// CRC32C (Castagnoli), continuing from `crc` (0 for a fresh checksum). Uses the SSE4.2 instruction
/// when the processor has it and a table-driven loop otherwise.
uint32_t obs_crc32c(uint32_t crc, const void *data, size_t length);

/// Fixes glibc's mmap threshold at `bytes` (it otherwise grows with every large block freed, so big
/// buffers end up on the heap and stay resident). Returns mallopt's result; no-op elsewhere.
int obs_fix_mmap_threshold(int bytes);

/// Sets how much free memory glibc keeps at the top of its heap before giving it back on `free`.
int obs_set_trim_threshold(int bytes);

/// Returns free pages of every malloc arena to the kernel (glibc's malloc_trim(0)); 1 if any were.
int obs_release_free_memory(void);

/// Whether `password` matches a crypt(3) hash such as bcrypt's `$2y$10$…` (libxcrypt), compared in
/// constant time. 1 on a match, 0 otherwise (also for a malformed hash).
int obs_crypt_verify(const char *password, const char *hash);

/// libFuzzer's driver, when the binary was built with `-sanitize=fuzzer` (a weak reference, so
/// plain builds link too): whether it is there, and a call through to it.
int obs_fuzzer_available(void);
int obs_fuzzer_run(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
