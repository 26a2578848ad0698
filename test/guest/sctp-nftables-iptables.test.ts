// SCTP through the nftables and iptables dataplanes. The host kernel of these machines has no
// SCTP, so the shared scenario table skips its SCTP group there; the IPVS guest's Debian kernel
// has it, so this file (run in the guest with the IPVS suite, scripts/test-ipvs.sh) runs just
// that group for the two other modes. Outside the guest it runs only where the kernel has SCTP.

import { describe, it } from 'node:test';
import { runScenarioSuite } from '../traffic/run-scenarios.js';

const sctpOnly = { filter: (_g: unknown, s: { needs?: readonly string[] }) => (s.needs ?? []).includes('sctp') };

if (process.getuid?.() !== 0) {
  describe('traffic: SCTP in nftables/iptables', () => it('needs root', { skip: 'network namespaces need root' }, () => undefined));
} else {
  // Emulated guest: processes start slowly, and SCTP's initial RTO is 3 s.
  const slow = { readyTimeoutMs: 240_000, attemptTimeoutMs: 5000 };
  await runScenarioSuite('nftables', { ...slow, ...sctpOnly, label: 'traffic: nftables SCTP' });
  await runScenarioSuite('iptables', { ...slow, ...sctpOnly, label: 'traffic: iptables SCTP' });
}
