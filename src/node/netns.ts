// Whether this process runs in the initial network namespace. Only then may machine-global kernel
// knobs (nf_conntrack_max, the conntrack hash size) be written: inside a namespace they belong to the
// host. When the answer cannot be established (e.g. /proc/1 is not readable) the answer is "no".

import { promises as fsp } from 'node:fs';

export async function inInitialNetns(): Promise<boolean> {
  try {
    const [self, init] = await Promise.all([fsp.readlink('/proc/self/ns/net'), fsp.readlink('/proc/1/ns/net')]);
    return self === init;
  } catch {
    return false;
  }
}
