/**
 * Job and task state in Redis, moved only by the Lua scripts in ./lua (one per kind of
 * transition, each checking the from-state inside Redis), so a restarted coordinator — or a
 * second one — sees exactly what happened and nothing half-done.
 *
 *   const jobs = new JobStore(redis, config.redisPrefix);
 *   await jobs.createJob({ id, spec, plan, submitted: Date.now() }, tasks);
 *   const r = await jobs.moveTask(id, 'm-0', 'succeed', { attempt: 1, patch: { output, counters } });
 *   if (!r.ok) log.debug(r, 'stale answer ignored');
 *
 * Keys (P = config.redisPrefix):
 *   P:job:<id>         hash: id, state, spec, plan, counts, times, version, error (JSON strings)
 *   P:job:<id>:tasks   hash: taskId -> task record (task-record.ts)
 *   P:jobs             zset: job ids by submit time
 *   P:jobs:live        set: jobs not yet terminal (what a starting coordinator picks up)
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { luaScripts, type LuaScript } from '../../core/redis/lua-scripts.ts';
import { StrataError, type StrataErrorJSON } from '../../core/errors.ts';
import type { JobSpec } from '../../core/tasks/task-payload.ts';
import { JOB_TRANSITIONS, type JobState } from './job-state.ts';
import { decodeTaskRecord, encodeTaskRecord, flatten, type TaskRecord } from './task-record.ts';
import { TASK_TRANSITIONS, type TaskState } from './task-state.ts';
import { packageUrl } from '../../core/package-root.ts';

export interface InputSegment {
  key: string;
  size: number;
  records: number;
}

/** What the planner read: the job's exact lineage, copied into the manifest at commit. */
export interface PlannedInput {
  segments: InputSegment[];
  minTime: number | null;
  maxTime: number | null;
}

export interface JobRecord {
  id: string;
  state: JobState;
  spec: JobSpec;
  input: PlannedInput;
  inputBytes: number;
  inputRecords: number;
  maps: number;
  reduces: number;
  submitted: number;
  /** Maps enqueued. */
  started?: number;
  /** Every map succeeded. */
  mapsDone?: number;
  /** Commit began. */
  committing?: number;
  finished?: number;
  updated: number;
  version?: string;
  error?: StrataErrorJSON;
}

export type NewTask = Pick<TaskRecord, 'taskId' | 'kind' | 'split' | 'partition'>;

export type JobMove = { ok: true; from: JobState } | { ok: false; current: JobState | undefined };
export type JobFinish =
  | { ok: true; from: JobState; activeTasks: Array<{ taskId: string; attempt: number }> }
  | { ok: false; current: JobState | undefined };
/**
 * `attempt` is the attempt the move was about (a backup's number for a backup's start or win);
 * `loser` names the other attempt in flight when one succeeded (to be cancelled).
 */
export type TaskMove =
  | { ok: true; from: TaskState; attempt: number; loser?: number }
  | { ok: false; reason: string; current: TaskState | undefined; attempt: number };
/**
 * `promoted`: the failed attempt's speculative backup became the task's attempt (nothing to
 * enqueue).
 */
export type TaskRetry =
  | TaskMove
  | { ok: true; from: TaskState; attempt: number; promoted: true }
  | { ok: false; reason: 'exhausted'; failures: number; attempt: number };
export type TaskSpeculation =
  | { ok: true; backup: number }
  | { ok: false; reason: string; current: TaskState | undefined; attempt: number };

type ScriptName =
  'createJob' | 'moveJob' | 'finishJob' | 'moveTask' | 'retryTask' | 'speculateTask' | 'dropBackup';

const NUMBER_FIELDS = [
  'inputBytes',
  'inputRecords',
  'maps',
  'reduces',
  'submitted',
  'started',
  'mapsDone',
  'committing',
  'finished',
  'updated',
] as const;

