import {
  bool,
  data,
  int,
  list,
  pConstrToData,
  pData,
  pInt,
  pIntToData,
  papp,
  passert,
  peqData,
  perror,
  pfn,
  pif,
  pisEmpty,
  plam,
  plet,
  pnilData,
  pnot,
  pprepend,
  punConstrData,
  punIData,
  punListData,
  unit,
  type PBool,
  type PData,
  type PInt,
  type Term,
  type TermBool,
  type TermInt,
  type TermList,
} from "@harmoniclabs/plu-ts";
import { NOTHING, cfields, ctag, fields, nth, pfiniteTime, plovelace, pntxOf, pownResolved, psignedBy, unMap } from "./escrow.js";

/*
 * The lease validator (Plutus V3): a long-running service paid as it runs. A second validator of the escrow's
 * blueprint rather than new redeemers of the escrow, so the job escrow's script, and what every job spend pays for
 * it, stay exactly as they were.
 *
 * Encodings (contracts/blueprint.ts and offchain/lease-datum.ts mirror them):
 *   Datum    = Constr 0 [buyer, provider, policy, name, rate, lastClaim, end, notice, jobHash]
 *              buyer: payment key hash (signs TopUp and Close, gets the rest); provider: payout Address, whose
 *              payment key signs LeaseClaim; policy/name: the asset that pays; rate: base units per 1000 ms of
 *              POSIX time (one slot on every Cardano network); lastClaim, end: POSIX ms; notice: ms (off-chain:
 *              how long before the balance runs out the provider warns, then stops; carried unchanged); jobHash: the
 *              service job it pays for (off-chain: binds the lease to the job's spec; carried unchanged). Claim and
 *              TopUp rebuild the continuing datum from the input's own fields, so every field but lastClaim/end
 *              (jobHash included: it sits in the copied tail) must come out exactly as it went in.
 *   Redeemer = LeaseClaim  Constr 0 [inIdx]
 *            | LeaseTopUp  Constr 1 [inIdx, newEnd]
 *            | LeaseClose  Constr 2 [inIdx, providerOut, buyerOut]
 *            | LeaseSettle Constr 3 [inIdx, providerOut, buyerOut]
 *   owed(t) = rate × (min(t, end) − lastClaim) / 1000, floored, never more than the lease's balance of the asset.
 *
 * Double satisfaction: a path with a continuing output (Claim, TopUp) finds it at the output index equal to its
 * own input index (checked against the spent out-ref), so two leases in one transaction always check two
 * different outputs; Close and Settle pay into outputs tagged with the lease's out-ref (inline datum), like the
 * escrow's single paths. The argument is in docs/DECISIONS.md ("Leases").
 */

/** Longest validity interval a LeaseClose may have: the provider is paid up to its upper bound. */
export const LEASE_MAX_CLOSE_WINDOW_MS = 600_000;

export function leaseValidator() {
  return pfn([data], unit)((ctx) => {
    const ctxF = plet(fields(ctx));
    const info = plet(punConstrData.$(ctxF.tail.tail.head));
    const checks = plam(list(data), bool)((infoF) => leaseChecks(ctxF, fields(ctxF.head), infoF as TermList<PData>));
    return passert.$(ctag(info).eq(pInt(1)).and(papp(checks, cfields(info))));
  });
}

/** The smaller of two integers; `a` is let-bound so it is evaluated once. */
const min = (a: TermInt, b: TermInt) => plet(a).in((x) => pif(int).$(x.ltEq(b)).then(x).else(b)) as TermInt;

