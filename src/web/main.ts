/**
 * The ntx-market page. Buyer: connect a CIP-30 wallet, sign a bid with `signData`, watch it get matched
 * (Server-Sent Events), lock NTX (the API builds, the wallet signs, the API submits), follow the job.
 * Provider: see payouts, claim them in one transaction. The page holds no keys and builds no transactions.
 */
import { api, ApiError, apiErrorText } from "./api.js";
import { balanceOf, bytesToHex, coseKeyX } from "./cbor.js";
import { detectWallets, walletErrorText, type Cip30Api, type Cip30Wallet } from "./cip30.js";
import { formatAda, formatNtx, formatWhen, parseNtx } from "./format.js";
import { fetchResult } from "./results.js";
import { poolCard, poolNetworkOf } from "./pool-card.js";
import type { PoolNetwork } from "../pool/networks.js";

interface Config {
  network: string;
  devnet: boolean;
  ntx: { policyId: string; assetName: string; unit: string };
  escrow: { address: string; challengeWindowMs: number };
  /** From /api/buyer/config. */
  ntxDecimals?: number;
  lockLovelace?: string;
}

interface Connected {
  wallet: Cip30Wallet;
  api: Cip30Api;
  addressHex: string;
  address: string;
  /** Ed25519 key the wallet signs bids with, learned from one signData. */
  key?: string;
}

const state: {
  config?: Config;
  connected?: Connected;
  jobHash?: string;
  jobList?: string[];
  status?: JobStatus;
  locking?: boolean;
  outputsShown?: boolean;
  events?: EventSource;
  jobPoll?: number;
  /** A stake-pool node's job: its events and network, for the pool card. */
  pool?: { jobHash: string; network?: PoolNetwork; producer: boolean; events: unknown[] };
} = {};

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
const decimals = () => state.config?.ntxDecimals ?? 6;
/** Base units of NTX as a person reads them: "1.5 NTX". */
const ntx = (units: string | bigint) => formatNtx(units, decimals());
const plainError = (error: unknown) => apiErrorText(error, (u) => ntx(u), (l) => formatAda(l));

function banner(message: string | null, kind: "error" | "info" = "error"): void {
  const b = $("banner");
  b.hidden = !message;
  b.className = `banner${kind === "info" ? " info" : ""}`;
  b.textContent = message ?? "";
}

function fail(error: unknown, walletAction?: string): void {
  const isWalletError = walletAction && !(error instanceof ApiError);
  banner(isWalletError ? walletErrorText(error, walletAction) : plainError(error));
}

function step(name: string, status: "active" | "done"): void {
  const order = ["bid", "match", "lock", "run", "done", "settled"];
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
    const [config, buyer] = await Promise.all([api<Config>("GET", "/api/config"), api<{ ntxDecimals: number; lockLovelace: string }>("GET", "/api/buyer/config")]);
    state.config = { ...config, ntxDecimals: buyer.ntxDecimals, lockLovelace: buyer.lockLovelace };
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
      ...offers.map((o) => el("tr", {}, el("td", {}, el("code", {}, short(o.providerId, 6))), el("td", {}, o.region), el("td", {}, String(o.resources.cpuCores)), el("td", {}, `${Math.round(o.resources.memoryMiB / 1024)} GiB`), el("td", {}, ntx(o.prices.cpuCoreHour)))),
    );
  } catch (error) {
    $("offers-summary").textContent = plainError(error);
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
  await restoreJobs();
}

