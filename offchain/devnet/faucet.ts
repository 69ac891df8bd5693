import { Lucid, getAddressDetails } from "@lucid-evolution/lucid";
import type { LucidEvolution, Provider, UTxO } from "@lucid-evolution/lucid";
import { NtxError } from "../errors.js";
import type { DevnetLedger } from "./ledger.js";
import type { DevnetNtxPolicy } from "./ntx-policy.js";

/**
 * Funds an address with devnet ADA and freshly minted devnet NTX through an ordinary signed transaction, so the
 * faucet's payments go through the same checks, records and blocks as everyone else's.
 */
export class DevnetFaucet {
  private constructor(
    private readonly lucid: LucidEvolution,
    private readonly ledger: DevnetLedger,
    private readonly policy: DevnetNtxPolicy,
    private readonly policyKey: string,
  ) {}

  static async create(ledger: DevnetLedger, faucetKey: string, policy: DevnetNtxPolicy, policyKey: string): Promise<DevnetFaucet> {
    // The faucet reads the ledger in-process, pending outputs included, so several requests chain within one block.
    const refuse = () => Promise.reject(new Error("not available to the devnet faucet"));
    const provider: Provider = {
      getProtocolParameters: async () => ledger.protocolParameters,
      getUtxos: async (a) => (typeof a === "string" ? ledger.spendableUtxosAt(a) : []),
      getUtxosWithUnit: async (a, unit) => (typeof a === "string" ? ledger.spendableUtxosAt(a).filter((u: UTxO) => (u.assets[unit] ?? 0n) > 0n) : []),
      getUtxoByUnit: refuse,
      getUtxosByOutRef: async () => [],
      getDelegation: async () => ({ poolId: null, rewards: 0n }),
      getDatum: refuse,
      awaitTx: async () => true,
      submitTx: refuse,
      evaluateTx: refuse,
    };
    const lucid = await Lucid(provider, "Custom", { presetProtocolParameters: ledger.protocolParameters });
    lucid.selectWallet.fromPrivateKey(faucetKey);
    return new DevnetFaucet(lucid, ledger, policy, policyKey);
  }

  /** Must run inside the server's submission queue: it reads and then extends the mempool. */
  async fund(address: string, lovelace: bigint, ntx: bigint): Promise<string> {
    let details;
    try {
      details = getAddressDetails(address);
    } catch {
      throw new NtxError("DEVNET_FAUCET_BAD_ADDRESS", `not a Cardano address: ${address}`);
    }
    if (details.networkId !== 0) throw new NtxError("DEVNET_FAUCET_BAD_ADDRESS", `${address} is a mainnet address; the devnet uses testnet addresses (addr_test…)`);
    if (lovelace < 1_000_000n) throw new NtxError("DEVNET_FAUCET_BAD_AMOUNT", "lovelace must be at least 1000000 (1 ADA) so the output meets the minimum UTxO value");
    if (ntx < 0n) throw new NtxError("DEVNET_FAUCET_BAD_AMOUNT", "ntx must not be negative");
    const assets: Record<string, bigint> = ntx > 0n ? { lovelace, [this.policy.unit]: ntx } : { lovelace };
    let builder = this.lucid.newTx().pay.ToAddress(address, assets);
    if (ntx > 0n) {
      builder = builder.mintAssets({ [this.policy.unit]: ntx }).attach.MintingPolicy(this.policy.script).addSignerKey(this.policy.keyHash);
    }
    const unsigned = await builder.complete();
    // The policy key signs only when minting: an unneeded witness is refused by the ledger as extraneous.
    const signer = unsigned.sign.withWallet();
    const signed = await (ntx > 0n ? signer.sign.withPrivateKey(this.policyKey) : signer).complete();
    return this.ledger.submit(Buffer.from(signed.toCBOR(), "hex"));
  }
}
