#!/usr/bin/env python3
"""Reads a lake written by eddy delivery with DuckDB, as an Athena/Spectrum user would, and checks
it holds exactly the delivered events.

Usage: test_duckdb.py <data-dir>   (the dir holds lake/ and expected.json from LakeFixtureTests)
"""
import json
import os
import sys

import duckdb


def main(data):
    lake = os.path.join(data, "lake")
    expected = json.load(open(os.path.join(data, "expected.json")))
    con = duckdb.connect()
    src = f"""read_json_auto('{lake}/events/*/*/*/*.ndjson.zst', hive_partitioning=true,
                              format='newline_delimited', union_by_name=true)"""
    failures = []

    def check(what, got, want):
        ok = got == want
        print(f"{'ok  ' if ok else 'FAIL'} {what}: {got} (expected {want})")
        if not ok:
            failures.append(what)

    total = con.execute(f"select count(*) from {src}").fetchone()[0]
    check("events in the lake", total, expected["events"])
    distinct = con.execute(f"select count(distinct seq) from {src}").fetchone()[0]
    check("distinct sequence numbers (no duplicates)", distinct, expected["events"])
    per_site = dict(con.execute(f"select site, count(*) from {src} group by site").fetchall())
    check("sites", len(per_site), len(expected["per_site"]))
    for site in sorted(expected["per_site"], key=lambda s: -expected["per_site"][s])[:5]:
        check(f"events of site {site}", per_site.get(site), expected["per_site"][site])
    # The hive partition column agrees with the event's own site_id.
    mismatched = con.execute(f"select count(*) from {src} where site <> site_id").fetchone()[0]
    check("rows whose site= partition differs from site_id", mismatched, 0)
    # Partition pruning works on the date/hour columns.
    hours = con.execute(f"select count(distinct (dt, hr)) from {src}").fetchone()[0]
    check("at least two hour partitions", hours >= 2, True)
    channels = {r[0] for r in con.execute(f"select distinct channel from {src}").fetchall()}
    allowed = {"Direct", "Organic Search", "Paid Search", "Organic Social", "Paid Social", "Email",
               "Referral", "Display", "Affiliates", "Unassigned"}
    check("channels within the ten groups", channels <= allowed, True)
    bad_ip = con.execute(f"select count(*) from {src} where ip is not null and ip not like '%.0' and ip not like '%::'").fetchone()[0]
    check("untruncated IPs", bad_ip, 0)
    errors = con.execute(f"""select count(*) from read_json_auto('{lake}/errors/*/*/*.ndjson*',
                             format='newline_delimited')""").fetchone()[0]
    check("failure records under errors/", errors, expected["errors"])
    manifests = con.execute(f"""select sum(e.meta.records) from (select unnest(entries) as e
                                from read_json_auto('{lake}/_manifests/**/*.json'))""").fetchone()[0]
    check("records listed by manifests", int(manifests), expected["events"])
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("lake read by DuckDB agrees with delivery")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/eddy-lake-test")
