// CLI for the test API server, for humans with kubectl:
//   node --import tsx tools/test-apiserver/main.ts [--port N] [--tls] [--load DIR]
// prints the kubeconfig path; then `kubectl --kubeconfig <path> get svc`. Ctrl-C stops it.

import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseManifestText } from '../../src/sources/manifests.js';
import { resourceForKind } from './resources.js';
import { startTestApiServer } from './server.js';
import type { Obj } from './store.js';

/**
 * The objects of one --load file. JSON files are parsed with JSON.parse (one object or a `*List`):
 * a YAML parser takes seconds for the 10k+ objects the benchmark preloads.
 */
function loadFile(file: string, text: string): unknown[] {
  if (!/\.json$/i.test(file)) return parseManifestText(file, text);
  const v = JSON.parse(text) as { kind?: unknown; items?: unknown };
  return typeof v?.kind === 'string' && v.kind.endsWith('List') && Array.isArray(v.items) ? v.items : [v];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      tls: { type: 'boolean', default: false },
      load: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: test-apiserver [--port N] [--tls] [--load DIR]\n');
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --port ${values.port}`);
  const srv = await startTestApiServer({ port, tls: values.tls });
  if (values.load) {
    let n = 0;
    const dir = values.load;
    for (const f of (await readdir(dir)).filter((f) => /\.(ya?ml|json)$/i.test(f)).sort()) {
      for (const raw of loadFile(f, await readFile(path.join(dir, f), 'utf8'))) {
        const o = raw as Obj;
        if (!resourceForKind(String(o?.kind))) continue;
        try {
          srv.create(o);
          n++;
        } catch (e) {
          process.stderr.write(`${f}: ${(e as Error).message}\n`);
        }
      }
    }
    process.stderr.write(`loaded ${n} objects from ${dir}\n`);
  }
  process.stderr.write(`test API server at ${srv.url}\n`);
  process.stdout.write(srv.kubeconfigPath + '\n');
  const stop = (): void => {
    void srv.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`test-apiserver: ${(e as Error).message}\n`);
  process.exit(1);
});
