/**
 * What the params schemas of faults share: each fault declares its own params
 * as a strict zod object beside its code (`params` of `Fault`, types.ts); the
 * pieces several faults use (listeners, a toxic's toxicity, a probability,
 * durations in milliseconds) live here, and so does what reads a schema back
 * for the docs (`paramDocs`).
 *
 * ```ts
 * import { z } from "zod";
 * import { millis } from "./params.ts";
 * const params = z.strictObject({
 *   delay_ms: millis(60_000).describe("how long to wait"), // required: not optional
 *   jitter_ms: millis(60_000).default(0).describe("± this much"),
 * });
 * ```
 * @module
 */

import { z } from "zod";
import { LISTENERS, type ParamsSchema } from "./types.ts";

/** A share, 0..1. */
export const probability = z.number().min(0).max(1);

/** Whole milliseconds, 0..`max`. */
export const millis = (max: number) => z.number().int().min(0).max(max);

/** Some of a broker's listeners (each behind its own proxy on the local stack), at least one. */
export const listeners = z.array(z.enum(LISTENERS)).min(1);

/** A Toxiproxy toxic's share of connections (default 1: all). */
export const toxicity = probability.default(1).describe(
  "share of connections the toxic acts on",
);

/** No params at all. */
export const NO_PARAMS = z.strictObject({});

/** One param of a schema as the docs show it. */
export interface ParamDoc {
  name: string;
  required: boolean;
  /** Its type and bounds: `int 0..60000`, `0..1`, `[client/internal/controller], ≥1`. */
  bounds: string;
  /** Its default as JSON, when it has one. */
  default?: string;
  description?: string;
}

interface JsonProp {
  type?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  enum?: unknown[];
  items?: JsonProp;
  default?: unknown;
  description?: string;
}

/** The bounds of a JSON Schema property, short. */
function bounds(p: JsonProp): string {
  if (p.type === "array") {
    const of = p.items ? bounds(p.items) : "any";
    return `[${of}]${p.minItems ? `, ≥${p.minItems}` : ""}`;
  }
  if (p.enum) return p.enum.map(String).join("/");
  const type = p.type === "integer" ? "int " : p.type === "number" ? "" : `${p.type ?? "any"} `;
  if (p.minimum === undefined && p.maximum === undefined) return type.trim();
  return `${type}${p.minimum ?? "…"}..${p.maximum ?? "…"}`;
}

/** Each param of `schema`, read from the schema itself (for `--faults` and the docs). */
export function paramDocs(schema: ParamsSchema): ParamDoc[] {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as {
    properties?: Record<string, JsonProp>;
    required?: string[];
  };
  const required = new Set(json.required ?? []);
  return Object.entries(json.properties ?? {}).map(([name, p]) => ({
    name,
    required: required.has(name),
    bounds: bounds(p),
    ...(p.default !== undefined ? { default: JSON.stringify(p.default) } : {}),
    ...(p.description ? { description: p.description } : {}),
  }));
}

/** One param in a line: `latency_ms (int 0..60000, required)`, `toxicity (0..1, default 1)`. */
export function paramLine(p: ParamDoc): string {
  const how = p.required
    ? "required"
    : p.default !== undefined
    ? `default ${p.default}`
    : "optional";
  return `${p.name} (${p.bounds}, ${how})`;
}
