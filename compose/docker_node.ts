/**
 * A container of the docker stack, with the node interface the faults use:
 * its state read from the engine, start, kill, stop, restart, pause (the
 * cgroup freezer, retried when runc gives up under load), resume and logs.
 * @module
 */

import type Docker from "dockerode";
import { waitFor } from "../lib/wait.ts";
import { demux } from "./docker.ts";
import type { ProcessState } from "./process_node.ts";
import type { CpuLimitHandle } from "./cgroup.ts";
import type { StackNode } from "./stack.ts";

/** A container of the stack, with the node interface the faults use. */
export class DockerNode implements StackNode {
  readonly name: string;
  readonly container: Docker.Container;
  #state: ProcessState = "dead";
  #pid: number | undefined;
  #ip: string | undefined;

  /** True when the engine runs on another host: its pids are not this machine's. */
  readonly remote: boolean;

  constructor(name: string, container: Docker.Container, options: { remote?: boolean } = {}) {
    this.name = name;
    this.container = container;
    this.remote = options.remote ?? false;
  }

  /** Reads the container's state from the engine (state() is the last one read). */
  async refresh(): Promise<ProcessState> {
    try {
      const info = await this.container.inspect();
      this.#state = info.State.Paused ? "paused" : info.State.Running ? "running" : "dead";
      this.#pid = info.State.Pid || undefined;
      const nets = Object.values(info.NetworkSettings.Networks ?? {}) as { IPAddress?: string }[];
      this.#ip = nets[0]?.IPAddress || this.#ip;
    } catch {
      this.#state = "dead";
      this.#pid = undefined;
    }
    return this.#state;
  }

  state(): ProcessState {
    return this.#state;
  }

  pid(): number | undefined {
    return this.#state === "dead" ? undefined : this.#pid;
  }

  /** The container's address on the stack network (known once it ran). */
  ip(): string | undefined {
    return this.#ip;
  }

  async start(): Promise<void> {
    const state = await this.refresh();
    if (state === "paused") await this.container.unpause();
    else if (state === "dead") await this.container.start();
    await this.refresh();
  }

  async kill(): Promise<void> {
    const state = await this.refresh();
    if (state === "dead") return;
    await this.container.kill({ signal: "SIGKILL" }).catch(() => {});
    await waitFor(async () => (await this.refresh()) === "dead", {
      what: `${this.name} to die`,
      timeoutMs: 20_000,
      intervalMs: 100,
    });
  }

  async stop(options: { graceMs?: number } = {}): Promise<void> {
    const state = await this.refresh();
    if (state === "dead") return;
    if (state === "paused") await this.container.unpause();
    await this.container.stop({ t: Math.ceil((options.graceMs ?? 10_000) / 1000) }).catch(
      () => {},
    );
    await this.refresh();
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  /**
   * Freezes the container (the cgroup freezer). Under load runc now and then gives up with
   * "unable to freeze" (a task did not stop in its time, e.g. a JVM deep in I/O) and thaws
   * the cgroup again: the pause is then tried again, for up to 20 s.
   */
  pause(): Promise<void> {
    return this.#until("pause", (s) => s === "paused", () => this.container.pause());
  }

  /** Thaws the container, tried again like `pause` until it is no longer paused. */
  resume(): Promise<void> {
    return this.#until("resume", (s) => s !== "paused", () => this.container.unpause());
  }

  /**
   * The container's CFS quota (CpuPeriod and CpuQuota), set through the engine and read back;
   * lifted with a quota of -1. (NanoCpus cannot be lifted: the engine reads 0 as "unchanged".)
   */
  async limitCpu(cores: number): Promise<CpuLimitHandle> {
    const period = 100_000;
    await this.container.update({ CpuPeriod: period, CpuQuota: Math.round(cores * period) });
    const info = await this.container.inspect();
    const quota = info.HostConfig.CpuQuota ?? -1;
    return {
      cores: quota > 0 ? quota / (info.HostConfig.CpuPeriod || period) : Infinity,
      lift: async () => {
        await this.container.update({ CpuQuota: -1 });
      },
    };
  }

  /** Calls `act` until the engine reports a state that satisfies `reached` (at most 20 s). */
  async #until(
    what: string,
    reached: (state: ProcessState) => boolean,
    act: () => Promise<unknown>,
  ): Promise<void> {
    await waitFor(async () => {
      if (reached(await this.refresh())) return true;
      await act();
      return reached(await this.refresh());
    }, { what: `${this.name} to ${what}`, timeoutMs: 20_000, intervalMs: 500 });
  }

  async tail(lines = 20): Promise<string> {
    try {
      const buf = await this.container.logs({
        stdout: true,
        stderr: true,
        tail: lines,
        follow: false,
      }) as unknown as Uint8Array;
      return demux([buf]);
    } catch (error) {
      return `(no logs: ${(error as Error).message})`;
    }
  }
}
