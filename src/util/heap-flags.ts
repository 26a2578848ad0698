// V8 heap settings of the proxy process, applied before anything else is loaded (main.ts imports
// this first).
//
// Why (semi-space): V8 grows the young generation to its maximum (2 × 16 MiB) during the start's LIST, where
// everything allocated survives, and keeps it: at 10k services that is ~30 MB of RSS the proxy never
// needs again (its steady state allocates little per change). `--max-semi-space-size` cannot be
// changed once the heap exists, but the growth factor can: at 1 the young generation stays at its
// initial size. Measured (e2e.manual 10000, paired runs): RSS after start 151-179 MB vs 180-206 MB,
// start CPU and change latency within noise. An operator's own semi-space flags (node options or
// NODE_OPTIONS) are left alone.

import v8 from 'node:v8';

const own = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => /semi[-_]space/.test(a));
if (!own) v8.setFlagsFromString('--semi-space-growth-factor=1');
// The start's explicit full collection (util/gc.ts) arms V8's memory reducer, which ~8 s later runs
// up to three more full collections to shrink the heap (--trace-gc at 10k services: two, each
// ~60 ms of main-thread marking in steps of up to 13 ms and a 7-22 ms final pause, reclaiming
// ~2 MB: the start's garbage is already gone). A change arriving then waits behind a step. One
// such collection is enough; this flag is read at run time.
v8.setFlagsFromString('--memory-reducer-single-gc');
