import { NtxError } from "../../offchain/errors.js";

/**
 * Which images a provider runs. A job must name its image exactly: by digest (`repo@sha256:…`), by local image
 * ID (`sha256:…`), or by an explicit tag other than `latest`; and that reference must be on the provider's
 * allow-list (an entry `repo:*` allows any explicit tag of that repository). Whatever the reference, the runner
 * records the image ID it resolved to, so the result is bound to the bytes that ran.
 */

export interface ImageReference {
  raw: string;
  repository?: string;
  tag?: string;
  digest?: string;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function parseImageReference(raw: string): ImageReference {
  if (DIGEST.test(raw)) return { raw, digest: raw };
  const at = raw.indexOf("@");
  if (at !== -1) {
    const digest = raw.slice(at + 1);
    if (!DIGEST.test(digest)) throw new NtxError("IMAGE_REFERENCE_INVALID", `bad image digest in ${raw}`);
    return { raw, repository: raw.slice(0, at), digest };
  }
  const slash = raw.lastIndexOf("/");
  const colon = raw.lastIndexOf(":");
  if (colon > slash) return { raw, repository: raw.slice(0, colon), tag: raw.slice(colon + 1) };
  return { raw, repository: raw };
}

export function isPinned(ref: ImageReference): boolean {
  return ref.digest !== undefined || (ref.tag !== undefined && ref.tag !== "" && ref.tag !== "latest");
}

export function checkImageAllowed(raw: string, allowList: readonly string[]): ImageReference {
  const ref = parseImageReference(raw);
  if (!isPinned(ref)) {
    throw new NtxError("IMAGE_NOT_PINNED", `image ${raw} is not pinned: name it by digest or by an explicit tag other than latest`);
  }
  const allowed = allowList.some((entry) => {
    if (entry === raw) return true;
    if (entry.endsWith(":*") && ref.tag !== undefined) return entry.slice(0, -2) === ref.repository;
    if (entry.endsWith("@*") && ref.digest !== undefined) return entry.slice(0, -2) === ref.repository;
    return false;
  });
  if (!allowed) throw new NtxError("IMAGE_NOT_ALLOWED", `image ${raw} is not on this provider's allow-list`, { details: { image: raw } });
  return ref;
}
