/**
 * The S3 proxy: its pure parts (misbehaviours from the control API, the share
 * decision, S3 error answers, HTTP framing) and the server in this process
 * between fetch and a stand-in for MinIO (bytes and Host forwarded unchanged,
 * each mode's effect and count). The proxy in front of the real MinIO, with
 * SigV4-signed requests of the sink, is tested by chaos/s3_fault_test.ts.
 */

import assert from "node:assert/strict";
import {
  chunkLineProblem,
  countsSince,
  eligible,
  isStoreWrite,
  NO_COUNTS,
  objectKey,
  parseHead,
  parseMisbehaviour,
  requestFraming,
  requestHeadProblem,
  responseFraming,
  s3ErrorResponse,
  s3ErrorXml,
  S3ProxyControl,
  S3ProxyError,
  strikes,
  wantsClose,
} from "./s3_proxy.ts";
import { serveS3Proxy } from "./s3_proxy_server.ts";

const head = (text: string) => parseHead(new TextEncoder().encode(text));

Deno.test("s3 proxy: misbehaviours from the control API are checked", () => {
  assert.deepEqual(parseMisbehaviour({ mode: "slowdown" }), {
    mode: "slowdown",
    share: 1,
    methods: ["PUT"],
  });
  assert.deepEqual(
    parseMisbehaviour({ mode: "stall", stall_ms: 500, share: 0.5, methods: ["GET", "PUT"] }),
    { mode: "stall", share: 0.5, methods: ["GET", "PUT"], stall_ms: 500 },
  );
  assert.throws(() => parseMisbehaviour({ mode: "teapot" }), /mode must be one of/);
  assert.throws(() => parseMisbehaviour({ mode: "stall" }), /stall needs stall_ms/);
  assert.throws(
    () => parseMisbehaviour({ mode: "error_500", stall_ms: 5 }),
    /stall_ms applies to mode stall only/,
  );
  assert.throws(() => parseMisbehaviour({ mode: "reset", share: 2 }), /share must be/);
  assert.throws(() => parseMisbehaviour({ mode: "reset", methods: ["PATCH"] }), /methods/);
  assert.throws(() => parseMisbehaviour({ mode: "reset", methods: [] }), /methods/);
  assert.throws(() => parseMisbehaviour({ mode: "reset", whom: 1 }), /unknown keys: whom/);
  assert.throws(() => parseMisbehaviour("reset"), S3ProxyError);
});

Deno.test("s3 proxy: the share decision", () => {
  const m = { mode: "error_500" as const, share: 0.25, methods: ["PUT", "DELETE"] as const };
  assert.equal(strikes(null, "PUT", 0), false);
  assert.equal(strikes(m, "PUT", 0.1), true);
  assert.equal(strikes(m, "DELETE", 0.2499), true);
  assert.equal(strikes(m, "PUT", 0.25), false);
  assert.equal(strikes(m, "GET", 0), false);
  assert.equal(strikes({ ...m, share: 1 }, "PUT", 0.9999), true);
  assert.equal(strikes({ ...m, share: 0 }, "PUT", 0), false);
});

Deno.test("s3 proxy: S3 error documents and answers", () => {
  const xml = s3ErrorXml("SlowDown", "Please <reduce> & retry", "/b/k", "R1");
  assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>SlowDown<\/Code>/);
  assert.match(xml, /<Message>Please &lt;reduce&gt; &amp; retry<\/Message>/);
  assert.match(xml, /<Resource>\/b\/k<\/Resource><RequestId>R1<\/RequestId><\/Error>$/);
  const text = new TextDecoder().decode(
    s3ErrorResponse("slowdown", { method: "PUT", path: "/b/k?X-Amz-Signature=1" }, "R2"),
  );
  const [h, body] = text.split("\r\n\r\n");
  assert.match(h, /^HTTP\/1.1 503 Service Unavailable\r\n/);
  assert.match(h, /Retry-After: 1/);
  assert.match(h, /Connection: keep-alive/);
  assert.equal(Number(/Content-Length: (\d+)/.exec(h)![1]), new TextEncoder().encode(body).length);
  assert.match(body, /<Code>SlowDown<\/Code>.*<Resource>\/b\/k<\/Resource>/);
  const five = new TextDecoder().decode(
    s3ErrorResponse("error_500", { method: "HEAD", path: "/b/k" }, "R3", true),
  );
  assert.match(five, /^HTTP\/1.1 500 Internal Server Error\r\n/);
  assert.match(five, /Connection: close\r\n\r\n$/); // HEAD: no body
});

