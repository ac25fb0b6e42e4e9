#!/usr/bin/env python3
"""A sink for the harness's pipeline contract, written from docs/contract.md
alone, in another language than the harness: the independent implementation
the grading tests hold the contract to.

Consumes KAFKA_TOPIC in the group SINK_GROUP, validates each record against
the event schema, and per partition writes batches of consecutive offsets as
gzip objects: valid events (the message value as it came) under events/,
malformed records under dlq/, both named by the batch's offset range; commits
the offset after the batch's objects are stored. When it takes a partition,
it first removes objects at or after the committed offset (left by an
incarnation that stored them but died before committing), so a replay
rewrites instead of duplicating. SIGTERM: store and commit what is open, exit.
"""

import gzip
import io
import json
import math
import os
import re
import signal
import time
from urllib.parse import urlparse

ENV = os.environ
TOPIC = ENV.get("KAFKA_TOPIC", "network-telemetry")
BUCKET = ENV.get("S3_BUCKET", "telemetry")
MAX_RECORDS = 2000
MAX_AGE_S = 2.0
store = None  # made in main()

# ---- the event schema (docs/contract.md, "Events") -------------------------

OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
IPV4 = re.compile(rf"(?:{OCTET}\.){{3}}{OCTET}")
FLAG = r"(?:SYN|ACK|FIN|RST|PSH|URG)"
TCP_FLAGS = re.compile(rf"(?:{FLAG}(?:,{FLAG})*)?")
ACCOUNT = re.compile(r"[0-9]{12}")
MAX_SAFE = 2**53 - 1


def is_int(v, lo, hi=MAX_SAFE):
    # JSON numbers are doubles: 7.0 is the integer 7.
    if isinstance(v, bool):
        return False
    if isinstance(v, float):
        if not v.is_integer():
            return False
        v = int(v)
    return isinstance(v, int) and lo <= v <= hi


def is_text(v, max_len):
    return isinstance(v, str) and 1 <= len(v) <= max_len


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


RULES = {
    "producer_id": lambda v: is_text(v, 128),
    "seq": lambda v: is_int(v, 0),
    "ts_ms": lambda v: is_int(v, 1),
    "src_ip": lambda v: isinstance(v, str) and IPV4.fullmatch(v) is not None,
    "dst_ip": lambda v: isinstance(v, str) and IPV4.fullmatch(v) is not None,
    "src_port": lambda v: is_int(v, 0, 65535),
    "dst_port": lambda v: is_int(v, 0, 65535),
    "protocol": lambda v: v in ("TCP", "UDP", "ICMP"),
    "bytes_out": lambda v: is_int(v, 0),
    "bytes_in": lambda v: is_int(v, 0),
    "packets": lambda v: is_int(v, 0),
    "latency_ms": lambda v: is_number(v) and v >= 0,
    "tcp_flags": lambda v: isinstance(v, str) and TCP_FLAGS.fullmatch(v) is not None,
    "http_status": lambda v: v is None or is_int(v, 100, 599),
    "action": lambda v: v in ("ACCEPT", "REJECT"),
    "flow_direction": lambda v: v in ("ingress", "egress"),
    "account_id": lambda v: isinstance(v, str) and ACCOUNT.fullmatch(v) is not None,
    "vpc_id": lambda v: is_text(v, 64),
    "interface_id": lambda v: is_text(v, 64),
    "region": lambda v: is_text(v, 32),
}


def reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def check(raw):
    """None when `raw` is a valid event, else why not."""
    try:
        event = json.loads(raw, parse_constant=reject_constant)
    except (ValueError, UnicodeDecodeError):
        return "invalid JSON"
    if not isinstance(event, dict):
        return "not an object"
    if set(event) != set(RULES):
        return "fields: " + ",".join(sorted(set(event) ^ set(RULES)))
    for field, rule in RULES.items():
        if not rule(event[field]):
            return f"{field}: invalid"
    return None


# ---- the store (docs/contract.md, "The store") -----------------------------


def key(kind, partition, first, last):
    ext = "ndjson.gz" if kind == "events" else "jsonl.gz"
    return f"{kind}/{TOPIC}/partition={partition}/part-{partition}-{first:020d}-{last:020d}.{ext}"


