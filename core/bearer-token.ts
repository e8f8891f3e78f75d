/**
 * The cluster token check of the coordinator API and the speed layer's ingest API.
 *
 *   const check = bearerTokenCheck(config.token);
 *   app.addHook('onRequest', async (req) => { if (req.url.startsWith('/v1/')) check(req.headers.authorization); });
 *
 * Digests are compared, not the tokens: equal length, constant time, and the token's length is
 * not leaked.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { StrataError } from './errors.ts';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** A check that throws STRATA_E_AUTH unless the Authorization header carries `token`. */
export function bearerTokenCheck(token: string): (authorization: string | undefined) => void {
  const expected = digest(token);
  return (authorization) => {
    const m = /^Bearer (.+)$/.exec(authorization ?? '');
    if (!m || !timingSafeEqual(digest(m[1]!), expected)) {
      throw new StrataError(
        'STRATA_E_AUTH',
        m
          ? 'the bearer token is wrong; use the cluster token (STRATA_TOKEN, or .strata/cluster.json for strata dev)'
          : 'this route needs an Authorization: Bearer <token> header with the cluster token (STRATA_TOKEN)',
      );
    }
  };
}
