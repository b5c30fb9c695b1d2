// An HTTP proxy on 127.0.0.1 in front of a plain-http test registry that misbehaves on
// request: it answers with a status instead of forwarding (503 once, a 307 elsewhere, a 401
// challenge), cuts a response body off after N bytes (the socket is destroyed mid-body), stalls
// one after N bytes (the connection stays open, silent, until the proxy stops), or
// rewrites a response (tampered bytes, another Content-Type). Every request is recorded, so a
// test can see the Range and Authorization headers the client sent.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';

export interface ProxiedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export type FaultAction =
  | { kind: 'pass'; stripRange?: boolean }
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  | { kind: 'cut'; afterBytes: number }
  /** Sends the first bytes, calls `onStalled` once they are flushed, then sends nothing more. */
  | { kind: 'stall'; afterBytes: number; onStalled?: () => void }
  | { kind: 'rewrite'; body?: (body: Buffer) => Buffer; headers?: Record<string, string> };

/** Decides per request; `undefined` means pass through. */
export type FaultRule = (req: ProxiedRequest, seen: number) => FaultAction | undefined;

export interface FaultProxy {
  /** '127.0.0.1:PORT' */
  host: string;
  url: string;
  requests: ProxiedRequest[];
  setRule(rule: FaultRule): void;
  stop(): Promise<void>;
}

export async function startFaultProxy(targetUrl: string, rule: FaultRule = () => undefined): Promise<FaultProxy> {
  const target = new URL(targetUrl);
  const requests: ProxiedRequest[] = [];
  let current = rule;

  const forward = (req: IncomingMessage, headers: IncomingHttpHeaders): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const upstream = httpRequest(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...headers, host: target.host } },
        resolve,
      );
      upstream.once('error', reject);
      upstream.end();
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const seen: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers };
    requests.push(seen);
    const action = current(seen, requests.filter((r) => r.path === seen.path).length) ?? { kind: 'pass' };
    if (action.kind === 'status') {
      res.writeHead(action.status, { 'content-type': 'application/json', ...action.headers });
      res.end(action.body ?? '');
      return;
    }
    const headers = { ...req.headers };
    if (action.kind === 'pass' && action.stripRange) delete headers.range;
    const upstream = await forward(req, headers);
    if (action.kind === 'rewrite') {
      const chunks: Buffer[] = [];
      for await (const chunk of upstream) chunks.push(chunk as Buffer);
      const body = action.body ? action.body(Buffer.concat(chunks)) : Buffer.concat(chunks);
      res.writeHead(upstream.statusCode ?? 502, { ...upstream.headers, ...action.headers, 'content-length': String(body.length) });
      res.end(body);
      return;
    }
    res.writeHead(upstream.statusCode ?? 502, upstream.headers);
    if (action.kind === 'pass') {
      upstream.pipe(res);
      return;
    }
    // cut: send the first bytes, then drop the connection once they are flushed.
    // stall: send the first bytes, then keep the connection open and silent (stop() closes it).
    let sent = 0;
    for await (const chunk of upstream) {
      const buf = chunk as Buffer;
      const room = action.afterBytes - sent;
      if (buf.length < room) {
        res.write(buf);
        sent += buf.length;
        continue;
      }
      const flushed = action.kind === 'cut' ? () => res.socket?.destroy() : () => action.onStalled?.();
      res.write(buf.subarray(0, room), flushed);
      upstream.destroy();
      return;
    }
    res.end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(err.message));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault proxy has no TCP address');
  let stopping: Promise<void> | undefined;
  return {
    host: `127.0.0.1:${address.port}`,
    url: `http://127.0.0.1:${address.port}`,
    requests,
    setRule: (r) => {
      current = r;
    },
    stop: () =>
      (stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
