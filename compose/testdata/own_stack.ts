// Starts a one-broker stack owned by this process, prints its pids as one JSON
// line, then waits to be killed (the lifecycle test SIGKILLs it).
import { LocalStack } from "../local_stack.ts";

const [name, basePort] = Deno.args;
const stack = await LocalStack.up({
  name,
  basePort: Number(basePort),
  brokers: 1,
  owner: "process",
});
console.log(JSON.stringify(stack.pids()));
await new Promise(() => {});
