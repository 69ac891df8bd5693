/**
 * The matcher's in-memory order book: one entry per provider (its latest verified offer) with what is still
 * free once reservations are subtracted. Entries sit in blocks of up to 128, per region and apart for GPU
 * offers; blocks are clustered in price space like R-tree leaves (an offer joins the block whose price box
 * grows least, a full block splits at the median of its widest price dimension), so each block's price box
 * is narrow. Each block keeps the largest free resources and the lowest unit prices of its entries: a bid
 * skips every block that cannot fit it or whose cheapest possible price cannot beat the best found so far.
 * A match costs O(blocks) bound checks plus a few block scans instead of a pass over every offer.
 */
import { floatPrices, jobPrice, type FloatPrices } from "./pricing.js";
import type { BidTerms } from "./decode.js";
import type { JobResources, Offer } from "./schemas.js";

const BLOCK_TARGET = 64;
/**
 * Relative error bound on a float job price: a sum of non-negative products of doubles, each within a few ulps
 * (2^-53) of the exact value, so 1e-9 leaves a wide margin.
 */
const EPS = 1e-9;
type Dim = "cpu" | "mem" | "disk" | "gpu";
/**
 * Price dimensions the blocks are clustered on. Not disk (jobs rarely weigh much there) and, for offers
 * without GPUs, not the GPU price (no bid pays it): every split spent on those would widen the boxes that do
 * decide a match.
 */
const CPU_DIMS: readonly Dim[] = ["cpu", "mem"];
const GPU_DIMS: readonly Dim[] = ["cpu", "mem", "gpu"];

/** Offers of one region: GPU offers apart, so a GPU bid never looks at the others. */
interface RegionIndex {
  cpu: Block[];
  gpu: Block[];
}

export interface Usage {
  cpuCores: number;
  memoryMiB: number;
  diskGiB: number;
  gpuIndices: number[];
}

export interface BookEntry {
  providerId: string;
  offer: Offer;
  /** EIP-712 digest of the offer (0x hex). */
  digest: string;
  /** The offer's wire JSON, made once: every match of this offer embeds it. */
  wire: string;
  /** blake2b-256 (hex) of the bytes this entry was verified from, when its owner recorded them. */
  sourceHash?: string;
  region: string;
  /** When this provider first entered the book: older wins a tie on price and reputation. */
  firstSeen: number;
  prices: FloatPrices;
  /** Held by reservations recorded in the capacity KV. */
  committed: Usage;
  /** Held by this instance's reservations still being written. */
  held: Usage;
  freeCpu: number;
  freeMem: number;
  freeDisk: number;
  /** GPUs of the offer not in use (kept with the free resources: block maxima read it for every entry). */
  freeGpus: number;
  usedGpus: ReadonlySet<number>;
  block: Block | undefined;
}

interface Block {
  entries: BookEntry[];
  maxCpuP: number;
  maxMemP: number;
  maxDiskP: number;
  maxGpuP: number;
  maxCpu: number;
  maxMem: number;
  maxDisk: number;
  maxFreeGpus: number;
  minCpu: number;
  minMem: number;
  minDisk: number;
  minGpu: number;
  /**
   * The lowest unit prices among entries with any core and memory free: every bid asks for at least one of
   * each, so a full entry can never be matched and must not keep its block's price bound low (once the
   * cheapest providers filled up, every bid scanned their blocks to find nothing there).
   */
  freeMinCpu: number;
  freeMinMem: number;
  freeMinDisk: number;
  freeMinGpu: number;
}

export interface Candidate {
  entry: BookEntry;
  price: bigint;
  gpuIndices: number[];
}

export interface FindOptions {
  now: number;
  /** Filled with the work done (blocks bounded, blocks and entries scanned): a noise-free cost measure. */
  stats?: { blocksBounded: number; blocksScanned: number; entriesScanned: number };
  exclude?: ReadonlySet<string>;
  reputation?: (providerId: string) => number;
}

