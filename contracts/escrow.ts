import {
  DataConstr,
  DataI,
  DataMap,
  bool,
  data,
  fn,
  int,
  list,
  pBool,
  pByteString,
  pConstrToData,
  pData,
  pInt,
  pIntToData,
  papp,
  passert,
  pblake2b_256,
  peqData,
  perror,
  pfn,
  phoist,
  pif,
  pisEmpty,
  pkeccak_256,
  plam,
  plet,
  pnilData,
  phead,
  ptail,
  pnot,
  pprepend,
  precursive,
  pserialiseData,
  punBData,
  punConstrData,
  punIData,
  punListData,
  punMapData,
  pverifySecp256k1ECDSA,
  unit,
  pair,
  type Term,
  type PData,
  type PList,
  type PInt,
  type PBool,
  type PPair,
  type TermList,
  type TermInt,
} from "@harmoniclabs/plu-ts";
// Not re-exported by the package root; the one-argument builtins without plu-ts' Data unwrapping.
import { pfstPairNoUnwrap, psndPairNoUnwrap } from "@harmoniclabs/plu-ts-onchain/dist/pluts/lib/builtins/pair/noUnwrap.js";

/*
 * The escrow spending validator (Plutus V3), written against raw Data with builtins so every step's cost is
 * visible: a batched claim runs it once per input, so nothing here scans a list it does not have to. Inputs and
 * outputs are reached through indices carried in the redeemer and then checked (the input's out-ref must be the
 * one being spent), instead of searching the whole transaction for each escrow.
 *
 * Encodings (the blueprint in contracts/blueprint.ts and offchain/datum.ts mirror them):
 *   Datum    = Constr 0 [state, requester, payout, proofKey, jobHash, amount, deadline, window, arbiter]
 *   state    = Locked: Constr 0 [] | Completed: Constr 1 [resultHash, completedAt] | Disputed: Constr 2 []
 *              (the state comes first so a transition only re-conses the head; a lease variant can be added as
 *              Constr 3 without touching the others)
 *   arbiter  = Some: Constr 0 [pkh] | None: Constr 1 []
 *   Redeemer = Complete  Constr 0 [inIdx, outIdx, signature64, resultHash]
 *            | Accept    Constr 1 [inIdx, providerOut, requesterOut]
 *            | Claim     Constr 2 [inIdx, providerOut, requesterOut]
 *            | Refund    Constr 3 []
 *            | Dispute   Constr 4 [inIdx, outIdx]
 *            | Resolve   Constr 5 [inIdx, providerOut, requesterOut, providerShare]
 *            | Cancel    Constr 6 []
 *            | Batch     Constr 7 [inIdx]   (the batch run below settles this input)
 *   escrowRef (signed in the completion proof) = blake2b_256(serialiseData(spent out-ref))
 *   payout tag: every output that a single-escrow path settles carries the inline datum = that escrow's out-ref,
 *   so one output can never count for two escrows (double satisfaction).
 *
 * Batches (withdraw-zero): a second script (batchValidator) is registered as a stake credential, and a batch
 * transaction withdraws 0 from it. The ledger runs it once, as a Rewarding script, and that one run walks every
 * script input and settles all of them (see batchSettles). Each escrow input's spend, with the Batch redeemer, only
 * checks that this withdrawal is in the transaction (the escrow is applied to the batch script's hash).
 *   BatchRedeemer (the withdrawal's) = Claim: Constr 0 [] | Accept: Constr 1 []
 */

export const EMPTY_MAP = new DataMap([]);
export const ZERO = new DataI(0);
export const NOTHING = new DataConstr(1, []);

/** unMapData (plu-ts 0.9 types it as a two-argument function; at runtime it is the one-argument builtin). */
export function unMap(d: Term<PData>) {
  return (punMapData as unknown as { $(d: Term<PData>): TermList<PPair<PData, PData>> }).$(d);
}

