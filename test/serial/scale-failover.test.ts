import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPeer, sleep, type Peer } from '../helpers/ws-peer.js';
import { freePort, startRedis } from '../helpers/redis-server.js';
import { startGateway, type GatewayProcess } from '../helpers/scale-gateway.js';
import { Haproxy, haproxyAvailable } from '../helpers/haproxy.js';
import { Nginx, nginxAvailable } from '../helpers/nginx.js';
import { RecoveringSubscriber } from '../helpers/recovering-client.js';
import { Client } from '../../src/client/index.js';

/** A subscriber through the client SDK (src/client): the same record as RecoveringSubscriber. */
class SdkSubscriber {
  readonly received: { offset: number; data: unknown }[] = [];
  readonly problems: string[] = [];
  readonly nodes: string[] = [];
  reconnects = 0;
  duplicatesDropped = 0;
  readonly client: Client;
  private readonly sub: ReturnType<Client['subscribe']>;
  constructor(url: string, channel: string) {
    this.client = new Client(url, { initialDelay: 50, maxDelay: 1000, jitterMode: 'full', circuitThreshold: 0 });
    this.client.on('connected', (e) => {
      if (this.nodes.length > 0) this.reconnects++;
      this.nodes.push(e.node);
    });
    this.client.on('recovery', (r) => {
      if (!r.recovered) this.problems.push(`recovered: false (${r.reason})`);
    });
    const sub = this.client.subscribe(channel, (m) => this.received.push({ offset: m.offset, data: m.data }));
    this.sub = sub;
    sub.on('gap', (g) => this.problems.push(`gap ${g.after} → ${g.next}`));
  }
  get node(): string | undefined {
    return this.nodes[this.nodes.length - 1];
  }
  get offset(): number {
    return this.received.length === 0 ? 0 : this.received[this.received.length - 1].offset;
  }
  async start(): Promise<void> {
    await this.client.ready(5000);
    // subscribed: the SDK's subscribe is answered before the test starts publishing
    const deadline = Date.now() + 5000;
    while (this.sub.state !== 'subscribed' && Date.now() < deadline) await sleep(10);
  }
  stop(): void {
    void this.client.close();
  }
}

const SUBSCRIBERS = 15;
const RATE_PER_S = 40;

interface Proxy { readonly port: number; start(): Promise<void>; stop(): Promise<void> }

const proxies: { name: string; available: () => boolean; pkg: string; make: (port: number, backends: number[]) => Proxy }[] = [
  { name: 'HAProxy', available: haproxyAvailable, pkg: 'haproxy', make: (p, b) => new Haproxy(p, b) },
  { name: 'nginx', available: nginxAvailable, pkg: 'nginx-light', make: (p, b) => new Nginx(p, b) },
];

for (const proxy of proxies) test(
  `failover: ${proxy.name} in front of 3 gateways + Redis; kill -9 one gateway; its clients reconnect to survivors and end with every message exactly once, in order`,
  { skip: proxy.available() ? false : `${proxy.name} is not installed (apt-get install -y ${proxy.pkg})` },
  async () => {
    const redis = await startRedis();
    const gateways: GatewayProcess[] = [];
    let lb: Proxy | undefined;
    const subs: (RecoveringSubscriber | SdkSubscriber)[] = [];
    let publisher: Peer | undefined;
    try {
      for (let i = 0; i < 3; i++) {
        gateways.push(await startGateway(0, ['--broker', redis.url, '--node-id', `g${i}`, '--rate-burst', '1000', '--rate-refill', '1000']));
      }
      lb = proxy.make(await freePort(), gateways.map((g) => g.port));
      await lb.start();
      const url = `ws://127.0.0.1:${lb.port}/`;
      for (let i = 0; i < SUBSCRIBERS; i++) {
        // two thirds through the client SDK, a third through the minimal loop of the protocol doc
        const s = i % 3 === 2 ? new RecoveringSubscriber(url, 'feed') : new SdkSubscriber(url, 'feed');
        subs.push(s);
        await s.start();
      }
      publisher = await openPeer(url);
      const pubNode = publisher.frames[0].node as string;
      // the victim: the gateway holding most subscribers, other than the publisher's
      const load = new Map<string, number>();
      for (const s of subs) load.set(s.node!, (load.get(s.node!) ?? 0) + 1);
      const victimNode = [...load.entries()].filter(([n]) => n !== pubNode).sort((a, b) => b[1] - a[1])[0][0];
      const victim = gateways[Number(victimNode.slice(1))];
      const onVictim = subs.filter((s) => s.node === victimNode);
      assert.ok(onVictim.length > 0, `subscribers spread: ${JSON.stringify([...load])}`);

      let seq = 0;
      const timer = setInterval(() => publisher!.send({ type: 'publish', id: ++seq, channel: 'feed', data: seq }), 1000 / RATE_PER_S);
      await sleep(1000);
      await victim.stop('SIGKILL');
      await sleep(2500);
      clearInterval(timer);

      const acks = await publisher.count((f) => f.type === 'published' || f.type === 'error', seq, 10_000);
      assert.deepEqual(acks.filter((f) => f.type === 'error'), [], 'every publication was accepted');
      const max = Math.max(...acks.map((f) => f.offset));
      assert.equal(max, seq);
      const deadline = Date.now() + 15_000;
      while (subs.some((s) => s.offset < max) && Date.now() < deadline) await sleep(50);

      for (const s of subs) {
        assert.deepEqual(s.problems, [], `subscriber on ${s.nodes.join(' → ')}`);
        assert.deepEqual(s.received.map((m) => m.offset), Array.from({ length: max }, (_, i) => i + 1), 'every message exactly once, in order');
        assert.deepEqual(s.received.map((m) => m.data), Array.from({ length: max }, (_, i) => i + 1));
      }
      for (const s of onVictim) {
        assert.ok(s.reconnects >= 1);
        assert.notEqual(s.node, victimNode, 'reconnected to a survivor');
      }
      const replayed = onVictim.length;
      const dups = subs.reduce((n, s) => n + s.duplicatesDropped, 0);
      // visible in the test log: how the failover went
      console.log(`# failover through ${proxy.name}: ${seq} messages at ${RATE_PER_S}/s; ${replayed} of ${SUBSCRIBERS} clients moved off ${victimNode} (${onVictim.filter((s) => s instanceof SdkSubscriber).length} of them SDK clients); duplicates dropped by clients: ${dups}`);
    } finally {
      for (const s of subs) s.stop();
      publisher?.close();
      await lb?.stop();
      await Promise.all(gateways.map((g) => g.stop('SIGTERM')));
      await redis.kill();
    }
  },
);
