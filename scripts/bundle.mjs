// Bundles the compiled program (dist/src/main.js, after tsc) into dist/bundle/: the entry the CLI,
// the image and the tests run. Why: Node 20 resolves, stats, reads and compiles each ES/CommonJS module
// on its own, and the program with its dependencies is ~250 files (prom-client alone pulls in ~60 of
// @opentelemetry/api): ~40 ms of CPU and more wall time of every process start. Modes and lazily
// loaded parts (API server source, explain, dry-run) stay chunks of their own (code splitting), so a
// start still loads only what it uses. @kubernetes/client-node stays external: it is loaded only for
// exec/auth-provider kubeconfigs and is 14 MB of generated code. `netlink` (IPVS mode's socket) stays
// external too: it loads a native addon from its own package directory.
import { build } from 'esbuild';

const result = await build({
  entryPoints: { main: 'dist/src/main.js' },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@kubernetes/client-node', 'netlink'],
  // Bundled CommonJS dependencies call require() for Node built-ins; ES modules have no require.
  banner: { js: "import { createRequire as __kpxCreateRequire } from 'node:module'; const require = __kpxCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  legalComments: 'linked',
});
if (result.warnings.length > 0) {
  // A warning here usually means a dynamic import() or require() the bundler could not follow,
  // which would fail at run time: treat it as a build error.
  console.error(`bundle: ${result.warnings.length} warning(s); failing the build`);
  process.exit(1);
}
