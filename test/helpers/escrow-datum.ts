import type { EscrowDatum } from "../../offchain/index.js";
import { randomHex } from "./emulator.js";

/** A Preprod base address (payment and stake key) an escrow datum can pay. */
export const PREPROD_PAYOUT = "addr_test1qz2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3jcu5d8ps7zex2k2xt3uqxgjqnnj83ws8lhrn648jjxtwq2ytjqp";

/** A valid Locked escrow datum with fresh keys and hashes; `over` replaces fields. */
export const escrowDatum = (over: Partial<EscrowDatum> = {}): EscrowDatum => ({
  state: { kind: "locked" },
  requester: randomHex(28),
  payout: PREPROD_PAYOUT,
  proofKey: `02${randomHex(32)}`,
  jobHash: randomHex(32),
  amount: 1_000n,
  deadline: 1_800_000_000_000,
  challengeWindow: 3_600_000,
  arbiter: null,
  ...over,
});
