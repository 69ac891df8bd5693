import { blake2b } from "@noble/hashes/blake2b";
import { bytesToHex, concatBytes } from "@noble/hashes/utils";
import { UPLCEncoder, UPLCProgram, UPLCVersion } from "@harmoniclabs/plu-ts";
import { batchValidator, escrowValidator } from "./escrow.js";
import { LEASE_MAX_CLOSE_WINDOW_MS, leaseValidator } from "./lease.js";
import { completionProofTypeHash, eip712MessagePrefix } from "./eip712.js";

/*
 * The CIP-57 blueprint of the escrow, built deterministically from the plu-ts source: `contracts/build.ts`
 * writes it to contracts/plutus.json and test/contracts/blueprint.test.ts fails when the committed file differs
 * from a fresh build. The compiled code is UNAPPLIED; off-chain code applies the NTX policy id and asset name
 * (offchain/script.ts), so every network gets its own script hash from the same blueprint.
 */

const PLUTUS_V3_VERSION = new UPLCVersion(1, 1, 0);

/** Compiling takes seconds of blocking work per validator: each is compiled once per process. */
const compiled = new Map<string, Uint8Array>();
function once(name: string, compile: () => Uint8Array): Uint8Array {
  let flat = compiled.get(name);
  if (!flat) compiled.set(name, (flat = compile()));
  return flat;
}

/** Flat-encoded UPLC of the unapplied escrow validator. */
export function compileEscrowFlat(): Uint8Array {
  return once("escrow", () => compileFlat(escrowValidator({ messagePrefix: eip712MessagePrefix(), typeHash: completionProofTypeHash() })));
}

/** Flat-encoded UPLC of the lease validator (it takes no parameters: the datum names the asset). */
export function compileLeaseFlat(): Uint8Array {
  return once("lease", () => compileFlat(leaseValidator()));
}

/** Flat-encoded UPLC of the unapplied batch (withdraw-zero) validator. */
export function compileBatchFlat(): Uint8Array {
  return once("batch", () => compileFlat(batchValidator()));
}

/** Flat-encoded UPLC of a probe script (contracts/probes.ts), compiled like the validators. */
export function compileProbeFlat(name: string, term: unknown): Uint8Array {
  return once(`probe:${name}`, () => compileFlat(term));
}

function compileFlat(term: unknown): Uint8Array {
  // Explicit options: plu-ts' `compile()` default path inlines hoisted helpers at every use (2.7 KB instead of 1.2).
  const uplc = (term as unknown as { toUPLC(level: number, options: object): unknown }).toUPLC(0, {
    targetUplcVersion: PLUTUS_V3_VERSION,
    removeTraces: true,
    delayHoists: false,
    addMarker: false,
    uplcOptimizations: { groupApplications: true, inlineSingleUse: true, simplifyWrappedPartialFuncApps: true, removeForceDelay: true },
  });
  return new Uint8Array(UPLCEncoder.compile(new UPLCProgram(PLUTUS_V3_VERSION, uplc as never)).toBuffer().buffer);
}

