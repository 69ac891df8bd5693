/** Loopback checks shared with the devnet chain server (one definition, in offchain/devnet/exposure.ts). */
export { exposureNotice, isLoopbackHost } from "../../../offchain/devnet/exposure.js";
