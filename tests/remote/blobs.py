"""Test helper: puts a local blob tree on Azurite or an S3 server the way the clouds write it,
and grows a blob the way Azure does.

Azure writes PT1H.json as a block blob: an opening block, one block per record and a closing
block. Each minute it stages the new record as a block and commits a block list with it
inserted before the closing block. This script does the same with the Azure SDK.

  blobs.py azure-upload CONN_STRING CONTAINER SRC_DIR
  blobs.py azure-grow   CONN_STRING CONTAINER BLOB_NAME      prints the new record's tuples
  blobs.py azure-get    CONN_STRING CONTAINER DEST_DIR       downloads every blob
  blobs.py s3-upload    ENDPOINT BUCKET SRC_DIR
  blobs.py azure-put-tree CONN_STRING CONTAINER SRC_DIR PREFIX   every file, as is (a lake)
  blobs.py s3-put-tree    ENDPOINT BUCKET SRC_DIR PREFIX
  blobs.py azure-list CONN_STRING CONTAINER PREFIX   prints the names under PREFIX, sorted
  blobs.py s3-list    ENDPOINT BUCKET PREFIX
  blobs.py azure-put  CONN_STRING CONTAINER NAME TEXT      one blob with TEXT as content
"""
import copy
import datetime
import json
import os
import sys


def records_of(text):
    doc = json.loads(text)
    return doc["records"]


def tuples_of(record):
    """Tuples in one record: NSG flow logs (v1, v2) or VNet flow logs (v4)."""
    n = 0
    if "flowRecords" in record:
        for flow in record["flowRecords"]["flows"]:
            for group in flow["flowGroups"]:
                n += len(group["flowTuples"])
    else:
        for rule in record["properties"]["flows"]:
            for flow in rule["flows"]:
                n += len(flow["flowTuples"])
    return n


def block_id(i):
    import base64
    return base64.b64encode(f"{i:08d}".encode()).decode()


def files(src, only_json=True):
    for root, _, names in os.walk(src):
        for name in sorted(names):
            if name.endswith(".json") or not only_json:
                path = os.path.join(root, name)
                yield path, os.path.relpath(path, src).replace(os.sep, "/")


def azure(conn):
    from azure.storage.blob import BlobServiceClient
    return BlobServiceClient.from_connection_string(conn)


def azure_upload(conn, container, src):
    from azure.storage.blob import BlobBlock
    svc = azure(conn)
    c = svc.get_container_client(container)
    if not c.exists():
        c.create_container()
    n = 0
    for path, name in files(src):
        records = records_of(open(path, encoding="utf-8").read())
        blob = c.get_blob_client(name)
        parts = ['{"records":[']
        parts += [("," if i else "") + json.dumps(r, separators=(",", ":")) for i, r in enumerate(records)]
        parts.append("]}")
        ids = []
        for i, p in enumerate(parts):
            blob.stage_block(block_id(i), p.encode())
            ids.append(BlobBlock(block_id=block_id(i)))
        blob.commit_block_list(ids)
        n += 1
    print(n)


def azure_grow(conn, container, name):
    """Appends one record (the last one, a minute later) before the closing block."""
    from azure.storage.blob import BlobBlock
    blob = azure(conn).get_container_client(container).get_blob_client(name)
    records = records_of(blob.download_blob().readall())
    rec = copy.deepcopy(records[-1])
    t = datetime.datetime.fromisoformat(rec["time"].replace("Z", "+00:00")) + datetime.timedelta(minutes=1)
    rec["time"] = t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    committed, _ = blob.get_block_list("committed")
    ids = [b.id for b in committed]
    new = block_id(len(ids))
    blob.stage_block(new, ("," + json.dumps(rec, separators=(",", ":"))).encode())
    blob.commit_block_list([BlobBlock(block_id=i) for i in ids[:-1] + [new, ids[-1]]])
    print(tuples_of(rec))


def azure_get(conn, container, dest):
    c = azure(conn).get_container_client(container)
    for b in c.list_blobs():
        path = os.path.join(dest, b.name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(c.get_blob_client(b.name).download_blob().readall())


def s3_upload(endpoint, bucket, src):
    s3 = s3_client(endpoint)
    s3.create_bucket(Bucket=bucket)
    n = 0
    for path, name in files(src):
        s3.upload_file(path, bucket, name)
        n += 1
    print(n)


def azure_put_tree(conn, container, src, prefix):
    c = azure(conn).get_container_client(container)
    if not c.exists():
        c.create_container()
    for path, name in files(src, only_json=False):
        with open(path, "rb") as f:
            c.upload_blob(f"{prefix}/{name}", f, overwrite=True)


def s3_client(endpoint):
    import boto3
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def s3_put_tree(endpoint, bucket, src, prefix):
    s3 = s3_client(endpoint)
    s3.create_bucket(Bucket=bucket)
    for path, name in files(src, only_json=False):
        s3.upload_file(path, bucket, f"{prefix}/{name}")


def azure_list(conn, container, prefix):
    c = azure(conn).get_container_client(container)
    for name in sorted(b.name for b in c.list_blobs(name_starts_with=prefix)):
        print(name)


def s3_list(endpoint, bucket, prefix):
    names = []
    for page in s3_client(endpoint).get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix):
        names.extend(o["Key"] for o in page.get("Contents", []))
    for name in sorted(names):
        print(name)


def azure_put(conn, container, name, text):
    azure(conn).get_container_client(container).upload_blob(name, text.encode(), overwrite=True)


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"azure-upload": azure_upload, "azure-grow": azure_grow, "azure-get": azure_get,
     "s3-upload": s3_upload, "azure-put-tree": azure_put_tree, "s3-put-tree": s3_put_tree,
     "azure-list": azure_list, "s3-list": s3_list, "azure-put": azure_put}[cmd](*args)
