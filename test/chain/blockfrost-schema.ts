/**
 * Blockfrost's published OpenAPI document (the `@blockfrost/openapi` package's JSON schema per endpoint and
 * status) as a validator, and a recording HTTP proxy, so a test can check every answer a server gave to real
 * clients against the schema Blockfrost documents for that endpoint and status.
 */
import { createRequire } from "node:module";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Ajv, type ValidateFunction } from "ajv";

const require = createRequire(import.meta.url);
const schemas = require("@blockfrost/openapi/json-schema.json") as Record<string, { response: Record<string, object> }>;

export interface RecordedAnswer {
  method: string;
  path: string;
  query: string;
  status: number;
  contentType: string;
  body: string;
}

const templates = Object.keys(schemas)
  .map((template) => {
    const parts = template.split("/").filter(Boolean);
    const regex = new RegExp(`^/${parts.map((p) => (p.startsWith("{") ? "[^/]+" : p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("/")}$`);
    return { template, regex, literals: parts.filter((p) => !p.startsWith("{")).length, length: parts.length };
  })
  // The most literal template wins: /blocks/latest before /blocks/{hash_or_number}.
  .sort((a, b) => b.literals - a.literals || b.length - a.length);

/** The Blockfrost endpoint template a path belongs to, or undefined when Blockfrost has no such endpoint. */
export function blockfrostTemplate(path: string): string | undefined {
  if (path === "/") return "/";
  return templates.find((t) => t.regex.test(path))?.template;
}

/** OpenAPI 3.0's `nullable` without a `type` (Blockfrost's `json` of a script) allows anything: say so to Ajv. */
function untypedNullable(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(untypedNullable);
  if (typeof schema !== "object" || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = untypedNullable(v);
  if (out.nullable !== undefined && out.type === undefined) delete out.nullable;
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true, logger: false, validateFormats: false });
const compiled = new Map<string, ValidateFunction>();

/** Blockfrost's error body (every endpoint documents the same one for each error status). */
const ERROR_SCHEMA = schemas["/txs/{hash}"]!.response["404"]!;

export function validateAnswer(answer: RecordedAnswer): { template: string | undefined; documented: boolean; errors: string[] } {
  const template = blockfrostTemplate(answer.path);
  const responses = template ? schemas[template]!.response : undefined;
  let schema = responses?.[String(answer.status)];
  const documented = schema !== undefined;
  // A status Blockfrost answers without listing it per endpoint (415 from its HTTP layer, 404 of an unknown path)
  // still carries its error body.
  if (!schema && answer.status >= 400) schema = ERROR_SCHEMA;
  const errors: string[] = [];
  if (!/^application\/json\b/.test(answer.contentType)) errors.push(`content type ${answer.contentType}`);
  if (!schema) return { template, documented, errors: [...errors, `no schema for ${answer.status}`] };
  let body: unknown;
  try {
    body = JSON.parse(answer.body);
  } catch {
    return { template, documented, errors: [...errors, "body is not JSON"] };
  }
  const key = `${template ?? "error"} ${documented ? answer.status : "error"}`;
  let validate = compiled.get(key);
  if (!validate) compiled.set(key, (validate = ajv.compile(untypedNullable(schema) as object)));
  if (!validate(body)) errors.push(...(validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? ""} ${JSON.stringify(e.params)}`));
  if (answer.status >= 400 && (body as { status_code?: number }).status_code !== answer.status) errors.push(`status_code ${(body as { status_code?: number }).status_code} ≠ ${answer.status}`);
  return { template, documented, errors };
}

/** A loopback proxy in front of `target` that records every answer and the most requests it held at once. */
export async function startRecordingProxy(target: string): Promise<{ url: string; answers: RecordedAnswer[]; maxInFlight(): number; close(): Promise<void> }> {
  const upstream = new URL(target);
  const answers: RecordedAnswer[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const server: Server = createServer((req, res) => {
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    res.once("close", () => inFlight--);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const forward = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
        (up) => {
          const body: Buffer[] = [];
          up.on("data", (c: Buffer) => body.push(c));
          up.on("end", () => {
            const text = Buffer.concat(body);
            const [path, query = ""] = (req.url ?? "/").split("?");
            answers.push({ method: req.method ?? "GET", path: path!, query, status: up.statusCode ?? 0, contentType: String(up.headers["content-type"] ?? ""), body: text.toString("utf8") });
            res.writeHead(up.statusCode ?? 502, up.headers);
            res.end(text);
          });
        },
      );
      forward.on("error", (error) => {
        res.writeHead(502).end(String(error));
      });
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answers,
    maxInFlight: () => maxInFlight,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
