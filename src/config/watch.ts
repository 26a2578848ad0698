// Upstream options.go initWatcher/eventHandler: when the --config file is updated, kube-proxy exits
// with "content of the proxy server's configuration file was updated" so that its DaemonSet restarts
// it with the new configuration. Here a change means: the bytes at the path differ from the ones
// loaded at start, or the file can no longer be read (renamed away, deleted, or a ConfigMap's
// symlink swapped). fs.watch follows the inode, so after a rename-type event the watch is re-armed
// on the path. A write of identical bytes, or a chmod/touch, does not count (deliberate: upstream
// exits on any write event and ignores removal).

import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createLogger } from '../log/logger.js';

const log = createLogger('config');

/** How long after a watch event the file is compared (a truncate-then-write must not read as a change). */
const SETTLE_MS = 250;

export const CONFIG_UPDATED_MESSAGE = "content of the proxy server's configuration file was updated";

export interface ConfigWatch {
  close(): void;
}

/** Watch `path` (loaded with content `loaded`); call `onUpdated` once when it changes. */
export async function watchConfigFile(path: string, onUpdated: (e: Error) => void): Promise<ConfigWatch> {
  const loaded = await readFile(path);
  let watcher: FSWatcher | null = null;
  let done = false;
  let checking = Promise.resolve();
  const fire = (): void => {
    if (done) return;
    done = true;
    watcher?.close();
    onUpdated(new Error(CONFIG_UPDATED_MESSAGE));
  };
  const arm = (): void => {
    if (done) return;
    try {
      watcher = watch(path, { persistent: false }, (type) => {
        checking = checking.then(() => check(type));
      });
      watcher.on('error', (e) => {
        log.warn('Config file watch failed', { file: path, err: e });
        fire();
      });
    } catch {
      fire(); // the path is gone already
    }
  };
  const check = async (type: string): Promise<void> => {
    if (done) return;
    // A write truncates before it writes: compare once the writer is done.
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    if (done) return;
    let now: Buffer;
    try {
      now = await readFile(path);
    } catch {
      return fire();
    }
    if (!now.equals(loaded)) return fire();
    if (type === 'rename') {
      // Same bytes behind a new inode (atomic replace): keep watching the path.
      watcher?.close();
      arm();
    }
  };
  arm();
  return {
    close: () => {
      done = true;
      watcher?.close();
    },
  };
}
