import type { LucidEvolution } from "../../../offchain/chain/index.js";
import type { BuilderName, BuilderParams } from "./builders.js";
import type { TxBuildPool } from "./pool.js";

/**
 * Builds on a pool thread for the wallet this Lucid instance has selected (its address and current UTxOs go to the
 * thread as plain data); the transaction comes back ready to sign, so the key never leaves the calling thread.
 */
export async function buildForSelectedWallet<N extends BuilderName>(pool: TxBuildPool, lucid: LucidEvolution, name: N, params: Omit<BuilderParams[N], "wallet">, options: { urgent?: boolean } = {}) {
  const wallet = { address: await lucid.wallet().address(), utxos: await lucid.wallet().getUtxos() };
  const built = await pool.build(name, { ...params, wallet } as BuilderParams[N], options);
  return lucid.fromTx(built.tx);
}
