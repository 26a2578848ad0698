// New-TCP-connection cost through the node namespace: a tiny C client (connect + RST-close in a
// loop) in the client namespace, a C accept loop in the pod namespace, pinned to different CPUs.
// C rather than Node so per-connection user-space overhead does not hide the kernel's rule
// matching. Compiled with gcc into a temp dir at first use; without gcc the test is skipped.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../src/util/exec.js';

const SERVER_C = `
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int port = atoi(argv[1]);
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET; a.sin_port = htons(port); a.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4096)) return 1;
  for (;;) { int c = accept(s, 0, 0); if (c >= 0) close(c); }
}`;

const CLIENT_C = `
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
int main(int argc, char **argv) {
  const char *ip = argv[1]; int port = atoi(argv[2]); long count = atol(argv[3]); double maxUs = atof(argv[4]) * 1e6;
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET; a.sin_port = htons(port); inet_pton(AF_INET, ip, &a.sin_addr);
  struct linger lg = {1, 0};
  long ok = 0, errors = 0;
  double t0 = now();
  while (ok < count && errors < 20 && now() - t0 < maxUs) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) ok++; else errors++;
    close(s);
  }
  printf("%ld %ld %.1f\\n", ok, errors, now() - t0);
  return 0;
}`;

let binDir: string | null | undefined;

/** Compile the two programs once; null when gcc is unavailable. */
export async function connTools(): Promise<string | null> {
  if (binDir !== undefined) return binDir;
  const dir = mkdtempSync(join(tmpdir(), 'kpx-bench-conn-'));
  try {
    writeFileSync(join(dir, 'server.c'), SERVER_C);
    writeFileSync(join(dir, 'client.c'), CLIENT_C);
    await run('gcc', ['-O2', '-o', join(dir, 'server'), join(dir, 'server.c')], { timeoutMs: 60_000 });
    await run('gcc', ['-O2', '-o', join(dir, 'client'), join(dir, 'client.c')], { timeoutMs: 60_000 });
    binDir = dir;
  } catch {
    rmSync(dir, { recursive: true, force: true });
    binDir = null;
  }
  return binDir;
}

export function removeConnTools(): void {
  if (binDir) rmSync(binDir, { recursive: true, force: true });
  binDir = undefined;
}

export interface ConnResult {
  /**
   * Best (lowest) round's µs per connection: on a shared machine other processes only ever add
   * time, so the fastest round is the least disturbed one. The median is kept alongside.
   */
  readonly usPerConn: number;
  readonly usMedian: number;
  readonly connPerSec: number;
  readonly rounds: readonly number[];
  readonly connections: number;
  readonly errors: number;
}

export interface ConnOptions {
  readonly clientNs: string;
  readonly podNs: string;
  readonly ip: string;
  readonly port: number;
  /** Where the pod listens (the endpoints' port; differs from a service port). */
  readonly serverPort: number;
  readonly rounds: number;
  readonly perRound: number;
  /** Bound per round, seconds. */
  readonly maxSeconds: number;
}

/** Server pinned to the last CPU, client to CPU 0 (different CPUs when there are two or more). */
export async function measureConnections(dir: string, o: ConnOptions, cpus: number): Promise<ConnResult> {
  const serverCpu = String(Math.max(0, cpus - 1));
  const server: ChildProcess = spawn('ip', ['netns', 'exec', o.podNs, 'taskset', '-c', serverCpu, join(dir, 'server'), String(o.serverPort)], {
    stdio: 'ignore',
    detached: true,
  });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const client = (count: number): Promise<{ ok: number; errors: number; us: number }> =>
      run('ip', ['netns', 'exec', o.clientNs, 'taskset', '-c', '0', join(dir, 'client'), o.ip, String(o.port), String(count), String(o.maxSeconds)], {
        timeoutMs: (o.maxSeconds + 10) * 1000,
      }).then((r) => {
        const [ok = 0, errors = 0, us = 0] = r.stdout.trim().split(/\s+/).map(Number);
        return { ok, errors, us };
      });
    await client(Math.min(200, o.perRound)); // warm-up: caches, conntrack, ARP
    const rounds: number[] = [];
    let connections = 0;
    let errors = 0;
    for (let i = 0; i < o.rounds; i++) {
      const r = await client(o.perRound);
      connections += r.ok;
      errors += r.errors;
      if (r.ok > 0) rounds.push(r.us / r.ok);
    }
    if (rounds.length === 0) throw new Error(`no connection to ${o.ip}:${o.port} succeeded (${errors} errors)`);
    const sorted = [...rounds].sort((a, b) => a - b);
    const best = sorted[0]!;
    return { usPerConn: best, usMedian: sorted[Math.floor(sorted.length / 2)]!, connPerSec: 1e6 / best, rounds, connections, errors };
  } finally {
    if (server.pid) {
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}
