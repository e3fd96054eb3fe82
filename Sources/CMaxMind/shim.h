#ifndef EDDY_CMAXMIND_SHIM_H
#define EDDY_CMAXMIND_SHIM_H
#include <maxminddb.h>
#include <string.h>

/// Country ISO code of `ip` (a NUL-terminated address string) into `out` (3 bytes, NUL-terminated).
/// Tries country.iso_code, then registered_country.iso_code. Returns 1 when found, 0 when the
/// address is valid but not in the database (or has no country), -1 when it is not an address,
/// -2 on a database error. `*prefix` receives the netmask of the matching network (bits, as the
/// library reports it: IPv6 bits in an IPv6 database even for IPv4 addresses).
/// Kept in C because MMDB_get_value is variadic, which Swift cannot call.
static inline int eddy_mmdb_country(MMDB_s *db, const char *ip, char out[3], int *prefix) {
    int gai = 0, err = 0;
    MMDB_lookup_result_s r = MMDB_lookup_string(db, ip, &gai, &err);
    *prefix = -1;
    if (gai != 0) return -1;
    if (err != MMDB_SUCCESS) return -2;
    *prefix = (int)r.netmask;
    if (!r.found_entry) return 0;
    MMDB_entry_data_s d;
    const char *paths[2][3] = {{"country", "iso_code", NULL}, {"registered_country", "iso_code", NULL}};
    for (int k = 0; k < 2; k++) {
        memset(&d, 0, sizeof d);
        if (MMDB_aget_value(&r.entry, &d, paths[k]) == MMDB_SUCCESS && d.has_data
            && d.type == MMDB_DATA_TYPE_UTF8_STRING && d.data_size == 2) {
            out[0] = d.utf8_string[0]; out[1] = d.utf8_string[1]; out[2] = 0;
            return 1;
        }
    }
    return 0;
}

/// The database's IP version (4 or 6).
static inline int eddy_mmdb_ip_version(const MMDB_s *db) { return (int)db->metadata.ip_version; }
#endif
