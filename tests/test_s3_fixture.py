"""The S3 test endpoint is a real HTTP server that boto3 reaches through its own config."""

import boto3


def test_s3_bucket_round_trips_an_object_over_http(s3_bucket, s3_endpoint):
    s3 = boto3.client("s3")
    assert s3.meta.endpoint_url == s3_endpoint
    s3.put_object(Bucket=s3_bucket, Key="a/b.txt", Body=b"hello")
    assert s3.get_object(Bucket=s3_bucket, Key="a/b.txt")["Body"].read() == b"hello"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == ["a/b.txt"]
