/**
 * A node of an external stack that the endpoints file names no container
 * for (external_stack.ts): its state is what the stack last saw of it (a
 * broker in the cluster's metadata, a service answering); nothing can act on
 * it, and every action says why.
 * @module
 */

import type { CpuLimitHandle } from "./cgroup.ts";
import type { ProcessState } from "./process_node.ts";
import type { StackNode } from "./stack.ts";

/**
 * A node the endpoints file names no container for: its state is what the
 * stack last saw of it (a broker in the cluster's metadata, a service
 * answering); a fault cannot act on it (refused before a run, and here).
 */
export class ObservedNode implements StackNode {
  readonly name: string;
  state_: ProcessState = "running";

  constructor(name: string) {
    this.name = name;
  }

  state(): ProcessState {
    return this.state_;
  }
  refresh(): Promise<ProcessState> {
    return Promise.resolve(this.state_);
  }
  pid(): number | undefined {
    return undefined;
  }
  #cannot(what: string): Promise<never> {
    return Promise.reject(
      new Error(`cannot ${what} ${this.name}: the endpoints file names no container for it`),
    );
  }
  start(): Promise<void> {
    return this.#cannot("start");
  }
  kill(): Promise<void> {
    return this.#cannot("kill");
  }
  stop(): Promise<void> {
    return this.#cannot("stop");
  }
  restart(): Promise<void> {
    return this.#cannot("restart");
  }
  pause(): Promise<void> {
    return this.#cannot("pause");
  }
  resume(): Promise<void> {
    return this.#cannot("resume");
  }
  limitCpu(): Promise<CpuLimitHandle> {
    return this.#cannot("limit the CPU of");
  }
  tail(): Promise<string> {
    return Promise.resolve("(an external node: its logs are where its owner keeps them)");
  }
}
