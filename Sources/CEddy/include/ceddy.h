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

/// JSON string scanning (the event parser's and the enricher's hot loops), 16 bytes at a time
/// with SSE2 where the compiler targets it, byte by byte elsewhere. Inline: Swift imports and
/// inlines these, so a call costs no more than the loop it replaces.
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/// Length of the prefix of `p[0..<n]` holding no '"', '\\', byte < 0x20 or byte ≥ 0x80.
static inline size_t eddy_json_plain_prefix(const uint8_t *p, size_t n) {
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        // Signed: a byte < 0x20 or ≥ 0x80 (negative) is less than 0x20.
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)), _mm_cmplt_epi8(v, space));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask) return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
#endif
    while (i < n) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) return i;
        i++;
    }
    return i;
}

/// 1 when `p[0..<n]` holds a byte JSON must escape inside a string ('"', '\\', < 0x20), else 0.
static inline int eddy_json_needs_escape(const uint8_t *p, size_t n) {
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), control = _mm_set1_epi8(0x1F);
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        // Unsigned v ≤ 0x1F ⇔ max(v, 0x1F) == 0x1F.
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                 _mm_cmpeq_epi8(_mm_max_epu8(v, control), control));
        if (_mm_movemask_epi8(m)) return 1;
        i += 16;
    }
#endif
    while (i < n) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\' || c < 0x20) return 1;
        i++;
    }
    return 0;
}

#endif
