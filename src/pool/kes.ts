import { z } from "zod/v4";
import { NtxError } from "../../offchain/errors.js";
import { decodeCbor } from "../market/cbor.js";

/**
 * How long a block producer's operational certificate lasts. A KES key signs for `MAX_KES_EVOLUTIONS` periods of
 * `SLOTS_PER_KES_PERIOD` slots from the certificate's start period (the same on mainnet, preprod and preview:
 * 129,600 slots of 1 s = 36 h, 62 periods ≈ 93 days); past that the producer makes no block. The CLI reads the
 * certificate it seals and warns well before.
 */
export const SLOTS_PER_KES_PERIOD = 129_600;
export const MAX_KES_EVOLUTIONS = 62;
/** Warn with a week and a half left (7 periods of 36 h). */
export const KES_WARN_PERIODS = 7;

const TextEnvelope = z.object({ type: z.string().max(100), description: z.string().max(1000).optional(), cborHex: z.string().regex(/^([0-9a-fA-F]{2}){1,4096}$/) }).strict();

export interface OpCert {
  counter: number;
  kesPeriod: number;
}

/** Reads an operational certificate's text envelope (`cardano-cli node issue-op-cert` output). */
export function readOpCert(text: string): OpCert {
  let envelope: z.infer<typeof TextEnvelope>;
  try {
    envelope = TextEnvelope.parse(JSON.parse(text));
  } catch {
    throw new NtxError("OPCERT_INVALID", "not an operational certificate text envelope");
  }
  if (envelope.type !== "NodeOperationalCertificate") throw new NtxError("OPCERT_INVALID", `envelope type ${envelope.type} is not NodeOperationalCertificate`);
  const value = decodeCbor(Buffer.from(envelope.cborHex, "hex"));
  const body = Array.isArray(value) ? value[0] : undefined;
  if (!Array.isArray(body) || body.length !== 4 || typeof body[1] !== "number" || typeof body[2] !== "number") throw new NtxError("OPCERT_INVALID", "operational certificate body is not [kes vkey, counter, kes period, signature]");
  return { counter: body[1], kesPeriod: body[2] };
}

export interface KesStatus {
  currentPeriod: number;
  remainingPeriods: number;
  expiresAtSlot: number;
  warn: boolean;
  expired: boolean;
}

export function kesStatus(cert: OpCert, currentSlot: number, warnPeriods = KES_WARN_PERIODS): KesStatus {
  const currentPeriod = Math.floor(currentSlot / SLOTS_PER_KES_PERIOD);
  const endPeriod = cert.kesPeriod + MAX_KES_EVOLUTIONS;
  const remainingPeriods = endPeriod - currentPeriod;
  return { currentPeriod, remainingPeriods, expiresAtSlot: endPeriod * SLOTS_PER_KES_PERIOD, warn: remainingPeriods <= warnPeriods, expired: remainingPeriods <= 0 };
}
