// Whether this process runs in the initial network namespace. Only then may machine-global kernel
// knobs (nf_conntrack_max, the conntrack hash size) be written: inside a namespace they belong to the
// host. When the answer cannot be established (e.g. /proc/1 is not readable) the answer is "no".

import { promises as fsp } from 'node:fs';

/**
 * Two checks, both must say "initial":
 * - our network namespace is PID 1's. In a container with its own PID namespace PID 1 is the
 *   container's first process, so this alone says "initial" for `podman run --network ns:X` too;
 * - the kernel's own marker: outside the initial namespace it makes nf_conntrack_max read-only (0444,
 *   net/netfilter/nf_conntrack_standalone.c), whatever the PID namespace. Absent (nf_conntrack not
 *   loaded) it cannot tell, and the first check decides.
 */
export async function inInitialNetns(): Promise<boolean> {
  try {
    const [self, init] = await Promise.all([fsp.readlink('/proc/self/ns/net'), fsp.readlink('/proc/1/ns/net')]);
    if (self !== init) return false;
    const max = await fsp.stat('/proc/sys/net/netfilter/nf_conntrack_max').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    return max === null || (max.mode & 0o200) !== 0;
  } catch {
    return false;
  }
}
