// The `yaml` library, loaded on first use. Loading it costs ~60-100 ms of start-up; a proxy started with
// neither --config nor a YAML manifest (an API server, or --manifests of JSON documents) never needs it.
// Through require (the package's Node entry point is CommonJS), so callers stay synchronous.

import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

let mod: typeof Yaml | undefined;

export function yaml(): typeof Yaml {
  return (mod ??= createRequire(import.meta.url)('yaml') as typeof Yaml);
}
