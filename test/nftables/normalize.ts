// The canonical listing lives with the dataplane (--dry-run compares the kernel with it too).
export { normalizeTable } from '../../src/dataplane/nftables/canonical.js';