/*
 * plu-ts' `.fst`/`.snd` on a pair assume Data-encoded components and insert unIData/unListData; the pair from
 * unConstrData already holds an integer and a list, so read it with the non-unwrapping builtins.
 */
export function ctag(p: Term<PPair<PInt, PList<PData>>>) {
  return pfstPairNoUnwrap(int, list(data)).$(p) as unknown as TermInt;
}
export function cfields(p: Term<PPair<PInt, PList<PData>>>) {
  return psndPairNoUnwrap(int, list(data)).$(p) as unknown as TermList<PData>;
}

/** Fields of a Constr. */
export function fields(d: Term<PData>) {
  return cfields(punConstrData.$(d));
}

export const hd = (xs: Term<PList<PData>>) => phead(data).$(xs);
export const tl = (xs: Term<PList<PData>>) => ptail(data).$(xs);

/**
 * The n-th element of a Data list. Batched claims walk the output list once per escrow, so the walk skips four
 * elements per recursion (a recursion step costs several times a tailList). Built from the raw builtins: plu-ts
 * let-binds `.head`/`.tail` and could evaluate tl(tl(tl(xs))) before knowing the list is that long. A negative
 * or out-of-range index fails.
 */
export const pnth = phoist(
  precursive(
    pfn([fn([list(data), int], data), list(data), int], data)((self, xs, i) =>
      pif(data)
        .$(pInt(4).ltEq(i))
        .then(papp(papp(self, tl(tl(tl(tl(xs))))), i.sub(pInt(4))))
        .else(
          pif(data)
            .$(i.eq(pInt(0)))
            .then(hd(xs))
            .else(
              pif(data)
                .$(i.eq(pInt(1)))
                .then(hd(tl(xs)))
                .else(
                  pif(data)
                    .$(i.eq(pInt(2)))
                    .then(hd(tl(tl(xs))))
                    .else(pif(data).$(i.eq(pInt(3))).then(hd(tl(tl(tl(xs))))).else(perror(data))),
                ),
            ),
        ),
    ),
  ),
);

export function nth(xs: Term<PList<PData>>, i: Term<PInt> | number) {
  return pnth.$(xs).$(typeof i === "number" ? pInt(i) : i);
}

/** Value of `key` in a Data map (as a pair list), or `fallback`. */
export const plookupOr = phoist(
  precursive(
    pfn([fn([data, data, list(pair(data, data))], data), data, data, list(pair(data, data))], data)(
      (self, key, fallback, entries) =>
        pif(data)
          .$(pisEmpty.$(entries))
          .then(fallback)
          .else(
            pif(data)
              .$(peqData.$(entries.head.fst).$(key))
              .then(entries.head.snd)
              .else(papp(papp(papp(self, key), fallback), entries.tail)),
          ),
    ),
  ),
);

/** Whether `who` (B pkh) is among the signatories. */
export const psignedBy = phoist(
  precursive(
    pfn([fn([data, list(data)], bool), data, list(data)], bool)((self, who, sigs) =>
      pif(bool)
        .$(pisEmpty.$(sigs))
        .then(pBool(false))
        .else(peqData.$(sigs.head).$(who).or(papp(papp(self, who), sigs.tail))),
    ),
  ),
);

/** POSIX time of a finite interval bound; fails on an infinite one (the paths that read a bound require it). */
export const pfiniteTime = phoist(plam(data, int)((bound) => punIData.$(fields(fields(bound).head).head)));

/** Lovelace of a ledger Value: ada is always its first entry. */
export const plovelace = phoist(plam(data, int)((value) => punIData.$(unMap(unMap(value).head.snd).head.snd)));

/** Quantity of (policy, name) in a ledger Value; other policies' tokens of the same name count for nothing. */
export const pntxOf = phoist(
  pfn([data, data, data], int)((policy, name, value) =>
    punIData.$(plookupOr.$(name).$(pData(ZERO)).$(unMap(plookupOr.$(policy).$(pData(EMPTY_MAP)).$(unMap(value))))),
  ),
);

