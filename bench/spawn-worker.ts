// Starts bench/worker in a namespace and enforces per-phase time limits by killing its process
// group (the worker and the nft / iptables-restore it is running).

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkerJob } from './worker.js';

const WORKER = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url));
const active = new Set<number>();

export interface WorkerOutcome {
  /** Phase records by name (model, full, incremental, churn, error). */
  readonly phases: Record<string, Record<string, unknown>>;
  /** The phase that ran over its limit, if any. */
  readonly timedOut: string | null;
  readonly exitCode: number | null;
  readonly stderr: string;
}

export interface PhaseLimits {
  readonly model: number;
  readonly full: number;
  readonly incremental: number;
  readonly churn: number;
}

/** Milliseconds per phase; a worker line {"phase":"<name>-start"} arms the limit of <name>. */
export type PhaseLimitTable = Readonly<Record<string, number>> & { readonly model: number };

export function killAllWorkers(): void {
  for (const pid of active) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  active.clear();
}

export function runWorker(ns: string, job: WorkerJob, limits: PhaseLimits): Promise<WorkerOutcome> {
  return runPhasedWorker(ns, WORKER, job, { ...limits });
}

/**
 * Runs `worker` (a script taking one JSON job argument) in namespace `ns`, collecting its JSON
 * phase records from stdout. The "model" limit runs from the start; each "<name>-start" record arms
 * limits[name]. Over a limit, the worker's whole process group is killed. Used by the host
 * benchmark and the IPVS guest benchmark (bench/guest/run.ts).
 */
export function runPhasedWorker(ns: string, worker: string, job: unknown, limits: PhaseLimitTable): Promise<WorkerOutcome> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...process.execArgv, worker, JSON.stringify(job)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: a time limit kills the tools it runs too
    });
    const pid = child.pid!;
    active.add(pid);
    const phases: Record<string, Record<string, unknown>> = {};
    let timedOut: string | null = null;
    let timer: NodeJS.Timeout | null = null;
    let buf = '';
    let stderr = '';
    const arm = (phase: string, ms: number): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = phase;
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, ms);
    };
    arm('model', limits.model);
    child.stdout.on('data', (b: Buffer) => {
      buf += b.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let rec: Record<string, unknown>;
        try {
          rec = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue; // not ours (a tool writing to stdout)
        }
        const phase = String(rec.phase);
        const started = phase.endsWith('-start') ? phase.slice(0, -'-start'.length) : null;
        if (started !== null) {
          const ms = limits[started];
          if (ms !== undefined) arm(started, ms);
        } else phases[phase] = rec;
      }
    });
    child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 8000) stderr += b.toString('utf8');
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      active.delete(pid);
      resolve({ phases, timedOut, exitCode: code, stderr });
    });
  });
}
