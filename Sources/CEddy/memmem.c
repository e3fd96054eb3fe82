#define _GNU_SOURCE
#include <string.h>
#include "ceddy.h"

const void *eddy_memmem(const void *hay, size_t hay_len, const void *needle, size_t needle_len) {
    return memmem(hay, hay_len, needle, needle_len);
}
