// Public surface of the API area.
export { startApiServer } from "./server.js";
export type { ApiServer, ApiServerParams } from "./server.js";
export { DEFAULT_LIMITS } from "./limits.js";
export type { ApiLimits, ApiLimitsInput } from "./limits.js";
export { httpStatusOf } from "./errors.js";
export type { ErrorBody } from "./errors.js";
export { openApiDocument } from "./openapi.js";
