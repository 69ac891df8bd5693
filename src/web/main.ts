/**
 * The ntx-market page. Buyer: connect a CIP-30 wallet, sign a bid with `signData`, watch it get matched
 * (Server-Sent Events), lock NTX (the API builds, the wallet signs, the API submits), follow the job.
 * Provider: see payouts, claim them in one transaction. The page holds no keys and builds no transactions.
 */
import { api, ApiError, apiErrorText } from "./api.js";
import { balanceOf, bytesToHex, coseKeyX } from "./cbor.js";
import { detectWallets, walletErrorText, type Cip30Api, type Cip30Wallet } from "./cip30.js";

interface Config {
  network: string;
  devnet: boolean;
  ntx: { policyId: string; assetName: string; unit: string };
  escrow: { address: string; challengeWindowMs: number };
}

interface Connected {
  wallet: Cip30Wallet;
  api: Cip30Api;
  addressHex: string;
  address: string;
  /** Ed25519 key the wallet signs bids with, learned from one signData. */
  key?: string;
}

const state: { config?: Config; connected?: Connected; jobHash?: string; price?: string; events?: EventSource; locked?: boolean; jobPoll?: number } = {};

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const text = (s: string) => document.createTextNode(s);
function el(tag: string, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(typeof c === "string" ? text(c) : c);
  return e;
}
const short = (s: string, n = 10) => (s.length > 2 * n + 1 ? `${s.slice(0, n)}…${s.slice(-n)}` : s);
const utf8Hex = (s: string) => bytesToHex(new TextEncoder().encode(s));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (units: string | bigint) => BigInt(units).toLocaleString("en-US");
const ada = (lovelace: bigint) => (Number(lovelace) / 1e6).toLocaleString("en-US", { maximumFractionDigits: 2 });

function banner(message: string | null, kind: "error" | "info" = "error"): void {
  const b = $("banner");
  b.hidden = !message;
  b.className = `banner${kind === "info" ? " info" : ""}`;
  b.textContent = message ?? "";
}

function fail(error: unknown, walletAction?: string): void {
  const isWalletError = walletAction && !(error instanceof ApiError);
  banner(isWalletError ? walletErrorText(error, walletAction) : apiErrorText(error));
}

function step(name: string, status: "active" | "done"): void {
  const order = ["bid", "match", "lock", "run", "done"];
  const index = order.indexOf(name);
  for (const li of Array.from($("steps").children) as HTMLElement[]) {
    const i = order.indexOf(li.dataset.step ?? "");
    if (i < index || (i === index && status === "done")) li.className = "done";
    else if (i === index) li.className = "active";
    else if (li.className !== "done") li.className = "";
  }
}

function logLine(line: string): void {
  const log = $("log");
  log.textContent += `${new Date().toLocaleTimeString()}  ${line}\n`;
  log.scrollTop = log.scrollHeight;
}

function busy(button: HTMLButtonElement, label: string | null): void {
  if (label === null) {
    button.disabled = false;
    button.textContent = button.dataset.label ?? button.textContent;
    return;
  }
  button.dataset.label ??= button.textContent ?? "";
  button.disabled = true;
  button.replaceChildren(el("span", { class: "spinner" }), text(label));
}

// ---------- market and health ----------
async function loadConfig(): Promise<void> {
  try {
    state.config = await api<Config>("GET", "/api/config");
    $("network").textContent = state.config.devnet ? "devnet" : state.config.network;
  } catch (error) {
    fail(error);
  }
}

async function refreshHealth(): Promise<void> {
  try {
    const h = await api<{ ok: boolean }>("GET", "/api/health");
    $("health").textContent = h.ok ? "Market and chain reachable" : "Degraded";
  } catch (error) {
    $("health").textContent = error instanceof ApiError && error.code !== "API_UNREACHABLE" ? `Degraded: ${error.message}` : "API unreachable";
  }
}

