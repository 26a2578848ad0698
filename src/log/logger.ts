// Structured logging with klog-like verbosity (`--v`). Two formats, as upstream:
//   text (default): I1125 14:12:26.710114  1234 proxier] "Syncing nftables rules" ipFamily="IPv4"
//   json (--logging-format=json): {"ts":1764080000.123,"v":0,"msg":"...","ipFamily":"IPv4"} via pino.
// Verbosity: info at level N is printed only when N <= --v. Errors and warnings always print.

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

function emit(sev: 'I' | 'W' | 'E', level: number, component: string, msg: string, fields?: Fields): void {
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
    if (sev === 'E') extra.err = true;
    if (sev === 'W') extra.warn = true;
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
