"""boto3 (and the AWS CLI) against a real `eddy serve`, unchanged but for endpoint_url.

Run by scripts/test-kinesis.sh, which starts the server and sets EDDY_ENDPOINT,
EDDY_ACCESS_KEY_ID and EDDY_SECRET_ACCESS_KEY.
"""
import base64
import datetime
import json
import os
import subprocess
import time

import boto3
import botocore
import pytest
from botocore.config import Config

ENDPOINT = os.environ["EDDY_ENDPOINT"]
KEY = os.environ["EDDY_ACCESS_KEY_ID"]
SECRET = os.environ["EDDY_SECRET_ACCESS_KEY"]
CFG = Config(retries={"max_attempts": 1, "mode": "standard"})


def client(key=KEY, secret=SECRET, service="kinesis"):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret, config=CFG)


@pytest.fixture(scope="module")
def k():
    return client()


@pytest.fixture(scope="module")
def stream(k):
    name = "boto-%d" % int(time.time() * 1000)
    k.create_stream(StreamName=name, ShardCount=2)
    return name


def read_all(k, stream, shard, **it_args):
    it = k.get_shard_iterator(StreamName=stream, ShardId=shard, **it_args)["ShardIterator"]
    r = k.get_records(ShardIterator=it, Limit=1000)
    assert "NextShardIterator" in r
    assert r["MillisBehindLatest"] >= 0
    return r["Records"]


def test_create_stream_is_listed_and_described(k, stream):
    assert stream in k.list_streams()["StreamNames"]
    d = k.describe_stream(StreamName=stream)["StreamDescription"]
    assert d["StreamStatus"] == "ACTIVE"
    assert len(d["Shards"]) == 2
    assert d["Shards"][0]["HashKeyRange"]["StartingHashKey"] == "0"
    assert d["Shards"][1]["HashKeyRange"]["EndingHashKey"] == str(2**128 - 1)
    s = k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    assert s["OpenShardCount"] == 2
    with pytest.raises(k.exceptions.ResourceInUseException):
        k.create_stream(StreamName=stream, ShardCount=1)


def test_put_record_and_read_back_with_every_iterator_type(k, stream):
    r1 = k.put_record(StreamName=stream, Data=b"hello-1", PartitionKey="same-key")
    r2 = k.put_record(StreamName=stream, Data=b"hello-2", PartitionKey="same-key")
    assert r1["ShardId"] == r2["ShardId"]
    assert int(r2["SequenceNumber"]) > int(r1["SequenceNumber"])
    shard = r1["ShardId"]
    trim = [x["Data"] for x in read_all(k, stream, shard, ShardIteratorType="TRIM_HORIZON")]
    assert trim[:2] == [b"hello-1", b"hello-2"]
    assert read_all(k, stream, shard, ShardIteratorType="LATEST") == []
    at = read_all(k, stream, shard, ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=r2["SequenceNumber"])
    assert at[0]["Data"] == b"hello-2"
    after = read_all(k, stream, shard, ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=r1["SequenceNumber"])
    assert after[0]["Data"] == b"hello-2"
    ts = read_all(k, stream, shard, ShardIteratorType="AT_TIMESTAMP",
                  Timestamp=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5))
    assert [x["Data"] for x in ts][:2] == [b"hello-1", b"hello-2"]
    rec = at[0]
    assert rec["PartitionKey"] == "same-key"
    assert isinstance(rec["ApproximateArrivalTimestamp"], datetime.datetime)


def test_put_records_returns_one_result_per_record_in_order(k, stream):
    recs = [{"Data": json.dumps({"n": i}).encode(), "PartitionKey": "pk-%d" % i} for i in range(100)]
    r = k.put_records(StreamName=stream, Records=recs)
    assert r["FailedRecordCount"] == 0
    assert len(r["Records"]) == 100
    shards = {x["ShardId"] for x in r["Records"]}
    assert len(shards) == 2, "keys spread over both shards by MD5"
    seen = []
    for shard in shards:
        seen += [json.loads(x["Data"])["n"] for x in read_all(k, stream, shard, ShardIteratorType="TRIM_HORIZON") if x["Data"].startswith(b"{")]
    assert sorted(seen) == list(range(100))


