// Child process of elements-kernel.test.ts, run inside a test network namespace (`ip netns exec`):
// the element socket acts on the namespace of the process that opens it. Reads
// { lines, specs: { set: SetSpec }, atomic } as JSON on stdin, applies the lines over netlink and
// prints { millis } (null: declined) or { error }.

import { setLayout } from '../../../../src/kernel/nftables/elements-netlink.js';
import { openNftElementWriter } from '../../../../src/kernel/nftables/elements-socket.js';
import type { SetSpec } from '../../../../src/kernel/nftables/objects.js';

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (s: string) => (input += s));
process.stdin.on('end', () => {
  void (async () => {
    const req = JSON.parse(input) as { lines: string[]; specs: Record<string, SetSpec>; atomic: boolean };
    const w = await openNftElementWriter();
    try {
      const millis = await w.apply(req.lines, (set) => (req.specs[set] ? setLayout(req.specs[set]) : null), req.atomic);
      process.stdout.write(JSON.stringify({ millis }) + '\n');
    } catch (e) {
      process.stdout.write(JSON.stringify({ error: (e as Error).message }) + '\n');
    } finally {
      w.close();
    }
  })();
});