async function refreshOffers(): Promise<void> {
  try {
    const { offers } = await api<{ offers: Array<{ providerId: string; region: string; resources: { cpuCores: number; memoryMiB: number }; prices: { cpuCoreHour: string } }> }>("GET", "/api/offers?limit=20");
    $("offers-summary").textContent = offers.length ? `${offers.length} provider${offers.length === 1 ? "" : "s"} online` : "No provider is offering compute right now.";
    $("offers").querySelector("tbody")!.replaceChildren(
      ...offers.map((o) => el("tr", {}, el("td", {}, el("code", {}, short(o.providerId, 6))), el("td", {}, o.region), el("td", {}, String(o.resources.cpuCores)), el("td", {}, `${Math.round(o.resources.memoryMiB / 1024)} GiB`), el("td", {}, fmt(o.prices.cpuCoreHour)))),
    );
  } catch (error) {
    $("offers-summary").textContent = apiErrorText(error);
  }
}

// ---------- wallet ----------
function renderWallets(): void {
  const area = $("wallet-area");
  if (state.connected) {
    const c = state.connected;
    area.replaceChildren(
      el("div", { class: "wallet-info" }, el("div", { class: "bal", id: "balance" }, "…"), el("div", { class: "addr", id: "address", title: c.address }, `${c.wallet.name} · ${short(c.address, 12)}`)),
    );
    return;
  }
  const wallets = detectWallets();
  if (wallets.length === 0) {
    area.replaceChildren(el("span", { class: "muted" }, "No Cardano wallet found: install Eternl, Lace or another CIP-30 wallet."));
    return;
  }
  area.replaceChildren(
    ...wallets.map((w) => {
      const b = el("button", { class: "wallet-btn", "data-wallet": w.id }, ...(w.icon ? [el("img", { src: w.icon, alt: "" })] : []), `Connect ${w.name}`) as HTMLButtonElement;
      b.onclick = () => void connect(w, b);
      return b;
    }),
  );
}

async function connect(wallet: Cip30Wallet, button: HTMLButtonElement): Promise<void> {
  banner(null);
  busy(button, `Connecting ${wallet.name}…`);
  let walletApi: Cip30Api;
  try {
    walletApi = await wallet.enable();
  } catch (error) {
    busy(button, null);
    fail(error, "connect");
    return;
  }
  try {
    const networkId = await walletApi.getNetworkId();
    const wantMainnet = state.config?.network === "mainnet";
    if ((networkId === 1) !== wantMainnet) {
      busy(button, null);
      banner(`${wallet.name} is on ${networkId === 1 ? "mainnet" : "a test network"}; this market runs on ${state.config?.network ?? "?"}. Switch the wallet's network.`);
      return;
    }
    const addressHex = await walletApi.getChangeAddress();
    const balance = await api<{ address: string }>("GET", `/api/balance/${addressHex}`);
    state.connected = { wallet, api: walletApi, addressHex, address: balance.address };
  } catch (error) {
    busy(button, null);
    fail(error, "read its address");
    return;
  }
  renderWallets();
  await refreshBalance();
  const bid = $<HTMLButtonElement>("bid-button");
  bid.disabled = false;
  bid.textContent = "Sign bid with wallet";
  $<HTMLButtonElement>("refresh-payouts").disabled = false;
  void refreshPayouts();
}

async function refreshBalance(): Promise<void> {
  const c = state.connected;
  if (!c || !state.config) return;
  try {
    const { lovelace, asset } = balanceOf(await c.api.getBalance(), state.config.ntx.policyId, state.config.ntx.assetName);
    $("balance").textContent = `${fmt(asset)} NTX · ${ada(lovelace)} ADA`;
  } catch (error) {
    $("balance").textContent = "balance unavailable";
    fail(error, "read its balance");
  }
}

async function walletKey(c: Connected): Promise<string> {
  if (c.key) return c.key;
  // CIP-30 has no getPublicKey; a bid names its signing key, so one signature first reveals it.
  const probe = await c.api.signData(c.addressHex, utf8Hex(`ntx-market: use this wallet's key for my bids (${short(c.address, 8)})`));
  c.key = coseKeyX(probe.key);
  return c.key;
}

