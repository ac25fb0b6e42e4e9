import assert from "node:assert/strict";
import { parsePromText } from "./prom_text.ts";

Deno.test("parsePromText keeps counters, gauges and histogram sums, drops buckets and comments", () => {
  const text = `# HELP sink_batches_total batches stored
# TYPE sink_batches_total counter
sink_batches_total 42
sink_consumer_lag{partition="0"} 120
sink_consumer_lag{partition="1",note="a b"} 7
sink_upload_seconds_bucket{le="0.005"} 3
sink_upload_seconds_sum 1.5
sink_upload_seconds_count 40
weird_line_without_value
generator_target_eps 10000 1700000000000
`;
  assert.deepEqual(parsePromText(text), {
    "sink_batches_total": 42,
    'sink_consumer_lag{partition="0"}': 120,
    'sink_consumer_lag{partition="1",note="a b"}': 7,
    "sink_upload_seconds_sum": 1.5,
    "sink_upload_seconds_count": 40,
    "generator_target_eps": 10000,
  });
});
