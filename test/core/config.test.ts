import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, OPTIONS } from '../../core/config.ts';
import { StrataError } from '../../core/errors.ts';

describe('configuration', () => {
  it('defaults to an embedded file store under ./.strata in the current folder', () => {
    const config = loadConfig({ env: {}, cwd: '/tmp/project' });
    expect(config.home).toBe('/tmp/project/.strata');
    expect(config.store).toBe(`file://${path.join('/tmp/project/.strata', 'store')}`);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('lets flags win over the environment and the environment over defaults', () => {
    const env = { STRATA_STORE: 's3://b?endpoint=http://127.0.0.1:9', STRATA_LOG_LEVEL: 'info' };
    expect(loadConfig({ env, cwd: '/x' }).store).toBe('s3://b?endpoint=http://127.0.0.1:9');
    const config = loadConfig({
      env,
      cwd: '/x',
      overrides: { store: 'file:///data', logLevel: undefined },
    });
    expect(config.store).toBe('file:///data');
    expect(config.logLevel).toBe('info');
  });

  it('reports every invalid value at once, naming each variable', () => {
    let error: unknown;
    try {
      loadConfig({
        env: { STRATA_LOG_LEVEL: 'loud', STRATA_SEGMENT_TARGET_BYTES: '-5' },
        cwd: '/x',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StrataError);
    expect((error as StrataError).code).toBe('STRATA_E_CONFIG');
    expect((error as StrataError).message).toContain('STRATA_LOG_LEVEL="loud"');
    expect((error as StrataError).message).toContain('STRATA_SEGMENT_TARGET_BYTES="-5"');
  });

  it('declares one environment variable and a doc line for every option', () => {
    const envs = Object.values(OPTIONS).map((o) => o.env);
    expect(new Set(envs).size).toBe(envs.length);
    for (const o of Object.values(OPTIONS)) expect(o.env).toMatch(/^STRATA_[A-Z0-9_]+$/);
  });
});
