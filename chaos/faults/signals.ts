/**
 * Process faults through signals: `kill` (SIGKILL, healed by a start on the
 * same data), `stop` (SIGTERM, healed by a start), `restart` (SIGKILL and
 * start at once), `pause` (SIGSTOP, healed by SIGCONT).
 * @module
 */

import { type Fault, nodeOf } from "./types.ts";

const PROCESS_TARGETS = ["broker", "component", "service"] as const;

export const kill: Fault = {
  kind: "kill",
  targets: PROCESS_TARGETS,
  async inject(ctx, nodes) {
    const pids: Record<string, number | undefined> = {};
    for (const name of nodes) {
      pids[name] = nodeOf(ctx, name).pid();
      await nodeOf(ctx, name).kill();
    }
    return {
      observed: { killed: pids },
      async heal() {
        for (const name of nodes) await nodeOf(ctx, name).start();
        return { started: nodes };
      },
    };
  },
};

export const stop: Fault = {
  kind: "stop",
  targets: PROCESS_TARGETS,
  async inject(ctx, nodes) {
    for (const name of nodes) await nodeOf(ctx, name).stop({ graceMs: 30_000 });
    return {
      observed: { stopped: nodes },
      async heal() {
        for (const name of nodes) await nodeOf(ctx, name).start();
        return { started: nodes };
      },
    };
  },
};

export const restart: Fault = {
  kind: "restart",
  targets: PROCESS_TARGETS,
  async inject(ctx, nodes) {
    for (const name of nodes) await nodeOf(ctx, name).restart();
    return { observed: { restarted: nodes }, heal: () => Promise.resolve({}) };
  },
};

export const pause: Fault = {
  kind: "pause",
  targets: PROCESS_TARGETS,
  async inject(ctx, nodes) {
    for (const name of nodes) await nodeOf(ctx, name).pause();
    return {
      observed: { paused: nodes },
      async heal() {
        for (const name of nodes) await nodeOf(ctx, name).resume();
        return { resumed: nodes };
      },
    };
  },
};
