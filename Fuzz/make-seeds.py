#!/usr/bin/env python3
"""Writes the checked-in seed corpus under Fuzz/corpus/<target>/ (run from anywhere).

events:  the docs/EVENTS.md examples as NDJSON and as a JSON array, plus a few edge bodies.
kinesis: byte 0 selects the call (see Sources/fuzz-kinesis), the rest is a real request body;
         selector 10 is a SigV4 header set signed the way botocore signs.
frame:   byte 0 selects the mode (even: verify CRC, base offset byte0>>1), then segment bytes
         encoded exactly as Frame.encode does (CRC-32C of bytes [8, 8+length)).
A slice of a real segment file can be added with: make-seeds.py --segment <file.log>
"""
import base64, hashlib, hmac, json, os, re, struct, sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
out = lambda t, name, data: open(os.path.join(here, "corpus", t, name), "wb").write(data)

# ---- events
doc = open(os.path.join(root, "docs", "EVENTS.md")).read()
lines = [l for l in re.search(r"```json\n(.*?)```", doc, re.S).group(1).splitlines() if l.strip()]
out("events", "docs-ndjson", ("\n".join(lines) + "\n").encode())
out("events", "docs-array", ("[" + ",\n".join(lines) + "]").encode())
out("events", "one-event", lines[0].encode())
out("events", "escapes", json.dumps({"site_id": "shop-001", "type": "page_view", "ts": "2025-11-26T08:59:59.999Z",
    "title": "caf\u00e9 \u2014 \ud83d\ude00 \"quoted\" \\ back", "url": "https://a.example/\u00e9?x=1&y=\u20ac",
    "props": {"a": 1.5e3, "b": True, "c": None, "d": "x\ty"}}, ensure_ascii=True).encode() + b"\n" +
    json.dumps({"site_id": "shop-001", "type": "click", "ts": 1764147599000, "engagement_ms": 12,
                "scroll_pct": 99.5, "value": -0.0, "currency": "EUR"}, ensure_ascii=False).encode())
out("events", "mixed-bad", b'{"site_id":"a","type":"x","ts":1764147599000}\n\n{"site_id":"../etc","type":"x","ts":1}\n'
    b'[1,2]\n{"site_id":"a","type":"x","ts":"2025-13-40T25:61:61Z"}\n{"site_id":"a","type":"x","ts":1764147599000,"props":{"n":{"deep":1}}}\n'
    b'\xef\xbb\xbf{"site_id":"a","type":"x","ts":1e300}\n{"site_id":"a\\ud800","type":"x","ts":0}')
out("events", "array-nested", b'[{"site_id":"s","type":"t","ts":1764147599000,"props":{"k":[[[[[[1]]]]]]}},{"x":' + b'[' * 40 + b']' * 40 + b'}]')

# ---- kinesis
targets = ["PutRecord", "PutRecords", "GetShardIterator", "GetRecords", "ListShards", "ListStreams",
           "DescribeStream", "DescribeStreamSummary", "FirehosePutRecord", "FirehosePutRecordBatch"]
sel = {n: i for i, n in enumerate(targets)}
b64 = lambda b: base64.b64encode(b).decode()
ev = lines[0].encode()
k = lambda name, i, body: out("kinesis", name, bytes([sel[i]]) + json.dumps(body).encode())
k("put-record", "PutRecord", {"StreamName": "clickstream", "Data": b64(ev), "PartitionKey": "9f2c51b07a3e4d10"})
k("put-record-ehk", "PutRecord", {"StreamName": "clickstream", "Data": b64(b"\x00\xff raw bytes"), "PartitionKey": "k",
                                  "ExplicitHashKey": "170141183460469231731687303715884105728"})
# A real PutRecords body as boto3 / the KPL send it: several records, base64 Data, ARN instead of name.
k("put-records", "PutRecords", {"StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/clickstream",
    "Records": [{"Data": b64(l.encode()), "PartitionKey": json.loads(l).get("session_id", "site")} for l in lines]})