async function refreshBalance(): Promise<void> {
  const c = state.connected;
  if (!c || !state.config) return;
  try {
    const { lovelace, asset } = balanceOf(await c.api.getBalance(), state.config.ntx.policyId, state.config.ntx.assetName);
    $("balance").textContent = `${ntx(asset)} · ${formatAda(lovelace)}`;
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

const PHASE_TITLE: Record<string, string> = {
  waiting: "Waiting for offers",
  expired: "Bid expired",
  matched: "Matched: waiting for the provider to confirm",
  lapsed: "The provider did not confirm: finding another",
  confirmed: "Confirmed: ready to lock",
  released: "Released by the provider",
  locked: "Locked",
  starting: "Container starting",
  running: "Running",
  failed: "Failed",
  completed: "Completed",
  claimable: "Claimable by the provider",
  disputed: "Disputed",
  refundable: "Refundable",
  paid: "Paid",
  refunded: "Refunded",
};
const STEP_OF: Record<string, [string, "active" | "done"]> = {
  waiting: ["match", "active"], expired: ["match", "active"], matched: ["match", "active"], lapsed: ["match", "active"], released: ["lock", "active"],
  confirmed: ["lock", "active"], locked: ["run", "active"], starting: ["run", "active"], running: ["run", "active"], failed: ["run", "active"], refundable: ["run", "active"],
  completed: ["settled", "active"], claimable: ["settled", "active"], disputed: ["settled", "active"], paid: ["settled", "done"], refunded: ["settled", "done"],
};

interface JobStatus {
  jobHash: string;
  phase: string;
  next: string;
  at: number | null;
  atLabel: string;
  actions: Array<"lock" | "accept" | "dispute" | "refund">;
  lockable: boolean;
  price: string | null;
  maxPrice: string | null;
  bestOfferPrice: string | null;
  deadline: number | null;
  escrow: { outRef: string; state: string; amount: string; lovelace: string; deadline: number; claimableAt: number | null; completedAt: number | null; arbiter: string | null; resultHash: string | null } | null;
  resultHash: string | null;
  provider: { providerId: string; region: string; confirmed: boolean } | null;
  attempt: number;
}

const jobsKey = (address: string) => `ntx-market:jobs:${address}`;
/** The lock transaction this browser submitted for a job: how a refunded job is told from one never locked. */
const lockKey = (jobHash: string) => `ntx-market:lock:${jobHash}`;
/** Whether this browser saw the job's escrow completed: a settled escrow then was paid, not refunded. */
const completedKey = (jobHash: string) => `ntx-market:completed:${jobHash}`;
function rememberedJobs(address: string): string[] {
  try {
    const list = JSON.parse(localStorage.getItem(jobsKey(address)) ?? "[]") as unknown;
    return Array.isArray(list) ? list.filter((h): h is string => typeof h === "string" && /^[0-9a-f]{64}$/.test(h)) : [];
  } catch {
    return [];
  }
}
function rememberJob(address: string, jobHash: string): void {
  const list = rememberedJobs(address).filter((h) => h !== jobHash);
  list.unshift(jobHash);
  localStorage.setItem(jobsKey(address), JSON.stringify(list.slice(0, 50)));
}

/** The wallet's jobs: those this browser bid for, and those the chain has escrows of for this wallet. */
async function restoreJobs(): Promise<void> {
  const c = state.connected;
  if (!c) return;
  const hashes = rememberedJobs(c.address);
  try {
    const { escrows } = await api<{ escrows: Array<{ jobHash: string }> }>("GET", `/api/wallet/${c.addressHex}/jobs`);
    for (const e of escrows) if (!hashes.includes(e.jobHash)) hashes.push(e.jobHash);
  } catch (error) {
    logLine(`could not read this wallet's escrows: ${plainError(error)}`);
  }
  renderJobList(hashes);
  if (hashes[0] && !state.jobHash) openJob(hashes[0]);
}

function renderJobList(hashes: string[]): void {
  state.jobList = hashes;
  $("my-jobs").hidden = hashes.length === 0;
  $("job-list").replaceChildren(
    ...hashes.map((h) => {
      const li = el("li", { "data-job": h, class: h === state.jobHash ? "current" : "" }, el("code", {}, short(h, 8)), " ", el("span", { class: "muted", "data-phase": h }, ""));
      li.onclick = () => openJob(h);
      return li;
    }),
  );
}

async function checkFunds(c: Connected, maxPrice: bigint): Promise<boolean> {
  try {
    // The chain's view of the wallet's UTxOs, not the wallet's own balance (a wallet can be wrong about it).
    await api("POST", "/api/buyer/funds", { address: c.addressHex, utxos: (await c.api.getUtxos()) ?? [], maxPrice: maxPrice.toString() });
    return true;
  } catch (error) {
    fail(error, "read its funds");
    return false;
  }
}

async function submitBid(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const c = state.connected;
  if (!c) return;
  banner(null);
  const form = new FormData(event.target as HTMLFormElement);
  const button = $<HTMLButtonElement>("bid-button");
  const maxDurationMs = Math.round(Number(form.get("duration")) * 60_000);
  const refundAfterMs = Math.round(Number(form.get("deadline")) * 60_000);
  const maxPrice = parseNtx(String(form.get("maxPrice")), decimals());
  if (maxPrice === null || maxPrice === 0n) {
    banner(`Max price must be an amount of NTX above 0, with at most ${decimals()} decimals (e.g. 2.5).`);
    return;
  }
  if (!(refundAfterMs > maxDurationMs)) {
    banner("The refund time must be later than the max duration: the provider needs that long to run the job.");
    return;
  }
  const arbiter = String(form.get("arbiter") ?? "").trim().toLowerCase();
  if (arbiter && !/^[0-9a-f]{56}$/.test(arbiter)) {
    banner("The arbiter must be a payment key hash: 56 hex characters (or leave it empty).");
    return;
  }
  busy(button, "Checking your funds…");
  try {
    if (!(await checkFunds(c, maxPrice))) return;
    busy(button, "Waiting for the wallet…");
    const key = await walletKey(c);
    const now = Date.now();
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
      maxPrice: maxPrice.toString(),
      deadline: now + refundAfterMs,
      // Matched and locked within 10 minutes, and always with the whole duration left before the deadline.
      expiresAt: now + Math.min(10 * 60_000, refundAfterMs - maxDurationMs),
      buyer: { key, address: c.addressHex },
      nonce: randomNonce(),
      terms: { challengeWindowMs: state.config!.escrow.challengeWindowMs, ...(arbiter ? { arbiter } : {}) },
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
    rememberJob(c.address, posted.jobHash);
    renderJobList([posted.jobHash, ...(state.jobList ?? []).filter((h) => h !== posted.jobHash)]);
    openJob(posted.jobHash);
  } catch (error) {
    fail(error, "sign");
  } finally {
    busy(button, null);
  }
}

/** Shows one job: its status (polled, and refreshed on every live event) and its live events and logs. */
function openJob(jobHash: string): void {
  state.jobHash = jobHash;
  state.status = undefined;
  state.outputsShown = undefined;
  for (const li of Array.from($("job-list").children) as HTMLElement[]) li.className = li.dataset.job === jobHash ? "current" : "";
  $("job").hidden = false;
  $("job-hash").textContent = jobHash;
  $("log").textContent = "";
  $("match-info").hidden = true;
  $("lock-info").textContent = "";
  $("escrow-info").textContent = "";
  $("action-info").textContent = "";
  $("result").hidden = true;
  $("pool-card").hidden = true;
  $("outputs").replaceChildren();
  $("outputs-status").textContent = "";
  for (const id of ["lock-button", "accept-button", "dispute-button", "refund-button", "lock-cost", "job-hint"]) $(id).hidden = true;
  $("job-phase").textContent = "Loading…";
  $("job-next").textContent = "";
  state.events?.close();
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
      void refreshStatus();
    });
  on("match", (e) => {
    const m = data(e) as { price?: string; offer?: { providerId?: string } };
    logLine(`matched with provider ${short(m.offer?.providerId ?? "?", 8)} for ${ntx(m.price ?? "0")}; waiting for its confirmation`);
  });
  on("record", (e) => {
    const r = data(e) as { state?: string };
    if (r.state === "lapsed") logLine("the provider did not confirm in time; the market looks for another");
    if (r.state === "expired") logLine("the bid expired before a provider took it");
  });
  on("confirm", () => logLine("the provider confirmed the match"));
  on("event", (e) => {
    const ev = data(e) as { kind?: string; message?: string; exitCode?: number };
    if (ev.kind === "running" && ev.message?.startsWith("{")) return void showPool(jobHash, ev).catch(() => undefined);
    logLine(`${ev.kind ?? "event"}${ev.message ? `: ${ev.message}` : ""}${ev.exitCode !== undefined ? ` (exit ${ev.exitCode})` : ""}`);
  });
  on("log", (e) => {
    const batch = data(e) as { lines?: Array<[number, number, string]> };
    for (const [stream, , line] of batch.lines ?? []) logLine(`${stream === 2 ? "stderr" : "stdout"} │ ${line}`);
  });
  es.addEventListener("stream-error", (e) => banner(plainError(new ApiError(data(e).error?.code ?? "NATS_UNAVAILABLE", data(e).error?.message ?? "the job's event stream failed"))));
  es.onerror = () => {
    if (es.readyState === EventSource.CONNECTING) $("health").textContent = "Reconnecting to the job's events…";
  };
  window.clearInterval(state.jobPoll);
  state.jobPoll = window.setInterval(() => void refreshStatus(), 2_000);
  void refreshStatus();
}

