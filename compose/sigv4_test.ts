import assert from "node:assert/strict";
import { amzDate, canonicalQuery, signRequest, uriEncode } from "./sigv4.ts";

// The examples of AWS's "Signature Calculations for the Authorization Header" (Amazon S3 API
// reference): their keys, time and signatures.
const keys = {
  accessKey: "AKIAIOSFODNN7EXAMPLE",
  secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};
const date = new Date("2013-05-24T00:00:00Z");
const signature = (h: Record<string, string>) => h.authorization.split("Signature=")[1];

Deno.test("signRequest() gives AWS's signatures for its S3 examples", async (t) => {
  await t.step("GET an object with a Range header", async () => {
    const h = await signRequest({
      method: "GET",
      url: "https://examplebucket.s3.amazonaws.com/test.txt",
      headers: { range: "bytes=0-9" },
      date,
    }, keys);
    assert.equal(
      h.authorization,
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, " +
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
    assert.equal(
      h["x-amz-content-sha256"],
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    assert.equal(h["x-amz-date"], "20130524T000000Z");
    assert.equal(h.host, "examplebucket.s3.amazonaws.com");
  });
  await t.step("PUT an object: the payload hashed, a path with `$`", async () => {
    const h = await signRequest({
      method: "PUT",
      url: "https://examplebucket.s3.amazonaws.com/test$file.text",
      headers: {
        date: "Fri, 24 May 2013 00:00:00 GMT",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
      },
      body: new TextEncoder().encode("Welcome to Amazon S3."),
      date,
    }, keys);
    assert.equal(
      h["x-amz-content-sha256"],
      "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
    );
    assert.equal(
      signature(h),
      "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    );
  });
  await t.step("GET a bucket listing: the query sorted", async () => {
    const h = await signRequest({
      method: "GET",
      url: "https://examplebucket.s3.amazonaws.com/?prefix=J&max-keys=2",
      date,
    }, keys);
    assert.equal(
      signature(h),
      "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    );
  });
});

Deno.test("signRequest() signs what is sent: another body, key or time, another signature", async () => {
  const base = { method: "PUT", url: "http://127.0.0.1:9000/x", date };
  const one = signature(await signRequest({ ...base, body: new Uint8Array([1]) }, keys));
  const two = signature(await signRequest({ ...base, body: new Uint8Array([2]) }, keys));
  const other = signature(
    await signRequest({ ...base, body: new Uint8Array([1]) }, { ...keys, secretKey: "x" }),
  );
  const later = signature(
    await signRequest(
      { ...base, body: new Uint8Array([1]), date: new Date(date.getTime() + 1000) },
      keys,
    ),
  );
  assert.equal(new Set([one, two, other, later]).size, 4);
});

Deno.test("canonicalQuery() encodes every key and value once and sorts them", () => {
  const q = new URLSearchParams("userOrGroup=a b&policyName=p*1&isGroup=false&a=2&a=1&e=");
  assert.equal(canonicalQuery(q), "a=1&a=2&e=&isGroup=false&policyName=p%2A1&userOrGroup=a%20b");
  assert.equal(uriEncode("a-_.~/!'()"), "a-_.~%2F%21%27%28%29");
  assert.equal(amzDate(new Date("2026-02-12T20:18:48.123Z")), "20260212T201848Z");
});
