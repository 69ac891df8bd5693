/**
 * Extra node flags for every Node child the fault, load and devnet helpers start, from NTX_CHILD_NODE_ARGS (space
 * separated): for the flags NODE_OPTIONS refuses, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile a load run.
 */
export function nodeArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.NTX_CHILD_NODE_ARGS ?? "").split(" ").filter(Boolean);
}
