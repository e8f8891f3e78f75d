/**
 * The named handlers of a task thread (piscina calls them by name): everything that runs user
 * code runs here, so the main thread stays free for BullMQ lock renewal and the shuffle server.
 *
 *   pool.run({ task, bundle } satisfies MapRequest, { name: 'map' })   // → ThreadReply<MapTaskOutcome>
 *
 * Each thread opens the store once (from workerData) and imports a bundle once per code hash.
 * Every failure is caught and answered as StrataError JSON (threads/thread-messages.ts).
 */
import { workerData } from 'node:worker_threads';
import { createLogger, type Logger } from '../../core/log.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { runCallTask, type CallOutcome } from '../call/run-call-task.ts';
import { asStrataError } from '../job-errors.ts';
import { runMapTask, type MapTaskOutcome } from '../map/run-map-task.ts';
import { runReduceTask, type ReduceTaskOutcome } from '../reduce/run-reduce-task.ts';
import { exportOf, importBundle, jobOf } from '../../core/code/load-bundle.ts';
import type {
  CallRequest,
  MapRequest,
  ReduceRequest,
  ThreadEnv,
  ThreadReply,
} from './thread-messages.ts';

const env = workerData as ThreadEnv;
let store: Promise<ObjectStore> | undefined;
let log: Logger | undefined;

function openedStore(): Promise<ObjectStore> {
  store ??= openStore(env.store, {
    accessKey: env.s3AccessKey || undefined,
    secretKey: env.s3SecretKey || undefined,
  });
  store.catch(() => (store = undefined));
  return store;
}

function logger(): Logger {
  log ??= createLogger(
    { logLevel: env.logLevel as Parameters<typeof createLogger>[0]['logLevel'] },
    { component: 'task-thread', workerId: env.workerId },
  );
  return log;
}

async function reply<T>(fn: () => Promise<T>): Promise<ThreadReply<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    return { ok: false, error: asStrataError(err).toJSON() };
  }
}

export function map(req: MapRequest): Promise<ThreadReply<MapTaskOutcome>> {
  return reply(async () => {
    const { task } = req;
    const job = jobOf(await importBundle(req.bundle, task.codeHash), task.codeHash);
    return runMapTask(job, task, {
      store: await openedStore(),
      workDir: env.workDir,
      memoryBudgetBytes: env.memoryBudgetBytes,
      log: logger().child({ jobId: task.jobId, taskId: task.taskId, attempt: task.attempt }),
    });
  });
}

export function reduce(req: ReduceRequest): Promise<ThreadReply<ReduceTaskOutcome>> {
  return reply(async () => {
    const { task } = req;
    const job = jobOf(await importBundle(req.bundle, task.codeHash), task.codeHash);
    return runReduceTask(job, task, {
      store: await openedStore(),
      token: env.token,
      log: logger().child({ jobId: task.jobId, taskId: task.taskId, attempt: task.attempt }),
    });
  });
}

export function call(req: CallRequest): Promise<ThreadReply<CallOutcome>> {
  return reply(async () => {
    const { task } = req;
    const fn = exportOf(
      await importBundle(req.bundle, task.codeHash),
      task.exportName,
      task.codeHash,
    );
    return runCallTask(fn, task);
  });
}

/** Answers once the thread has loaded this module: the pool's start-up check. */
export function ping(): string {
  return 'pong';
}
