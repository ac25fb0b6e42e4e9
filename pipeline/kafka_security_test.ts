import assert from "node:assert/strict";
import {
  kafkajsSecurity,
  kafkaSecurity,
  kafkaToolProperties,
  platformaticSecurity,
  securityEnv,
} from "./kafka_security.ts";

Deno.test("kafkaSecurity: none by default; SASL and TLS from the contract's variables", () => {
  assert.deepEqual(kafkaSecurity({}), {});
  const env = {
    KAFKA_SASL_MECHANISM: "scram-sha-256",
    KAFKA_SASL_USERNAME: "u",
    KAFKA_SASL_PASSWORD: "p",
    KAFKA_TLS: "true",
  };
  const s = kafkaSecurity(env);
  assert.deepEqual(s, {
    sasl: { mechanism: "SCRAM-SHA-256", username: "u", password: "p" },
    tls: {},
  });
  assert.deepEqual(securityEnv(s), { ...env, KAFKA_SASL_MECHANISM: "SCRAM-SHA-256" });
  assert.deepEqual(kafkaSecurity({ KAFKA_TLS_CA_FILE: "/ca.pem" }), { tls: { caFile: "/ca.pem" } });
});

Deno.test("kafkaSecurity: an incomplete or unknown setting names its variable", () => {
  assert.throws(() => kafkaSecurity({ KAFKA_SASL_MECHANISM: "KERBEROS" }), /KAFKA_SASL_MECHANISM/);
  assert.throws(
    () => kafkaSecurity({ KAFKA_SASL_MECHANISM: "PLAIN", KAFKA_SASL_USERNAME: "u" }),
    /KAFKA_SASL_PASSWORD/,
  );
});

Deno.test("the clients' options and Kafka's tools' properties", () => {
  const sasl = { mechanism: "PLAIN" as const, username: "u", password: 'p"q' };
  assert.deepEqual(kafkajsSecurity({ sasl }), {
    sasl: { mechanism: "plain", username: "u", password: 'p"q' },
  });
  assert.deepEqual(platformaticSecurity({ sasl }), { sasl });
  assert.equal(kafkaToolProperties({}), undefined);
  assert.equal(
    kafkaToolProperties({ sasl }),
    "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n" +
      'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p\\"q";\n',
  );
  assert.match(
    kafkaToolProperties({ tls: { caFile: "/ca.pem" } })!,
    /^security\.protocol=SSL\n.*truststore\.location=\/ca\.pem/s,
  );
});