/** How many inputs spend from `address`. */
const pinputsAt = phoist(
  precursive(
    pfn([fn([data, list(data)], int), data, list(data)], int)((self, address, inputs) =>
      pif(int)
        .$(pisEmpty.$(inputs))
        .then(pInt(0))
        .else(
          pif(int)
            .$(peqData.$(address).$(fields(nth(fields(inputs.head), 1)).head))
            .then(pInt(1))
            .else(pInt(0))
            .add(papp(papp(self, address), inputs.tail)),
        ),
    ),
  ),
);

/** Fields [address, value, datum, refScript] of the input at `idx`, which must be the out-ref being spent. */
export const pownResolved = phoist(
  pfn([list(data), data, int], list(data))((inputs, ownRef, idx) =>
    plet(fields(nth(inputs, idx))).in((inF) =>
      pif(list(data))
        .$(peqData.$(inF.head).$(ownRef))
        .then(fields(inF.tail.head))
        .else(perror(list(data))),
    ),
  ),
);

export interface EscrowConstants {
  /** 0x1901 ‖ EIP-712 domain separator, hex. */
  messagePrefix: string;
  /** keccak256 of the CompletionProof type string, hex. */
  typeHash: string;
}

/**
 * The escrow validator term: `\ntxPolicy ntxName batchHash ctx -> ()`, the first three applied off-chain as Data
 * (B bytes; batchHash is the batch script's hash, see batchValidator). A Batch spend is decided before anything else
 * is read, with no list walked: it runs once per escrow of a batch, and every list operation on the transaction
 * costs the evaluator time in the list's length. The other paths read the datum inside a lambda applied only in
 * their branch.
 */
export function escrowValidator(constants: EscrowConstants) {
  return pfn([data, data, data, data], unit)((ntxPolicy, ntxName, batchHash, ctx) => {
    const ctxF = plet(fields(ctx));
    const txF = plet(fields(ctxF.head));
    const info = plet(punConstrData.$(ctxF.tail.tail.head));
    const single = plam(list(data), bool)((infoF) => spendChecks(constants, ntxPolicy, ntxName, ctxF, txF, infoF as TermList<PData>));
    const spend = plet(punConstrData.$(ctxF.tail.head)).in((red) =>
      pif(bool)
        .$(ctag(red).eq(pInt(7)))
        // Batch: the batch script must run in this transaction (a withdrawal from its stake credential); it settles
        // every script input, this one included.
        .then(
          pnot.$(
            peqData
              .$(plookupOr.$(pConstrToData.$(pInt(1)).$(pprepend(data).$(batchHash).$(pnilData))).$(pData(NOTHING)).$(withdrawalsOf(txF)))
              .$(pData(NOTHING)),
          ),
        )
        .else(papp(single, cfields(info))),
    );
    return passert.$(ctag(info).eq(pInt(1)).and(spend));
  });
}

/**
 * The batch validator term: `\ntxPolicy ntxName ctx -> ()`. Registered as a stake credential; a batch transaction
 * withdraws 0 from it, so the ledger runs it once (Rewarding purpose), and that run settles the batch. Any other
 * purpose fails: registration uses the legacy certificate, which runs no script, and nobody can deregister it.
 */
export function batchValidator() {
  return pfn([data, data, data], unit)((ntxPolicy, ntxName, ctx) => {
    const ctxF = plet(fields(ctx));
    const txF = plet(fields(ctxF.head));
    return passert.$(ctag(punConstrData.$(ctxF.tail.tail.head)).eq(pInt(2)).and(batchSettles(ntxPolicy, ntxName, ctxF, txF)));
  });
}

/** Withdrawals of the transaction (TxInfo field 6), as a pair list keyed by Credential. */
function withdrawalsOf(txF: TermList<PData>) {
  return unMap(txF.tail.tail.tail.tail.tail.tail.head);
}

