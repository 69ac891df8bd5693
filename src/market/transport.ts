/**
 * What the matcher needs from the messaging layer, in market terms. src/nats implements it over JetStream; the
 * matcher never sees a NATS type, so it stays testable and the client library stays in one folder.
 */
export interface KvRecord {
  value: Uint8Array;
  revision: number;
}

export interface Watch {
  /** Resolves once the initial state (every current value) has been delivered. */
  ready: Promise<void>;
  stop(): Promise<void>;
}

export interface MarketKv {
  get(key: string): Promise<KvRecord | null>;
  /** Throws NtxError KV_EXISTS when the key already has a value. */
  create(key: string, value: Uint8Array): Promise<number>;
  /** Compare-and-set: throws NtxError KV_CONFLICT when `revision` is not the key's latest. */
  update(key: string, value: Uint8Array, revision: number): Promise<number>;
  /** Latest value of every key, then every change; `record` null = deleted. */
  watch(onEntry: (key: string, record: KvRecord | null) => void): Promise<Watch>;
}

export interface InboundMessage {
  subject: string;
  data: Uint8Array;
  /** Stream sequence: the identity of this bid in the stream. */
  seq: number;
  deliveryCount: number;
  ack(): void;
  nak(delayMs?: number): void;
  term(): void;
  /** Resets the redelivery timer. */
  working(): void;
}

export interface BidConsumerOptions {
  /** The durable consumer shared by all matcher instances (the consumer group). */
  durable: string;
  ackWaitMs: number;
  maxAckPending: number;
}

export interface StoredMatch {
  data: Uint8Array;
  /** Stream sequence: what the job's next match must expect. */
  seq: number;
  /** Stream sequence of the bid the match was made for. */
  bidSeq: number | undefined;
}

export interface MarketTransport {
  capacity: MarketKv;
  jobs: MarketKv;
  /**
   * The verified offer book, written by matchers only, keyed `<region>.<providerId>`: the raw offers stream keeps
   * one message per subject, so whoever may publish there could replace a provider's stored offer with junk.
   */
  offerBook: MarketKv;
  consumeBids(options: BidConsumerOptions, onBid: (message: InboundMessage) => void): Promise<Watch>;
  /**
   * Latest offer per provider, then every new one: first the verified book (`bookRevision` set: the key's
   * revision), then the raw offers stream (unset), whose last message per subject may be anyone's.
   */
  watchOffers(onOffer: (subject: string, data: Uint8Array, bookRevision?: number) => void): Promise<Watch>;
  /** Sets a bid aside that fits nothing yet (one per job: a newer one replaces it). */
  park(jobHash: string, data: Uint8Array, bidSeq: number): Promise<void>;
  /** Takes a parked bid out (it was matched, expired, or turned away). */
  unpark(jobHash: string): Promise<void>;
  /** Every parked bid, then each change; `data` null = taken out. */
  watchParked(onParked: (jobHash: string, data: Uint8Array | null, bidSeq: number) => void): Promise<Watch>;
  /**
   * Confirmations as the server stores them, with the time it stored each (POSIX ms): that time, not when a
   * matcher gets round to one, says whether it came in time.
   */
  subscribeConfirms(onConfirm: (subject: string, data: Uint8Array, storedAt: number) => void): Promise<Watch>;
  /**
   * The confirmations stored for a job after stream sequence `afterSeq` (its current match), oldest first, at most
   * `max`: to recover one that arrived while no matcher held the bid. Not just the last one: a late confirmation
   * of an earlier attempt, or anything a provider publishes on the subject later, must not hide an in-time one.
   */
  confirmsAfter(jobHash: string, afterSeq: number, max: number): Promise<Array<{ data: Uint8Array; storedAt: number }>>;
  /** Providers' job events as they are published (locked, released, finished: what frees a reservation). */
  subscribeJobEvents(onEvent: (subject: string, data: Uint8Array) => void): Promise<Watch>;
  /**
   * Durably stores a match if the job's last stored match is still `expectedLastSeq` (0: the job has none), and
   * returns its sequence; throws NtxError MATCH_EXISTS otherwise. A retried publish of the same matchId is a no-op.
   */
  publishMatch(jobHash: string, data: Uint8Array, options: { matchId: string; bidSeq: number; expectedLastSeq: number }): Promise<number>;
  /** The last match stored for a job. */
  lastMatch(jobHash: string): Promise<StoredMatch | null>;
}