def retry(what, fn):
    delay = 0.2
    while True:
        try:
            return fn()
        except Exception as error:  # the store is down: wait, never drop
            print(f"{what} failed ({error}); again in {delay:.1f} s", flush=True)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def put(name, lines):
    body = gzip.compress(b"".join(line + b"\n" for line in lines), compresslevel=3)
    retry(f"put {name}", lambda: store.put_object(BUCKET, name, io.BytesIO(body), len(body)))


def remove_from(partition, offset):
    """Removes the objects of `partition` whose first offset is `offset` or later."""
    for kind in ("events", "dlq"):
        prefix = f"{kind}/{TOPIC}/partition={partition}/"
        objects = retry(
            f"list {prefix}", lambda: list(store.list_objects(BUCKET, prefix=prefix, recursive=True))
        )
        for o in objects:
            match = re.search(r"part-\d+-(\d{20})-\d{20}\.", o.object_name)
            if match and int(match.group(1)) >= offset:
                retry(f"remove {o.object_name}", lambda: store.remove_object(BUCKET, o.object_name))


# ---- the consumer -----------------------------------------------------------


def kafka_security():
    """The contract's KAFKA_SASL_* and KAFKA_TLS* (the local stack always sets SASL)."""
    tls = ENV.get("KAFKA_TLS") == "true" or bool(ENV.get("KAFKA_TLS_CA_FILE"))
    conf = {}
    mechanism = ENV.get("KAFKA_SASL_MECHANISM")
    if mechanism:
        conf.update({
            "security.protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
            "sasl.mechanism": mechanism,
            "sasl.username": ENV["KAFKA_SASL_USERNAME"],
            "sasl.password": ENV["KAFKA_SASL_PASSWORD"],
        })
    elif tls:
        conf["security.protocol"] = "SSL"
    if ENV.get("KAFKA_TLS_CA_FILE"):
        conf["ssl.ca.location"] = ENV["KAFKA_TLS_CA_FILE"]
    return conf


def main():
    global store
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    from minio import Minio

    endpoint = urlparse(ENV["S3_ENDPOINT"])
    store = Minio(
        endpoint.netloc,
        access_key=ENV["S3_ACCESS_KEY"],
        secret_key=ENV["S3_SECRET_KEY"],
        secure=endpoint.scheme == "https",
    )
    consumer = Consumer({
        "bootstrap.servers": ENV["KAFKA_BROKERS"],
        "group.id": ENV["SINK_GROUP"],
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10000,
        **kafka_security(),
    })
    batches = {}  # partition -> {"first", "last", "valid": [bytes], "dlq": [bytes], "opened"}
    stopping = []

    def on_assign(c, partitions):
        for tp in c.committed(partitions, timeout=30):
            batches.pop(tp.partition, None)
            remove_from(tp.partition, tp.offset if tp.offset >= 0 else 0)

    def on_revoke(c, partitions):
        for tp in partitions:
            batches.pop(tp.partition, None)  # not committed: the next owner reads it again

    def flush(partition):
        b = batches.pop(partition, None)
        if not b:
            return
        if b["valid"]:
            put(key("events", partition, b["first"], b["last"]), b["valid"])
        if b["dlq"]:
            put(key("dlq", partition, b["first"], b["last"]), b["dlq"])
        last = TopicPartition(TOPIC, partition, b["last"] + 1)
        consumer.commit(offsets=[last], asynchronous=False)

    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    consumer.subscribe([TOPIC], on_assign=on_assign, on_revoke=on_revoke)
    print(f"python sink: {TOPIC} -> s3://{BUCKET}", flush=True)
    while not stopping:
        for m in consumer.consume(num_messages=1000, timeout=0.5):
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    print(f"kafka: {m.error()}", flush=True)
                continue
            p, offset, raw = m.partition(), m.offset(), m.value() or b""
            b = batches.setdefault(
                p, {"first": offset, "last": offset, "valid": [], "dlq": [], "opened": time.time()}
            )
            b["last"] = offset
            reason = check(raw)
            if reason is None:
                b["valid"].append(raw)
            else:
                entry = {"partition": p, "offset": offset, "reason": reason,
                         "raw": raw.decode("utf-8", "replace")}
                b["dlq"].append(json.dumps(entry).encode())
            if len(b["valid"]) + len(b["dlq"]) >= MAX_RECORDS:
                flush(p)
        now = time.time()
        for p in [p for p, b in batches.items() if now - b["opened"] >= MAX_AGE_S]:
            flush(p)
    for p in list(batches):
        flush(p)
    consumer.close()
    print("python sink: stopped", flush=True)


if __name__ == "__main__":
    main()
