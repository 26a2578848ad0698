// Sysctls under /proc/sys, written only when they differ from the target (as upstream). Everything
// under /proc/sys/net is per network namespace, except the few global knobs named in GLOBAL_SYSCTLS.

import { promises as fsp } from 'node:fs';

/** Read a sysctl ("net/ipv4/ip_forward"); null when it does not exist. */
export async function readSysctl(name: string): Promise<string | null> {
  try {
    return (await fsp.readFile(`/proc/sys/${name}`, 'utf8')).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Set a sysctl if its value differs; returns whether it was written. Throws when it does not exist. */
export async function ensureSysctl(name: string, value: string | number): Promise<boolean> {
  const want = String(value);
  const have = await readSysctl(name);
  if (have === null) throw new Error(`sysctl ${name} does not exist`);
  if (have === want) return false;
  await fsp.writeFile(`/proc/sys/${name}`, want);
  return true;
}
