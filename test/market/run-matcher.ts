// A matcher in its own process, for the restart test (it is killed with SIGKILL mid-stream).
import { runMatcher } from "../../src/cli/matcher.js";

const [url, durable, id] = process.argv.slice(2);
// A short redelivery timeout, so the bids a killed instance held come back quickly (well inside the
// confirmation window, so their stored confirmations are still on time).
const running = await runMatcher({ nats: url!, durable: durable!, confirmWindowMs: 15_000, ackWaitMs: 4_000, workers: 1, matcherId: id! });
let matched = 0;
setInterval(async () => {
  const value = (await running.matcher.metrics.matched.get()).values[0]?.value ?? 0;
  if (value !== matched) {
    matched = value;
    process.stdout.write(`matched ${matched}\n`);
  }
}, 20);
process.stdout.write("ready\n");