/**
 * The batch run: one pass over the transaction's inputs settles every input locked by a script (an escrow's
 * Batch spend only checks that this run is present, and this run cannot know the escrow script's hash, which depends
 * on its own), whatever redeemer that input's spend carries, so no escrow can be left out or swapped. An input of
 * another script must then also look like a claimable escrow and be paid for as one: that only adds to what the
 * transaction must pay. Every such input must be a Completed escrow, and either (Claim) past its challenge window or (Accept)
 * signed for by its requester; the provider is owed the datum's `amount` of NTX, the requester all its lovelace.
 *
 * Payouts are grouped: consecutive escrow inputs (in the ledger's input order) with the same payout address form
 * one provider group, and with the same requester one requester group. Each group, as it opens, takes the next
 * output from the front of the output list (provider group first when both open at the same input), and when it
 * closes that output must be at the group's address and hold the group's whole sum. The cursor only moves
 * forward, so every output stands for at most one group, and a group holds every escrow it sums: no output is
 * counted twice (the argument is in docs/DECISIONS.md). The walk is linear in inputs plus outputs.
 */
function batchSettles(ntxPolicy: Term<PData>, ntxName: Term<PData>, ctxF: TermList<PData>, txF: TermList<PData>): Term<PBool> {
  const ntxOf = (value: Term<PData>) => pntxOf.$(ntxPolicy).$(ntxName).$(value);

  // A group with nothing owed checks nothing (the opening sentinel, or escrows of 0 NTX).
  const providerPaid = (key: Term<PData>, out: Term<PData>, sum: TermInt) =>
    sum.eq(pInt(0)).or(plet(fields(out)).in((o) => peqData.$(o.head).$(key).and(ntxOf(o.tail.head).gtEq(sum))));
  const requesterPaid = (key: Term<PData>, out: Term<PData>, sum: TermInt) =>
    sum
      .eq(pInt(0))
      .or(
        plet(fields(out)).in((o) =>
          peqData
            .$(fields(o.head).head)
            .$(pConstrToData.$(pInt(0)).$(pprepend(data).$(key).$(pnilData)))
            .and(plovelace.$(o.tail.head).gtEq(sum)),
        ),
      );

  type Loop = Term<any>;
  // What every step reads from the transaction (mode, the claim floor, the signatories) is passed along as
  // arguments: computed once at the first application, never re-read from the context inside the loop.
  const walk = precursive(
    pfn(
      [
        fn([int, int, list(data), list(data), list(data), data, data, int, data, data, int], bool),
        int,
        int,
        list(data),
        list(data),
        list(data),
        data,
        data,
        int,
        data,
        data,
        int,
      ],
      bool,
    )((self, mode, floor, sigs, ins, cur, pKey, pOut, pSum, rKey, rOut, rSum) => {
      const loop = (...args: Term<any>[]): Term<PBool> => args.reduce((f: Loop, a) => papp(f, a), papp(papp(papp(self, mode), floor), sigs)) as Term<PBool>;
      // The requester half of one escrow's step, after the provider half chose the cursor and provider group.
      const requesterStep = (rest: Term<PList<PData>>, c: Term<PList<PData>>, pk: Term<PData>, po: Term<PData>, ps: TermInt, requester: Term<PData>, lovelace: TermInt) =>
        pif(bool)
          .$(peqData.$(requester).$(rKey))
          .then(loop(rest, c, pk, po, ps, rKey, rOut, rSum.add(lovelace)))
          .else(requesterPaid(rKey, rOut, rSum).and(loop(rest, tl(c), pk, po, ps, requester, hd(c), lovelace)));
      const escrowStep = (rest: Term<PList<PData>>, resolved: TermList<PData>) =>
        plet(fields(fields(resolved.tail.tail.head).head)).in((dF) => {
          const state = plet(punConstrData.$(dF.head));
          const requester = plet(dF.tail.head);
          const payout = plet(dF.tail.tail.head);
          const d5 = plet(dF.tail.tail.tail.tail.tail);
          const amount = plet(punIData.$(d5.head));
          const lovelace = plet(plovelace.$(resolved.tail.head));
          const completedAt = punIData.$(cfields(state).tail.head);
          const window = punIData.$(d5.tail.tail.head);
          const ready = ctag(state)
            .eq(pInt(1))
            // A negative amount would lower what the other escrows of its provider group are owed.
            .and(amount.gtEq(pInt(0)))
            .and(
              pif(bool)
                .$(mode.eq(pInt(0)))
                .then(floor.gtEq(completedAt.add(window)))
                .else(mode.eq(pInt(1)).and(psignedBy.$(requester).$(sigs))),
            );
          return ready.and(
            pif(bool)
              .$(peqData.$(payout).$(pKey))
              .then(requesterStep(rest, cur, pKey, pOut, pSum.add(amount), requester, lovelace))
              .else(providerPaid(pKey, pOut, pSum).and(requesterStep(rest, tl(cur), payout, hd(cur), amount, requester, lovelace))),
          );
        });
      return pif(bool)
        .$(pisEmpty.$(ins))
        .then(providerPaid(pKey, pOut, pSum).and(requesterPaid(rKey, rOut, rSum)))
        .else(
          plet(fields(fields(ins.head).tail.head)).in((resolved) =>
            pif(bool)
              .$(ctag(punConstrData.$(fields(resolved.head).head)).eq(pInt(1)))
              .then(escrowStep(ins.tail, resolved))
              .else(loop(ins.tail, cur, pKey, pOut, pSum, rKey, rOut, rSum)),
          ),
        );
    }),
  );
  const outputs = punListData.$(txF.tail.tail.head);
  const none = pData(ZERO);
  const txF7 = plet(txF.tail.tail.tail.tail.tail.tail.tail);
  const mode = plet(ctag(punConstrData.$(ctxF.tail.head)));
  // Claim needs a finite lower bound; Accept needs none, so the bound is read only in Claim mode.
  const floor = pif(int).$(mode.eq(pInt(0))).then(pfiniteTime.$(fields(txF7.head).head)).else(pInt(0));
  return [mode, floor, punListData.$(txF7.tail.head), punListData.$(txF.head), outputs, none, none, pInt(0), none, none, pInt(0)].reduce(
    (f: Term<any>, a) => papp(f, a as Term<any>),
    walk,
  ) as Term<PBool>;
}