// ---------- buyer ----------
function randomNonce(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return BigInt(`0x${bytesToHex(b)}`).toString();
}

/** Makes this job's hash unique even when someone else runs the very same spec. */
function randomSalt(): string {
  return bytesToHex(crypto.getRandomValues(new Uint8Array(16)));
}

async function submitBid(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const c = state.connected;
  if (!c) return;
  banner(null);
  const form = new FormData(event.target as HTMLFormElement);
  const button = $<HTMLButtonElement>("bid-button");
  const maxDurationMs = Number(form.get("duration")) * 60_000;
  const now = Date.now();
  busy(button, "Waiting for the wallet…");
  try {
    const key = await walletKey(c);
    const bid = {
      v: 1,
      type: "bid",
      spec: {
        image: String(form.get("image")).trim(),
        command: ["sh", "-c", String(form.get("command"))],
        env: {},
        resources: { cpuCores: Number(form.get("cpu")), memoryMiB: Number(form.get("memory")), diskGiB: 1 },
        maxDurationMs,
        outputs: ["/out"],
        network: "none",
        salt: randomSalt(),
      },
      maxPrice: String(form.get("maxPrice")).trim(),
      // Time to be matched, locked and run, with room to complete on-chain before the escrow's deadline.
      deadline: now + maxDurationMs + 60 * 60_000,
      expiresAt: now + 10 * 60_000,
      buyer: { key, address: c.addressHex },
      nonce: randomNonce(),
      terms: { challengeWindowMs: state.config!.escrow.challengeWindowMs },
    };
    const prepared = await api<{ jobHash: string; payload: string }>("POST", "/api/bids/prepare", { bid });
    let signature: { signature: string; key: string };
    try {
      signature = await c.api.signData(c.addressHex, prepared.payload);
    } catch (error) {
      fail(error, "sign the bid");
      return;
    }
    const posted = await api<{ jobHash: string }>("POST", "/api/bids", { ...bid, signature });
    startJob(posted.jobHash);
  } catch (error) {
    fail(error, "sign");
  } finally {
    busy(button, null);
  }
}

function startJob(jobHash: string): void {
  state.jobHash = jobHash;
  state.locked = false;
  state.price = undefined;
  $("job").hidden = false;
  $("job-hash").textContent = jobHash;
  $("log").textContent = "";
  $("match-info").hidden = true;
  $("lock-button").hidden = true;
  $("lock-info").textContent = "";
  $("result").hidden = true;
  step("match", "active");
  logLine("bid posted; waiting for a provider");
  state.events?.close();
  let saidConfirmed = false;
  // The provider's signed confirmation and the matcher's record update both say it; show it once.
  const confirmed = () => {
    if (!saidConfirmed) logLine("the provider confirmed the match");
    saidConfirmed = true;
  };
  const es = new EventSource(`/api/jobs/${jobHash}/events`);
  state.events = es;
  const data = (e: Event) => JSON.parse((e as MessageEvent).data as string);
  // After a reconnect the server replays the job's history: show each message once.
  const seen = new Set<string>();
  const on = (type: string, handle: (e: Event) => void) =>
    es.addEventListener(type, (e) => {
      const key = `${type}:${(e as MessageEvent).data as string}`;
      if (seen.has(key)) return;
      seen.add(key);
      handle(e);
    });
  on("match", (e) => onMatch(data(e)));
  on("record", (e) => {
    const r = data(e);
    if (r.state === "expired") banner("No provider took this job before the bid expired. Try a higher max price or fewer resources.", "info");
    if (r.state === "confirmed") confirmed();
  });
  on("confirm", () => confirmed());
  on("event", (e) => onJobEvent(data(e)));
  on("log", (e) => {
    const batch = data(e) as { lines?: Array<[number, number, string]> };
    for (const [stream, , line] of batch.lines ?? []) logLine(`${stream === 2 ? "stderr" : "stdout"} │ ${line}`);
  });
  es.addEventListener("stream-error", (e) => banner(data(e).error?.message ?? "the job's event stream failed"));
  es.onerror = () => {
    if (es.readyState === EventSource.CONNECTING) $("health").textContent = "Reconnecting to the job's events…";
  };
}

