#!/usr/bin/env python3
"""The Python peer of scripts/bench: the loader a team would write with pymongo.

    .venv-bench/bin/python scripts/peer.py URI DATABASE COLLECTION DOCS.jsonl [--batch-size 1000]

DOCS.jsonl holds the documents article-etl writes, one canonical extended JSON document a line
(made beforehand by `ceiling export`, which also makes COLLECTION fresh with the loader's
secondary indexes). They are read and decoded first, untimed (parsing excluded, as in the
ceiling); then the clock runs over batched unordered upserts:
`bulk_write([ReplaceOne({'_id': ...}, doc, upsert=True), ...], ordered=False)` in batches of
--batch-size, write concern majority, one after the other. Prints one line in the format of
the ceiling tool's:

    peer api=pymongo-bulk_write writers=1 batch=1000 docs=... secs=... docs_per_sec=... cpu_secs=... cpu_ms_per_1000=... write_errors=... stored=...
"""

import argparse
import os
import sys
import time

import bson
import pymongo
from bson import json_util
from pymongo import MongoClient, ReplaceOne
from pymongo.errors import BulkWriteError
from pymongo.write_concern import WriteConcern


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("uri")
    parser.add_argument("database")
    parser.add_argument("collection")
    parser.add_argument("docs", help="canonical extended JSON, one document a line")
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()

    t_load = time.perf_counter()
    with open(args.docs, encoding="utf-8") as f:
        docs = [json_util.loads(line) for line in f if line.strip()]
    bson_bytes = sum(len(bson.encode(d)) for d in docs)
    print(
        f"peer_load docs={len(docs)} bson_bytes={bson_bytes} secs={time.perf_counter() - t_load:.3f} "
        f"python={sys.version.split()[0]} pymongo={pymongo.version}",
        flush=True,
    )

    client = MongoClient(args.uri)
    coll = client[args.database].get_collection(
        args.collection, write_concern=WriteConcern(w="majority")
    )
    client.admin.command("ping")

    errors = 0
    cpu0 = os.times()
    t0 = time.perf_counter()
    for i in range(0, len(docs), args.batch_size):
        ops = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs[i : i + args.batch_size]]
        try:
            coll.bulk_write(ops, ordered=False)
        except BulkWriteError as e:
            errors += len(e.details.get("writeErrors", []))
    secs = time.perf_counter() - t0
    cpu1 = os.times()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    stored = coll.count_documents({})
    n = len(docs)
    print(
        f"peer api=pymongo-bulk_write writers=1 batch={args.batch_size} docs={n} secs={secs:.3f} "
        f"docs_per_sec={n / secs:.0f} cpu_secs={cpu:.2f} cpu_ms_per_1000={1_000_000 * cpu / max(n, 1):.1f} "
        f"write_errors={errors} stored={stored}",
        flush=True,
    )
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