/** The pool card of a node's job, from the provider's health reports (the job's spec says the network). */
async function showPool(jobHash: string, event: unknown): Promise<void> {
  if (state.pool?.jobHash !== jobHash) {
    const job = await api<{ bid?: { bid?: { spec?: { env?: unknown; command?: string[] } } } }>("GET", `/api/jobs/${jobHash}`).catch(() => undefined);
    const spec = job?.bid?.bid?.spec;
    state.pool = { jobHash, network: poolNetworkOf(spec?.env), producer: (spec?.command ?? []).includes("--shelley-kes-key"), events: [] };
  }
  const pool = state.pool;
  pool.events = [...pool.events.slice(-50), event];
  if (!pool.network || state.jobHash !== jobHash) return;
  const card = poolCard(pool.events, pool.network, pool.producer, Date.now(), ntx);
  if (!card) return;
  $("pool-card").hidden = false;
  $("pool-lines").replaceChildren(...card.lines.map((l) => el("li", {}, l)), ...card.warnings.map((w) => el("li", { class: "warning" }, w)));
}

async function refreshStatus(): Promise<void> {
  const jobHash = state.jobHash;
  if (!jobHash) return;
  let status: JobStatus;
  try {
    const lockTx = localStorage.getItem(lockKey(jobHash));
    const query = new URLSearchParams({ ...(lockTx ? { lockTx } : {}), ...(localStorage.getItem(completedKey(jobHash)) ? { seenCompleted: "1" } : {}) }).toString();
    status = await api<JobStatus>("GET", `/api/jobs/${jobHash}/status${query ? `?${query}` : ""}`);
    if (status.escrow?.state === "completed") localStorage.setItem(completedKey(jobHash), "1");
  } catch (error) {
    $("job-next").textContent = `(status unavailable: ${plainError(error)})`;
    return;
  }
  if (state.jobHash !== jobHash) return;
  const previous = state.status;
  state.status = status;
  renderStatus(status);
  const was = previous?.provider?.providerId;
  const is = status.provider?.providerId;
  // A re-match can follow a lapse faster than one poll: a new provider is how the page knows it happened.
  if (was && is && was !== is) logLine(`provider ${short(was, 8)} did not confirm in time; the market re-matched the job with provider ${short(is, 8)}`);
  if (previous && previous.phase !== status.phase) logLine(`now: ${PHASE_TITLE[status.phase] ?? status.phase}`);
}

