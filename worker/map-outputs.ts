/**
 * Where a worker keeps map outputs on its local disk, shared by the map task (which writes them),
 * the shuffle server (which serves them) and the sweeper (which deletes them).
 *
 *   <workDir>/outputs/<jobId>/<taskId>-a<attempt>/output.run     the map output (one run file)
 *   <workDir>/outputs/<jobId>/<taskId>-a<attempt>/spill-<n>.run  spills, gone once merged
 *
 *   mapOutputPath('/w', 'j1/m-3-a1')   // '/w/outputs/j1/m-3-a1/output.run'
 *   mapOutputPath('/w', '../etc')      // undefined: not a map output id
 *
 * A map output id is `<jobId>/<taskId>-a<attempt>` (core/tasks/task-payload.ts mapOutputId); ids
 * arrive over the network, so anything else, and anything that could climb out of the folder, is
 * refused.
 */
import path from 'node:path';

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

export function outputsDir(workDir: string): string {
  return path.join(workDir, 'outputs');
}

/** The folder of one map attempt, or undefined when `mapOutputId` is not a well-formed id. */
export function attemptDir(workDir: string, mapOutputId: string): string | undefined {
  const parts = mapOutputId.split('/');
  if (parts.length !== 2 || !parts.every((p) => SEGMENT.test(p) && !p.includes('..')))
    return undefined;
  return path.join(outputsDir(workDir), parts[0]!, parts[1]!);
}

export function mapOutputPath(workDir: string, mapOutputId: string): string | undefined {
  const dir = attemptDir(workDir, mapOutputId);
  return dir === undefined ? undefined : path.join(dir, 'output.run');
}
