/**
 * Checks each input record before it enters the master dataset and finds its event time.
 *
 *   const validator = new RecordValidator('events.ndjson', 'time');
 *   const time = validator.timeOf(input);   // ms, or throws STRATA_E_RECORD_INVALID naming file, line, field and value
 *
 * The rule for times is core/dataset/event-time.ts. When the very first record lacks the field,
 * it is probably missing everywhere, so the message suggests --time-field and the record's fields
 * that do hold a valid time.
 */
import { eventTimeOf, explainBadEventTime } from '../../core/dataset/event-time.ts';
import { StrataError } from '../../core/errors.ts';
import { describePosition, type InputRecord } from './input-record.ts';

export class RecordValidator {
  readonly file: string;
  readonly timeField: string;
  #seenTimes = 0;

  constructor(file: string, timeField: string) {
    this.file = file;
    this.timeField = timeField;
  }

  timeOf({ record, position }: InputRecord): number {
    const value = record[this.timeField];
    const time = eventTimeOf(value);
    if (time === time) {
      this.#seenTimes++;
      return time;
    }
    const where = describePosition(this.file, position);
    const field = this.timeField;
    let message: string;
    if (value === undefined && this.#seenTimes === 0) {
      const candidates = Object.keys(record).filter((k) => !Number.isNaN(eventTimeOf(record[k])));
      const hint = candidates.length
        ? `; this record has a valid time in ${candidates.map((c) => `"${c}"`).join(', ')}: try --time-field ${candidates[0]}`
        : `; its fields are ${
            Object.keys(record)
              .slice(0, 12)
              .map((k) => `"${k}"`)
              .join(', ') || 'none'
          }`;
      message = `${where}: the time field "${field}" is missing (and so far in every record); pass --time-field <field> to name the field that holds each record's event time${hint}`;
    } else {
      message = `${where}: time field "${field}" ${explainBadEventTime(value)}; every record needs an ISO-8601 time with a time zone (e.g. "2026-01-05T10:00:00Z") or epoch milliseconds`;
    }
    throw new StrataError('STRATA_E_RECORD_INVALID', message, {
      details: { file: this.file, ...position, field, value: safeValue(value) },
    });
  }
}

function safeValue(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'string' && value.length > 200) return `${value.slice(0, 200)}…`;
  return typeof value === 'object' ? JSON.stringify(value)?.slice(0, 200) : value;
}
