import { DataB, data, pBool, pConstrToData, pData, pInt, plam, plet, pnilData, pnot, pprepend, passert, peqData, punConstrData, unit, type Term, type PData, type TermList } from "@harmoniclabs/plu-ts";
import { NOTHING, ctag, fields, hd, plookupOr, tl, unMap } from "./escrow.js";

/*
 * Probe scripts for scripts/bench/eval-scaling.ts: `\ctx -> ()` terms that read what an escrow's Batch spend reads,
 * in different ways, so the local evaluator's cost of one spend can be measured per shape. Never deployed.
 */
export function probeScripts(batchHash: string): Record<string, Term<any>> {
  const batchCred = pConstrToData.$(pInt(1)).$(pprepend(data).$(pData(new DataB(batchHash))).$(pnilData));
  const wdrlOf = (txF: TermList<PData>) => unMap(hd(tl(tl(tl(tl(tl(tl(txF))))))));
  const found = (txF: TermList<PData>) => pnot.$(peqData.$(plookupOr.$(batchCred).$(pData(NOTHING)).$(wdrlOf(txF))).$(pData(NOTHING)));
  return {
    always: plam(data, unit)((_ctx) => passert.$(pBool(true))),
    unconstrCtx: plam(data, unit)((ctx) => passert.$(ctag(punConstrData.$(ctx)).eq(pInt(0)))),
    txInfoFields: plam(data, unit)((ctx) => passert.$(ctag(punConstrData.$(hd(fields(ctx)))).eq(pInt(0)))),
    minPath: plam(data, unit)((ctx) =>
      plet(fields(ctx)).in((L) =>
        plet(tl(L)).in((t) =>
          passert.$(
            ctag(punConstrData.$(hd(tl(t))))
              .eq(pInt(1))
              .and(ctag(punConstrData.$(hd(t))).eq(pInt(7)))
              .and(found(fields(hd(L)) as TermList<PData>)),
          ),
        ),
      ),
    ),
  };
}
