/** Bids the way the web page makes them: learn the wallet's key from one signData, prepare via the API, sign. */
import { parseCoseKey } from "../../src/market/cose.js";
import type { BidInput, UnsignedBid } from "../../src/market/index.js";
import type { TestWallet } from "../helpers/wallet.js";
import { http } from "./stack.js";

let nonce = BigInt(Date.now()) * 1000n + 500n;

export async function walletKey(wallet: TestWallet): Promise<string> {
  const probe = await wallet.api.signData(wallet.addressHex, Buffer.from("ntx-market: which key signs for this address?").toString("hex"));
  return Buffer.from(parseCoseKey(Buffer.from(probe.key, "hex"))).toString("hex");
}

export function unsignedWalletBid(wallet: TestWallet, key: string, specOver: Partial<UnsignedBid["spec"]> = {}, over: Partial<UnsignedBid> = {}): UnsignedBid {
  return {
    v: 1,
    type: "bid",
    spec: {
      image: "ntx-test/busybox:1",
      command: ["sh", "-c", `echo ${Math.random().toString(36).slice(2)}`],
      env: {},
      resources: { cpuCores: 1, memoryMiB: 1024, diskGiB: 1 },
      maxDurationMs: 3_600_000,
      outputs: ["/out"],
      network: "none",
      ...specOver,
    },
    maxPrice: "1000000",
    deadline: Date.now() + 2 * 3_600_000,
    expiresAt: Date.now() + 600_000,
    buyer: { key, address: wallet.addressHex },
    nonce: (nonce++).toString(),
    // The test stack's challenge window: the lock's datum carries the bid's terms.
    terms: { challengeWindowMs: 2_000 },
    ...over,
  };
}

export async function signWalletBid(apiUrl: string, wallet: TestWallet, bid: UnsignedBid): Promise<{ bid: BidInput; jobHash: string }> {
  const prepared = await http(apiUrl, "POST", "/api/bids/prepare", { bid });
  if (prepared.status !== 200) throw new Error(`prepare failed: ${JSON.stringify(prepared.body)}`);
  const signature = await wallet.api.signData(wallet.addressHex, prepared.body.payload);
  return { bid: { ...bid, signature } as BidInput, jobHash: prepared.body.jobHash as string };
}
