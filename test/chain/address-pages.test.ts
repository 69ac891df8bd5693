import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressOfPrivateKey, createChain, newPrivateKey, type Chain } from "../../offchain/chain/index.js";
import { startTestDevnet, type TestDevnet } from "../helpers/devnet.js";

type Row = { tx_hash: string; output_index: number; amount: Array<{ unit: string; quantity: string }> };

/** Every page of an address's UTxOs as a raw HTTP client reads them (no project code). */
async function rawPages(url: string, address: string, order: "asc" | "desc" = "asc"): Promise<Row[]> {
  const rows: Row[] = [];
  for (let page = 1; ; page++) {
    const r = await fetch(`${url}/addresses/${address}/utxos?page=${page}&count=100&order=${order}`);
    expect(r.status).toBe(200);
    const got = (await r.json()) as Row[];
    rows.push(...got);
    if (got.length < 100) return rows;
  }
}

const ref = (r: { tx_hash: string; output_index: number }) => `${r.tx_hash}#${r.output_index}`;

// The chain server answers an address's UTxOs from an index kept per block, not by walking the UTxO set per page:
// what a reader sees must still be the confirmed set, in out-ref order, minus what a pending transaction spends.
describe("devnet chain: an address's UTxOs, page by page", () => {
  let devnet: TestDevnet;
  let chain: Chain;
  const key = newPrivateKey();
  const address = addressOfPrivateKey(key, "devnet");
  const other = addressOfPrivateKey(newPrivateKey(), "devnet");

  beforeAll(async () => {
    devnet = await startTestDevnet();
    chain = devnet.chain();
    await devnet.fund(address, 2_000_000_000n);
  });
  afterAll(async () => {
    await devnet?.stop();
  });

  it("lists 150 outputs over two pages in out-ref order both ways, hides a pending spend at once, shows new outputs after the block", async () => {
    const lucid = await chain.lucid({ privateKey: key });
    let tx = lucid.newTx();
    for (let i = 0; i < 150; i++) tx = tx.pay.ToAddress(other, { lovelace: 2_000_000n + BigInt(i) });
    const fanOut = await chain.submit((await (await tx.complete()).sign.withWallet().complete()).toCBOR());
    expect(await rawPages(devnet.url, other)).toEqual([]);
    await devnet.block();
    await chain.awaitConfirmation(fanOut);

    const asc = await rawPages(devnet.url, other);
    expect(asc).toHaveLength(150);
    const sorted = [...asc].sort((a, b) => (a.tx_hash < b.tx_hash ? -1 : a.tx_hash > b.tx_hash ? 1 : a.output_index - b.output_index));
    expect(asc.map(ref)).toEqual(sorted.map(ref));
    expect((await rawPages(devnet.url, other, "desc")).map(ref)).toEqual([...asc].reverse().map(ref));
    // The wrapper (one page first, then the rest) reads the same set.
    expect((await chain.utxosAt(other)).map((u) => `${u.txHash}#${u.outputIndex}`).sort()).toEqual(asc.map(ref).sort());

    // The funder's change is spent by a transaction still in the mempool: gone from the confirmed view now.
    const before = await rawPages(devnet.url, address);
    const spend = await lucid.newTx().pay.ToAddress(other, { lovelace: 5_000_000n }).complete();
    const spendHash = await chain.submit((await spend.sign.withWallet().complete()).toCBOR());
    const pending = await rawPages(devnet.url, address);
    expect(pending.length).toBeLessThan(before.length);
    expect(pending.map(ref)).toEqual(before.map(ref).filter((r) => pending.map(ref).includes(r)));
    expect(await rawPages(devnet.url, other)).toHaveLength(150);

    await devnet.block();
    await chain.awaitConfirmation(spendHash);
    const after = await rawPages(devnet.url, other);
    expect(after).toHaveLength(151);
    expect(after.filter((r) => r.tx_hash === spendHash)).toHaveLength(1);
    expect((await rawPages(devnet.url, address)).some((r) => r.tx_hash === spendHash)).toBe(true);
  });
});

// A Blockfrost stand-in that counts the pages asked for: reading a small wallet must cost one request, not ten.
describe("chain interface: paged reads", () => {
  let server: Server;
  let url = "";
  const requests: string[] = [];
  const sizes = new Map<string, number>();
  const address = addressOfPrivateKey(newPrivateKey(), "devnet");
  const big = addressOfPrivateKey(newPrivateKey(), "devnet");

  beforeAll(async () => {
    sizes.set(address, 3);
    sizes.set(big, 250);
    server = createServer((req, res) => {
      const u = new URL(req.url ?? "/", "http://x");
      requests.push(u.pathname + u.search);
      const m = /^\/addresses\/([^/]+)\/utxos$/.exec(u.pathname);
      if (!m) {
        res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ status_code: 404, error: "Not Found", message: "nope" }));
        return;
      }
      const total = sizes.get(m[1]!) ?? 0;
      const page = Number(u.searchParams.get("page") ?? 1);
      const count = Number(u.searchParams.get("count") ?? 100);
      const rows = [];
      for (let i = (page - 1) * count; i < Math.min(total, page * count); i++) {
        rows.push({ address: m[1], tx_hash: i.toString(16).padStart(64, "0"), output_index: 0, amount: [{ unit: "lovelace", quantity: "1000000" }], block: "b", data_hash: null, inline_datum: null, reference_script_hash: null });
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(rows));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("asks for one page when it is not full, and for the rest only after a full one", async () => {
    const chain = createChain({ network: "devnet", blockfrostUrl: url, requestTimeoutMs: 10_000 });
    requests.length = 0;
    expect(await chain.utxosAt(address)).toHaveLength(3);
    expect(requests).toEqual([`/addresses/${address}/utxos?page=1&count=100&order=asc`]);

    requests.length = 0;
    const rows = await chain.utxosAt(big);
    expect(rows).toHaveLength(250);
    expect(new Set(rows.map((r) => r.txHash)).size).toBe(250);
    // Page 1 alone, then pages 2 to 11 at once (page 3 is the last with rows).
    expect(requests[0]).toContain("page=1&");
    expect(requests.slice(1).map((r) => Number(/page=(\d+)/.exec(r)![1])).sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });
});