k("get-iterator-trim", "GetShardIterator", {"StreamName": "clickstream", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"})
k("get-iterator-at", "GetShardIterator", {"StreamName": "clickstream", "ShardId": "shardId-000000000001",
    "ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": "49590338271490256608559692538361571095921575989136588817"})
k("get-iterator-ts", "GetShardIterator", {"StreamName": "clickstream", "ShardId": "shardId-000000000000", "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": 1764147500.5})
tok = base64.b64encode(b"eddy1|clickstream|0|0|1764147600000").decode()
k("get-records", "GetRecords", {"ShardIterator": tok, "Limit": 100})
k("list-shards", "ListShards", {"StreamName": "clickstream", "MaxResults": 1})
k("list-streams", "ListStreams", {"Limit": 10})
k("describe", "DescribeStream", {"StreamName": "clickstream", "Limit": 1})
k("describe-summary", "DescribeStreamSummary", {"StreamName": "clickstream"})
k("firehose-put", "FirehosePutRecord", {"DeliveryStreamName": "clickstream", "Record": {"Data": b64(ev + b"\n")}})
k("firehose-batch", "FirehosePutRecordBatch", {"DeliveryStreamName": "clickstream",
    "Records": [{"Data": b64(("\n".join(lines[:3]) + "\n").encode())}, {"Data": b64(b"not json")}]})

# Inputs that once crashed the node (each is also a test in Tests/PipelineTests/FuzzRegressionTests.swift).
k("regress-at-timestamp-1e300", "GetShardIterator", {"StreamName": "clickstream", "ShardId": "shardId-000000000000",
                                                     "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": 1e300})
k("regress-describe-limit-negative", "DescribeStream", {"StreamName": "clickstream", "Limit": -1})
k("regress-list-streams-limit-negative", "ListStreams", {"Limit": -1})
k("regress-list-shards-token-negative", "ListShards", {"NextToken": base64.b64encode(b"clickstream|-1").decode()})
k("regress-list-shards-token-huge", "ListShards", {"NextToken": base64.b64encode(b"clickstream|9223372036854775807").decode(), "MaxResults": 1})

def sigv4(body, now="20251126T090000Z", key="AKIDEXAMPLE", secret="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"):
    day = now[:8]; host = "127.0.0.1:8080"
    hdrs = sorted([("content-type", "application/x-amz-json-1.1"), ("host", host), ("x-amz-date", now),
                   ("x-amz-target", "Kinesis_20131202.PutRecords")])
    signed = ";".join(h for h, _ in hdrs)
    creq = "\n".join(["POST", "/", "", "".join(f"{h}:{v}\n" for h, v in hdrs), signed, hashlib.sha256(body).hexdigest()])
    scope = f"{day}/us-east-1/kinesis/aws4_request"
    sts = f"AWS4-HMAC-SHA256\n{now}\n{scope}\n" + hashlib.sha256(creq.encode()).hexdigest()
    kk = ("AWS4" + secret).encode()
    for part in (day, "us-east-1", "kinesis", "aws4_request"):
        kk = hmac.new(kk, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(kk, sts.encode(), hashlib.sha256).hexdigest()
    auth = f"AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={signed}, Signature={sig}"
    return "\n".join([auth, now, "", host, "POST", "/", "", body.decode()]).encode()
body = json.dumps({"StreamName": "clickstream", "Records": [{"Data": b64(ev), "PartitionKey": "p"}]}).encode()
out("kinesis", "sigv4-valid", bytes([10]) + sigv4(body))
out("kinesis", "sigv4-unknown-key", bytes([10]) + sigv4(body, key="AKIDOTHER"))

# ---- frame
def crc32c(b):
    crc = 0xFFFFFFFF
    for x in b:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF
def frame(off, ms, key, data):
    body = struct.pack("<QqH", off, ms, len(key)) + key + data
    return struct.pack("<II", len(body), crc32c(body)) + body
seg = b"".join(frame(i, 1764147600000 + i, b"9f2c51b07a3e4d10", l.encode() + b"\n") for i, l in enumerate(lines))
out("frame", "segment-verify", bytes([0]) + seg)          # base 0, verify
out("frame", "segment-noverify", bytes([1]) + seg)        # base 0, no verify
out("frame", "segment-torn", bytes([0]) + seg[:-7])
out("frame", "segment-base5", bytes([10]) + b"".join(frame(5 + i, 1764147600000, b"k", b"x" * i) for i in range(4)))
if len(sys.argv) == 3 and sys.argv[1] == "--segment":
    raw = open(sys.argv[2], "rb").read()
    base = int(os.path.basename(sys.argv[2]).split(".")[0])
    if base < 128:
        out("frame", "real-segment-slice", bytes([base << 1]) + raw[:16384])
        out("frame", "real-segment-slice-noverify", bytes([(base << 1) | 1]) + raw[:16384])