/** CBOR byte-string header + bytes: the on-ledger form of a script (one CBOR wrap around the flat bytes). */
export function cborBytes(bytes: Uint8Array): Uint8Array {
  const n = bytes.length;
  let head: number[];
  if (n < 24) head = [0x40 + n];
  else if (n < 0x100) head = [0x58, n];
  else if (n < 0x10000) head = [0x59, n >> 8, n & 0xff];
  else head = [0x5a, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  return concatBytes(new Uint8Array(head), bytes);
}

/** Plutus V3 script hash: blake2b-224 of the language tag 0x03 followed by the script's CBOR bytes. */
export function plutusV3Hash(scriptCbor: Uint8Array): string {
  return bytesToHex(blake2b(concatBytes(new Uint8Array([0x03]), scriptCbor), { dkLen: 28 }));
}

const bytes = (title: string, description?: string) => ({ title, dataType: "bytes", ...(description ? { description } : {}) });
const integer = (title: string, description?: string) => ({ title, dataType: "integer", ...(description ? { description } : {}) });
const ref = (name: string) => ({ $ref: `#/definitions/${name}` });
const constr = (title: string, index: number, fields: object[]) => ({ title, dataType: "constructor", index, fields });

export function buildBlueprint() {
  const code = cborBytes(compileEscrowFlat());
  const batchCode = cborBytes(compileBatchFlat());
  const leaseCode = cborBytes(compileLeaseFlat());
  const parameters = [
    { title: "ntxPolicy", schema: ref("PolicyId") },
    { title: "ntxName", schema: ref("AssetName") },
  ];
  return {
    preamble: {
      title: "ntx-market/escrow",
      description: "NTX job escrow: lock per job, pay the provider against an on-chain checked EIP-712 completion proof; leases: pay a long-running service as it runs",
      version: "0.1.0",
      plutusVersion: "v3",
      compiler: { name: "plu-ts", version: "0.9.0" },
      license: "Apache-2.0",
    },
    validators: [
      {
        title: "escrow.spend",
        datum: { title: "datum", schema: ref("EscrowDatum") },
        redeemer: { title: "redeemer", schema: ref("EscrowRedeemer") },
        parameters: [...parameters, { title: "batchHash", schema: ref("ScriptHash") }],
        compiledCode: bytesToHex(code),
        hash: plutusV3Hash(code),
      },
      {
        // A stake credential: a batch withdraws 0 from it, and that one run settles every escrow of the batch.
        title: "escrow_batch.withdraw",
        redeemer: { title: "redeemer", schema: ref("BatchRedeemer") },
        parameters,
        compiledCode: bytesToHex(batchCode),
        hash: plutusV3Hash(batchCode),
      },
      {
        // Long-running services paid as they run (stake-pool nodes): one UTxO per lease, claimed by the provider.
        title: "lease.spend",
        datum: { title: "datum", schema: ref("LeaseDatum") },
        redeemer: { title: "redeemer", schema: ref("LeaseRedeemer") },
        parameters: [],
        compiledCode: bytesToHex(leaseCode),
        hash: plutusV3Hash(leaseCode),
      },
    ],
    definitions: {
      ByteArray: { dataType: "bytes" },
      Int: { dataType: "integer" },
      PolicyId: bytes("PolicyId", "28-byte minting policy hash of NTX"),
      AssetName: bytes("AssetName", "NTX asset name (hex 4e5458 on mainnet)"),
      VerificationKeyHash: bytes("VerificationKeyHash", "28-byte payment key hash"),
      ScriptHash: bytes("ScriptHash", "28-byte hash of the escrow_batch.withdraw script applied to the same NTX asset"),
      Credential: {
        title: "Credential",
        anyOf: [
          constr("VerificationKey", 0, [ref("VerificationKeyHash")]),
          constr("Script", 1, [bytes("ScriptHash")]),
        ],
      },
      StakeCredential: {
        title: "StakeCredential",
        anyOf: [
          constr("Inline", 0, [ref("Credential")]),
          constr("Pointer", 1, [integer("slot"), integer("transactionIndex"), integer("certificateIndex")]),
        ],
      },
      "Option$StakeCredential": {
        title: "Option",
        anyOf: [constr("Some", 0, [ref("StakeCredential")]), constr("None", 1, [])],
      },
      Address: {
        title: "Address",
        anyOf: [
          constr("Address", 0, [
            { title: "paymentCredential", ...ref("Credential") },
            { title: "stakeCredential", ...ref("Option$StakeCredential") },
          ]),
        ],
      },
      "Option$VerificationKeyHash": {
        title: "Option",
        anyOf: [constr("Some", 0, [ref("VerificationKeyHash")]), constr("None", 1, [])],
      },
      EscrowState: {
        title: "EscrowState",
        anyOf: [
          constr("Locked", 0, []),
          constr("Completed", 1, [bytes("resultHash", "32 bytes"), integer("completedAt", "POSIX ms: upper bound of the Complete tx")]),
          constr("Disputed", 2, []),
        ],
      },
      EscrowDatum: {
        title: "EscrowDatum",
        anyOf: [
          constr("EscrowDatum", 0, [
            { title: "state", ...ref("EscrowState") },
            { title: "requester", ...ref("VerificationKeyHash") },
            { title: "payout", ...ref("Address") },
            bytes("proofKey", "33-byte compressed secp256k1 public key of the provider"),
            bytes("jobHash", "32 bytes"),
            integer("amount", "NTX base units"),
            integer("deadline", "POSIX ms"),
            integer("challengeWindow", "ms"),
            { title: "arbiter", ...ref("Option$VerificationKeyHash") },
          ]),
        ],
      },
      EscrowRedeemer: {
        title: "EscrowRedeemer",
        anyOf: [
          constr("Complete", 0, [integer("inputIndex"), integer("outputIndex"), bytes("signature", "64 bytes r‖s"), bytes("resultHash", "32 bytes")]),
          constr("Accept", 1, [integer("inputIndex"), integer("providerOutput"), integer("requesterOutput")]),
          constr("Claim", 2, [integer("inputIndex"), integer("providerOutput"), integer("requesterOutput")]),
          constr("Refund", 3, []),
          constr("Dispute", 4, [integer("inputIndex"), integer("outputIndex")]),
          constr("Resolve", 5, [integer("inputIndex"), integer("providerOutput"), integer("requesterOutput"), integer("providerShare")]),
          constr("Cancel", 6, []),
          constr("Batch", 7, [integer("inputIndex")]),
        ],
      },
      LeaseDatum: {
        title: "LeaseDatum",
        anyOf: [
          constr("LeaseDatum", 0, [
            { title: "buyer", ...ref("VerificationKeyHash") },
            { title: "provider", ...ref("Address") },
            { title: "policy", ...ref("PolicyId") },
            { title: "name", ...ref("AssetName") },
            integer("rate", "base units of the asset per 1000 ms of POSIX time (one slot on every Cardano network)"),
            integer("lastClaim", "POSIX ms: accrual runs from here"),
            integer("end", "POSIX ms: nothing accrues after it; from it on anyone may settle"),
            integer("notice", "ms: how long before the balance runs out the provider warns the buyer, then stops (not read on-chain)"),
            bytes("jobHash", "32 bytes: the service job this lease pays for (not read on-chain; carried unchanged)"),
          ]),
        ],
      },
      LeaseRedeemer: {
        title: "LeaseRedeemer",
        description: `owed(t) = floor(rate × (min(t, end) − lastClaim) / 1000), at most the lease's balance. A continuing output sits at the output index equal to the lease's input index; Close/Settle outputs carry the lease's out-ref as inline datum. Close's validity interval is at most ${LEASE_MAX_CLOSE_WINDOW_MS} ms.`,
        anyOf: [
          constr("LeaseClaim", 0, [integer("inputIndex")]),
          constr("LeaseTopUp", 1, [integer("inputIndex"), integer("newEnd", "POSIX ms ≥ end; the output adds ≥ rate × (newEnd − end) / 1000")]),
          constr("LeaseClose", 2, [integer("inputIndex"), integer("providerOutput"), integer("buyerOutput")]),
          constr("LeaseSettle", 3, [integer("inputIndex"), integer("providerOutput"), integer("buyerOutput")]),
        ],
      },
      BatchRedeemer: {
        title: "BatchRedeemer",
        description: "settles every escrow input of the transaction; outputs from index 0 pay the payout and requester groups in input order",
        anyOf: [constr("Claim", 0, []), constr("Accept", 1, [])],
      },
    },
  };
}

export type Blueprint = ReturnType<typeof buildBlueprint>;

export function blueprintJson(): string {
  return `${JSON.stringify(buildBlueprint(), null, 2)}\n`;
}