function leaseChecks(ctxF: TermList<PData>, txFields: TermList<PData>, infoF: TermList<PData>): Term<PBool> {
  const txF = plet(txFields);
  const ownRef = plet(infoF.head);
  // Spending's datum is `Just d` = Constr 0 [d]; a missing datum fails here.
  const dF = plet(fields(fields(infoF.tail.head).head));
  const buyer = plet(dF.head);
  const provider = plet(dF.tail.head);
  const d2 = plet(dF.tail.tail);
  const policy = plet(d2.head);
  const name = plet(d2.tail.head);
  const d4 = plet(d2.tail.tail);
  const rate = plet(punIData.$(d4.head));
  const lastClaim = plet(punIData.$(d4.tail.head));
  const end = plet(punIData.$(d4.tail.tail.head));

  const red = plet(punConstrData.$(ctxF.tail.head));
  const rTag = plet(ctag(red));
  const rF = plet(cfields(red));
  // Every variant starts with the input's own index; pownResolved fails unless it is this input.
  const inIdx = plet(punIData.$(rF.head));
  const resolved = plet(pownResolved.$(punListData.$(txF.head)).$(ownRef).$(inIdx));
  const inValue = plet(resolved.tail.head);
  const balance = plet(pntxOf.$(policy).$(name).$(inValue));
  const lovelaceIn = plet(plovelace.$(inValue));

  const txF2 = plet(txF.tail.tail);
  const outputs = plet(punListData.$(txF2.head));
  const txF7 = plet(txF2.tail.tail.tail.tail.tail);
  const intervalF = plet(fields(txF7.head));
  const signed = (who: Term<PData>) => psignedBy.$(who).$(punListData.$(txF7.tail.head));
  const lower = () => pfiniteTime.$(intervalF.head);
  const upper = () => pfiniteTime.$(intervalF.tail.head);
  /** What has accrued by `t` (capped at end), not yet capped at the balance. */
  const accrued = (t: TermInt) => rate.mult(min(t, end).sub(lastClaim)).div(pInt(1000));

  /*
   * The lease's value in an output: its lovelace passes `lovelaceOk`, the asset's quantity passes `ntxOk`, and it
   * holds nothing else (no other policy, no other name under the asset's policy, no other token of the same name).
   */
  const valueOk = (value: Term<PData>, lovelaceOk: (l: TermInt) => TermBool, ntxOk: (n: TermInt) => TermBool): TermBool =>
    plet(unMap(value)).in((vs) =>
      lovelaceOk(plovelace.$(value)).and(
        pif(bool)
          .$(pisEmpty.$(vs.tail))
          .then(ntxOk(pInt(0)))
          .else(
            plet(vs.tail).in((rest) =>
              pisEmpty
                .$(rest.tail)
                .and(peqData.$(rest.head.fst).$(policy))
                .and(
                  plet(unMap(rest.head.snd)).in((inner) =>
                    pisEmpty.$(inner.tail).and(peqData.$(inner.head.fst).$(name)).and(ntxOk(punIData.$(inner.head.snd) as TermInt)),
                  ),
                ),
            ),
          ),
      ),
    );

  /**
   * The output at this input's own index continues the lease: same address, no reference script, the datum with
   * field `at` (5 = lastClaim, 6 = end) replaced by `value`, and its value as `lovelaceOk`/`ntxOk` say.
   */
  const continues = (at: 5 | 6, newValue: TermInt, lovelaceOk: (l: TermInt) => TermBool, ntxOk: (n: TermInt) => TermBool) => {
    const keep = (x: Term<PData>, xs: Term<any>) => pprepend(data).$(x).$(xs);
    const tail =
      at === 5
        ? keep(d4.head, keep(pIntToData.$(newValue), d4.tail.tail))
        : keep(d4.head, keep(d4.tail.head, keep(pIntToData.$(newValue), d4.tail.tail.tail)));
    const newDatum = pConstrToData.$(pInt(0)).$(keep(buyer, keep(provider, keep(policy, keep(name, tail)))));
    return plet(fields(nth(outputs, inIdx))).in((o) =>
      peqData
        .$(o.head)
        .$(resolved.head)
        .and(peqData.$(o.tail.tail.head).$(pConstrToData.$(pInt(2)).$(pprepend(data).$(newDatum).$(pnilData))))
        .and(peqData.$(o.tail.tail.tail.head).$(pData(NOTHING)))
        .and(valueOk(o.tail.head, lovelaceOk, ntxOk)),
    );
  };

  // Close and Settle: `share` to the provider's address, the rest of the asset and all the lovelace to the buyer's
  // key, each in its own output tagged with this lease's out-ref.
  const payouts = (r: TermList<PData>, share: TermInt) =>
    plet(share).in((pay) => {
      const tag = plet(pConstrToData.$(pInt(2)).$(pprepend(data).$(ownRef).$(pnilData)));
      const ntxOf = (value: Term<PData>) => pntxOf.$(policy).$(name).$(value);
      const pIdx = r.tail.head;
      const bIdx = r.tail.tail.head;
      const providerPaid = pay
        .eq(pInt(0))
        .or(
          plet(fields(nth(outputs, punIData.$(pIdx)))).in((o) =>
            peqData
              .$(o.head)
              .$(provider)
              .and(peqData.$(o.tail.tail.head).$(tag))
              .and(ntxOf(o.tail.head).gtEq(pay))
              // One output cannot be both (when the provider is also the buyer it would hold only the larger part).
              .and(pnot.$(peqData.$(pIdx).$(bIdx))),
          ),
        );
      const buyerPaid = plet(fields(nth(outputs, punIData.$(bIdx)))).in((o) =>
        peqData
          .$(fields(o.head).head)
          .$(pConstrToData.$(pInt(0)).$(pprepend(data).$(buyer).$(pnilData)))
          .and(peqData.$(o.tail.tail.head).$(tag))
          .and(plovelace.$(o.tail.head).gtEq(lovelaceIn))
          .and(ntxOf(o.tail.head).gtEq(balance.sub(pay))),
      );
      return providerPaid.and(buyerPaid);
    });
  /** What the provider is owed at `t`: the accrual, never negative, never more than the balance. */
  const owedAt = (t: TermInt) => plet(accrued(t)).in((a) => min(pif(int).$(a.gtEq(pInt(0))).then(a).else(pInt(0)) as TermInt, balance));
  const withFields = (body: (r: TermList<PData>) => TermBool) => papp(plam(list(data), bool)((r) => body(r as TermList<PData>)), rF);

  return pif(bool)
    .$(rTag.eq(pInt(0)))
    // LeaseClaim: the provider takes what accrued up to the lower bound (capped at end and at the balance); the lease
    // continues with lastClaim moved there and exactly that much less of the asset.
    .then(
      plet(min(lower(), end)).in((t) =>
        plet(min(accrued(t), balance)).in((claim) =>
          signed(fields(fields(provider).head).head)
            .and(rate.gtEq(pInt(0)))
            .and(t.gtEq(lastClaim))
            .and(continues(5, t, (l) => l.eq(lovelaceIn), (n) => n.eq(balance.sub(claim)))),
        ),
      ),
    )
    .else(
      pif(bool)
        .$(rTag.eq(pInt(1)))
        // LeaseTopUp: the buyer, before the end, moves end to newEnd ≥ end and adds at least rate × (newEnd − end)
        // of the asset (lovelace may grow, never shrink).
        .then(
          withFields((r) =>
            plet(punIData.$(r.tail.head)).in((newEnd) =>
              signed(buyer)
                .and(upper().ltEq(end))
                .and(newEnd.gtEq(end))
                .and(
                  continues(
                    6,
                    newEnd,
                    (l) => l.gtEq(lovelaceIn),
                    (n) => n.gtEq(balance).and(n.sub(balance).mult(pInt(1000)).gtEq(rate.mult(newEnd.sub(end)))),
                  ),
                ),
            ),
          ),
        )
        .else(
          pif(bool)
            .$(rTag.eq(pInt(2)))
            // LeaseClose: the buyer ends it; the provider is paid up to the upper bound of a short validity interval.
            .then(
              withFields((r) =>
                plet(upper()).in((ub) =>
                  signed(buyer)
                    .and(ub.sub(lower()).ltEq(pInt(LEASE_MAX_CLOSE_WINDOW_MS)))
                    .and(payouts(r, owedAt(ub))),
                ),
              ),
            )
            .else(
              pif(bool)
                .$(rTag.eq(pInt(3)))
                // LeaseSettle: after the end anyone settles both sides.
                .then(withFields((r) => lower().gtEq(end).and(payouts(r, owedAt(end)))))
                .else(perror(bool)),
            ),
        ),
    );
}