function renderStatus(s: JobStatus): void {
  $("job-phase").textContent = PHASE_TITLE[s.phase] ?? s.phase;
  $("job-phase").dataset.phase = s.phase;
  const phaseLabel = document.querySelector<HTMLElement>(`[data-phase="${s.jobHash}"]`);
  if (phaseLabel) phaseLabel.textContent = PHASE_TITLE[s.phase] ?? s.phase;
  $("job-next").textContent = `${s.next}${s.at && s.atLabel ? ` · ${s.atLabel} ${formatWhen(s.at)}` : ""}`;
  const [stepName, stepState]: [string, "active" | "done"] = s.phase === "released" && s.escrow ? ["run", "active"] : (STEP_OF[s.phase] ?? ["match", "active"]);
  step(stepName, stepState);
  // A step that went wrong is marked red rather than left "in progress".
  const troubled: Record<string, string> = { lapsed: "match", expired: "match", released: s.escrow ? "run" : "lock", failed: "run", refundable: "run" };
  const badStep = troubled[s.phase] ? document.querySelector<HTMLElement>(`#steps li[data-step="${troubled[s.phase]}"]`) : null;
  if (badStep) badStep.className = "lapsed";

  const hint = $("job-hint");
  hint.hidden = true;
  if (s.bestOfferPrice && s.maxPrice) {
    hint.hidden = false;
    hint.textContent = `Your max price (${ntx(s.maxPrice)}) is below the cheapest offer that fits this job (${ntx(s.bestOfferPrice)}). Raise the max price and bid again.`;
  } else if ((s.phase === "failed" || s.phase === "released") && s.escrow) {
    hint.hidden = false;
    hint.textContent = `Your NTX stays in the escrow until ${s.deadline ? formatWhen(s.deadline) : "the deadline"}, then you can refund it here.`;
  }

  const info = $("match-info");
  if (s.provider && s.price) {
    info.hidden = false;
    info.replaceChildren(
      el("div", {}, "Provider ", el("code", {}, short(s.provider.providerId, 8)), s.provider.region ? ` · region ${s.provider.region}` : "", s.provider.confirmed || s.escrow ? " · confirmed" : " · not confirmed yet", s.attempt > 1 ? ` · attempt ${s.attempt}` : ""),
      el("div", {}, "Price ", el("strong", { id: "match-price" }, ntx(s.price)), " — held in escrow until the work is proven done"),
    );
  } else info.hidden = true;

  const lockButton = $<HTMLButtonElement>("lock-button");
  const canLock = s.lockable && !state.locking;
  if (!state.locking) lockButton.hidden = !canLock;
  if (canLock && s.price) {
    if (!lockButton.disabled) lockButton.textContent = `Lock ${ntx(s.price)}`;
    const cost = $("lock-cost");
    cost.hidden = false;
    cost.textContent = `Locking costs ${ntx(s.price)} (paid to the provider when the job is done), about ${formatAda(state.config?.lockLovelace ?? "2000000")} min-ADA kept with the escrow and returned to you when it settles, and a network fee of about 0.2 ADA. The exact amounts show before your wallet signs.`;
  } else if (!state.locking) $("lock-cost").hidden = true;
  for (const action of ["accept", "dispute", "refund"] as const) {
    const b = $<HTMLButtonElement>(`${action}-button`);
    if (!b.disabled) b.hidden = !s.actions.includes(action);
  }
  $("escrow-info").textContent = "";
  if (s.escrow) $("escrow-info").replaceChildren(text(`Escrow ${short(s.escrow.outRef, 8)} holds ${ntx(s.escrow.amount)} and ${formatAda(s.escrow.lovelace)} (returned to you at settlement).`));
  if (s.resultHash) {
    $("result").hidden = false;
    $("result-hash").textContent = s.resultHash;
  }
}

