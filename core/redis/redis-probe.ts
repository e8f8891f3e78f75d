/**
 * One Redis command over a plain TCP socket, for readiness checks that must not pull in a client
 * library's reconnect logic.
 *
 *   await probeRedis('127.0.0.1', 6379, ['PING'], 500);   // 'PONG'
 *
 * Resolves with the reply of a simple string or bulk string; rejects on a Redis error reply
 * (e.g. `LOADING`), a socket error or the timeout.
 */
import net from 'node:net';

export function probeRedis(
  host: string,
  port: number,
  args: string[],
  timeoutMs: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let buf = Buffer.alloc(0);
    const done = (err: Error | undefined, reply?: string) => {
      socket.destroy();
      if (err) reject(err);
      else resolve(reply ?? '');
    };
    socket.setTimeout(timeoutMs, () =>
      done(new Error(`no reply from ${host}:${port} within ${timeoutMs} ms`)),
    );
    socket.on('error', (err) => done(err));
    socket.on('connect', () => {
      const parts = args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
      socket.write(`*${args.length}\r\n${parts}`);
    });
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const lineEnd = buf.indexOf('\r\n');
      if (lineEnd < 0) return;
      const line = buf.subarray(1, lineEnd).toString('utf8');
      switch (buf[0]) {
        case 0x2b: // '+'
          return done(undefined, line);
        case 0x2d: // '-'
          return done(new Error(line));
        case 0x24: {
          // '$'
          const len = Number(line);
          if (len < 0) return done(undefined, '');
          if (buf.length < lineEnd + 2 + len + 2) return;
          return done(undefined, buf.subarray(lineEnd + 2, lineEnd + 2 + len).toString('utf8'));
        }
        default:
          return done(
            new Error(
              `unexpected reply from ${host}:${port}: ${JSON.stringify(buf.subarray(0, 40).toString('latin1'))}`,
            ),
          );
      }
    });
    socket.on('close', () =>
      done(new Error(`connection to ${host}:${port} closed before a reply`)),
    );
  });
}