const emptyUsage = (): Usage => ({ cpuCores: 0, memoryMiB: 0, diskGiB: 0, gpuIndices: [] });

function recompute(block: Block): void {
  block.maxCpuP = block.maxMemP = block.maxDiskP = block.maxGpuP = -Infinity;
  block.minCpu = block.minMem = block.minDisk = block.minGpu = Infinity;
  for (const e of block.entries) {
    if (e.prices.cpu > block.maxCpuP) block.maxCpuP = e.prices.cpu;
    if (e.prices.mem > block.maxMemP) block.maxMemP = e.prices.mem;
    if (e.prices.disk > block.maxDiskP) block.maxDiskP = e.prices.disk;
    if (e.prices.gpu > block.maxGpuP) block.maxGpuP = e.prices.gpu;
    if (e.prices.cpu < block.minCpu) block.minCpu = e.prices.cpu;
    if (e.prices.mem < block.minMem) block.minMem = e.prices.mem;
    if (e.prices.disk < block.minDisk) block.minDisk = e.prices.disk;
    if (e.prices.gpu < block.minGpu) block.minGpu = e.prices.gpu;
  }
  recomputeFree(block);
}

/** Only the free-capacity maxima: holds, releases and commits change an entry's free resources, never its prices. */
function recomputeFree(block: Block): void {
  let maxCpu = 0;
  let maxMem = 0;
  let maxDisk = 0;
  let maxFreeGpus = 0;
  let minCpu = Infinity;
  let minMem = Infinity;
  let minDisk = Infinity;
  let minGpu = Infinity;
  for (const e of block.entries) {
    if (e.freeCpu > maxCpu) maxCpu = e.freeCpu;
    if (e.freeMem > maxMem) maxMem = e.freeMem;
    if (e.freeDisk > maxDisk) maxDisk = e.freeDisk;
    if (e.freeGpus > maxFreeGpus) maxFreeGpus = e.freeGpus;
    if (e.freeCpu < 1 || e.freeMem < 1) continue;
    const p = e.prices;
    if (p.cpu < minCpu) minCpu = p.cpu;
    if (p.mem < minMem) minMem = p.mem;
    if (p.disk < minDisk) minDisk = p.disk;
    if (p.gpu < minGpu) minGpu = p.gpu;
  }
  block.maxCpu = maxCpu;
  block.maxMem = maxMem;
  block.maxDisk = maxDisk;
  block.maxFreeGpus = maxFreeGpus;
  block.freeMinCpu = minCpu;
  block.freeMinMem = minMem;
  block.freeMinDisk = minDisk;
  block.freeMinGpu = minGpu;
}

function newBlock(entries: BookEntry[]): Block {
  const block: Block = { entries, maxCpuP: 0, maxMemP: 0, maxDiskP: 0, maxGpuP: 0, maxCpu: 0, maxMem: 0, maxDisk: 0, maxFreeGpus: 0, minCpu: 0, minMem: 0, minDisk: 0, minGpu: 0, freeMinCpu: 0, freeMinMem: 0, freeMinDisk: 0, freeMinGpu: 0 };
  for (const e of entries) e.block = block;
  recompute(block);
  return block;
}

function refreshFree(e: BookEntry): void {
  const r = e.offer.resources;
  e.freeCpu = r.cpuCores - e.committed.cpuCores - e.held.cpuCores;
  e.freeMem = r.memoryMiB - e.committed.memoryMiB - e.held.memoryMiB;
  e.freeDisk = r.diskGiB - e.committed.diskGiB - e.held.diskGiB;
  e.usedGpus = e.committed.gpuIndices.length + e.held.gpuIndices.length === 0 ? NO_GPUS : new Set([...e.committed.gpuIndices, ...e.held.gpuIndices]);
  e.freeGpus = r.gpus.length - e.usedGpus.size;
}

/** Shared by every entry with no GPU in use; never mutated (usedGpus is always replaced, not changed). */
const NO_GPUS: ReadonlySet<number> = new Set();