async function waitConfirmed(txHash: string, info: HTMLElement, what: string): Promise<void> {
  const until = Date.now() + 5 * 60_000;
  while (Date.now() < until) {
    const status = await api<{ state: string }>("GET", `/api/tx/${txHash}`);
    if (status.state === "confirmed") return;
    info.replaceChildren(el("span", { class: "spinner" }), text(`${what} ${short(txHash, 8)} submitted; waiting for it to be in a block…`));
    await sleep(1_000);
  }
  throw new ApiError("TX_NOT_CONFIRMED", `transaction ${short(txHash, 8)} was not confirmed within 5 minutes; check it on the chain before trying again`);
}

async function lock(): Promise<void> {
  const c = state.connected;
  const s = state.status;
  const jobHash = state.jobHash;
  if (!c || !jobHash || !s?.lockable || !s.price) return;
  banner(null);
  const button = $<HTMLButtonElement>("lock-button");
  const info = $("lock-info");
  state.locking = true;
  busy(button, "Building the transaction…");
  try {
    const utxos = (await c.api.getUtxos()) ?? [];
    const built = await api<{ tx: string; txHash: string; fee: string; escrow: { amount: string; lovelace?: string } }>("POST", "/api/tx/lock", { address: c.addressHex, utxos, jobHash, expectedAmount: s.price });
    const cost = $("lock-cost");
    cost.hidden = false;
    cost.textContent = `This lock pays ${ntx(built.escrow.amount)} into the escrow with its min-ADA (returned to you when the job settles) and a network fee of ${formatAda(built.fee)}.`;
    busy(button, "Confirm in the wallet…");
    let witnessSet: string;
    try {
      witnessSet = await c.api.signTx(built.tx, true);
    } catch (error) {
      fail(error, "sign the lock transaction");
      return;
    }
    busy(button, "Submitting…");
    const { txHash } = await api<{ txHash: string }>("POST", "/api/tx/submit", { tx: built.tx, witnessSet });
    localStorage.setItem(lockKey(jobHash), txHash);
    await waitConfirmed(txHash, info, "Lock transaction");
    button.hidden = true;
    info.replaceChildren(text(`Locked ${ntx(built.escrow.amount)} in escrow · tx `), el("code", { id: "lock-tx" }, txHash));
    logLine(`escrow funded by ${txHash}`);
    void refreshBalance();
  } catch (error) {
    fail(error);
  } finally {
    state.locking = false;
    busy(button, null);
    void refreshStatus();
  }
}

