import { execFile } from "node:child_process";
import { chmod, chown, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { NtxError } from "../../../offchain/errors.js";

/**
 * File systems the provider mounts on the host for services (needs root, as dockerd does):
 * - a service's persistent volume is an ext4 image file of exactly the size bought, fully allocated (the disk
 *   is really set aside, not promised) and loop-mounted: the service can never write past it, whatever it does,
 *   and it survives container and provider restarts because it is a file;
 * - sealed secrets are opened into a small tmpfs (RAM only, mode 0700) that dies with its unmount.
 * Docker's own volumes cannot do this: a local volume has no size limit on overlay2 without XFS project quotas.
 */

const run = promisify(execFile);
const CONTAINER_UID = 65534;

async function sh(cmd: string, args: string[], what: string): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { timeout: 120_000, maxBuffer: 1024 * 1024 });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new NtxError("HOST_MOUNT_FAILED", `${what} failed: ${stderr.trim().slice(0, 300) || (error as Error).message}`, { retryable: true, cause: error });
  }
}

/** Mount points currently mounted (from the kernel, not a file of ours: a crash cannot make it lie). */
export async function mountedAt(path: string): Promise<boolean> {
  const table = await readFile("/proc/self/mountinfo", "utf8");
  return table.split("\n").some((line) => line.split(" ")[4] === path);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

export interface VolumeFiles {
  image: string;
  mountPoint: string;
}

export function volumeFiles(root: string, key: string): VolumeFiles {
  if (!/^[a-z0-9][a-z0-9_.-]{0,120}$/.test(key)) throw new NtxError("RUN_REQUEST_INVALID", `bad volume key ${key}`);
  return { image: join(root, `${key}.ext4`), mountPoint: join(root, `${key}.mnt`) };
}

/**
 * The volume's mount point, creating (first time) and mounting (after a restart or reboot) its image. An image
 * that exists with another size is refused rather than resized under a running node's database.
 */
export async function ensureVolume(root: string, key: string, sizeMiB: number): Promise<string> {
  const files = volumeFiles(root, key);
  await mkdir(root, { recursive: true, mode: 0o700 });
  const bytes = sizeMiB * 1024 * 1024;
  if (!(await exists(files.image))) {
    const partial = `${files.image}.new`;
    await rm(partial, { force: true });
    await sh("fallocate", ["-l", String(bytes), partial], "allocating the volume");
    // -m 0: no blocks reserved for root (the service is not root); root_owner: the service's user owns the top.
    // Zeroing through a loop device punches holes in its file, so nothing may zero later: nodiscard, and the
    // inode tables and journal initialised now (not by the kernel's lazy init after mounting, which left the
    // image ~2 MiB short of allocated on some runs).
    await sh("mkfs.ext4", ["-q", "-F", "-m", "0", "-E", `nodiscard,lazy_itable_init=0,lazy_journal_init=0,root_owner=${CONTAINER_UID}:${CONTAINER_UID}`, partial], "formatting the volume");
    // Whatever mke2fs zeroed by punching is allocated again (reading as zeros, as it meant them).
    await sh("fallocate", ["-l", String(bytes), partial], "allocating the volume");
    await sh("mv", ["-f", partial, files.image], "placing the volume");
  } else {
    const size = (await stat(files.image)).size;
    if (size !== bytes) throw new NtxError("VOLUME_SIZE_MISMATCH", `volume ${key} holds ${size} bytes, the service asks for ${bytes}`);
  }
  if (!(await mountedAt(files.mountPoint))) {
    await mkdir(files.mountPoint, { recursive: true, mode: 0o755 });
    await sh("mount", ["-t", "ext4", "-o", "loop,nodev,nosuid,noinit_itable,nodiscard", files.image, files.mountPoint], "mounting the volume");
  }
  return files.mountPoint;
}

export async function unmount(path: string): Promise<void> {
  if (await mountedAt(path)) await sh("umount", [path], `unmounting ${path}`);
}

/** Unmounts and deletes the volume: its data is gone for good. */
export async function removeVolume(root: string, key: string): Promise<void> {
  const files = volumeFiles(root, key);
  await unmount(files.mountPoint);
  await rm(files.mountPoint, { recursive: true, force: true });
  await rm(files.image, { force: true });
}

/**
 * Puts `files` in a RAM-only folder readable by the container's user alone; nothing of it reaches a disk. The
 * tmpfs is mounted once and then only its files are replaced (a KES rotation): a running container's bind of it
 * sees the new files, where a fresh mount over the same path would leave the container with the old one.
 */
export async function mountSecrets(dir: string, files: Record<string, Uint8Array>): Promise<void> {
  const total = Object.values(files).reduce((n, f) => n + f.length, 0);
  if (total > 512 * 1024) throw new NtxError("RUN_REQUEST_INVALID", "secrets over 512 KiB");
  for (const name of Object.keys(files)) {
    if (!/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(name)) throw new NtxError("RUN_REQUEST_INVALID", `bad secret file name ${name}`);
  }
  if (!(await mountedAt(dir))) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // size bounds RAM; the files are written after the mount, so they only ever exist inside it.
    await sh("mount", ["-t", "tmpfs", "-o", `size=1m,nr_inodes=64,mode=0700,uid=${CONTAINER_UID},gid=${CONTAINER_UID},nodev,nosuid,noexec`, "tmpfs", dir], "mounting the secrets tmpfs");
  }
  if (!(await mountedAt(dir))) throw new NtxError("HOST_MOUNT_FAILED", `no tmpfs at ${dir}: refusing to write secrets there`);
  for (const old of await readdir(dir)) if (!(old in files)) await rm(join(dir, old), { force: true });
  for (const [name, bytes] of Object.entries(files)) {
    const path = join(dir, name);
    const next = join(dir, `.${name}.new`);
    await writeFile(next, bytes, { mode: 0o400 });
    await chown(next, CONTAINER_UID, CONTAINER_UID);
    await chmod(next, 0o400);
    await rename(next, path);
  }
}

export async function unmountSecrets(dir: string): Promise<void> {
  await unmount(dir);
  await rm(dir, { recursive: true, force: true });
}

/** Writes plain (non-secret) files for a service, replacing any earlier ones, readable by its user. */
export async function writeServiceFiles(dir: string, files: Record<string, string>): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o755 });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text, { mode: 0o444 });
}
