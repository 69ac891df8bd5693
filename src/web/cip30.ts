/** CIP-30 wallets injected under `window.cardano`, and their errors in words a person understands. */
export interface Cip30Api {
  getNetworkId(): Promise<number>;
  getUtxos(): Promise<string[] | null>;
  getBalance(): Promise<string>;
  getChangeAddress(): Promise<string>;
  signTx(tx: string, partialSign: boolean): Promise<string>;
  signData(address: string, payload: string): Promise<{ signature: string; key: string }>;
}

export interface Cip30Wallet {
  id: string;
  name: string;
  icon: string;
  enable(): Promise<Cip30Api>;
}

type Injected = Record<string, { name?: string; icon?: string; apiVersion?: string; enable?: () => Promise<Cip30Api> } | undefined>;

export function detectWallets(): Cip30Wallet[] {
  const found: Cip30Wallet[] = [];
  for (const [id, w] of Object.entries((window as unknown as { cardano?: Injected }).cardano ?? {})) {
    if (!w || typeof w.enable !== "function") continue;
    found.push({ id, name: w.name ?? id, icon: typeof w.icon === "string" ? w.icon : "", enable: () => w.enable!() });
  }
  return found.sort((a, b) => a.name.localeCompare(b.name));
}

/** CIP-30 APIError / TxSignError / DataSignError carry `{ code, info }`. */
export function walletErrorText(error: unknown, action: string): string {
  const e = error as { code?: number; info?: string; message?: string };
  if (typeof e?.code === "number") {
    if (action === "connect" && (e.code === -3 || e.code === -2)) return `The wallet refused to connect${e.info ? ` (${e.info})` : ""}.`;
    if (action !== "connect" && (e.code === 2 || e.code === 3)) return `You declined to ${action} in the wallet${e.info ? ` (${e.info})` : ""}.`;
    return `The wallet could not ${action}: ${e.info ?? e.message ?? `error ${e.code}`}`;
  }
  return `The wallet could not ${action}: ${e?.message ?? String(error)}`;
}
