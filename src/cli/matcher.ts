import { fork, type ChildProcess } from "node:child_process";
import { createServer } from "node:http";
import type { Command } from "commander";
import { NtxError } from "../../offchain/errors.js";
import { createMatcher, type Matcher } from "../market/index.js";
import { connectNats, createNatsMarketTransport, natsOptionsFromEnv, type NatsConnection } from "../nats/index.js";

export interface MatcherRunOptions {
  nats: string;
  durable: string;
  workers?: number;
  confirmWindowMs: number;
  ackWaitMs?: number;
  metricsPort?: number;
  matcherId?: string;
}

export interface RunningMatcher {
  matcher: Matcher;
  nc: NatsConnection;
  stop(): Promise<void>;
}

/** One matcher instance: connect, set up the streams, join the shared bids consumer, serve /metrics. */
export async function runMatcher(options: MatcherRunOptions): Promise<RunningMatcher> {
  const env = natsOptionsFromEnv();
  const nc = await connectNats({ ...env, servers: options.nats.split(","), name: options.matcherId ?? "ntx-matcher", maxReconnectAttempts: -1 });
  const transport = await createNatsMarketTransport(nc);
  const matcher = createMatcher({
    transport,
    durable: options.durable,
    confirmWindowMs: options.confirmWindowMs,
    ...(options.ackWaitMs !== undefined ? { ackWaitMs: options.ackWaitMs } : {}),
    ...(options.workers !== undefined ? { verifyWorkers: options.workers } : {}),
    ...(options.matcherId ? { matcherId: options.matcherId } : {}),
  });
  await matcher.start();
  const server =
    options.metricsPort === undefined
      ? undefined
      : createServer((req, res) => {
          if (req.url !== "/metrics") return void res.writeHead(404).end();
          void matcher.metrics.registry.metrics().then((text) => res.writeHead(200, { "content-type": matcher.metrics.registry.contentType }).end(text));
        }).listen(options.metricsPort, "127.0.0.1");
  return {
    matcher,
    nc,
    async stop() {
      server?.close();
      await matcher.stop();
      await transport.close();
      await nc.drain().catch(() => undefined);
    },
  };
}

export function registerMatcherCommands(program: Command): void {
  program
    .command("matcher")
    .description("run matcher instances: they share the bids through one durable JetStream consumer and never hold funds")
    .option("--nats <urls>", "NATS server URL(s), comma-separated (or NTX_NATS_URL)", process.env.NTX_NATS_URL ?? "nats://127.0.0.1:4222")
    .option("--instances <n>", "matcher processes to run (each one joins the same consumer group)", "1")
    .option("--workers <n>", "signature-verification threads per instance (default: one per core)")
    .option("--durable <name>", "name of the shared durable bids consumer", "ntx-matcher")
    .option("--confirm-window <ms>", "how long a provider has to confirm a match", "10000")
    .option("--metrics-port <port>", "serve Prometheus metrics on 127.0.0.1:<port>/metrics (instance i uses port+i)")
    .action(async (opts: { nats: string; instances: string; workers?: string; durable: string; confirmWindow: string; metricsPort?: string }) => {
      const instances = Number(opts.instances);
      if (!Number.isInteger(instances) || instances < 1) throw new NtxError("CLI_BAD_ARGUMENT", "--instances must be a positive integer");
      const base: MatcherRunOptions = { nats: opts.nats, durable: opts.durable, confirmWindowMs: Number(opts.confirmWindow) };
      if (opts.workers !== undefined) base.workers = Number(opts.workers);
      if (instances > 1) {
        // Separate processes, so each instance has its own event loop and its own verification threads.
        const children: ChildProcess[] = [];
        for (let i = 0; i < instances; i++) {
          const args = process.argv.slice(2).filter((a, j, all) => a !== "--instances" && all[j - 1] !== "--instances");
          const withPort = opts.metricsPort ? args.map((a, j) => (args[j - 1] === "--metrics-port" ? String(Number(opts.metricsPort) + i) : a)) : args;
          children.push(fork(process.argv[1]!, [...withPort, "--instances", "1"], { stdio: "inherit" }));
        }
        const stopAll = () => children.forEach((c) => c.kill("SIGTERM"));
        process.once("SIGINT", stopAll);
        process.once("SIGTERM", stopAll);
        await Promise.all(children.map((c) => new Promise((r) => c.once("exit", r))));
        return;
      }
      const running = await runMatcher({ ...base, ...(opts.metricsPort ? { metricsPort: Number(opts.metricsPort) } : {}), matcherId: `matcher-${process.pid}` });
      console.log(JSON.stringify({ matcher: running.matcher.id, offers: running.matcher.book.size, durable: opts.durable }));
      await new Promise<void>((resolve) => {
        const stop = () => void running.stop().then(resolve);
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
}
