/**
 * The `disconnect` fault (docker stack): the container is disconnected from the
 * stack network through the Docker API, and connected again with the same
 * address on heal.
 * @module
 */

import { dockerStack, STACK_NODES } from "./docker_net.ts";
import { dockerClient } from "../../compose/docker.ts";
import { NO_PARAMS } from "./params.ts";
import { defineFault } from "./types.ts";

export const disconnect = defineFault({
  kind: "disconnect",
  summary: "the container disconnected from the stack network (Docker API)",
  targets: STACK_NODES,
  stacks: ["docker"],
  params: NO_PARAMS,
  async inject(ctx, nodes) {
    const stack = dockerStack(ctx, "disconnect");
    const network = dockerClient().getNetwork(stack.network);
    const gone: { node: string; ip: string }[] = [];
    const heal = async () => {
      for (const { node, ip } of gone) {
        await network.connect({
          Container: stack.containerName(node),
          EndpointConfig: { IPAMConfig: { IPv4Address: ip }, Aliases: [node] },
        }).catch(() => {});
      }
      return { connected: gone.map((g) => `${g.node} ${g.ip}`) };
    };
    try {
      for (const node of nodes) {
        const handle = stack.node(node);
        await handle.refresh();
        const ip = handle.ip();
        if (!ip) throw new Error(`${node} has no address on ${stack.network}`);
        await network.disconnect({ Container: stack.containerName(node), Force: true });
        gone.push({ node, ip });
      }
    } catch (error) {
      await heal();
      throw error;
    }
    return { observed: { disconnected: gone.map((g) => `${g.node} ${g.ip}`) }, heal };
  },
});
