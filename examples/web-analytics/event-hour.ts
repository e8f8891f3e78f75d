/**
 * The UTC hour of an event's time, as 'YYYY-MM-DDTHH': the second element of the pageviews key.
 *
 *   eventHour('2024-06-03T14:05:09.123Z')   // '2024-06-03T14'
 *   eventHour('2024-06-03T16:05:09+02:00')  // '2024-06-03T14' (offsets are converted to UTC)
 *   eventHour(1717423509123)                // '2024-06-03T14' (epoch milliseconds)
 *
 * Records carry `time` as an ISO-8601 string (what the generator and most logs emit) or as epoch
 * milliseconds. A UTC string ('…Z') is cut, not parsed, because this runs once per record.
 */
const UTC_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z$/;

export function eventHour(time: string | number): string {
  if (typeof time === 'string' && UTC_ISO.test(time)) return time.slice(0, 13);
  const ms = typeof time === 'number' ? time : Date.parse(time);
  if (!Number.isFinite(ms))
    throw new TypeError(
      `time must be an ISO-8601 string or epoch milliseconds; got ${JSON.stringify(time)}`,
    );
  return new Date(ms).toISOString().slice(0, 13);
}
