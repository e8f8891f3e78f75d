import { describe, expect, it } from 'vitest';
import {
  shufflePackageDefinition,
  type FetchRequest,
  type PingReply,
  type ShuffleChunk,
} from '../../../proto/shuffle.ts';

// Each sample must name exactly the interface's fields (tsc checks that); the test checks the
// .proto has exactly those fields too, so shuffle.proto and proto/shuffle.ts cannot drift apart.
const samples = {
  'strata.shuffle.v1.FetchRequest': {
    jobId: '',
    mapOutputId: '',
    partition: 0,
    token: '',
    startBatch: 0,
  } satisfies Record<keyof FetchRequest, unknown>,
  'strata.shuffle.v1.ShuffleChunk': {
    batch: Buffer.alloc(0),
    records: 0,
    crc32: 0,
    index: 0,
  } satisfies Record<keyof ShuffleChunk, unknown>,
  'strata.shuffle.v1.PingReply': { protocol: '', pid: 0, activeStreams: 0 } satisfies Record<
    keyof PingReply,
    unknown
  >,
  'strata.shuffle.v1.PingRequest': {},
};

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

describe('proto/shuffle.ts', () => {
  it('mirrors every message of shuffle.proto field for field', () => {
    for (const [name, sample] of Object.entries(samples)) {
      const def = shufflePackageDefinition[name] as
        { type: { field: { name: string }[] } } | undefined;
      expect(def, `${name} is in shuffle.proto`).toBeDefined();
      expect(def!.type.field.map((f) => camel(f.name)).sort()).toEqual(Object.keys(sample).sort());
    }
  });

  it('declares the ShuffleService with a server-streaming Fetch and a unary Ping', () => {
    const service = shufflePackageDefinition['strata.shuffle.v1.ShuffleService'] as Record<
      string,
      { requestStream: boolean; responseStream: boolean }
    >;
    expect(Object.keys(service).sort()).toEqual(['Fetch', 'Ping']);
    expect(service.Fetch).toMatchObject({ requestStream: false, responseStream: true });
    expect(service.Ping).toMatchObject({ requestStream: false, responseStream: false });
  });
});
