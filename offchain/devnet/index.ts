export { startDevnetServer } from "./server.js";
export type { DevnetInfo, DevnetServer, DevnetServerOptions } from "./server.js";
export { NTX_ASSET_NAME_HEX } from "./ntx-policy.js";
export { isLoopbackHost } from "./exposure.js";
