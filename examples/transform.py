#!/usr/bin/env python3
"""Example external transform for eddy delivery (Firehose's Lambda stage, as a child process).

eddy starts this once and keeps it running. It writes one request per line on stdin:
    {"recordId": "...", "approximateArrivalTimestamp": <epoch ms>, "data": "<base64 of the event JSON>"}
and reads exactly one response line per request on stdout (any order, same recordId):
    {"recordId": "...", "result": "Ok" | "Dropped" | "ProcessingFailed", "data": "<base64>"}
Flush stdout after every line (or run with `python3 -u`). Log to stderr, never stdout.

This one:
  * drops events from internal addresses (10/8, 172.16/12, 192.168/16, 127/8, ::1, fc00::/7),
  * tags events whose URL carries utm_campaign with "campaign_tag": "<campaign>",
  * answers ProcessingFailed for records that are not JSON objects.
Configure it with: DeliveryConfig.transform = ExternalTransformConfig(command: ["python3", "-u", "examples/transform.py"])
"""
import base64
import ipaddress
import json
import sys
from urllib.parse import parse_qs, urlsplit


INTERNAL = [ipaddress.ip_network(n) for n in
            ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "::1/128", "fc00::/7")]


def internal(ip):
    # Explicit ranges: ipaddress' is_private also covers the documentation ranges (203.0.113.0/24 …).
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(a in n for n in INTERNAL if n.version == a.version)


def handle(req):
    rid = req["recordId"]
    try:
        event = json.loads(base64.b64decode(req["data"]))
        if not isinstance(event, dict):
            raise ValueError("not a JSON object")
    except Exception as e:  # noqa: BLE001 - any bad record is reported, not fatal
        return {"recordId": rid, "result": "ProcessingFailed", "data": req["data"], "errorMessage": str(e)}
    if internal(str(event.get("ip", ""))):
        return {"recordId": rid, "result": "Dropped", "data": req["data"]}
    url = event.get("url") or ""
    campaign = parse_qs(urlsplit(url).query).get("utm_campaign")
    if campaign:
        event["campaign_tag"] = campaign[0]
    data = base64.b64encode(json.dumps(event, separators=(",", ":")).encode()).decode()
    return {"recordId": rid, "result": "Ok", "data": data}


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            out = handle(json.loads(line))
        except Exception as e:  # noqa: BLE001
            print(f"transform: bad request line: {e}", file=sys.stderr)
            continue
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
