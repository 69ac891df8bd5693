import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressOfPrivateKey, newPrivateKey, type Chain, type UTxO } from "../../offchain/chain/index.js";
import { isNtxError } from "../../offchain/errors.js";
import { startTestDevnet, type TestDevnet } from "../helpers/devnet.js";

const CLIENTS = 4;
const SUBMISSIONS_PER_CLIENT = 50;
const FUND_LOVELACE = 500_000_000n;
const FUND_NTX = 1_000_000n;

type TxUtxos = {
  inputs: Array<{ tx_hash: string; output_index: number; collateral: boolean; reference?: boolean }>;
  outputs: Array<{ address: string; output_index: number; amount: Array<{ unit: string; quantity: string }>; consumed_by_tx: string | null }>;
};

// 200 submissions from 4 clients racing on one devnet with its own block timer, a share of them deliberate double
// spends submitted at the same instant. The ledger must come out consistent.
describe("devnet chain under 4 concurrent clients", () => {
  let devnet: TestDevnet;
  const keys = Array.from({ length: CLIENTS }, () => newPrivateKey());
  const addresses = keys.map((k) => addressOfPrivateKey(k, "devnet"));
  const faucetTxs: string[] = [];

  beforeAll(async () => {
    devnet = await startTestDevnet({ blockTimeMs: 300 });
    for (const address of addresses) faucetTxs.push(await devnet.fund(address, FUND_LOVELACE, FUND_NTX));
  });
  afterAll(async () => {
    await devnet?.stop();
  });

  it("accepts exactly one of each double spend, shows every accepted tx, and balances sum up", async () => {
    const unit = devnet.info.ntx.unit;
    const accepted: string[] = [];
    const rejected: string[] = [];
    const pairs: Array<[string, string]> = [];

    const runClient = async (me: number) => {
      const chain: Chain = devnet.chain();
      const lucid = await chain.lucid({ privateKey: keys[me]! });
      let submitted = 0;
      let round = 0;
      while (submitted < SUBMISSIONS_PER_CLIENT) {
        round++;
        const wallet = await chain.utxosAt(addresses[me]!);
        const input = wallet.reduce((a: UTxO, u: UTxO) => (u.assets.lovelace! > a.assets.lovelace! ? u : a));
        const to = addresses[(me + round) % CLIENTS === me ? (me + 1) % CLIENTS : (me + round) % CLIENTS]!;
        const build = async (lovelace: bigint, ntx: bigint) => {
          const tx = await lucid.newTx().collectFrom([input]).pay.ToAddress(to, { lovelace, [unit]: ntx }).complete({ coinSelection: false });
          return (await tx.sign.withWallet().complete()).toCBOR();
        };
        // Every third round (while room is left) two different transactions race for the same input.
        const conflict = round % 3 === 0 && submitted + 2 <= SUBMISSIONS_PER_CLIENT;
        const cbors = conflict ? await Promise.all([build(1_500_000n, 7n), build(2_500_000n, 11n)]) : [await build(1_000_000n + BigInt(round), 3n)];
        const results = await Promise.allSettled(cbors.map((c) => chain.submit(c)));
        submitted += cbors.length;
        let mine: string | undefined;
        const hashes: string[] = [];
        for (const [i, r] of results.entries()) {
          if (r.status === "fulfilled") {
            accepted.push(r.value);
            hashes.push(r.value);
            mine = r.value;
          } else {
            expect(isNtxError(r.reason, "CHAIN_TX_REJECTED"), String(r.reason)).toBe(true);
            expect((r.reason as Error).message).toContain("spent_input");
            rejected.push(cbors[i]!);
          }
        }
        if (conflict) {
          expect(hashes).toHaveLength(1);
          pairs.push([hashes[0]!, "rejected"]);
        }
        if (mine) await chain.awaitConfirmation(mine);
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => runClient(i)));

    expect(accepted.length + rejected.length).toBe(CLIENTS * SUBMISSIONS_PER_CLIENT);
    expect(rejected.length).toBe(pairs.length);
    expect(rejected.length).toBeGreaterThan(0);

    await devnet.block();
    const chain = devnet.chain();
    const holdings = new Map<string, Set<string>>();
    for (const address of addresses) holdings.set(address, new Set((await chain.utxosAt(address)).map((u) => `${u.txHash}#${u.outputIndex}`)));
    const spent = new Set<string>();
    let fees = 0n;
    for (const hash of accepted) {
      const status = await chain.txStatus(hash);
      expect(status.state).toBe("confirmed");
      if (status.state === "confirmed") fees += status.fee;
      const utxos = (await (await fetch(`${devnet.url}/txs/${hash}/utxos`)).json()) as TxUtxos;
      for (const input of utxos.inputs.filter((i) => !i.collateral && !i.reference)) {
        const key = `${input.tx_hash}#${input.output_index}`;
        expect(spent.has(key), `input ${key} spent twice`).toBe(false);
        spent.add(key);
      }
      // Each output is either still unspent at its address or spent by another accepted transaction.
      for (const output of utxos.outputs) {
        if (output.consumed_by_tx === null) expect(holdings.get(output.address)?.has(`${hash}#${output.output_index}`)).toBe(true);
        else expect(accepted).toContain(output.consumed_by_tx);
      }
    }

    // Every UTxO the clients hold came from an accepted tx (or the faucet) and was not spent by another one.
    const known = new Set([...accepted, ...faucetTxs]);
    let lovelace = 0n;
    let ntx = 0n;
    for (const address of addresses) {
      for (const u of await chain.utxosAt(address)) {
        expect(known.has(u.txHash), `UTxO ${u.txHash}#${u.outputIndex} from an unknown tx`).toBe(true);
        expect(spent.has(`${u.txHash}#${u.outputIndex}`)).toBe(false);
        lovelace += u.assets.lovelace ?? 0n;
        ntx += u.assets[unit] ?? 0n;
      }
    }
    // Value moved only between the four clients: what they hold is what they got minus the fees they paid.
    expect(ntx).toBe(FUND_NTX * BigInt(CLIENTS));
    expect(lovelace + fees).toBe(FUND_LOVELACE * BigInt(CLIENTS));
  });
});