/** GPU indices of `entry` that are free and fit the request, or undefined. */
function pickGpus(entry: BookEntry, req: JobResources): number[] | undefined {
  const want = req.gpu;
  if (!want) return [];
  const out: number[] = [];
  const gpus = entry.offer.resources.gpus;
  for (let i = 0; i < gpus.length && out.length < want.count; i++) {
    const g = gpus[i]!;
    if (entry.usedGpus.has(i)) continue;
    if (want.model && g.model !== want.model) continue;
    if (want.minVramMiB && g.vramMiB < want.minVramMiB) continue;
    out.push(i);
  }
  return out.length === want.count ? out : undefined;
}

/**
 * Whether the provider's signed terms accept the bid's escrow terms (DESIGN §4): its arbiter (if any) is one
 * the provider names, its challenge window is within the provider's maximum, and its deadline lies within the
 * provider's horizon from now (the match time).
 */
export function termsAccept(offer: Offer, bid: Pick<BidTerms, "deadline" | "terms">, now: number): boolean {
  const t = offer.terms;
  if (bid.terms.challengeWindowMs > t.maxChallengeWindowMs) return false;
  if (bid.deadline > now + t.maxDeadlineMs) return false;
  return bid.terms.arbiter === undefined || t.arbiters.includes(bid.terms.arbiter);
}

function attributesHold(offer: Offer, wanted: Record<string, string> | undefined): boolean {
  if (!wanted) return true;
  for (const k in wanted) if (offer.attributes[k] !== wanted[k]) return false;
  return true;
}

export class OrderBook {
  readonly #regions = new Map<string, RegionIndex>();
  /** Largest unit price seen per dimension: puts the dimensions on one scale when clustering. */
  readonly #scale: FloatPrices = { cpu: 1, mem: 1, disk: 1, gpu: 1 };
  readonly #entries = new Map<string, BookEntry>();
  readonly #feasible: Block[] = [];
  readonly #bounds: number[] = [];
  readonly #order: number[] = [];

  get size(): number {
    return this.#entries.size;
  }

  get(providerId: string): BookEntry | undefined {
    return this.#entries.get(providerId);
  }

  entries(): IterableIterator<BookEntry> {
    return this.#entries.values();
  }

