import { DockerStack } from "./compose/docker_stack.ts";
const t0 = performance.now();
const stack = await DockerStack.up({ name: "smoke", basePort: 32000 });
console.log(
  "up in",
  ((performance.now() - t0) / 1000).toFixed(1),
  stack.endpoints,
  "netem",
  stack.netem,
);
console.log(await stack.health());
await stack.broker(1).pause();
console.log("paused", stack.broker(1).state());
await stack.broker(1).resume();
await stack.broker(2).kill();
console.log("killed", stack.broker(2).state());
await stack.broker(2).start();
console.log("started", stack.broker(2).state());
console.log(await stack.down({ retain: ["logs"] }), stack.dataDir);