const SETTLE_WORDS = { accept: ["Accepting", "accept the job", "Accepted: the provider is paid"], dispute: ["Disputing", "dispute the job", "Disputed: the arbiter decides"], refund: ["Refunding", "refund the NTX", "Refunded: the NTX is back in your wallet"] } as const;

async function settle(action: "accept" | "dispute" | "refund"): Promise<void> {
  const c = state.connected;
  if (!c || !state.jobHash) return;
  banner(null);
  const [doing, what, done] = SETTLE_WORDS[action];
  const button = $<HTMLButtonElement>(`${action}-button`);
  const info = $("action-info");
  busy(button, `${doing}…`);
  try {
    const built = await api<{ tx: string; fee: string; escrow: { amount: string; lovelace: string } }>("POST", `/api/tx/${action}`, { address: c.addressHex, utxos: (await c.api.getUtxos()) ?? [], jobHash: state.jobHash });
    const back = action === "dispute" ? "the escrow stays locked until the arbiter decides" : `the escrow's ${formatAda(built.escrow.lovelace)} comes back to you`;
    info.textContent = `${doing} ${ntx(built.escrow.amount)} · network fee ${formatAda(built.fee)}${action === "accept" ? ", plus the min-ADA the provider's payment output carries" : ""}; ${back}. Confirm in the wallet…`;
    let witnessSet: string;
    try {
      witnessSet = await c.api.signTx(built.tx, true);
    } catch (error) {
      info.textContent = "";
      fail(error, what);
      return;
    }
    const { txHash } = await api<{ txHash: string }>("POST", "/api/tx/submit", { tx: built.tx, witnessSet });
    await waitConfirmed(txHash, info, "Transaction");
    info.replaceChildren(text(`${done} · tx `), el("code", { id: `${action}-tx` }, txHash));
    logLine(`${action} confirmed in ${txHash}`);
    void refreshBalance();
  } catch (error) {
    fail(error);
  } finally {
    busy(button, null);
    void refreshStatus();
  }
}

async function showOutputs(): Promise<void> {
  const s = state.status;
  if (!state.jobHash || !s?.resultHash) return;
  const button = $<HTMLButtonElement>("outputs-button");
  const status = $("outputs-status");
  busy(button, "Downloading…");
  try {
    const result = await fetchResult(state.jobHash, s.resultHash);
    if (!result.matches) {
      status.className = "bad";
      status.textContent = `The downloaded outputs do not match the result hash (they hash to ${short(result.hash, 8)}): do not trust them.`;
      $("outputs").replaceChildren();
      return;
    }
    status.className = "ok";
    status.textContent = `✓ Outputs match the result hash (${result.files.length} file${result.files.length === 1 ? "" : "s"}, checked in your browser).`;
    const link = (name: string, data: Uint8Array, label: string) => {
      const a = el("a", { href: URL.createObjectURL(new Blob([data as BlobPart])), download: name }, label);
      return a;
    };
    $("outputs").replaceChildren(
      ...result.files.map((f) => el("li", { "data-path": f.path }, link(f.path.split("/").pop() ?? f.path, f.data, f.path), el("span", { class: "muted" }, ` ${f.size.toLocaleString("en-US")} bytes`))),
      el("li", {}, link(`${state.jobHash.slice(0, 16)}.tar`, result.archive, "everything (.tar)"), el("span", { class: "muted" }, ` ${result.archive.length.toLocaleString("en-US")} bytes`)),
    );
    if (result.files.length === 0) status.textContent += " The job wrote nothing under /out.";
  } catch (error) {
    status.className = "bad";
    status.textContent = plainError(error);
  } finally {
    busy(button, null);
  }
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
            el("tr", {}, el("td", {}, el("code", {}, short(e.outRef, 8))), el("td", {}, el("code", {}, short(e.jobHash, 6))), el("td", {}, ntx(e.amount)), el("td", {}, e.state), el("td", {}, e.claimable ? "now" : e.claimableAt ? new Date(e.claimableAt).toLocaleString() : "—")),
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
    info.textContent = `Claimed ${ntx(built.amount)} from ${built.escrows.length} escrow(s) · tx ${txHash}`;
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
  $("accept-button").onclick = () => void settle("accept");
  $("dispute-button").onclick = () => void settle("dispute");
  $("refund-button").onclick = () => void settle("refund");
  $("outputs-button").onclick = () => void showOutputs();
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