function onMatch(match: { jobHash: string; price: string; offer: { providerId: string; payoutAddress: string; region: string } }): void {
  if (match.jobHash !== state.jobHash || state.price === match.price) return;
  state.price = match.price;
  step("match", "done");
  step("lock", "active");
  logLine(`matched with provider ${short(match.offer.providerId, 8)} for ${fmt(match.price)} NTX`);
  const info = $("match-info");
  info.hidden = false;
  info.replaceChildren(
    el("div", {}, "Provider ", el("code", {}, short(match.offer.providerId, 8)), ` · region ${match.offer.region}`),
    el("div", {}, "Price ", el("strong", { id: "match-price" }, `${fmt(match.price)} NTX`), " — held in escrow until the work is proven done"),
  );
  const lock = $<HTMLButtonElement>("lock-button");
  if (!state.locked) {
    lock.hidden = false;
    lock.disabled = false;
    lock.textContent = `Lock ${fmt(match.price)} NTX`;
    delete lock.dataset.label;
  }
}

function onJobEvent(event: { kind?: string; message?: string; resultHash?: string; exitCode?: number }): void {
  logLine(`${event.kind ?? "event"}${event.message ? `: ${event.message}` : ""}${event.exitCode !== undefined ? ` (exit ${event.exitCode})` : ""}`);
  if (event.kind === "started" || event.kind === "running" || event.kind === "pulling") step("run", "active");
  if (event.kind === "completed" && event.resultHash) showResult(event.resultHash);
  if (event.kind === "failed") banner(`The job failed${event.message ? `: ${event.message}` : ""}.`);
}

function showResult(resultHash: string): void {
  step("done", "done");
  const r = $("result");
  r.hidden = false;
  r.textContent = `Result hash ${resultHash}`;
}

async function waitConfirmed(txHash: string, info: HTMLElement, what: string): Promise<void> {
  const until = Date.now() + 5 * 60_000;
  while (Date.now() < until) {
    const status = await api<{ state: string }>("GET", `/api/tx/${txHash}`);
    if (status.state === "confirmed") return;
    info.replaceChildren(el("span", { class: "spinner" }), text(`${what} ${short(txHash, 8)} submitted; waiting for it to be in a block…`));
    await sleep(1_000);
  }
  throw new ApiError("TX_NOT_CONFIRMED", `transaction ${txHash} was not confirmed within 5 minutes; check it on the chain before trying again`);
}

async function lock(): Promise<void> {
  const c = state.connected;
  if (!c || !state.jobHash || !state.price) return;
  banner(null);
  const button = $<HTMLButtonElement>("lock-button");
  const info = $("lock-info");
  busy(button, "Building the transaction…");
  try {
    const utxos = (await c.api.getUtxos()) ?? [];
    const built = await api<{ tx: string; txHash: string; fee: string; escrow: { amount: string } }>("POST", "/api/tx/lock", { address: c.addressHex, utxos, jobHash: state.jobHash, expectedAmount: state.price });
    busy(button, "Confirm in the wallet…");
    let witnessSet: string;
    try {
      witnessSet = await c.api.signTx(built.tx, true);
    } catch (error) {
      fail(error, "sign the lock transaction");
      busy(button, null);
      return;
    }
    busy(button, "Submitting…");
    const { txHash } = await api<{ txHash: string }>("POST", "/api/tx/submit", { tx: built.tx, witnessSet });
    await waitConfirmed(txHash, info, "Lock transaction");
    state.locked = true;
    button.hidden = true;
    info.replaceChildren(text(`Locked ${fmt(built.escrow.amount)} NTX in escrow · tx `), el("code", { id: "lock-tx" }, txHash));
    logLine(`escrow funded by ${txHash}`);
    step("lock", "done");
    step("run", "active");
    void refreshBalance();
    pollJob();
  } catch (error) {
    fail(error);
    busy(button, null);
  }
}

