/**
 * Turns a byte stream into lines (split at '\n', and at MAX_LINE bytes so one endless line can't hold memory).
 * Bytes are kept until a line ends, so a multi-byte character split across chunks decodes whole.
 */
export const MAX_LINE = 16 * 1024;

export class LogSplitter {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Uint8Array): void {
    this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    for (;;) {
      const newline = this.pending.indexOf(0x0a);
      if (newline !== -1 && newline <= MAX_LINE) {
        this.onLine(this.pending.subarray(0, newline).toString("utf8"));
        this.pending = this.pending.subarray(newline + 1);
      } else if (this.pending.length > MAX_LINE) {
        this.onLine(this.pending.subarray(0, MAX_LINE).toString("utf8"));
        this.pending = this.pending.subarray(MAX_LINE);
      } else {
        return;
      }
    }
  }

  flush(): void {
    if (this.pending.length > 0) this.onLine(this.pending.toString("utf8"));
    this.pending = Buffer.alloc(0);
  }
}