function spendChecks(
  constants: EscrowConstants,
  ntxPolicy: Term<PData>,
  ntxName: Term<PData>,
  ctxF: TermList<PData>,
  txF: TermList<PData>,
  infoF: TermList<PData>,
): Term<PBool> {
  {
    const ownRef = plet(infoF.head);
    // Spending's datum is `Just d` = Constr 0 [d]; a missing datum fails here.
    const dF = plet(fields(fields(infoF.tail.head).head));
    const state = plet(punConstrData.$(dF.head));
    const stTag = plet(ctag(state));
    const requester = plet(dF.tail.head);
    const payout = plet(dF.tail.tail.head);
    const d3 = plet(dF.tail.tail.tail);
    const proofKey = d3.head;
    const jobHash = d3.tail.head;
    const amount = plet(punIData.$(d3.tail.tail.head));
    const deadline = punIData.$(d3.tail.tail.tail.head);
    const window = punIData.$(d3.tail.tail.tail.tail.head);
    const arbiter = plet(d3.tail.tail.tail.tail.tail.head);

    const red = plet(punConstrData.$(ctxF.tail.head));
    const rTag = plet(ctag(red));
    // Redeemer and state fields exist only for some variants: see withFields, and completedAt reads through `nth`.
    const rF = plet(cfields(red));

    // Fixed TxInfo fields always exist, so plain .tail chains (shared by plu-ts) are safe here.
    const txF2 = plet(txF.tail.tail);
    const outputs = plet(punListData.$(txF2.head));
    const txF7 = plet(txF2.tail.tail.tail.tail.tail);
    const intervalF = plet(fields(txF7.head));
    const sigs = plet(punListData.$(txF7.tail.head));
    const lower = () => pfiniteTime.$(intervalF.head);
    const upper = () => pfiniteTime.$(intervalF.tail.head);
    const completedAt = () => punIData.$(nth(cfields(state), 1));
    const signed = (who: Term<PData>) => psignedBy.$(who).$(sigs);

    // Each helper below is used exactly once: plu-ts inlines a let-bound lambda at every use, so the branches
    // first compute what differs (the new state, the provider's share) and share one check after.
    // Redeemer fields exist only for some variants. They are read inside a lambda applied in the branch that
    // needs them: plu-ts let-binds .head/.tail and places the binding above every use, so on `rF` itself a field
    // read in two branches would be evaluated for every redeemer (and fail on Refund's empty list).
    const withFields = (body: (r: TermList<PData>) => Term<PBool>) => papp(plam(list(data), bool)((r) => body(r as TermList<PData>)), rF);

    const ownOut = (r: TermList<PData>) => pownResolved.$(punListData.$(txF.head)).$(ownRef).$(punIData.$(r.head));

    // Same address, same value, no reference script, and the datum with only its state replaced.
    const continuing = (r: TermList<PData>, newState: Term<PData>) => {
      const inOut = plet(ownOut(r));
      const newDatum = pConstrToData.$(pInt(0)).$(pprepend(data).$(newState).$(dF.tail));
      const expected = pConstrToData
        .$(pInt(0))
        .$(
          pprepend(data)
            .$(inOut.head)
            .$(
              pprepend(data)
                .$(inOut.tail.head)
                .$(
                  pprepend(data)
                    .$(pConstrToData.$(pInt(2)).$(pprepend(data).$(newDatum).$(pnilData)))
                    .$(pprepend(data).$(pData(NOTHING)).$(pnilData)),
                ),
            ),
        );
      // Two escrows with identical datum and value would expect the very same continuing output, so one output
      // could stand for both; a state transition therefore spends no other input from this address.
      return peqData
        .$(nth(outputs, punIData.$(r.tail.head)))
        .$(expected)
        .and(pinputsAt.$(inOut.head).$(punListData.$(txF.head)).eq(pInt(1)));
    };

    // Pays `providerNtx` to the datum's payout address and everything else (the rest of the NTX and all the
    // escrow's lovelace) back to the requester, each in its own output tagged with this escrow's out-ref.
    const settle = (r: TermList<PData>, share: Term<PInt>) => {
      const providerNtx = plet(share);
      const inOut = plet(ownOut(r));
      const tag = plet(pConstrToData.$(pInt(2)).$(pprepend(data).$(ownRef).$(pnilData)));
      const pOut = plet(fields(nth(outputs, punIData.$(r.tail.head))));
      const rOut = plet(fields(nth(outputs, punIData.$(r.tail.tail.head))));
      const ntxOf = (value: Term<PData>) => pntxOf.$(ntxPolicy).$(ntxName).$(value);
      const providerPaid = providerNtx
        .eq(pInt(0))
        .or(
          peqData
            .$(pOut.head)
            .$(payout)
            .and(peqData.$(pOut.tail.tail.head).$(tag))
            .and(ntxOf(pOut.tail.head).gtEq(providerNtx))
            // One output cannot be both (when the provider is also the requester, it would hold only the larger part).
            .and(pnot.$(peqData.$(r.tail.head).$(r.tail.tail.head))),
        );
      const requesterPaid = peqData
        .$(fields(rOut.head).head)
        .$(pConstrToData.$(pInt(0)).$(pprepend(data).$(requester).$(pnilData)))
        .and(peqData.$(rOut.tail.tail.head).$(tag))
        .and(plovelace.$(rOut.tail.head).gtEq(plovelace.$(inOut.tail.head)))
        .and(ntxOf(rOut.tail.head).gtEq(amount.sub(providerNtx)));
      return providerPaid.and(requesterPaid);
    };

    const orFail = <T extends Term<PData> | Term<PInt>>(cond: Term<PBool>, value: T, t: typeof data | typeof int) =>
      pif(t as typeof data).$(cond).then(value as Term<PData>).else(perror(t as typeof data)) as unknown as T;

    const completedState = (r: TermList<PData>) => {
      const resultHash = plet(punBData.$(r.tail.tail.tail.head));
      const ub = plet(upper());
      const escrowRef = pblake2b_256.$(pserialiseData.$(ownRef));
      const structHash = pkeccak_256.$(
        pByteString(constants.typeHash).concat(escrowRef).concat(punBData.$(jobHash)).concat(resultHash),
      );
      const digest = pkeccak_256.$(pByteString(constants.messagePrefix).concat(structHash));
      const checks = stTag
        .eq(pInt(0))
        .and(ub.ltEq(deadline))
        .and(resultHash.length.eq(pInt(32)))
        .and(pverifySecp256k1ECDSA.$(punBData.$(proofKey)).$(digest).$(punBData.$(r.tail.tail.head)));
      const state = pConstrToData
        .$(pInt(1))
        .$(pprepend(data).$(r.tail.tail.tail.head).$(pprepend(data).$(pIntToData.$(ub)).$(pnilData)));
      return orFail(checks, state, data);
    };

    // Dispute: only with an arbiter to settle it, only inside the window, only by the requester.
    const disputedState = () =>
      orFail(
        stTag
          .eq(pInt(1))
          .and(signed(requester))
          .and(ctag(punConstrData.$(arbiter)).eq(pInt(0)))
          .and(upper().ltEq(completedAt().add(window))),
        pConstrToData.$(pInt(2)).$(pnilData),
        data,
      );

    const providerShare = (r: TermList<PData>) =>
      pif(int)
        .$(rTag.eq(pInt(1)))
        // Accept: the requester pays the provider now, window or not.
        .then(orFail(stTag.eq(pInt(1)).and(signed(requester)), amount, int))
        .else(
          pif(int)
            .$(rTag.eq(pInt(2)))
            // Claim: anyone may submit it once the window is over; the outputs are what is checked.
            .then(orFail(stTag.eq(pInt(1)).and(lower().gtEq(completedAt().add(window))), amount, int))
            .else(
              plet(punIData.$(r.tail.tail.tail.head)).in((share) =>
                orFail(
                  rTag
                    .eq(pInt(5))
                    .and(stTag.eq(pInt(2)))
                    .and(signed(fields(arbiter).head))
                    .and(share.gtEq(pInt(0)))
                    .and(share.ltEq(amount)),
                  share,
                  int,
                ),
              ),
            ),
        );

    const ok = pif(bool)
      .$(rTag.eq(pInt(3)))
      // Refund: never completed and the deadline has passed; the requester signs and takes everything.
      .then(stTag.eq(pInt(0)).and(signed(requester)).and(lower().gtEq(deadline)))
      .else(
        pif(bool)
          .$(rTag.eq(pInt(6)))
          // Cancel: requester and provider (the key of the payout address) both sign.
          .then(signed(requester).and(signed(fields(fields(payout).head).head)))
          .else(
            pif(bool)
              .$(rTag.eq(pInt(0)).or(rTag.eq(pInt(4))))
              .then(withFields((r) => continuing(r, pif(data).$(rTag.eq(pInt(0))).then(completedState(r)).else(disputedState()))))
              .else(
                withFields((r) => settle(r, providerShare(r))),
              ),
          ),
      );

    return ok;
  }
}
