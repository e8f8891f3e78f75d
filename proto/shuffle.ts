/**
 * shuffle.proto, loaded for grpc-js, and its messages as TypeScript types.
 *
 *   const client = new ShuffleServiceClient('127.0.0.1:7070', credentials.createInsecure());
 *   server.addService(shuffleServiceDefinition, handlers);
 *
 * The .proto is the contract; the interfaces below mirror it field for field in proto-loader's
 * camelCase, and test/worker/shuffle/shuffle-proto.test.ts fails if the two drift apart.
 * Only worker code imports this module (it pulls in grpc-js).
 */
import {
  loadPackageDefinition,
  type ServiceClientConstructor,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { packagePath } from '../core/package-root.ts';

/** Sent in PingReply.protocol; bump the number on an incompatible change to shuffle.proto. */
export const SHUFFLE_PROTOCOL = 'strata-shuffle/1';

/**
 * The largest message either side accepts: 128 MiB. A chunk is one run-file batch, normally
 * ~256 KiB, but one huge entry (up to MAX_ENTRY_BYTES, 64 MiB, see run-file.ts) makes one huge
 * batch, and grpc-js would otherwise refuse anything over its 4 MiB default.
 */
export const MAX_SHUFFLE_MESSAGE_BYTES = 128 * 1024 * 1024;

export interface FetchRequest {
  jobId: string;
  mapOutputId: string;
  partition: number;
  token: string;
  startBatch: number;
}

export interface ShuffleChunk {
  batch: Buffer;
  records: number;
  crc32: number;
  index: number;
}

export type PingRequest = Record<string, never>;

export interface PingReply {
  protocol: string;
  pid: number;
  activeStreams: number;
}

export const SHUFFLE_PROTO_PATH = packagePath('proto/shuffle.proto');

/**
 * proto-loader's view of the file; `defaults` fills absent fields, so a 0 partition arrives as 0.
 */
export const shufflePackageDefinition: PackageDefinition = loadSync(SHUFFLE_PROTO_PATH, {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});

const grpcObject = loadPackageDefinition(shufflePackageDefinition) as unknown as {
  strata: { shuffle: { v1: { ShuffleService: ServiceClientConstructor } } };
};

export const ShuffleServiceClient: ServiceClientConstructor =
  grpcObject.strata.shuffle.v1.ShuffleService;
export const shuffleServiceDefinition: ServiceDefinition = ShuffleServiceClient.service;
