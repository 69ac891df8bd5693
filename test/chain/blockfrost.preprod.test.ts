import { describe, expect, it } from "vitest";
import { createChain, loadChainConfig } from "../../offchain/chain/index.js";

// The same chain interface against the real Blockfrost: runs only when a preprod project id is configured.
describe.skipIf(!process.env.BLOCKFROST_PROJECT_ID?.startsWith("preprod"))("chain interface on Blockfrost preprod", () => {
  it("reads the tip, the slot config, protocol parameters and a UTxO-less address", async () => {
    const chain = createChain(loadChainConfig({ ...process.env, NTX_NETWORK: "preprod" }));
    const tip = await chain.tip();
    expect(tip.height).toBeGreaterThan(0);
    expect(Math.abs(tip.time - Date.now())).toBeLessThan(10 * 60_000);
    expect(await chain.slotConfig()).toMatchObject({ zeroSlot: 86400, slotLength: 1000 });
    const lucid = await chain.lucid();
    expect(lucid.config().protocolParameters?.maxTxSize).toBeGreaterThan(0);
    expect((await chain.txStatus("00".repeat(32))).state).toBe("unknown");
  });
});
