/**
 * Live updates for dashboards: a server-sent-events stream of a view's changed keys.
 *
 *   GET /v1/views/pageviews/changes      (Accept: text/event-stream)
 *   event: hello    data: {"view":"pageviews","version":"v…"}
 *   event: keys     data: {"view":"pageviews","keys":[["/home"],["/about"]],"more":0,"bucket":29511}
 *   event: version  data: {"view":"pageviews","version":"v…"}     (a new batch version, or a rollback)
 *
 * A `keys` event follows every speed-layer commit that changed the view (the speed layer
 * publishes on `<prefix>:rt:<view>:changes` after the fold, so a client that GETs a key it was
 * told about sees the new value). A `version` event follows every swap on this server. One Redis
 * subscription (a pattern) serves every client; a slow client is dropped rather than buffered
 * without bound, and reconnects (EventSource does so by itself).
 */
import type { ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import { decodeKey } from '../core/keys/key-codec.ts';
import type { Logger } from '../core/log.ts';
import type { ViewRegistry } from './view-registry.ts';

const HEARTBEAT_MS = 15_000;
/** Bytes a client may have unsent before it is dropped. */
const MAX_BUFFERED = 1024 * 1024;

export class LiveChanges {
  readonly #clients = new Map<string, Set<ServerResponse>>();
  readonly #heartbeat: NodeJS.Timeout;
  readonly #unsubscribeSwaps: () => void;

  constructor(private readonly opts: { registry: ViewRegistry; prefix: string; log?: Logger }) {
    this.#unsubscribeSwaps = opts.registry.onSwap((view, version) =>
      this.#send(view, 'version', { view, version }),
    );
    this.#heartbeat = setInterval(() => {
      for (const set of this.#clients.values())
        for (const res of set) res.write(': keep-alive\n\n');
    }, HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  /** Subscribes to every view's change channel (once; without Redis only `version` events flow). */
  async start(subscriber: Redis): Promise<void> {
    const { prefix } = this.opts;
    const pattern = `${prefix}:rt:*:changes`;
    subscriber.on('pmessage', (p: string, _channel: string, message: string) => {
      if (p !== pattern) return;
      try {
        const m = JSON.parse(message) as {
          view: string;
          bucket: number;
          keys: string[];
          more: number;
        };
        if (!this.#clients.has(m.view)) return;
        const keys = m.keys.map((k) => decodeKey(Buffer.from(k, 'base64')));
        this.#send(m.view, 'keys', { view: m.view, keys, more: m.more, bucket: m.bucket });
      } catch (err) {
        this.opts.log?.warn(
          { err, message: message.slice(0, 200) },
          'ignoring a change announcement that is not what the speed layer sends',
        );
      }
    });
    await subscriber.psubscribe(pattern);
  }

  /** Takes over the response: an event stream until the client goes away or the server stops. */
  open(view: string, version: string, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 1000\nevent: hello\ndata: ${JSON.stringify({ view, version })}\n\n`);
    let set = this.#clients.get(view);
    if (!set) this.#clients.set(view, (set = new Set()));
    set.add(res);
    res.on('close', () => {
      set.delete(res);
      if (set.size === 0) this.#clients.delete(view);
    });
  }

  stop(): void {
    clearInterval(this.#heartbeat);
    this.#unsubscribeSwaps();
    for (const set of this.#clients.values()) for (const res of set) res.end();
    this.#clients.clear();
  }

  #send(view: string, event: string, data: unknown): void {
    const set = this.#clients.get(view);
    if (!set) return;
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of set) {
      if (res.writableLength > MAX_BUFFERED) {
        this.opts.log?.warn({ view }, 'dropping a live-changes client that does not keep up');
        res.destroy();
        continue;
      }
      res.write(frame);
    }
  }
}