export class JobStore {
  readonly prefix: string;
  readonly #redis: Redis;
  readonly #scripts: Record<ScriptName, LuaScript>;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.prefix = prefix;
    this.#scripts = luaScripts<ScriptName>(redis, packageUrl('coordinator/state/lua/'), 'strata_');
  }

  jobKey = (id: string): string => `${this.prefix}:job:${id}`;
  tasksKey = (id: string): string => `${this.prefix}:job:${id}:tasks`;
  get jobsKey(): string {
    return `${this.prefix}:jobs`;
  }
  get liveKey(): string {
    return `${this.prefix}:jobs:live`;
  }

  /** Creates the job in 'planning' with its tasks 'pending'. False when the id is taken. */
  async createJob(
    job: {
      id: string;
      spec: JobSpec;
      input: PlannedInput;
      inputBytes: number;
      inputRecords: number;
      submitted: number;
    },
    tasks: NewTask[],
  ): Promise<boolean> {
    const maps = tasks.filter((t) => t.kind === 'map').length;
    const fields = {
      spec: JSON.stringify(job.spec),
      input: JSON.stringify(job.input),
      inputBytes: String(job.inputBytes),
      inputRecords: String(job.inputRecords),
      maps: String(maps),
      reduces: String(tasks.length - maps),
    };
    const taskMap = Object.fromEntries(tasks.map((t) => [t.taskId, encodeTaskRecord(t)]));
    const created = await this.#scripts.createJob(
      this.jobKey(job.id),
      this.tasksKey(job.id),
      this.jobsKey,
      this.liveKey,
      job.id,
      job.submitted,
      JSON.stringify(fields),
      JSON.stringify(taskMap),
    );
    return created === 1;
  }

  /** A non-terminal transition (startMapping, startReducing, startCommit). */
  async moveJob(
    id: string,
    transition: 'startMapping' | 'startReducing' | 'startCommit',
    fields: Record<string, string | number> = {},
    now = Date.now(),
  ): Promise<JobMove> {
    const t = JOB_TRANSITIONS[transition];
    const [ok, state] = (await this.#scripts.moveJob(
      this.jobKey(id),
      t.to,
      t.from.join(','),
      now,
      JSON.stringify(stringValues(fields)),
    )) as [number, string];
    return ok === 1
      ? { ok: true, from: state as JobState }
      : { ok: false, current: (state || undefined) as JobState | undefined };
  }

  /** A terminal transition; fail and cancel also cancel the job's unfinished tasks. */
  async finishJob(
    id: string,
    transition: 'succeed' | 'fail' | 'cancel',
    fields: { version?: string; error?: StrataErrorJSON } = {},
    now = Date.now(),
  ): Promise<JobFinish> {
    const t = JOB_TRANSITIONS[transition];
    const extra: Record<string, string> = {};
    if (fields.version) extra.version = fields.version;
    if (fields.error) extra.error = JSON.stringify(fields.error);
    const [ok, state, ...active] = (await this.#scripts.finishJob(
      this.jobKey(id),
      this.tasksKey(id),
      this.liveKey,
      t.to,
      t.from.join(','),
      now,
      JSON.stringify(extra),
    )) as [number, string, ...string[]];
    if (ok !== 1) return { ok: false, current: (state || undefined) as JobState | undefined };
    const activeTasks = active.map((s) => {
      const dot = s.lastIndexOf('.');
      return { taskId: s.slice(0, dot), attempt: Number(s.slice(dot + 1)) };
    });
    return { ok: true, from: state as JobState, activeTasks };
  }

  async moveTask(
    jobId: string,
    taskId: string,
    transition: 'enqueue' | 'start' | 'stall' | 'succeed' | 'fail',
    opts: { attempt?: number; patch?: Partial<TaskRecord> } = {},
    now = Date.now(),
  ): Promise<TaskMove> {
    const t = TASK_TRANSITIONS[transition];
    const reply = (await this.#scripts.moveTask(
      this.tasksKey(jobId),
      this.jobKey(jobId),
      taskId,
      t.to,
      t.from.join(','),
      opts.attempt ?? '',
      now,
      JSON.stringify(flatten(opts.patch ?? {})),
    )) as [number, ...unknown[]];
    return taskMove(reply);
  }

  /**
   * Ends the current attempt so the task runs again at attempt + 1 ('retry' after a failed
   * attempt, 'rerun' after a map's output was lost), or fails it when it has no attempts left.
   */
  async retryTask(
    jobId: string,
    taskId: string,
    transition: 'retry' | 'rerun',
    opts: {
      attempt: number;
      counted: boolean;
      maxFailures: number;
      maxAttempts: number;
      error: StrataErrorJSON;
    },
    now = Date.now(),
  ): Promise<TaskRetry> {
    const t = TASK_TRANSITIONS[transition];
    const reply = (await this.#scripts.retryTask(
      this.tasksKey(jobId),
      this.jobKey(jobId),
      taskId,
      t.from.join(','),
      opts.attempt,
      opts.counted ? '1' : '0',
      opts.maxFailures,
      opts.maxAttempts,
      now,
      JSON.stringify(opts.error),
    )) as [number, ...unknown[]];
    if (reply[0] === 2)
      return {
        ok: false,
        reason: 'exhausted',
        failures: Number(reply[2]),
        attempt: Number(reply[3]),
      };
    if (reply[0] === 3)
      return { ok: true, from: reply[1] as TaskState, attempt: Number(reply[2]), promoted: true };
    return taskMove(reply);
  }

  /**
   * Gives a running task a speculative backup attempt (speculateTask-2.lua); the caller enqueues
   * it.
   */
  async speculateTask(
    jobId: string,
    taskId: string,
    attempt: number,
    now = Date.now(),
  ): Promise<TaskSpeculation> {
    const reply = (await this.#scripts.speculateTask(
      this.tasksKey(jobId),
      this.jobKey(jobId),
      taskId,
      attempt,
      now,
    )) as [number, ...unknown[]];
    if (reply[0] === 1) return { ok: true, backup: Number(reply[1]) };
    return {
      ok: false,
      reason: String(reply[1]),
      current: (reply[2] || undefined) as TaskState | undefined,
      attempt: Number(reply[3]),
    };
  }

  /** Forgets a backup attempt that failed or vanished; false when it is not the task's backup. */
  async dropBackup(
    jobId: string,
    taskId: string,
    backup: number,
    error?: StrataErrorJSON,
    now = Date.now(),
  ): Promise<boolean> {
    return (
      (await this.#scripts.dropBackup(
        this.tasksKey(jobId),
        this.jobKey(jobId),
        taskId,
        backup,
        now,
        error ? JSON.stringify(error) : '',
      )) === 1
    );
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    const h = await this.#redis.hgetall(this.jobKey(id));
    if (!h.state) return undefined;
    const rec: Record<string, unknown> = {
      id: h.id,
      state: h.state,
      spec: JSON.parse(h.spec ?? 'null'),
      input: JSON.parse(h.input ?? '{"segments":[],"minTime":null,"maxTime":null}'),
    };
    for (const f of NUMBER_FIELDS) if (h[f] !== undefined) rec[f] = Number(h[f]);
    if (h.version) rec.version = h.version;
    if (h.error) rec.error = JSON.parse(h.error);
    return rec as unknown as JobRecord;
  }

  /** The job's tasks: maps in index order, then reduces by partition. */
  async getTasks(id: string): Promise<TaskRecord[]> {
    const h = await this.#redis.hgetall(this.tasksKey(id));
    return Object.values(h).map(decodeTaskRecord).sort(byTaskOrder);
  }

  async getTask(jobId: string, taskId: string): Promise<TaskRecord | undefined> {
    const text = await this.#redis.hget(this.tasksKey(jobId), taskId);
    return text === null ? undefined : decodeTaskRecord(text);
  }

  /** Job ids, newest first. */
  listJobIds(limit = 100, offset = 0): Promise<string[]> {
    return this.#redis.zrevrange(this.jobsKey, offset, offset + limit - 1);
  }

  /** Jobs not yet in a terminal state. */
  liveJobIds(): Promise<string[]> {
    return this.#redis.smembers(this.liveKey);
  }
}

