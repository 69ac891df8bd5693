// A matcher in its own process, to be paused with SIGSTOP/SIGCONT by the pause test. Prints its lapse and
// confirm counts whenever they change.
import { runMatcher } from "../../src/cli/matcher.js";

const [url, durable, confirmWindowMs] = process.argv.slice(2);
const running = await runMatcher({ nats: url!, durable: durable!, confirmWindowMs: Number(confirmWindowMs), workers: 1, matcherId: "paused" });
let last = "";
setInterval(async () => {
  const value = async (c: { get(): Promise<{ values: Array<{ value: number }> }> }) => (await c.get()).values[0]?.value ?? 0;
  const line = `matched ${await value(running.matcher.metrics.matched)} confirmed ${await value(running.matcher.metrics.confirmed)} lapsed ${await value(running.matcher.metrics.lapsed)}`;
  if (line !== last) process.stdout.write(`${(last = line)}\n`);
}, 50);
process.stdout.write("ready\n");
