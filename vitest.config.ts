import { defineConfig } from "vitest/config";

// Suites talk to real servers (nats-server, dockerd, devnet chain), so they get generous timeouts
// and run in forked processes: a crashed native addon must not take the runner down.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
