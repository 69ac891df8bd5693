/**
 * A CIP-30 wallet held by the test process: a real Ed25519 payment key, funded by the devnet faucet, that
 * really signs (transactions with Lucid's wallet, `signData` as CIP-8 COSE_Sign1). The browser test injects a
 * `window.cardano.ntxtest` whose methods call these through `page.exposeFunction`; API tests call them
 * directly, so both exercise the same wallet-side bytes a browser wallet would produce.
 */
import { assetsToValue, CML, utxoToCore } from "@lucid-evolution/lucid";
import { addressOfPrivateKey, newPrivateKey, type Chain, type LucidEvolution } from "../../offchain/chain/index.js";

/** CIP-30 API error shapes (APIError / TxSignError / DataSignError), what a page sees when a person says no. */
export interface Cip30Error {
  code: number;
  info: string;
}

export interface TestWalletApi {
  getNetworkId(): Promise<number>;
  getUtxos(): Promise<string[]>;
  getBalance(): Promise<string>;
  getChangeAddress(): Promise<string>;
  getUsedAddresses(): Promise<string[]>;
  getUnusedAddresses(): Promise<string[]>;
  getRewardAddresses(): Promise<string[]>;
  getCollateral(): Promise<string[]>;
  signTx(tx: string, partialSign: boolean): Promise<string>;
  signData(address: string, payload: string): Promise<{ signature: string; key: string }>;
  submitTx(tx: string): Promise<string>;
}

export interface TestWallet {
  readonly privateKey: string;
  /** bech32 */
  readonly address: string;
  /** CIP-30 form: raw address bytes, hex. */
  readonly addressHex: string;
  readonly api: TestWalletApi;
  /** The next call of this method fails as a wallet whose user declined (CIP-30 code 2 / -3 for enable). */
  refuseNext(method: "signTx" | "signData" | "enable"): void;
  /** Consumed by the injected `enable()`: whether the user refuses to connect. */
  takeRefusal(method: "signTx" | "signData" | "enable"): boolean;
  /** Every signing request the wallet saw, for assertions. */
  readonly requests: Array<{ method: "signTx" | "signData"; payload: string }>;
}

export async function createTestWallet(chain: Chain, privateKey = newPrivateKey()): Promise<TestWallet> {
  const address = addressOfPrivateKey(privateKey, chain.network);
  const lucid: LucidEvolution = await chain.lucid({ privateKey });
  const addressHex = CML.Address.from_bech32(address).to_hex();
  const refusals = new Set<string>();
  const requests: TestWallet["requests"] = [];
  const take = (method: string) => refusals.delete(method);
  const declined = (code: number, info: string): Cip30Error => ({ code, info });

  const api: TestWalletApi = {
    getNetworkId: async () => (chain.network === "mainnet" ? 1 : 0),
    getUtxos: async () => (await chain.utxosAt(address)).map((u) => utxoToCore(u).to_cbor_hex()),
    getBalance: async () => {
      const total: Record<string, bigint> = { lovelace: 0n };
      for (const u of await chain.utxosAt(address)) for (const [unit, q] of Object.entries(u.assets)) total[unit] = (total[unit] ?? 0n) + q;
      return assetsToValue(total).to_cbor_hex();
    },
    getChangeAddress: async () => addressHex,
    getUsedAddresses: async () => [addressHex],
    getUnusedAddresses: async () => [],
    getRewardAddresses: async () => [],
    getCollateral: async () => [],
    signTx: async (tx, _partialSign) => {
      requests.push({ method: "signTx", payload: tx });
      if (take("signTx")) throw declined(2, "user declined to sign the transaction");
      const witnesses = await lucid.wallet().signTx(CML.Transaction.from_cbor_hex(tx));
      return witnesses.to_cbor_hex();
    },
    signData: async (addr, payload) => {
      requests.push({ method: "signData", payload });
      if (take("signData")) throw declined(3, "user declined to sign the data");
      if (addr !== addressHex && addr !== address) throw declined(1, "address is not this wallet's");
      return lucid.wallet().signMessage(address, payload);
    },
    submitTx: (tx) => chain.submit(tx),
  };
  return {
    privateKey,
    address,
    addressHex,
    api,
    requests,
    refuseNext: (method) => void refusals.add(method),
    takeRefusal: take,
  };
}
