/** One claim of REPRO_N escrows (default 60) built on this thread, the first evaluation of the process; prints the error's whole chain. */
import { buildClaimTx } from "../../offchain/index.js";
import { startTestDevnet } from "../../test/helpers/devnet.js";
import { devnetClaimWorld, payClaimableEscrows } from "../../test/helpers/devnet-escrows.js";

const devnet = await startTestDevnet({ blockTimeMs: 1000 });
const world = await devnetClaimWorld(devnet);
const escrows = await payClaimableEscrows(devnet, world, Number(process.env.REPRO_N ?? 60));
for (let i = 0; i < 2; i++) {
  try {
    await buildClaimTx(world.lucid, { deployment: world.deployment, escrows, now: Date.now() });
    console.log(i, "ok");
  } catch (error) {
    let e: unknown = error;
    for (let depth = 0; e && depth < 6; depth++, e = (e as { cause?: unknown }).cause) console.log(i, depth, (e as Error).stack ?? JSON.stringify(e));
  }
}
await devnet.stop();
