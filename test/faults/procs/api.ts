/**
 * The API as its own process (what `ntx up` runs in-process), so the fault suite can kill and restart it.
 *   node --import tsx api.ts '<json: {natsUrl, chainUrl, ntx, referenceScript, port, challengeWindowMs}>'
 */
import { createChain, loadChainConfig } from "../../../offchain/chain/index.js";
import { startApiServer } from "../../../src/api/index.js";
import { connectNats } from "../../../src/nats/index.js";

const args = JSON.parse(process.argv[2]!) as { natsUrl: string; chainUrl: string; ntx: { policyId: string; assetName: string }; referenceScript: { txHash: string; outputIndex: number }; port: number; challengeWindowMs: number };
const nc = await connectNats({ servers: args.natsUrl, name: "ntx-api", maxReconnectAttempts: -1 });
const api = await startApiServer({
  chain: createChain(loadChainConfig({}, { network: "devnet", blockfrostUrl: args.chainUrl })),
  nats: nc,
  ntx: args.ntx,
  escrow: { referenceScript: args.referenceScript, challengeWindowMs: args.challengeWindowMs },
  port: args.port,
  webDir: null,
});
process.stdout.write(JSON.stringify({ ready: true, url: api.url }) + "\n");
const stop = () => void api.close().then(() => nc.close()).finally(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
