/**
 * zod schemas of every request the API takes (body, params, query). Amounts are decimal strings of base units,
 * hashes lowercase hex, times POSIX ms: the same conventions as the market's wire messages.
 */
import { z } from "zod/v4";

export const HashHex = z.string().regex(/^[0-9a-f]{64}$/, "32-byte lowercase hex");
export const JobHashParams = z.object({ jobHash: HashHex }).strict();
export const TxHashParams = z.object({ txHash: HashHex }).strict();
/** bech32 or CIP-30 hex; checked for the network by normalizeAddress. */
export const AddressText = z.string().min(50).max(256);
export const AddressParams = z.object({ address: AddressText }).strict();
const CborHex = (max: number) => z.string().regex(/^([0-9a-fA-F]{2})+$/, "CBOR hex").max(max);
const OutRefText = z.string().regex(/^[0-9a-f]{64}#[0-9]{1,5}$/, "txHash#index");

export const OffersQuery = z
  .object({
    region: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/).optional(),
    limit: z.coerce.number().int().positive().max(1000).default(200),
  })
  .strict();

/** What a CIP-30 wallet gives: its change address and `getUtxos()`. */
const WalletFunds = {
  address: AddressText,
  utxos: z.array(CborHex(32_768)).min(1, "the wallet has no UTxOs (fund it first)").max(500),
};

export const LockRequest = z
  .object({
    ...WalletFunds,
    jobHash: HashHex,
    /** What the page showed the person: the lock is refused when the match asks for more. */
    expectedAmount: z.string().regex(/^[0-9]{1,39}$/).optional(),
  })
  .strict();

export const ClaimRequest = z
  .object({
    ...WalletFunds,
    /** Escrows to claim (default: every claimable one paying this address). */
    escrows: z.array(OutRefText).min(1).max(50).optional(),
  })
  .strict();

export const SubmitRequest = z
  .object({
    tx: CborHex(65_536),
    /** CIP-30 `signTx(tx, true)`: the wallet's witness set. */
    witnessSet: CborHex(65_536),
  })
  .strict();

export const PrepareBidRequest = z.object({ bid: z.record(z.string(), z.unknown()).describe("market UnsignedBid") }).strict();

/** A market Bid (UnsignedBid + signature {signature, key}); its fields are the market decoder's to check. */
export const PostBidRequest = z.record(z.string(), z.unknown()).describe("market Bid: UnsignedBid + CIP-8 signature {signature, key}");
