import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildClaimTx } from "../../offchain/index.js";
import { startTestDevnet, type TestDevnet } from "../helpers/devnet.js";
import { devnetClaimWorld, payClaimableEscrows } from "../helpers/devnet-escrows.js";

/*
 * The devnet chain server evaluates a submission's scripts on its own thread: while it checks a 40-escrow claim
 * (seconds of evaluation), it keeps answering reads. The server runs in this process, as under `ntx up`, so a
 * stall of its thread would stall this test's reads too. Counted, not timed.
 */

let devnet: TestDevnet;
beforeAll(async () => {
  devnet = await startTestDevnet({ blockTimeMs: 0 });
}, 60_000);
afterAll(async () => devnet?.stop());

describe("devnet script evaluation off the server's thread", () => {
  it("answers reads while it evaluates a 40-escrow claim, then accepts it", async () => {
    const w = await devnetClaimWorld(devnet);
    const escrows = await payClaimableEscrows(devnet, w, 40);
    const signed = await (await buildClaimTx(w.lucid, { deployment: w.deployment, escrows })).sign.withWallet().complete();
    // The build held this thread for seconds: let the HTTP client notice the keep-alive sockets the server closed.
    await new Promise((r) => setTimeout(r, 50));
    let settled = false;
    const submission = fetch(`${devnet.url}/tx/submit`, { method: "POST", headers: { "content-type": "application/cbor" }, body: Buffer.from(signed.toCBOR(), "hex") })
      .then(async (res) => ({ status: res.status, body: await res.text() }))
      .finally(() => (settled = true));
    let answered = 0;
    while (!settled) {
      const res = await fetch(`${devnet.url}/blocks/latest`);
      await res.text();
      if (res.status === 200 && !settled) answered++;
      await new Promise((r) => setTimeout(r, 10));
    }
    const { status, body } = await submission;
    expect(status, body).toBe(200);
    expect(JSON.parse(body)).toBe(signed.toHash());
    expect(answered).toBeGreaterThanOrEqual(5);
  }, 600_000);
});
