/**
 * The HTTP transport handed to the minio client, adding the two timeouts Node's http lacks, so a
 * dead or black-holed endpoint fails in seconds instead of hanging a task forever.
 *
 *   const transport = timedTransport({ useSSL: false, connectTimeoutMs: 5_000, idleTimeoutMs: 120_000 });
 *   new Client({ endPoint: '127.0.0.1', port: 9000, useSSL: false, transport });
 *
 * - connect: the TCP (and TLS) connection must be up within `connectTimeoutMs`.
 * - idle: until the response headers arrive, the socket may stay silent at most `idleTimeoutMs`
 *   (covers a server that accepts and never answers). After that the caller owns the pace: a
 *   consumer of getStream may legitimately pause for long, so no timer runs on response bodies.
 * Both fail with `code: 'ETIMEDOUT'`, which s3Error maps to STRATA_E_STORE_UNAVAILABLE.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';

export interface TimedTransportOptions {
  useSSL: boolean;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
}

export function timedTransport(options: TimedTransportOptions): Pick<typeof http, 'request'> {
  const base = options.useSSL ? https : http;
  const request = (
    reqOptions: http.RequestOptions,
    callback?: (res: http.IncomingMessage) => void,
  ): http.ClientRequest => {
    const req = base.request(reqOptions, callback);
    req.setTimeout(options.idleTimeoutMs, () =>
      req.destroy(timeoutError(`no answer for ${options.idleTimeoutMs} ms`)),
    );
    req.once('response', () => req.setTimeout(0));
    req.once('socket', (socket: Socket) => {
      if (!socket.connecting) return; // a kept-alive socket, already connected
      const timer = setTimeout(
        () => req.destroy(timeoutError(`no connection within ${options.connectTimeoutMs} ms`)),
        options.connectTimeoutMs,
      );
      const clear = () => clearTimeout(timer);
      socket.once(options.useSSL ? 'secureConnect' : 'connect', clear);
      socket.once('close', clear);
    });
    return req;
  };
  return { request } as unknown as Pick<typeof http, 'request'>;
}

function timeoutError(message: string): Error {
  return Object.assign(new Error(message), { code: 'ETIMEDOUT' });
}
