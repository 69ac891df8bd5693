/**
 * Holds real exchanges with the API to its own OpenAPI document (as served at /api/openapi.json), with Ajv:
 * every answer's status must be documented for its route, its JSON body must match the documented schema, and a
 * request the API accepted must match the documented request body.
 */
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import type { Exchange } from "./stack.js";

interface Operation {
  requestBody?: { content: Record<string, { schema: object }> };
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
}
export interface OpenApiDoc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, object> };
}

export function openApiChecker(doc: OpenApiDoc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  // The document's own $refs (#/components/…) resolve against it.
  ajv.addSchema({ $id: "ntx-openapi", components: doc.components }, "ntx-openapi");
  const rebase = (schema: object) => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"ntx-openapi#/components/')) as object;
  const compiled = new Map<string, ValidateFunction>();
  const compile = (key: string, schema: object) => {
    let v = compiled.get(key);
    if (!v) compiled.set(key, (v = ajv.compile(rebase(schema))));
    return v;
  };
  const templates = Object.keys(doc.paths).map((template) => ({
    template,
    regex: new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`),
    literals: template.split("/").filter((p) => p && !p.startsWith("{")).length,
  }));
  templates.sort((a, b) => b.literals - a.literals);

  return function check(exchange: Exchange): string[] {
    const found = templates.find((t) => t.regex.test(exchange.path));
    const problems: string[] = [];
    const what = `${exchange.method} ${exchange.path} → ${exchange.status}`;
    if (!found) {
      // Only the API's own "no such route" may answer a path the document does not list.
      const code = (exchange.body as { error?: { code?: string } })?.error?.code;
      return exchange.status === 404 && code === "NOT_FOUND" ? [] : [`${what}: no documented route`];
    }
    const op = doc.paths[found.template]![exchange.method.toLowerCase()];
    if (!op) return exchange.status === 404 ? [] : [`${what}: method not documented`];
    const response = op.responses[String(exchange.status)];
    if (!response) return [`${what}: status not documented`];
    const [mediaType, media] = Object.entries(response.content ?? {})[0] ?? [];
    if (mediaType && !exchange.contentType.startsWith(mediaType)) problems.push(`${what}: content type ${exchange.contentType}, documented ${mediaType}`);
    if (mediaType === "application/json" && media) {
      const validate = compile(`${found.template} ${exchange.method} ${exchange.status}`, media.schema);
      if (!validate(exchange.body)) problems.push(`${what}: answer ${ajv.errorsText(validate.errors)}`);
    }
    const requestSchema = op.requestBody?.content["application/json"]?.schema;
    if (requestSchema && exchange.status < 300) {
      const validate = compile(`${found.template} ${exchange.method} request`, requestSchema);
      const body = typeof exchange.requestBody === "string" ? JSON.parse(exchange.requestBody) : exchange.requestBody;
      if (!validate(body)) problems.push(`${what}: accepted a request the document refuses: ${ajv.errorsText(validate.errors)}`);
    }
    return problems;
  };
}
