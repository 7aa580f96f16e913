import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bus, Subscription } from '../bus/types.ts';
import { subjects } from '../bus/subjects.ts';
import type { MachineState } from '../actors/inspection.ts';
import { INSPECTOR_PAGE } from './inspect-page.ts';

interface NodeReport {
  node: string;
  at: number;
  machines: MachineState[];
}

/**
 * `tenure inspect`: a small HTTP server that follows every node's statecharts over NATS
 * (`….inspect.<node>`) and shows them live in a browser: `/` is the page, `/events` a
 * Server-Sent Events stream, `/state` the latest states as JSON.
 */
export class InspectServer {
  private server: Server;
  private sub: Subscription | null = null;
  private state = new Map<string, Map<string, MachineState & { at: number }>>();
  private clients = new Set<ServerResponse>();

  constructor(
    private readonly bus: Bus,
    private readonly cluster: string,
  ) {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(INSPECTOR_PAGE.replace('%CLUSTER%', this.cluster));
      } else if (url.pathname === '/state') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(this.snapshot()));
      } else if (url.pathname === '/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        for (const report of this.snapshot()) res.write(`data: ${JSON.stringify(report)}\n\n`);
        this.clients.add(res);
        req.on('close', () => this.clients.delete(res));
      } else {
        res.writeHead(404).end('not found');
      }
    });
  }

  /** Listens on `port` (0: any free port) on loopback; returns the URL. */
  async listen(port: number, host = '127.0.0.1'): Promise<string> {
    this.sub = this.bus.subscribe(`${subjects(this.cluster).prefix}.inspect.*`, (data) => this.onReport(data as NodeReport));
    await new Promise<void>((resolve) => this.server.listen(port, host, resolve));
    return `http://${host}:${(this.server.address() as AddressInfo).port}/`;
  }

  private onReport(r: NodeReport): void {
    if (!r || typeof r.node !== 'string' || !Array.isArray(r.machines)) return;
    let machines = this.state.get(r.node);
    if (!machines) this.state.set(r.node, (machines = new Map()));
    for (const m of r.machines) machines.set(m.machine, { ...m, at: r.at });
    const line = `data: ${JSON.stringify(r)}\n\n`;
    for (const c of this.clients) c.write(line);
  }

  snapshot(): NodeReport[] {
    return [...this.state.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([node, ms]) => ({ node, at: Math.max(0, ...[...ms.values()].map((m) => m.at)), machines: [...ms.values()] }));
  }

  async close(): Promise<void> {
    this.sub?.unsubscribe();
    for (const c of this.clients) c.end();
    this.clients.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
