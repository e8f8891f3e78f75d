/**
 * The pool of task threads of a worker process (piscina), seen from the main thread.
 *
 *   const threads = await TaskThreads.start({ threads: 4, env });   // every thread loaded and answering
 *   const outcome = await threads.run('map', { task, bundle }, signal);
 *   await threads.destroy();
 *
 * One entry module with named handlers (task-thread.mjs → task-handlers.ts). A handler's failure
 * comes back as StrataError JSON and is thrown here as a StrataError with the thread's stack and
 * cause. Aborting `signal` terminates the thread running the task (piscina starts a fresh one):
 * user code stuck in a loop cannot be interrupted any other way.
 */
import { Piscina } from 'piscina';
import { StrataError } from '../../core/errors.ts';
import type { HandlerName, ThreadEnv, ThreadHandlers, ThreadReply } from './thread-messages.ts';
import { threadModule } from '../../core/package-root.ts';

export interface TaskThreadsOptions {
  threads: number;
  env: ThreadEnv;
}

export class TaskThreads {
  readonly #pool: Piscina;
  readonly threads: number;

  private constructor(pool: Piscina, threads: number) {
    this.#pool = pool;
    this.threads = threads;
  }

  static async start(opts: TaskThreadsOptions): Promise<TaskThreads> {
    const pool = new Piscina({
      filename: threadModule('worker/threads/task-thread.mjs', 'task-handlers'),
      minThreads: opts.threads,
      maxThreads: opts.threads,
      // Tasks wait in BullMQ, not here: the worker takes at most `threads` at once.
      maxQueue: 'auto',
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData: opts.env,
    });
    const threads = new TaskThreads(pool, opts.threads);
    try {
      // Fail at start-up, not at the first task, if the thread entry cannot load.
      await Promise.all(
        Array.from({ length: opts.threads }, () => pool.run(undefined, { name: 'ping' })),
      );
    } catch (err) {
      await pool.destroy().catch(() => {});
      throw new StrataError(
        'STRATA_E_INTERNAL',
        `the worker's task threads failed to start: ${(err as Error).message}`,
        { cause: err },
      );
    }
    return threads;
  }

  async run<K extends HandlerName>(
    name: K,
    request: ThreadHandlers[K]['request'],
    signal?: AbortSignal,
  ): Promise<ThreadHandlers[K]['outcome']> {
    let reply: ThreadReply<ThreadHandlers[K]['outcome']>;
    try {
      reply = (await this.#pool.run(request, {
        name,
        ...(signal ? { signal } : {}),
      })) as ThreadReply<ThreadHandlers[K]['outcome']>;
    } catch (err) {
      if (signal?.aborted) throw err;
      // The thread itself died (out of memory, process.exit in user code): another try may work.
      throw new StrataError(
        'STRATA_E_INTERNAL',
        `the task thread running a ${name} task died: ${(err as Error).message}`,
        { retryable: true, cause: err },
      );
    }
    if (!reply.ok) throw StrataError.fromJSON(reply.error);
    return reply.value;
  }

  destroy(): Promise<void> {
    return this.#pool.destroy();
  }
}