/** The chain is the record of completion: poll the job view so the result shows even without provider events. */
function pollJob(): void {
  window.clearInterval(state.jobPoll);
  state.jobPoll = window.setInterval(async () => {
    if (!state.jobHash) return;
    try {
      const job = await api<{ resultHash: string | null; state: string }>("GET", `/api/jobs/${state.jobHash}`);
      if (job.resultHash) {
        showResult(job.resultHash);
        window.clearInterval(state.jobPoll);
      }
    } catch {
      // the SSE stream and the next poll cover a missed one
    }
  }, 5_000);
}

// ---------- provider ----------
interface PayoutRow {
  outRef: string;
  jobHash: string;
  amount: string;
  state: string;
  claimable: boolean;
  claimableAt?: number;
}

async function refreshPayouts(): Promise<void> {
  const c = state.connected;
  if (!c) return;
  try {
    const { escrows } = await api<{ escrows: PayoutRow[] }>("GET", `/api/payouts/${c.addressHex}`);
    $("payouts").querySelector("tbody")!.replaceChildren(
      ...(escrows.length
        ? escrows.map((e) =>
            el("tr", {}, el("td", {}, el("code", {}, short(e.outRef, 8))), el("td", {}, el("code", {}, short(e.jobHash, 6))), el("td", {}, fmt(e.amount)), el("td", {}, e.state), el("td", {}, e.claimable ? "now" : e.claimableAt ? new Date(e.claimableAt).toLocaleString() : "—")),
          )
        : [el("tr", {}, el("td", { colspan: "5", class: "muted" }, "No escrow pays this address."))]),
    );
    $<HTMLButtonElement>("claim-button").disabled = !escrows.some((e) => e.claimable);
  } catch (error) {
    fail(error);
  }
}

async function claim(): Promise<void> {
  const c = state.connected;
  if (!c) return;
  banner(null);
  const button = $<HTMLButtonElement>("claim-button");
  const info = $("claim-info");
  busy(button, "Building the claim…");
  try {
    const built = await api<{ tx: string; amount: string; escrows: string[] }>("POST", "/api/tx/claim", { address: c.addressHex, utxos: (await c.api.getUtxos()) ?? [] });
    busy(button, "Confirm in the wallet…");
    let witnessSet: string;
    try {
      witnessSet = await c.api.signTx(built.tx, true);
    } catch (error) {
      fail(error, "sign the claim");
      busy(button, null);
      return;
    }
    const { txHash } = await api<{ txHash: string }>("POST", "/api/tx/submit", { tx: built.tx, witnessSet });
    await waitConfirmed(txHash, info, "Claim");
    info.textContent = `Claimed ${fmt(built.amount)} NTX from ${built.escrows.length} escrow(s) · tx ${txHash}`;
    busy(button, null);
    await Promise.all([refreshPayouts(), refreshBalance()]);
  } catch (error) {
    fail(error);
    busy(button, null);
  }
}

// ---------- wiring ----------
function showTab(buy: boolean): void {
  $("buy").hidden = !buy;
  $("provide").hidden = buy;
  $("tab-buy").className = `tab${buy ? " active" : ""}`;
  $("tab-provide").className = `tab${buy ? "" : " active"}`;
  $("tab-buy").setAttribute("aria-selected", String(buy));
  $("tab-provide").setAttribute("aria-selected", String(!buy));
  if (!buy) void refreshPayouts();
}

async function main(): Promise<void> {
  $("tab-buy").onclick = () => showTab(true);
  $("tab-provide").onclick = () => showTab(false);
  $<HTMLFormElement>("job-form").addEventListener("submit", (e) => void submitBid(e));
  $("lock-button").onclick = () => void lock();
  $("claim-button").onclick = () => void claim();
  $("refresh-payouts").onclick = () => void refreshPayouts();
  renderWallets();
  // Wallet extensions inject window.cardano after the page's first script runs.
  setTimeout(() => !state.connected && renderWallets(), 500);
  await loadConfig();
  await Promise.all([refreshHealth(), refreshOffers()]);
  setInterval(() => void refreshOffers(), 10_000);
  setInterval(() => void refreshHealth(), 15_000);
}

void main();
