/**
 * `ntx up --cluster` checks every port of its three nats-servers (client, routes, monitoring) before starting
 * anything, and names the one that is taken and what wanted it.
 */
import { createServer, type Server } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { checkPorts } from "../../src/cli/up.js";
import { freePort } from "../helpers/nats.js";

const held: Server[] = [];
afterAll(() => held.forEach((s) => s.close()));

function hold(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => (held.push(s), resolve()));
  });
}

const options = (natsPort: number, cluster: boolean) => ({ dir: "/nonexistent", chainPort: 0, natsPort, apiPort: 0, blockTime: 1, host: "127.0.0.1", expose: false, cluster });

/** A base port whose cluster neighbours (+0..2, +2000..2002, +4000..4002) are all free now. */
async function basePort(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p > 60_000) continue;
    try {
      await checkPorts(options(p, true));
      return p;
    } catch {
      // a neighbour is taken: try another
    }
  }
}

describe("ntx up --cluster ports", () => {
  it("refuses a taken route port of the second node, naming it", async () => {
    const p = await basePort();
    await hold(p + 2001);
    await expect(checkPorts(options(p, true))).rejects.toThrow(new RegExp(`port ${p + 2001} for NATS cluster routes of ntx-1`));
    // One server uses no route ports: the same base is fine without --cluster.
    await expect(checkPorts(options(p, false))).resolves.toBeUndefined();
  });

  it("refuses a taken client port of the third node", async () => {
    const p = await basePort();
    await hold(p + 2);
    await expect(checkPorts(options(p, true))).rejects.toThrow(/nats-server of ntx-2 \(--nats-port \+ 2\)/);
  });
});
