#!/usr/bin/env python3
"""A listing fixture for the desktop benchmark (not a test server): an HTTP endpoint on 127.0.0.1
that answers the S3 calls the Browser makes (ListBuckets, HeadBucket, GetBucketLocation,
ListObjectsV2 with prefix/delimiter/continuation) from N synthetic keys held in memory.

Why not moto or the demo server: both list in O(all keys) per 1,000-key page (moto ~8 s and the
demo's s3s-fs ~9 s per page at 100k keys), so opening a 100k-object folder would take 15 minutes
and measure the server, not the app. Signatures are not checked.

Usage: list_fixture.py PORT [N] [BUCKET] [PREFIX]    (defaults: 100000 bench many/)
"""

import bisect
import hashlib
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

PORT = int(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
BUCKET = sys.argv[3] if len(sys.argv) > 3 else "bench"
PREFIX = sys.argv[4] if len(sys.argv) > 4 else "many/"
NS = "http://s3.amazonaws.com/doc/2006-03-01/"
DATE = "2026-11-29T12:00:00.000Z"
CLASSES = ("STANDARD", "STANDARD", "STANDARD", "STANDARD_IA", "GLACIER_IR")

# Sorted like S3 (byte order); sizes and classes vary so the Browser's columns have content.
KEYS = sorted(f"{PREFIX}shard-{i:06d}.jsonl" for i in range(N))
SIZES = {k: 1_000 + (i * 7919) % 5_000_000 for i, k in enumerate(KEYS)}
ETAG = '"' + hashlib.md5(b"x").hexdigest() + '"'


def list_v2(q):
    prefix = q.get("prefix", [""])[0]
    delim = q.get("delimiter", [""])[0]
    max_keys = min(int(q.get("max-keys", ["1000"])[0]), 1000)
    start = q.get("continuation-token", q.get("start-after", [""]))[0]
    i = bisect.bisect_right(KEYS, start) if start else bisect.bisect_left(KEYS, prefix)
    contents, prefixes, last = [], [], None
    while i < len(KEYS) and len(contents) + len(prefixes) < max_keys:
        k = KEYS[i]
        if not k.startswith(prefix):
            break
        rest = k[len(prefix):]
        if delim and delim in rest:
            p = prefix + rest[: rest.index(delim) + len(delim)]
            prefixes.append(p)
            last = p + "\U0010ffff"  # skip the whole common prefix
            i = bisect.bisect_right(KEYS, last)
            continue
        contents.append(k)
        last = k
        i += 1
    truncated = i < len(KEYS) and KEYS[i].startswith(prefix)
    out = [f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{NS}"><Name>{BUCKET}</Name>',
           f"<Prefix>{escape(prefix)}</Prefix><KeyCount>{len(contents) + len(prefixes)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>"]
    if delim:
        out.append(f"<Delimiter>{escape(delim)}</Delimiter>")
    out.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
    for k in contents:
        cls = CLASSES[SIZES[k] % len(CLASSES)]
        out.append(f"<Contents><Key>{escape(k)}</Key><LastModified>{DATE}</LastModified><ETag>{escape(ETAG)}</ETag><Size>{SIZES[k]}</Size><StorageClass>{cls}</StorageClass></Contents>")
    for p in prefixes:
        out.append(f"<CommonPrefixes><Prefix>{escape(p)}</Prefix></CommonPrefixes>")
    if truncated and last:
        out.append(f"<NextContinuationToken>{escape(last)}</NextContinuationToken>")
    out.append("</ListBucketResult>")
    return "".join(out)


LOG = open(os.environ["LIST_FIXTURE_LOG"], "a", buffering=1) if os.environ.get("LIST_FIXTURE_LOG") else None


def kind(method, path, q):
    parts = path.strip("/").split("/", 1)
    if method == "GET" and len(parts) == 1 and ("list-type" in q or "prefix" in q):
        return "list"
    if method == "HEAD":
        return "head-object" if len(parts) == 2 else "head-bucket"
    if len(parts) == 2:
        return {"GET": "get-object", "PUT": "put-object"}.get(method, "other")
    return "other"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def log_request(self, code="-", size="-"):
        if LOG:
            u = urlparse(self.path)
            LOG.write(f"{self.command} {kind(self.command, u.path, parse_qs(u.query, keep_blank_values=True))}\n")

    def send(self, code, body=""):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self):
        u = urlparse(self.path)
        self.send(200 if u.path.strip("/") == BUCKET else 404)

    def do_GET(self):
        u = urlparse(self.path)
        q = parse_qs(u.query, keep_blank_values=True)
        path = u.path.strip("/")
        if path == "":
            self.send(200, f'<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult xmlns="{NS}"><Owner><ID>bench</ID><DisplayName>bench</DisplayName></Owner>'
                           f"<Buckets><Bucket><Name>{BUCKET}</Name><CreationDate>{DATE}</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>")
        elif path != BUCKET:
            self.send(404, f"<Error><Code>NoSuchBucket</Code><Message>no bucket {escape(path)}</Message></Error>")
        elif "versioning" in q:
            self.send(200, f'<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration xmlns="{NS}"/>')
        elif "location" in q:
            self.send(200, f'<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="{NS}"></LocationConstraint>')
        else:
            self.send(200, list_v2(q))

    def do_PUT(self):
        if self.headers.get("Content-Length"):
            self.rfile.read(int(self.headers["Content-Length"]))
        elif "chunked" in self.headers.get("Transfer-Encoding", ""):
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                self.rfile.read(size + 2)
                if size == 0:
                    break
        self.send_response(200)
        self.send_header("ETag", ETAG)
        self.send_header("Content-Length", "0")
        self.end_headers()


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
