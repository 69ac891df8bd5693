/** A Buffer view of the same bytes, no copy: the native bindings here take Buffers only. */
export function asBuffer(data: Uint8Array): Buffer {
  return data instanceof Buffer ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
