import type { Request, Response } from "express";

/**
 * A Server-Sent Events stream on `res`: named events with JSON data, a comment line as heartbeat (keeps proxies
 * and the browser from timing the stream out), and one cleanup when the client goes or the server stops.
 */
export interface SseStream {
  send(event: string, data: unknown): void;
  close(): void;
  readonly closed: boolean;
}

export function openSse(req: Request, res: Response, options: { heartbeatMs: number; onClose: () => void; registry: { add(s: SseStream): void; delete(s: SseStream): void } }): SseStream {
  res.status(200);
  res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
  res.setHeader("Cache-Control", "no-cache, no-transform");
  res.setHeader("Connection", "keep-alive");
  res.setHeader("X-Accel-Buffering", "no");
  res.flushHeaders();
  res.write(": ntx-market job events\nretry: 2000\n\n");
  let closed = false;
  const heartbeat = setInterval(() => res.write(`: ping ${Date.now()}\n\n`), options.heartbeatMs);
  const stream: SseStream = {
    send(event, data) {
      if (closed) return;
      const json = JSON.stringify(data, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
      res.write(`event: ${event}\ndata: ${json}\n\n`);
    },
    close() {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      options.registry.delete(stream);
      options.onClose();
      res.end();
    },
    get closed() {
      return closed;
    },
  };
  options.registry.add(stream);
  req.on("close", () => stream.close());
  return stream;
}