Deno.test("s3 proxy: HTTP heads and how bodies are framed", () => {
  const put = head("PUT /b/k HTTP/1.1\r\nHost: 127.0.0.1:1\r\nContent-Length: 12\r\n\r\n");
  assert.deepEqual(put.first, ["PUT", "/b/k", "HTTP/1.1"]);
  assert.equal(put.headers.get("host"), "127.0.0.1:1");
  assert.deepEqual(requestFraming(put), { kind: "length", length: 12 });
  assert.deepEqual(
    requestFraming(head("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")),
    { kind: "chunked" },
  );
  assert.deepEqual(requestFraming(head("GET / HTTP/1.1\r\nHost: h\r\n\r\n")), { kind: "none" });
  assert.deepEqual(requestFraming(head("PUT / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")), {
    kind: "none",
  });
  assert.throws(() => requestFraming(head("PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n")));
  const ok = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
  assert.deepEqual(responseFraming(ok, "GET"), { kind: "length", length: 5 });
  assert.deepEqual(responseFraming(ok, "HEAD"), { kind: "none" });
  assert.deepEqual(responseFraming(head("HTTP/1.1 204 No Content\r\n\r\n"), "DELETE"), {
    kind: "none",
  });
  assert.deepEqual(responseFraming(head("HTTP/1.1 200 OK\r\n\r\n"), "GET"), { kind: "close" });
  assert.equal(wantsClose(head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"), "HTTP/1.1"), true);
  assert.equal(wantsClose(head("GET / HTTP/1.0\r\n\r\n"), "HTTP/1.0"), true);
  assert.equal(wantsClose(head("GET / HTTP/1.1\r\n\r\n"), "HTTP/1.1"), false);
  assert.throws(() => head("garbage\r\n\r\n"), /not an HTTP head/);
  assert.deepEqual(countsSince({ ...NO_COUNTS, seen: 2 }, { ...NO_COUNTS, seen: 5, reset: 1 }), {
    ...NO_COUNTS,
    seen: 3,
    reset: 1,
  });
});

/** A stand-in for MinIO: stores PUT bodies by path, answers GETs, records each request's Host. */
function fakeMinio() {
  const objects = new Map<string, Uint8Array>();
  const hosts: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (r) => {
    const path = new URL(r.url).pathname;
    hosts.push(r.headers.get("host") ?? "");
    if (r.method === "PUT") {
      const body = await r.arrayBuffer().catch(() => undefined); // a cut upload stores nothing
      if (!body) return new Response(null, { status: 400 });
      objects.set(path, new Uint8Array(body));
      return new Response(null, { status: 200, headers: { ETag: '"e"' } });
    }
    if (r.method === "DELETE") {
      objects.delete(path);
      return new Response(null, { status: 204 });
    }
    const body = objects.get(path);
    if (!body) return new Response("<Error><Code>NoSuchKey</Code></Error>", { status: 404 });
    return new Response(r.method === "HEAD" ? null : body as Uint8Array<ArrayBuffer>);
  });
  return { server, objects, hosts, port: server.addr.port };
}

async function withProxy(
  fn: (o: {
    url: string;
    control: S3ProxyControl;
    minio: ReturnType<typeof fakeMinio>;
  }) => Promise<void>,
  random?: () => number,
): Promise<void> {
  const minio = fakeMinio();
  const proxy = serveS3Proxy({ listen: 0, control: 0, upstream: minio.port, random });
  const control = new S3ProxyControl(`http://127.0.0.1:${proxy.controlPort}`);
  try {
    await fn({ url: `http://127.0.0.1:${proxy.port}`, control, minio });
  } finally {
    await proxy.close();
    await minio.server.shutdown();
  }
}

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31) & 255);

