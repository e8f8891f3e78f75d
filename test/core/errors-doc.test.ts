import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, StrataError } from '../../core/errors.ts';
import { renderErrorsDoc } from '../../scripts/errors-doc.ts';

describe('error codes', () => {
  it('docs/errors.md lists exactly the codes of the registry (regenerate with scripts/errors-doc.ts)', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/`(STRATA_E_[A-Z0-9_]+)`/g)].map((m) => m[1]).sort();
    expect(documented).toEqual(Object.keys(ERROR_CODES).sort());
    expect(doc).toBe(renderErrorsDoc());
  });

  it('every code is STRATA_E_ plus upper-case words and has a one-line doc', () => {
    for (const [code, e] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^STRATA_E_[A-Z0-9]+(_[A-Z0-9]+)*$/);
      expect(e.doc.length).toBeGreaterThan(10);
      expect(e.doc).not.toContain('\n');
    }
  });

  it('an error survives a trip through JSON with its code, retryable flag, details, stack and cause', () => {
    const cause = new TypeError('user map exploded');
    const err = new StrataError(
      'STRATA_E_JOB_MAP_FAILED',
      'map threw at master/pv/x.seg block 3 record 17',
      { cause, details: { block: 3 } },
    );
    const back = StrataError.fromJSON(JSON.parse(JSON.stringify(err)));
    expect(back).toBeInstanceOf(StrataError);
    expect(back.code).toBe('STRATA_E_JOB_MAP_FAILED');
    expect(back.retryable).toBe(false);
    expect(back.details).toEqual({ block: 3 });
    expect(back.stack).toBe(err.stack);
    expect((back.cause as Error).message).toBe('user map exploded');
    expect((back.cause as Error).stack).toBe(cause.stack);
  });

  it('takes retryable from the registry unless told otherwise', () => {
    expect(new StrataError('STRATA_E_STORE_UNAVAILABLE', 'down').retryable).toBe(true);
    expect(new StrataError('STRATA_E_STORE_EXISTS', 'exists').retryable).toBe(false);
  });
});
