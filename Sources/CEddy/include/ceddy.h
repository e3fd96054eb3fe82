#ifndef CEDDY_H
#define CEDDY_H
#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli), the checksum of every stream frame. Uses SSE4.2 when the CPU has it.
/// `crc` is the running value (0 to start); returns the updated value.
uint32_t eddy_crc32c(uint32_t crc, const void *data, size_t len);

/// MD5 of `len` bytes into `out[16]` (the Kinesis hash of a partition key).
void eddy_md5(const void *data, size_t len, uint8_t out[16]);

/// memmem (a GNU extension Swift's Glibc module does not always expose).
const void *eddy_memmem(const void *hay, size_t hay_len, const void *needle, size_t needle_len);

/// syncfs(2) on the filesystem holding `fd` (GNU; not exposed by Swift's Glibc module).
/// Returns 0 or -1 with errno set (ENOSYS where the call does not exist).
int eddy_syncfs(int fd);

/// malloc_trim(0) where glibc has it: gives free heap pages back to the kernel. Returns 1 when
/// memory was released, 0 otherwise (and on other C libraries).
int eddy_release_free_memory(void);

/// Sets glibc's mmap threshold to `bytes` (fixed: no dynamic raising), so buffers at least that
/// large are mapped on their own and go back to the kernel when freed. Returns 1 when set.
int eddy_fix_mmap_threshold(int bytes);

/// glibc's heap, all arenas (mallinfo2): bytes in allocated chunks and bytes held free (in the
/// arenas and their top chunks, i.e. memory the process keeps but does not use). Zero elsewhere.
void eddy_heap_usage(int64_t *in_use, int64_t *free_bytes);

#endif