Deno.test("s3 proxy: passes requests and bodies through unchanged, Host included", async () => {
  await withProxy(async ({ url, control, minio }) => {
    const big = bytes(3 * 1024 * 1024 + 17);
    const put = await fetch(`${url}/b/big`, { method: "PUT", body: big });
    assert.equal(put.status, 200);
    await put.body?.cancel();
    assert.deepEqual(minio.objects.get("/b/big"), big);
    assert.equal(minio.hosts[0], new URL(url).host); // what the client signed for
    const get = await fetch(`${url}/b/big`);
    assert.deepEqual(new Uint8Array(await get.arrayBuffer()), big);
    // A chunked upload (a stream of unknown length).
    const stream = ReadableStream.from([bytes(1000), bytes(70_000), bytes(3)]);
    const chunked = await fetch(`${url}/b/chunked`, { method: "PUT", body: stream });
    assert.equal(chunked.status, 200);
    await chunked.body?.cancel();
    assert.equal(minio.objects.get("/b/chunked")?.length, 71_003);
    const missing = await fetch(`${url}/b/none`);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /NoSuchKey/);
    const del = await fetch(`${url}/b/big`, { method: "DELETE" });
    assert.equal(del.status, 204);
    await del.body?.cancel();
    const s = await control.state();
    assert.equal(s.mode, null);
    assert.equal(s.counts.seen, 5);
    assert.deepEqual({ ...s.counts, seen: 0 }, NO_COUNTS);
  });
});

Deno.test("s3 proxy: error_500 and slowdown answer S3 errors, other methods pass", async () => {
  await withProxy(async ({ url, control, minio }) => {
    await control.set({ mode: "error_500", share: 1, methods: ["PUT"] });
    const put = await fetch(`${url}/b/k`, { method: "PUT", body: bytes(5000) });
    assert.equal(put.status, 500);
    assert.match(await put.text(), /<Code>InternalError<\/Code>/);
    assert.equal(minio.objects.size, 0); // never forwarded
    const get = await fetch(`${url}/b/k`);
    assert.equal(get.status, 404); // GET is not in methods: MinIO answered
    await get.body?.cancel();
    await control.set({ mode: "slowdown", share: 1, methods: ["PUT"] });
    const slow = await fetch(`${url}/b/k`, { method: "PUT", body: bytes(10) });
    assert.equal(slow.status, 503);
    assert.match(await slow.text(), /<Code>SlowDown<\/Code>/);
    const s = await control.clear();
    assert.equal(s.mode, null);
    assert.equal(s.counts.error_500, 1);
    assert.equal(s.counts.slowdown, 1);
    const after = await fetch(`${url}/b/k`, { method: "PUT", body: bytes(10) });
    assert.equal(after.status, 200);
    await after.body?.cancel();
  });
});

Deno.test("s3 proxy: stall holds a request, then forwards it", async () => {
  await withProxy(async ({ url, control, minio }) => {
    await control.set({ mode: "stall", share: 1, methods: ["PUT"], stall_ms: 400 });
    const t0 = performance.now();
    const put = await fetch(`${url}/b/k`, { method: "PUT", body: bytes(100) });
    assert.equal(put.status, 200);
    await put.body?.cancel();
    assert.ok(performance.now() - t0 >= 390);
    assert.equal(minio.objects.get("/b/k")?.length, 100);
    assert.equal((await control.state()).counts.stalled, 1);
  });
});

Deno.test("s3 proxy: reset cuts the connection mid-body; nothing stored", async () => {
  await withProxy(async ({ url, control, minio }) => {
    await control.set({ mode: "reset", share: 1, methods: ["PUT", "GET"] });
    await assert.rejects(fetch(`${url}/b/k`, { method: "PUT", body: bytes(200_000) }));
    assert.equal(minio.objects.size, 0);
    await control.clear();
    const put = await fetch(`${url}/b/k`, { method: "PUT", body: bytes(50_000) });
    await put.body?.cancel();
    await control.set({ mode: "reset", share: 1, methods: ["GET"] });
    // A GET: the answer's head and half its body, then the cut.
    await assert.rejects(async () => {
      const get = await fetch(`${url}/b/k`);
      await get.arrayBuffer();
    });
    assert.equal((await control.state()).counts.reset, 2);
  });
});

