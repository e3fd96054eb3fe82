#!/usr/bin/env python3
"""Writes a tiny MaxMind-format country database for eddy's geo tests.

Usage: make_test_mmdb.py OUT.mmdb
Needs the PyPI packages mmdb-writer and netaddr (exit 3 when they are missing, so callers can skip).
The networks are documentation/test ranges plus two wide ones; DeliveryGeoTests asserts on them.
"""
import sys

try:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet
except ImportError as e:  # the Swift test skips on exit code 3
    print(f"make_test_mmdb: {e}; pip install mmdb-writer netaddr", file=sys.stderr)
    sys.exit(3)

NETWORKS = [
    # (networks, record)
    (["198.51.100.0/24"], {"country": {"iso_code": "NZ"}}),
    (["203.0.113.0/24"], {"registered_country": {"iso_code": "AU"}}),      # no country: registered_country
    (["192.0.2.128/25"], {"country": {"iso_code": "IS"}}),                 # narrower than /24: cached per address
    (["100.64.0.0/10"], {"country": {"iso_code": "fi"}}),                  # lower case in the db: upper-cased
    (["2001:db8::/32"], {"country": {"iso_code": "CH"}}),
    (["10.0.0.0/8"], {"city": {"names": {"en": "Nowhere"}}}),              # an entry without a country
]


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="eddy-test-country",
                   description="eddy test database")
    for nets, rec in NETWORKS:
        w.insert_network(IPSet(nets), rec)
    w.to_db_file(sys.argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
