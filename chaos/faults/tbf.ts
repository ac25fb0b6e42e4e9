/**
 * The `tbf` fault (docker stack): a token-bucket bandwidth limit (`rate_kbps`,
 * KiB/s as for `bandwidth`) on what the container sends.
 * @module
 */

import { z } from "zod";
import { rateKbps } from "./bandwidth.ts";
import { netnsFault } from "./docker_net.ts";

export const tbf = netnsFault("tbf", {
  summary: "tc tbf bandwidth limit: rate_kbps KiB/s of what the container sends",
  params: z.strictObject({
    rate_kbps: rateKbps.describe("the rate the container may send, in KiB/s"),
  }),
}, (p) => {
  const kbit = p.rate_kbps * 8;
  // The bucket holds 20 ms of traffic (at least an MTU); a packet waits 500 ms at most.
  const burst = Math.max(1600, Math.ceil((kbit * 1000) / 8 / 50));
  return {
    add: `tc qdisc add dev eth0 root tbf rate ${kbit}kbit burst ${burst} latency 500ms`,
    remove: "tc qdisc del dev eth0 root",
  };
});