def test_list_shards_and_split(k, stream):
    shards = k.list_shards(StreamName=stream)["Shards"]
    assert [s["ShardId"] for s in shards] == ["shardId-000000000000", "shardId-000000000001"]
    parent = shards[0]
    mid = (int(parent["HashKeyRange"]["StartingHashKey"]) + int(parent["HashKeyRange"]["EndingHashKey"])) // 2
    k.split_shard(StreamName=stream, ShardToSplit=parent["ShardId"], NewStartingHashKey=str(mid))
    after = k.list_shards(StreamName=stream)["Shards"]
    assert len(after) == 4
    kids = [s for s in after if s.get("ParentShardId") == parent["ShardId"]]
    assert len(kids) == 2
    assert kids[1]["HashKeyRange"]["StartingHashKey"] == str(mid)
    closed = [s for s in after if s["ShardId"] == parent["ShardId"]][0]
    assert "EndingSequenceNumber" in closed["SequenceNumberRange"]
    page = k.list_shards(StreamName=stream, MaxResults=3)
    assert len(page["Shards"]) == 3 and "NextToken" in page
    rest = k.list_shards(NextToken=page["NextToken"])
    assert len(rest["Shards"]) == 1


def test_merge_and_update_shard_count(k):
    name = "boto-merge-%d" % int(time.time() * 1000)
    k.create_stream(StreamName=name, ShardCount=2)
    k.merge_shards(StreamName=name, ShardToMerge="shardId-000000000000", AdjacentShardToMerge="shardId-000000000001")
    shards = k.list_shards(StreamName=name)["Shards"]
    child = shards[-1]
    assert child["ParentShardId"] == "shardId-000000000000"
    assert child["AdjacentParentShardId"] == "shardId-000000000001"
    r = k.update_shard_count(StreamName=name, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    assert r["TargetShardCount"] == 2
    assert k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["OpenShardCount"] == 2


def test_reading_a_closed_parent_to_its_end_lists_children(k):
    name = "boto-kids-%d" % int(time.time() * 1000)
    k.create_stream(StreamName=name, ShardCount=1)
    k.put_record(StreamName=name, Data=b"before-split", PartitionKey="a")
    k.split_shard(StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127))
    it = k.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    r = k.get_records(ShardIterator=it)
    assert [x["Data"] for x in r["Records"]] == [b"before-split"]
    if r.get("NextShardIterator"):
        r = k.get_records(ShardIterator=r["NextShardIterator"])
    assert r.get("NextShardIterator") is None
    assert len(r["ChildShards"]) == 2


def test_bad_signature_is_rejected():
    bad = client(secret="not-the-secret")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bad.list_streams()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_unknown_access_key_is_rejected():
    bad = client(key="AKIANOTKNOWN00000000")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bad.list_streams()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_missing_auth_is_rejected():
    anon = boto3.client("kinesis", endpoint_url=ENDPOINT, region_name="us-east-1", config=Config(
        signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        anon.list_streams()
    assert e.value.response["Error"]["Code"] == "MissingAuthenticationTokenException"


def test_unknown_stream(k):
    with pytest.raises(k.exceptions.ResourceNotFoundException):
        k.put_record(StreamName="no-such-stream", Data=b"x", PartitionKey="k")
    with pytest.raises(k.exceptions.ResourceNotFoundException):
        k.describe_stream(StreamName="no-such-stream")


def test_bad_iterator(k):
    with pytest.raises(k.exceptions.InvalidArgumentException):
        k.get_records(ShardIterator="bm90LWFuLWl0ZXJhdG9y")


def test_more_than_500_records(k, stream):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        k.put_records(StreamName=stream, Records=[{"Data": b"x", "PartitionKey": "k"}] * 501)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "500" in e.value.response["Error"]["Message"]


def test_firehose_put_record_batch_lands_in_the_stream(k):
    f = client(service="firehose")
    now = int(time.time() * 1000)
    ev = lambda i: json.dumps({"site_id": "fh", "type": "page_view", "ts": now, "event_id": "fh-%d" % i}).encode()
    r = f.put_record_batch(DeliveryStreamName="clickstream", Records=[{"Data": ev(i)} for i in range(3)] + [{"Data": b"{nope"}])
    assert r["FailedPutCount"] == 1
    assert "RecordId" in r["RequestResponses"][0]
    assert r["RequestResponses"][3]["ErrorCode"]
    one = f.put_record(DeliveryStreamName="clickstream", Record={"Data": ev(9)})
    assert one["RecordId"]


def test_aws_cli_put_record(stream):
    # AWS CLI v1 takes --data as raw text and base64-encodes it itself (v2 would need
    # --cli-binary-format raw-in-base64-out).
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION="us-east-1")
    out = subprocess.run(["aws", "kinesis", "put-record", "--endpoint-url", ENDPOINT, "--stream-name", stream,
                          "--partition-key", "cli", "--data", "from-the-cli"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["ShardId"].startswith("shardId-")
    k = client()
    recs = read_all(k, stream, r["ShardId"], ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=r["SequenceNumber"])
    assert recs[0]["Data"] == b"from-the-cli"
