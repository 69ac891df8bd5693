import {
  MAINNET_PROTOCOL_PARAMETERS,
  emulatorLucid,
  generateEmulatorAccountFromPrivateKey,
  paymentKeyHashOf,
  type Emulator,
  type EmulatorAccount,
  type LucidEvolution,
  type ProtocolParameters,
  type TxSignBuilder,
} from "../../offchain/emulator.js";
import { Wallet } from "ethers";
import {
  buildDeployReferenceScriptTx,
  buildLockTx,
  compressedProofKey,
  escrowScript,
  getEscrowUtxo,
  loadDeployment,
  ntxUnit,
  submitTx,
  type EscrowDeployment,
  type EscrowScript,
  type EscrowUtxo,
  type LockJob,
  type NtxAsset,
} from "../../offchain/index.js";

/*
 * An escrow world on Lucid's Emulator with local UPLC evaluation on (Lucid's default, never turned off here):
 * requester, provider, arbiter and an outsider, real NTX under a test policy, a look-alike "NTX" under another
 * policy, and the escrow script deployed as a reference script.
 */

export const TEST_NTX: NtxAsset = { policyId: "5e".repeat(28), assetName: "4e5458" };
export const FAKE_NTX: NtxAsset = { policyId: "fa".repeat(28), assetName: "4e5458" };

export type Role = "requester" | "provider" | "arbiter" | "outsider";

export interface Party {
  account: EmulatorAccount;
  address: string;
  keyHash: string;
}

export interface EscrowWorld {
  emulator: Emulator;
  lucid: LucidEvolution;
  parties: Record<Role, Party>;
  /** The provider's secp256k1 proof key (ethers). */
  proofWallet: Wallet;
  script: EscrowScript;
  deployment: EscrowDeployment;
  ntxUnit: string;
  fakeUnit: string;
  as(role: Role): LucidEvolution;
  submit(role: Role, tx: TxSignBuilder, coSigners?: Role[]): Promise<string>;
  lock(jobs: Array<Partial<LockJob>>): Promise<EscrowUtxo[]>;
  balance(role: Role, unit?: string): Promise<bigint>;
  job(overrides?: Partial<LockJob>): LockJob;
}

export async function createEscrowWorld(
  options: { ntxPerParty?: bigint; lovelacePerParty?: bigint; parameters?: ProtocolParameters; registerBatchScript?: boolean } = {},
): Promise<EscrowWorld> {
  const ntx = options.ntxPerParty ?? 1_000_000_000n;
  const lovelace = options.lovelacePerParty ?? 2_000_000_000n;
  const assets = { lovelace, [ntxUnit(TEST_NTX)]: ntx, [ntxUnit(FAKE_NTX)]: ntx };
  const accounts = {
    requester: generateEmulatorAccountFromPrivateKey(assets),
    provider: generateEmulatorAccountFromPrivateKey(assets),
    arbiter: generateEmulatorAccountFromPrivateKey(assets),
    outsider: generateEmulatorAccountFromPrivateKey(assets),
  };
  const { emulator, lucid } = await emulatorLucid(Object.values(accounts), options.parameters ?? MAINNET_PROTOCOL_PARAMETERS);
  const parties = Object.fromEntries(
    Object.entries(accounts).map(([role, account]) => [
      role,
      { account, address: account.address, keyHash: paymentKeyHashOf(account.address) },
    ]),
  ) as Record<Role, Party>;
  const as = (role: Role) => {
    lucid.selectWallet.fromPrivateKey(parties[role].account.privateKey);
    return lucid;
  };
  const submit = async (role: Role, tx: TxSignBuilder, coSigners: Role[] = []) => {
    as(role);
    return submitTx(lucid, tx, { privateKeys: coSigners.map((r) => parties[r].account.privateKey) });
  };
  const script = escrowScript(TEST_NTX, "Custom");
  const deployTx = await buildDeployReferenceScriptTx(as("outsider"), { script, registerStake: options.registerBatchScript ?? true });
  const deployHash = await submit("outsider", deployTx);
  const deployment = await loadDeployment(lucid, script, { txHash: deployHash, outputIndex: 0 });
  const proofWallet = Wallet.createRandom() as unknown as Wallet;

  const job = (overrides: Partial<LockJob> = {}): LockJob => ({
    payout: parties.provider.address,
    proofKey: compressedProofKey(proofWallet.signingKey),
    jobHash: randomHex(32),
    amount: 50_000_000n,
    deadline: emulator.now() + 3_600_000,
    challengeWindow: 600_000,
    arbiter: parties.arbiter.keyHash,
    ...overrides,
  });

  const world: EscrowWorld = {
    emulator,
    lucid,
    parties,
    proofWallet,
    script,
    deployment,
    ntxUnit: ntxUnit(TEST_NTX),
    fakeUnit: ntxUnit(FAKE_NTX),
    as,
    submit,
    job,
    async lock(jobs) {
      const tx = await buildLockTx(as("requester"), { script, jobs: jobs.map((j) => job(j)), now: emulator.now() });
      const txHash = await submit("requester", tx);
      return Promise.all(jobs.map((_, i) => getEscrowUtxo(lucid, script, { txHash, outputIndex: i })));
    },
    async balance(role, unit = "lovelace") {
      const utxos = await emulator.getUtxos(parties[role].address);
      return utxos.reduce((sum, u) => sum + (u.assets[unit] ?? 0n), 0n);
    },
  };
  return world;
}

export function randomHex(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");
}