Deno.test("s3 proxy: lost_answer stores the PUT and drops its answer", async () => {
  await withProxy(async ({ url, control, minio }) => {
    await control.set({ mode: "lost_answer", share: 1, methods: ["PUT"] });
    await assert.rejects(fetch(`${url}/b/k`, { method: "PUT", body: bytes(1234) }));
    assert.equal(minio.objects.get("/b/k")?.length, 1234); // the write happened
    // An error answer is no stored write: it is passed on.
    const del = await fetch(`${url}/b/gone`);
    assert.equal(del.status, 404);
    await del.body?.cancel();
    const s = await control.state();
    assert.equal(s.counts.lost_answer, 1);
    assert.equal(s.counts.seen, 2);
  });
});

Deno.test("s3 proxy: a share acts on that part of the requests", async () => {
  let n = 0;
  const draws = () => (n++ % 4) / 4; // 0, .25, .5, .75, ...
  await withProxy(async ({ url, control }) => {
    await control.set({ mode: "slowdown", share: 0.5, methods: ["PUT"] });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await fetch(`${url}/b/k${i}`, { method: "PUT", body: bytes(10) });
      await r.body?.cancel();
      statuses.push(r.status);
    }
    assert.deepEqual(statuses, [503, 503, 200, 200, 503, 503, 200, 200]);
  }, draws);
});

Deno.test("s3 proxy: the control API refuses a bad misbehaviour", async () => {
  await withProxy(async ({ control }) => {
    await assert.rejects(
      control.set({ mode: "stall", share: 1, methods: ["PUT"] }),
      /400 stall needs stall_ms/,
    );
    assert.equal((await control.state()).mode, null);
  });
  await assert.rejects(new S3ProxyControl("http://127.0.0.1:9").state(), /did not answer/);
});

const KEY = "events/t/partition=3/part-3-00000000000000000100-00000000000000000199.ndjson.gz";
const DLQ = "dlq/t/partition=3/part-3-00000000000000000100-00000000000000000199.jsonl.gz";
const store = { bucket: "b", topic: "t" };

Deno.test("s3 proxy: the run's real store writes, told from decoys", () => {
  const put = (path: string, host = "127.0.0.1:29012") => ({ method: "PUT", path, host });
  assert.equal(objectKey(put(`/b/${KEY}`), "b"), KEY);
  // Clients encode the key (partition%3D3); virtual-host style names the bucket in Host.
  assert.equal(objectKey(put(`/b/${KEY.replace("=", "%3D")}?x-id=PutObject`), "b"), KEY);
  assert.equal(objectKey(put(`/${KEY}`, "b.s3.local:9000"), "b"), KEY);
  assert.equal(objectKey(put("/b"), "b"), undefined);
  assert.equal(objectKey(put("/b/"), "b"), undefined);
  assert.equal(objectKey(put(`/bb/${KEY}`), "b"), undefined);
  assert.equal(objectKey(put("/b/%E0%A4%A"), "b"), undefined);
  assert.equal(isStoreWrite(put(`/b/${KEY}`), store), true);
  assert.equal(isStoreWrite(put(`/b/${DLQ}`), store), true);
  // A multipart upload's part, its start and its completion are writes of the key too.
  assert.equal(isStoreWrite(put(`/b/${KEY}?partNumber=1&uploadId=u`), store), true);
  assert.equal(isStoreWrite({ method: "POST", path: `/b/${KEY}?uploads` }, store), true);
  const decoys: [string, { method: string; path: string; host?: string }][] = [
    ["another bucket", put(`/other/${KEY}`)],
    ["a junk key", put("/b/junk/x")],
    ["a key outside the layout", put("/b/events/t/tiny.gz")],
    ["another topic", put(`/b/${KEY.replace("/t/", "/u/")}`)],
    ["an events key as .jsonl", put(`/b/${KEY.replace(".ndjson.gz", ".jsonl.gz")}`)],
    ["a HEAD", { method: "HEAD", path: `/b/${KEY}` }],
    ["a GET", { method: "GET", path: `/b/${KEY}` }],
    ["a DELETE", { method: "DELETE", path: `/b/${KEY}` }],
  ];
  for (const [what, req] of decoys) assert.equal(isStoreWrite(req, store), false, what);
  // Without a topic, any topic's batch key in the bucket (a game day's fault knows no topic).
  assert.equal(isStoreWrite(put(`/b/${KEY.replace("/t/", "/u/")}`), { bucket: "b" }), true);
  const m = { mode: "error_500" as const, share: 1, methods: ["PUT", "POST"] as const, store };
  assert.equal(eligible(m, put(`/b/${KEY}`)), true);
  assert.equal(eligible(m, put("/b/junk")), false);
  assert.equal(eligible({ ...m, store: undefined }, put("/b/junk")), true);
  assert.throws(() => parseMisbehaviour({ mode: "reset", store: { topic: "t" } }), /store must be/);
  assert.deepEqual(parseMisbehaviour({ mode: "reset", store }).store, store);
});

