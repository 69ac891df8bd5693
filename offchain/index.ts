/*
 * The public API of offchain/ (escrow part): what src/*, the devnet chain server and tests import. Builders take a
 * LucidEvolution instance (Emulator, Blockfrost or the devnet server alike) and return an unsigned TxSignBuilder;
 * submitTx signs, submits and awaits it.
 */
export { NtxError, isNtxError } from "./errors.js";
export { NTX_EIP712_DOMAIN } from "./eip712-domain.js";
export { LUCID_NETWORK, MAINNET_NTX, NETWORKS, ntxAsset, ntxAssetSchema, ntxUnit, type NtxAsset, type NtxNetwork } from "./ntx.js";
export { escrowScript, escrowScriptFor, type EscrowScript } from "./script.js";
export {
  BatchRedeemer,
  EscrowRedeemer,
  EscrowStateKind,
  MAX_DATUM_BYTES,
  addressToData,
  dataToAddress,
  decodeEscrowDatum,
  encodeEscrowDatum,
  escrowDatumSchema,
  payoutTag,
  withState,
  type EscrowDatum,
  type EscrowState,
} from "./datum.js";
export {
  COMPLETION_PROOF_TYPES,
  completionProofDigest,
  compressedProofKey,
  escrowRef,
  onChainSignature,
  signCompletionProof,
  verifyCompletionProof,
  type CompletionProofFields,
  type TypedDataSigner,
} from "./proof.js";
export { decodeEscrowUtxo, getEscrowUtxo, readEscrowUtxos, type EscrowScan, type EscrowUtxo } from "./escrow-utxos.js";
export { EscrowReads, type EscrowReadSource } from "./escrow-reads.js";
export { submitTx, type SubmitOptions } from "./submit.js";
export {
  DEFAULT_TTL_MS,
  MAX_CLAIM_BATCH,
  MAX_LOCK_JOBS,
  buildAcceptBatchTx,
  buildAcceptTx,
  buildCancelTx,
  buildClaimTx,
  buildCompleteTx,
  buildDeployReferenceScriptTx,
  buildDisputeTx,
  buildRegisterBatchScriptTx,
  buildLockTx,
  completedMinLovelace,
  buildRefundTx,
  buildResolveTx,
  loadDeployment,
  onChainTime,
  requesterAddress,
  unspendableAddress,
  type AcceptBatchParams,
  type AcceptParams,
  type CancelParams,
  type ClaimParams,
  type CompleteParams,
  type DeployReferenceScriptParams,
  type DisputeParams,
  type EscrowDeployment,
  type LockJob,
  type LockParams,
  type RefundParams,
  type ResolveParams,
} from "./tx/index.js";

/* Leases (long-running services paid as they run): see offchain/tx/lease-*.ts for the builders' contracts. */
export { LEASE_MAX_CLOSE_WINDOW_MS, LeaseRedeemer, MAX_LEASE_DATUM_BYTES, decodeLeaseDatum, encodeLeaseDatum, leaseDatumSchema, leaseOwed, type LeaseDatum } from "./lease-datum.js";
export { leaseScript, leaseScriptFor, type LeaseScript } from "./lease-script.js";
export { decodeLeaseUtxo, getLeaseUtxo, leaseStatus, readLeases, type LeaseFilter, type LeaseStatus, type LeaseUtxo, type LeaseView } from "./lease-utxos.js";
export {
  LEASE_CLOSE_TTL_MS,
  LEASE_OPEN_TTL_MS,
  MAX_LEASE_CLAIM_BATCH,
  buildLeaseClaimTx,
  buildLeaseCloseTx,
  buildLeaseDeployTx,
  buildLeaseOpenTx,
  buildLeaseSettleTx,
  buildLeaseTopUpTx,
  leaseTopUpEnd,
  loadLeaseDeployment,
  type LeaseClaimParams,
  type LeaseCloseParams,
  type LeaseDeployment,
  type LeaseOpenParams,
  type LeaseSettleParams,
  type LeaseTopUpParams,
} from "./tx/index.js";