  /** Adds or replaces a provider's offer; usage already committed against the provider is kept. */
  upsert(offer: Offer, digest: string, now: number, committed?: Usage): BookEntry {
    const previous = this.#entries.get(offer.providerId);
    if (previous) this.#detach(previous);
    const prices = floatPrices(offer.prices);
    const entry: BookEntry = {
      providerId: offer.providerId,
      offer,
      digest,
      wire: JSON.stringify(offer, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)),
      region: offer.region,
      firstSeen: previous?.firstSeen ?? now,
      prices,
      committed: committed ?? previous?.committed ?? emptyUsage(),
      held: previous?.held ?? emptyUsage(),
      freeCpu: 0,
      freeMem: 0,
      freeDisk: 0,
      freeGpus: 0,
      usedGpus: NO_GPUS,
      block: undefined,
    };
    refreshFree(entry);
    this.#entries.set(entry.providerId, entry);
    this.#attach(entry);
    return entry;
  }

  remove(providerId: string): void {
    const entry = this.#entries.get(providerId);
    if (!entry) return;
    this.#detach(entry);
    this.#entries.delete(providerId);
  }

  #sweepCursor: Iterator<BookEntry> | undefined;

  /**
   * Drops offers past their expiry, looking at no more than `budget` entries per call and carrying on where
   * the last call stopped: a big book is swept a slice at a time, never in one pause that bids would wait out
   * (expired offers are skipped by findBest meanwhile). Returns how many were dropped.
   */
  sweep(now: number, budget = Infinity): number {
    let n = 0;
    let seen = 0;
    while (seen < budget && seen < this.#entries.size) {
      this.#sweepCursor ??= this.#entries.values();
      const next = this.#sweepCursor.next();
      if (next.done) {
        this.#sweepCursor = undefined;
        if (budget === Infinity) break;
        continue;
      }
      seen++;
      if (next.value.offer.expiresAt <= now) {
        this.remove(next.value.providerId);
        n++;
      }
    }
    return n;
  }

  setCommitted(providerId: string, usage: Usage): void {
    const entry = this.#entries.get(providerId);
    if (!entry) return;
    entry.committed = usage;
    this.#changed(entry);
  }

  hold(providerId: string, usage: Usage): void {
    const entry = this.#entries.get(providerId);
    if (!entry) return;
    entry.held = addUsage(entry.held, usage, 1);
    this.#changed(entry);
  }

  unhold(providerId: string, usage: Usage): void {
    const entry = this.#entries.get(providerId);
    if (!entry) return;
    entry.held = addUsage(entry.held, usage, -1);
    this.#changed(entry);
  }

  /** Whether `req` fits what `entry` has free now (resources only). */
  fits(entry: BookEntry, req: JobResources): number[] | undefined {
    if (entry.freeCpu < req.cpuCores || entry.freeMem < req.memoryMiB || entry.freeDisk < req.diskGiB) return undefined;
    return pickGpus(entry, req);
  }

  /**
   * The best offer for a bid: resources fit, region/attributes/duration hold, price ≤ maxPrice; lowest price,
   * then highest reputation, then oldest provider.
   */
  findBest(bid: BidTerms, options: FindOptions): Candidate | undefined {
    const req = bid.spec.resources;
    const duration = bid.spec.maxDurationMs;
    const gpuCount = req.gpu?.count ?? 0;
    // A job's float price is a·cpu + b·mem + c·disk + d·gpu over the offer's unit prices (pricing.ts).
    const a = (req.cpuCores * duration) / 3_600_000;
    const b = (req.memoryMiB / 1024) * duration / 3_600_000;
    const c = (req.diskGiB * duration) / 3_600_000;
    const d = (gpuCount * duration) / 3_600_000;
    // Bids ask for at least a core and a MiB (the schema); a request for none could fit a full entry.
    const anyEntry = req.cpuCores < 1 || req.memoryMiB < 1;
    // Scratch arrays kept between calls (findBest runs to completion, never re-entered): a bid allocates none.
    const feasible = this.#feasible;
    const bounds = this.#bounds;
    const order = this.#order;
    feasible.length = 0;
    bounds.length = 0;
    order.length = 0;
    if (bid.regions) {
      for (const region of bid.regions) {
        const index = this.#regions.get(region);
        if (index) this.#bound(index, req, gpuCount, anyEntry, a, b, c, d, feasible, bounds);
      }
    } else {
      for (const index of this.#regions.values()) this.#bound(index, req, gpuCount, anyEntry, a, b, c, d, feasible, bounds);
    }
    if (feasible.length === 0) return undefined;
    // Best first: blocks in order of their price bound, so the scan stops at the first block that cannot beat
    // the best found (a handful of blocks; insertion sort).
    for (let i = 0; i < feasible.length; i++) order.push(i);
    for (let i = 1; i < order.length; i++) {
      const k = order[i]!;
      let j = i - 1;
      while (j >= 0 && bounds[order[j]!]! > bounds[k]!) {
        order[j + 1] = order[j]!;
        j--;
      }
      order[j + 1] = k;
    }
    const maxPrice = bid.maxPrice;
    const maxPriceFloat = Number(maxPrice);
    // Shaded up so float rounding never prunes a tie: every decision is taken on the exact price, the float
    // only settling the ones it settles for certain (below).
    const maxPriceLimit = maxPriceFloat * (1 + EPS);
    const maxPriceLow = maxPriceFloat * (1 - EPS);
    const exact = (e: BookEntry) => jobPrice(e.offer.prices, req, duration);
    let limit = maxPriceLimit;
    let best: BookEntry | undefined;
    let bestGpus: number[] = [];
    /** The best's float price, and its exact price once some decision needed it. */
    let bestF = 0;
    let bestPrice: bigint | undefined;
    let bestRep = 0;
    const rep = options.reputation;
    const now = options.now;
    const exclude = options.exclude;
    let blocksScanned = 0;
    let entriesScanned = 0;
    for (const i of order) {
      if (bounds[i]! > limit) break;
      const entries = feasible[i]!.entries;
      blocksScanned++;
      entriesScanned += entries.length;
      for (const e of entries) {
        if (e.freeCpu < req.cpuCores || e.freeMem < req.memoryMiB || e.freeDisk < req.diskGiB) continue;
        const p = e.prices;
        const f = a * p.cpu + b * p.mem + c * p.disk + d * p.gpu;
        if (f > limit) continue;
        const o = e.offer;
        if (o.expiresAt <= now || o.maxDurationMs < duration) continue;
        if (exclude?.has(e.providerId)) continue;
        if (!attributesHold(o, bid.attributes)) continue;
        if (!termsAccept(o, bid, now)) continue;
        const gpus = pickGpus(e, req);
        if (!gpus) continue;
        // The exact price is ceil(true price), and f is within EPS of the true price: the integer ceilings of
        // f's bounds bracket the exact price, so a bigint is made only when the brackets overlap (a near tie).
        const ceilLow = Math.ceil(f * (1 - EPS));
        const ceilHigh = Math.ceil(f * (1 + EPS));
        let price: bigint | undefined;
        if (ceilHigh > maxPriceLow) {
          price = exact(e);
          if (price > maxPrice) continue;
        }
        const r = rep ? rep(e.providerId) : 0;
        if (best) {
          let cmp: number;
          if (ceilHigh < Math.ceil(bestF * (1 - EPS))) cmp = -1;
          else if (ceilLow > Math.ceil(bestF * (1 + EPS))) cmp = 1;
          else {
            price ??= exact(e);
            bestPrice ??= exact(best);
            cmp = price < bestPrice ? -1 : price > bestPrice ? 1 : 0;
          }
          if (cmp > 0) continue;
          if (cmp === 0) {
            if (r < bestRep) continue;
            if (r === bestRep && e.firstSeen >= best.firstSeen) continue;
          }
        }
        best = e;
        bestGpus = gpus;
        bestF = f;
        bestPrice = price;
        bestRep = r;
        // An offer can still tie on the price charged when its true price rounds up to the same integer: the
        // bound is the best's highest possible exact price, not its float price (which skipped such ties).
        limit = Math.min(ceilHigh * (1 + EPS), maxPriceLimit);
      }
    }
    if (options.stats) {
      options.stats.blocksBounded = feasible.length;
      options.stats.blocksScanned = blocksScanned;
      options.stats.entriesScanned = entriesScanned;
    }
    return best && { entry: best, price: bestPrice ?? exact(best), gpuIndices: bestGpus };
  }

  /** Appends a region's blocks that could fit the request, each with a lower bound on its entries' prices. */
  #bound(index: RegionIndex, req: JobResources, gpuCount: number, anyEntry: boolean, a: number, b: number, c: number, d: number, feasible: Block[], bounds: number[]): void {
    for (let pass = gpuCount === 0 ? 0 : 1; pass < 2; pass++) {
      for (const k of pass === 0 ? index.cpu : index.gpu) {
        if (k.maxCpu < req.cpuCores || k.maxMem < req.memoryMiB || k.maxDisk < req.diskGiB || k.maxFreeGpus < gpuCount) continue;
        // Shaded down so float rounding never prunes a tie.
        const lb = anyEntry ? a * k.minCpu + b * k.minMem + c * k.minDisk + d * k.minGpu : a * k.freeMinCpu + b * k.freeMinMem + c * k.freeMinDisk + d * k.freeMinGpu;
        // No entry with a core and memory free (the maxima may come from two entries): nothing here fits.
        if (!(lb < Infinity)) continue;
        feasible.push(k);
        bounds.push(lb * (1 - 1e-9));
      }
    }
  }

  #changed(entry: BookEntry): void {
    refreshFree(entry);
    if (entry.block) recomputeFree(entry.block);
  }

  #attach(entry: BookEntry): void {
    let index = this.#regions.get(entry.region);
    if (!index) {
      index = { cpu: [], gpu: [] };
      this.#regions.set(entry.region, index);
    }
    const isGpu = entry.offer.resources.gpus.length > 0;
    const blocks = isGpu ? index.gpu : index.cpu;
    const dims = isGpu ? GPU_DIMS : CPU_DIMS;
    for (const d of dims) if (entry.prices[d] > this.#scale[d]) this.#scale[d] = entry.prices[d];
    if (blocks.length === 0) {
      blocks.push(newBlock([entry]));
      return;
    }
    // The block whose price box grows least (then the emptier one), as an R-tree picks a leaf.
    const p = entry.prices;
    const sc = this.#scale;
    let best = blocks[0]!;
    let bestGrowth = Infinity;
    for (const b of blocks) {
      let growth =
        (Math.max(b.maxCpuP, p.cpu) - Math.min(b.minCpu, p.cpu) - (b.maxCpuP - b.minCpu)) / sc.cpu +
        (Math.max(b.maxMemP, p.mem) - Math.min(b.minMem, p.mem) - (b.maxMemP - b.minMem)) / sc.mem;
      if (isGpu) growth += (Math.max(b.maxGpuP, p.gpu) - Math.min(b.minGpu, p.gpu) - (b.maxGpuP - b.minGpu)) / sc.gpu;
      if (growth < bestGrowth || (growth === bestGrowth && b.entries.length < best.entries.length)) {
        best = b;
        bestGrowth = growth;
      }
    }
    best.entries.push(entry);
    entry.block = best;
    recompute(best);
    if (best.entries.length > 2 * BLOCK_TARGET) {
      // Split at the median of the widest (scaled) price dimension, so both halves have narrow boxes.
      const spread = (d: Dim) => {
        let lo = Infinity;
        let hi = -Infinity;
        for (const e of best.entries) {
          lo = Math.min(lo, e.prices[d]);
          hi = Math.max(hi, e.prices[d]);
        }
        return (hi - lo) / sc[d];
      };
      let dim: Dim = "cpu";
      for (const d of dims) if (spread(d) > spread(dim)) dim = d;
      best.entries.sort((a, b) => a.prices[dim] - b.prices[dim]);
      const right = newBlock(best.entries.splice(BLOCK_TARGET));
      recompute(best);
      blocks.push(right);
    }
  }

  #detach(entry: BookEntry): void {
    const block = entry.block;
    if (!block) return;
    const i = block.entries.indexOf(entry);
    if (i >= 0) {
      block.entries[i] = block.entries[block.entries.length - 1]!;
      block.entries.pop();
    }
    entry.block = undefined;
    const index = this.#regions.get(entry.region);
    if (block.entries.length === 0 && index) {
      for (const blocks of [index.cpu, index.gpu]) {
        const at = blocks.indexOf(block);
        if (at >= 0) blocks.splice(at, 1);
      }
      if (index.cpu.length === 0 && index.gpu.length === 0) this.#regions.delete(entry.region);
    } else {
      recompute(block);
    }
  }
}

export function addUsage(a: Usage, b: Usage, sign: 1 | -1): Usage {
  const gpus = sign === 1 ? [...a.gpuIndices, ...b.gpuIndices] : a.gpuIndices.filter((g) => !b.gpuIndices.includes(g));
  return { cpuCores: a.cpuCores + sign * b.cpuCores, memoryMiB: a.memoryMiB + sign * b.memoryMiB, diskGiB: a.diskGiB + sign * b.diskGiB, gpuIndices: gpus };
}
