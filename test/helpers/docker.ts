import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

/**
 * Real Docker engine for tests: makes sure dockerd answers and the local test image exists (both through the
 * project's setup scripts), gives each test run a label, and removes every container and volume carrying it.
 * Uses the docker CLI, not dockerode: only src/provider/docker imports that.
 */

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const TEST_IMAGE = process.env.NTX_TEST_IMAGE ?? "ntx-test/busybox:1";
export const TEST_RUN_LABEL = "ntx.test-run";

async function docker(args: string[]): Promise<string> {
  const { stdout } = await run("docker", args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

export async function dockerAnswers(): Promise<boolean> {
  try {
    await run("docker", ["info", "--format", "{{.ServerVersion}}"], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

export async function ensureDocker(): Promise<void> {
  if (!(await dockerAnswers())) await run("bash", ["scripts/setup.sh"], { cwd: ROOT, timeout: 300_000 });
  await run("bash", ["scripts/test-image.sh"], { cwd: ROOT, timeout: 120_000 });
}

export interface DockerTestRun {
  id: string;
  labels: Record<string, string>;
  /** Containers (running or not) and volumes this run left behind. */
  leftovers(): Promise<{ containers: string[]; volumes: string[] }>;
  cleanup(): Promise<void>;
}

export function dockerTestRun(): DockerTestRun {
  const id = randomBytes(6).toString("hex");
  const filter = `label=${TEST_RUN_LABEL}=${id}`;
  const leftovers = async () => {
    const containers = (await docker(["ps", "-aq", "--filter", filter])).split("\n").filter(Boolean);
    const volumes = (await docker(["volume", "ls", "-q", "--filter", filter])).split("\n").filter(Boolean);
    return { containers, volumes };
  };
  return {
    id,
    labels: { [TEST_RUN_LABEL]: id },
    leftovers,
    async cleanup() {
      const left = await leftovers();
      if (left.containers.length > 0) await docker(["rm", "-f", "-v", ...left.containers]);
      if (left.volumes.length > 0) await docker(["volume", "rm", "-f", ...left.volumes]);
    },
  };
}

export async function imageId(ref: string): Promise<string> {
  return docker(["image", "inspect", "--format", "{{.Id}}", ref]);
}

export { docker as dockerCli };