function taskMove(reply: [number, ...unknown[]]): TaskMove {
  if (reply[0] === 1) {
    const loser = Number(reply[3] ?? 0);
    return {
      ok: true,
      from: reply[1] as TaskState,
      attempt: Number(reply[2]),
      ...(loser > 0 ? { loser } : {}),
    };
  }
  return {
    ok: false,
    reason: String(reply[1]),
    current: (reply[2] || undefined) as TaskState | undefined,
    attempt: Number(reply[3]),
  };
}

function stringValues(fields: Record<string, string | number>): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)]));
}

function byTaskOrder(a: TaskRecord, b: TaskRecord): number {
  if (a.kind !== b.kind) return a.kind === 'map' ? -1 : 1;
  return Number(a.taskId.slice(2)) - Number(b.taskId.slice(2));
}

/**
 * A job id: time-ordered, short, safe in Redis keys, BullMQ ids ('.'-free), store keys and
 * versions.
 */
export function newJobId(now = Date.now()): string {
  return `j${now.toString(36)}${randomBytes(3).toString('hex')}`;
}

export function assertJobId(id: string): void {
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(id))
    throw new StrataError(
      'STRATA_E_JOB_NOT_FOUND',
      `${JSON.stringify(id)} is not a job id; list jobs with GET /v1/jobs`,
      { details: { jobId: id } },
    );
}