Deno.test("s3 proxy: with the run's store, decoys absorb nothing and count for nothing", async () => {
  await withProxy(async ({ url, control, minio }) => {
    await control.set({ mode: "error_500", share: 1, methods: ["PUT", "POST"], store });
    // A hostile sink's decoys, each sent before its real write: all pass to MinIO untouched.
    for (
      const path of [
        `/other/${KEY}`,
        "/b/junk/1",
        "/b/events/t/tiny",
        `/b/${KEY.replace("/t/", "/u/")}`,
      ]
    ) {
      const r = await fetch(`${url}${path}`, { method: "PUT", body: bytes(3) });
      assert.equal(r.status, 200, path);
      await r.body?.cancel();
    }
    const head = await fetch(`${url}/b/${KEY}`, { method: "HEAD" });
    await head.body?.cancel();
    let s = await control.state();
    assert.equal(s.counts.error_500, 0);
    assert.equal(s.counts.store_writes, 0);
    // The real write is struck, and its retry; one key.
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${url}/b/${KEY}`, { method: "PUT", body: bytes(500) });
      assert.equal(r.status, 500);
      await r.body?.cancel();
    }
    const dlq = await fetch(`${url}/b/${DLQ}`, { method: "PUT", body: bytes(50) });
    assert.equal(dlq.status, 500);
    await dlq.body?.cancel();
    s = await control.state();
    assert.equal(s.counts.error_500, 3);
    assert.equal(s.counts.store_writes, 3);
    assert.equal(s.counts.struck_keys, 2);
    assert.equal(s.counts.seen, 8);
    assert.equal(minio.objects.has(`/b/${KEY}`), false);
  });
});

Deno.test("s3 proxy: a real write dressed up by Host, encoding, slashes or a form is one", () => {
  const put = (path: string, host = "127.0.0.1:29012") => ({ method: "PUT", path, host });
  // MinIO without a domain reads the path whatever Host says: `Host: b.x` hides nothing.
  assert.equal(isStoreWrite(put(`/b/${KEY}`, "b.evil:29012"), store), true);
  assert.equal(isStoreWrite(put(`/${KEY}`, "b.s3.local:9000"), store), true);
  // Encoded bucket or separators, empty and dot segments: read as what they resolve to.
  assert.equal(isStoreWrite(put(`/%62/${KEY}`), store), true);
  assert.equal(isStoreWrite(put(`/b/${KEY.replaceAll("/", "%2F")}`), store), true);
  assert.equal(isStoreWrite(put(`//b//${KEY.replace("/t/", "//t/")}`), store), true);
  assert.equal(isStoreWrite(put(`/b/./junk/../${KEY}`), store), true);
  assert.equal(isStoreWrite(put(`http://127.0.0.1:29012/b/${KEY}?x-id=PutObject`), store), true);
  // A POST Object form names its key in the body: any form upload to the bucket is a write.
  const form = (path: string) => ({
    method: "POST",
    path,
    contentType: "Multipart/Form-Data; boundary=x",
  });
  assert.equal(isStoreWrite(form("/b"), store), true);
  assert.equal(isStoreWrite(form("/b/"), store), true);
  assert.equal(isStoreWrite(form("/b/anything"), store), true);
  assert.equal(isStoreWrite(form("/other"), store), false);
  assert.equal(isStoreWrite({ method: "POST", path: "/b?delete" }, store), false);
  // A tar MinIO auto-extracts stores batch keys named in the tar, whatever key the PUT names.
  assert.equal(isStoreWrite({ ...put("/b/staging.tar"), extract: "true" }, store), true);
  assert.equal(isStoreWrite({ ...put("/other/staging.tar"), extract: "true" }, store), false);
  assert.equal(isStoreWrite(put("/b/staging.tar"), store), false);
  // Still decoys: another bucket, junk keys.
  assert.equal(isStoreWrite(put(`/bb/${KEY}`), store), false);
  assert.equal(isStoreWrite(put("/b/junk/x", "b.evil"), store), false);
});

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("s3 proxy: a head two HTTP parsers may frame apart is refused", () => {
  const ok = [
    "PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n",
    "PUT /b/k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n",
    "GET /b/k HTTP/1.0\r\nHost: h\r\n\r\n",
  ];
  for (const h of ok) assert.equal(requestHeadProblem(enc(h)), undefined, h);
  const bad: [string, RegExp][] = [
    // Go ends a line at a bare LF: the proxy saw one header, MinIO two (TE hidden in X).
    [
      "PUT /b/j HTTP/1.1\r\nX: a\nTransfer-Encoding: chunked\r\nContent-Length: 300\r\n\r\n",
      /bare/,
    ],
    // Go ignores Transfer-Encoding on HTTP/1.0 and frames by Content-Length.
    ["PUT /b/j HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", /both|1\.0/],
    ["PUT /b/j HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", /both/],
    ["PUT /b/j HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\n", /more than one/],
    ["PUT /b/j HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", /Content-Length/],
    ["PUT /b/j HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", /Transfer-Encoding/],
    ["PUT /b/j HTTP/1.1\r\nFoo: bar\r\n Content-Length: 100\r\n\r\n", /folded/],
    ["PUT /b/j HTTP/1.1\r\nContent-Length : 100\r\n\r\n", /no token/],
    ["PUT /b/j HTTP/2.0\r\n\r\n", /version/],
    ["GET /b/j HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", /Upgrade/],
    // What MinIO records of an object, set by the client: its LastModified, its ETag.
    [
      "PUT /b/j HTTP/1.1\r\nX-Minio-Source-Mtime: 2020-01-01T00:00:00Z\r\nContent-Length: 1\r\n\r\n",
      /MinIO-internal header \(X-Minio-Source-Mtime\)/,
    ],
    ["PUT /b/j HTTP/1.1\r\nx-minio-source-etag: 00\r\nContent-Length: 1\r\n\r\n", /MinIO-internal/],
  ];
  for (const [h, why] of bad) assert.match(requestHeadProblem(enc(h)) ?? "", why, h);
  assert.equal(chunkLineProblem(enc("1f;ext=1\r\n"), "size"), undefined);
  assert.match(chunkLineProblem(enc("1fzz\r\n"), "size")!, /chunk size/);
  assert.match(chunkLineProblem(enc("X: a\n\nPUT /b/k HTTP/1.1\r\n"), "trailer")!, /bare/);
  assert.equal(chunkLineProblem(enc("X-Checksum: abc\r\n"), "trailer"), undefined);
  assert.match(chunkLineProblem(enc("X-Minio-Source-Mtime: 0\r\n"), "trailer")!, /MinIO-internal/);
  assert.match(chunkLineProblem(enc("junk\r\n"), "end")!, /longer/);
});

Deno.test("s3 proxy: a write smuggled in a decoy's body never reaches MinIO", async () => {
  await withProxy(async ({ url, control, minio }) => {
    await control.set({ mode: "error_500", share: 1, methods: ["PUT", "POST"], store });
    const port = Number(new URL(url).port);
    const hidden = `PUT /b/${KEY} HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc`;
    // HTTP/1.0 with both framings: Go would read 4 bytes of body, then the hidden PUT.
    const chunk = `${hidden.length.toString(16)}\r\n`;
    const attacks = [
      `PUT /b/junk HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n` +
      `Transfer-Encoding: chunked\r\nContent-Length: ${chunk.length}\r\n\r\n` +
      `${chunk}${hidden}\r\n0\r\n\r\n`,
      // A trailer ended by a bare LF: Go would read the hidden PUT as the next request.
      `PUT /b/junk HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\n\n${hidden}`,
    ];
    for (const attack of attacks) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(enc(attack));
      const buf = new Uint8Array(4096);
      while ((await conn.read(buf)) !== null) { /* until the proxy closes */ }
      conn.close();
    }
    assert.equal(minio.objects.has(`/b/${KEY}`), false);
    assert.equal(minio.objects.has(`/b/junk`), false);
  });
});
