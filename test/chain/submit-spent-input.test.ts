import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressOfPrivateKey, newPrivateKey } from "../../offchain/chain/index.js";
import { isNtxError } from "../../offchain/errors.js";
import { submitTx } from "../../offchain/submit.js";
import { startTestDevnet, type TestDevnet } from "../helpers/devnet.js";

// Two transactions built from the same wallet state spend the same output: the second is refused by the chain, and
// submitTx says so with its own code (the claim planner defers such a claim instead of counting it against the batch).
describe("submitting a transaction whose input was spent meanwhile", () => {
  let devnet: TestDevnet;
  beforeAll(async () => {
    devnet = await startTestDevnet();
  });
  afterAll(async () => {
    await devnet?.stop();
  });

  it("fails with TX_INPUTS_SPENT, retryable (built again it may go through)", async () => {
    const key = newPrivateKey();
    const address = addressOfPrivateKey(key, "devnet");
    await devnet.fund(address, 50_000_000n);
    const lucid = await devnet.chain().lucid({ privateKey: key });
    const first = await lucid.newTx().pay.ToAddress(address, { lovelace: 5_000_000n }).complete();
    const second = await lucid.newTx().pay.ToAddress(address, { lovelace: 6_000_000n }).complete();
    await submitTx(lucid, first, { awaitConfirmation: false });
    const error = await submitTx(lucid, second, { awaitConfirmation: false }).then(() => undefined, (e: unknown) => e);
    expect(isNtxError(error, "TX_INPUTS_SPENT")).toBe(true);
    expect((error as { retryable: boolean }).retryable).toBe(true);
    expect((error as Error).message).toMatch(/spent/);
  });
});
