/**
 * WordCount: how often each lowercased word occurs, over records { line: string }.
 * See README.md for turning a text file into such records.
 */
import { count, defineJob } from 'strata';

export default defineJob({
  name: 'wordcount',
  input: { dataset: 'lines' },
  map(record: { line: string }, emit) {
    for (const word of record.line.toLowerCase().match(/[\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*/gu) ?? [])
      emit(word, 1);
  },
  aggregate: count(),
});
