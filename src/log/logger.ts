// Structured logging with klog-like verbosity (`--v`). Two formats, as upstream:
//   text (default): I1125 14:12:26.710114  1234 proxier] "Syncing nftables rules" ipFamily="IPv4"
//   json (--logging-format=json): {"ts":1764080000.123,"v":0,"msg":"...","ipFamily":"IPv4"} via pino.
// Verbosity: info at level N is printed only when N <= --v. Errors and warnings always print.
// Levels mean what they mean upstream: 0 operator-relevant events (start, first sync, drift,
// failures), 2 per-sync summaries and state changes, 4 per-transaction / per-tool detail.
// `err` fields have one shape in both formats: the error's message as a string; its stack is
// added as `stack` only at -v=4 and above (so log indexes can map `err` as a string).

import { pino, type Logger as PinoLogger } from 'pino';

export type Fields = Record<string, unknown>;

export interface Logger {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** Info at verbosity `level`; a no-op when level > current verbosity. */
  v(level: number): { info(msg: string, fields?: Fields): void; enabled: boolean };
  /** A logger whose lines carry `name` as the component (the klog "file" slot). */
  child(name: string): Logger;
}

interface Settings {
  verbosity: number;
  format: 'text' | 'json';
  sink: (line: string) => void;
}

const settings: Settings = {
  verbosity: 0,
  format: 'text',
  sink: (line) => process.stderr.write(line + '\n'),
};
let jsonLogger: PinoLogger | undefined;

export function configureLogging(opts: { verbosity?: number; format?: 'text' | 'json'; sink?: (line: string) => void }): void {
  if (opts.verbosity !== undefined) settings.verbosity = opts.verbosity;
  if (opts.format !== undefined) settings.format = opts.format;
  if (opts.sink !== undefined) settings.sink = opts.sink;
  jsonLogger = undefined;
}

/** Verbosity from which an `err` field's stack is logged too. */
export const STACK_VERBOSITY = 4;

/** An `err` value as its message string, whatever was passed (Error, string, object, ...). */
export function errMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  if (e !== null && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') return (e as { message: string }).message;
  try {
    return JSON.stringify(e) ?? String(e);
  } catch {
    return String(e);
  }
}

function normaliseErr(fields: Fields | undefined): Fields | undefined {
  if (!fields || !Object.prototype.hasOwnProperty.call(fields, 'err')) return fields;
  const e = fields.err;
  const out: Fields = { ...fields, err: errMessage(e) };
  if (settings.verbosity >= STACK_VERBOSITY && e instanceof Error && e.stack) out.stack = e.stack;
  return out;
}

export function verbosity(): number {
  return settings.verbosity;
}

function quote(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  return JSON.stringify(v);
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

function klogHeader(sev: 'I' | 'W' | 'E', component: string): string {
  const d = new Date();
  const us = pad(d.getMilliseconds() * 1000, 6);
  return `${sev}${pad(d.getMonth() + 1, 2)}${pad(d.getDate(), 2)} ${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.${us} ${String(process.pid).padStart(7)} ${component}]`;
}

function emit(sev: 'I' | 'W' | 'E', level: number, component: string, msg: string, rawFields?: Fields): void {
  const fields = normaliseErr(rawFields);
  if (settings.format === 'json') {
    jsonLogger ??= pino(
      {
        base: null,
        messageKey: 'msg',
        // No leading comma: with no level field pino writes the timestamp first.
        timestamp: () => `"ts":${(Date.now() / 1000).toFixed(3)}`,
        formatters: { level: () => ({}) },
      },
      { write: (s: string) => settings.sink(s.replace(/\n$/, '')) },
    );
    const extra: Fields = { v: level, caller: component };
    // Severity in its own field: `err` is reserved for the error message.
    if (sev === 'E') extra.level = 'error';
    if (sev === 'W') extra.level = 'warning';
    jsonLogger.info({ ...extra, ...(fields ?? {}) }, msg);
    return;
  }
  let line = `${klogHeader(sev, component)} ${JSON.stringify(msg)}`;
  if (fields) for (const [k, val] of Object.entries(fields)) line += ` ${k}=${quote(val)}`;
  settings.sink(line);
}

export function createLogger(component: string): Logger {
  return {
    info: (msg, fields) => emit('I', 0, component, msg, fields),
    warn: (msg, fields) => emit('W', 0, component, msg, fields),
    error: (msg, fields) => emit('E', 0, component, msg, fields),
    v: (level) => ({
      enabled: level <= settings.verbosity,
      info: (msg, fields) => {
        if (level <= settings.verbosity) emit('I', level, component, msg, fields);
      },
    }),
    child: (name) => createLogger(name),
  };
}
