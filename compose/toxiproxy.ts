/**
 * A thin client of the Toxiproxy v2 HTTP API (proxies and toxics). Written
 * against `fetch` so it has no dependency and runs the same in every runtime.
 *
 * ```ts
 * import { Toxiproxy } from "./toxiproxy.ts";
 * const tp = new Toxiproxy("http://127.0.0.1:29030");
 * await tp.createProxy({ name: "kafka-1-client", listen: "127.0.0.1:29111", upstream: "127.0.0.1:29110" });
 * await tp.addToxic("kafka-1-client", { name: "lat", type: "latency", attributes: { latency: 200 } });
 * await tp.reset(); // every proxy enabled, every toxic gone
 * ```
 * @module
 */

export interface Proxy {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics?: Toxic[];
}

export type ToxicType =
  | "latency"
  | "bandwidth"
  | "slow_close"
  | "timeout"
  | "reset_peer"
  | "slicer"
  | "limit_data";

export interface Toxic {
  name: string;
  type: ToxicType;
  /** Default "downstream" (towards the client). */
  stream?: "upstream" | "downstream";
  /** Share of connections affected, 0..1. Default 1. */
  toxicity?: number;
  attributes: Record<string, number>;
}

export class ToxiproxyError extends Error {
  override name = "ToxiproxyError";
}

export class Toxiproxy {
  readonly api: string;
  readonly #timeoutMs: number;

  /** `api` is the base URL, e.g. `http://127.0.0.1:8474`. */
  constructor(api: string, options: { timeoutMs?: number } = {}) {
    this.api = api.replace(/\/$/, "");
    this.#timeoutMs = options.timeoutMs ?? 5000;
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.api}${path}`, {
        method,
        headers: body === undefined ? undefined : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw new ToxiproxyError(`Toxiproxy ${method} ${path} at ${this.api} failed`, {
        cause: error,
      });
    }
    const text = await response.text();
    if (!response.ok) {
      throw new ToxiproxyError(
        `Toxiproxy ${method} ${path} answered ${response.status}: ${text.trim()}`,
      );
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async version(): Promise<string> {
    const response = await fetch(`${this.api}/version`, {
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    return (await response.text()).trim();
  }

  async proxies(): Promise<Record<string, Proxy>> {
    return await this.#call("GET", "/proxies");
  }

  async createProxy(proxy: Omit<Proxy, "enabled" | "toxics"> & { enabled?: boolean }) {
    return await this.#call<Proxy>("POST", "/proxies", { enabled: true, ...proxy });
  }

  /** Enables or disables a proxy; a disabled proxy closes its connections and refuses new ones. */
  async setEnabled(name: string, enabled: boolean): Promise<Proxy> {
    return await this.#call<Proxy>("POST", `/proxies/${encodeURIComponent(name)}`, { enabled });
  }

  async deleteProxy(name: string): Promise<void> {
    await this.#call("DELETE", `/proxies/${encodeURIComponent(name)}`);
  }

  async addToxic(proxy: string, toxic: Toxic): Promise<Toxic> {
    return await this.#call<Toxic>(
      "POST",
      `/proxies/${encodeURIComponent(proxy)}/toxics`,
      { stream: "downstream", toxicity: 1, ...toxic },
    );
  }

  async removeToxic(proxy: string, toxic: string): Promise<void> {
    await this.#call(
      "DELETE",
      `/proxies/${encodeURIComponent(proxy)}/toxics/${encodeURIComponent(toxic)}`,
    );
  }

  /** Enables every proxy and removes every toxic. */
  async reset(): Promise<void> {
    await this.#call("POST", "/reset");
  }
}
