// This node's interface addresses for the syncs, without a process start on a change's path.
// The first call lists them (`ip -j addr`); later calls answer from the last listing at once and,
// when it is older than 1 s, list again in the background (started after the calling sync has
// gone on to the kernel). A background listing that differs from
// what the syncs used calls onChange (the proxier requests another sync), so an address change is
// still programmed within about a second.

import { createLogger } from '../log/logger.js';
import { listLocalAddresses, type LocalAddress } from './addresses.js';

const log = createLogger('proxier');

/** How old a listing may be before a background refresh (ms). */
export const ADDRESS_REFRESH_MS = 1000;

interface Entry {
  at: number;
  addrs: Promise<LocalAddress[]>;
  value: LocalAddress[] | null;
  refreshing: boolean;
}

export class LocalAddressCache {
  private entry: Entry | null = null;

  constructor(
    private readonly list: () => Promise<LocalAddress[]> = listLocalAddresses,
    private readonly onChange: () => void = () => undefined,
  ) {}

  get(): Promise<LocalAddress[]> {
    const now = Date.now();
    const c = this.entry;
    if (!c) {
      const p = this.list();
      const entry: Entry = { at: now, addrs: p, value: null, refreshing: false };
      this.entry = entry;
      p.then(
        (v) => void (entry.value = v),
        () => {
          if (this.entry === entry) this.entry = null; // try again next sync
        },
      );
      return p;
    }
    if (now - c.at > ADDRESS_REFRESH_MS && !c.refreshing && c.value !== null) {
      c.refreshing = true;
      // Not now: starting a process blocks this thread for the fork (~5 ms with a 200 MB heap), and
      // the caller is a sync on its way to the kernel. Once that sync waits for its tool, it runs.
      setImmediate(() => this.refresh(c));
    }
    return c.addrs;
  }

  private refresh(c: Entry): void {
    this.list().then(
      (v) => {
        c.refreshing = false;
        c.at = Date.now();
        const changed = JSON.stringify(v) !== JSON.stringify(c.value);
        c.value = v;
        c.addrs = Promise.resolve(v);
        if (changed) this.onChange();
      },
      (e: unknown) => {
        c.refreshing = false;
        c.at = Date.now();
        log.error('Failed to list local addresses', { err: e });
      },
    );
  }
}
