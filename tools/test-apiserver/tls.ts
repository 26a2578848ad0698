// A throwaway CA and a server certificate for 127.0.0.1, made with the openssl CLI at test time
// (closer to a real cluster than plain HTTP with insecure-skip-tls-verify).

import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface TlsMaterial {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** Files of a client certificate signed by the same CA (CN=system:kube-proxy), for client-certificate auth. */
  readonly files: { readonly ca: string; readonly clientCert: string; readonly clientKey: string };
  /** The directory holding the CA key (for serverCert()). */
  readonly dir: string;
}

/** A serving certificate for the certificate faults: signed by our CA, by a CA nobody trusts, or expired. */
export type ServerCertVariant = 'same-ca' | 'other-ca' | 'expired';

let serial = 0;

async function openssl(args: readonly string[]): Promise<void> {
  try {
    await exec('openssl', [...args]);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error('TLS for the test API server needs the openssl CLI (apt-get install -y openssl)');
    throw new Error(`openssl failed: ${err.stderr ?? err.message}`);
  }
}

/** A new key and certificate for 127.0.0.1 (made at call time; nothing is committed). */
export async function serverCert(m: TlsMaterial, variant: ServerCertVariant): Promise<{ certPem: string; keyPem: string }> {
  const p = (f: string): string => path.join(m.dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  let ca = 'ca';
  if (variant === 'other-ca') {
    ca = 'other-ca';
    await openssl(['req', '-x509', ...ec, '-keyout', p('other-ca.key'), '-out', p('other-ca.crt'), '-days', '2', '-subj', '/CN=not-the-cluster-ca']);
  }
  const n = `server-${++serial}`;
  await openssl(['req', ...ec, '-keyout', p(`${n}.key`), '-out', p(`${n}.csr`), '-subj', '/CN=127.0.0.1']);
  // -days -1: notAfter a day before notBefore (now), so the certificate is already expired when served.
  await openssl([
    'x509', '-req', '-in', p(`${n}.csr`), '-CA', p(`${ca}.crt`), '-CAkey', p(`${ca}.key`), '-CAcreateserial',
    '-out', p(`${n}.crt`), '-days', variant === 'expired' ? '-1' : '2', '-extfile', p('ext.cnf'),
  ]);
  const [certPem, keyPem] = await Promise.all([readFile(p(`${n}.crt`), 'utf8'), readFile(p(`${n}.key`), 'utf8')]);
  return { certPem: certPem!, keyPem: keyPem! };
}

export async function makeTlsMaterial(dir: string): Promise<TlsMaterial> {
  const p = (f: string): string => path.join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    await exec('openssl', ['req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '2', '-subj', '/CN=kube-proxy-ts-test-ca']);
    await exec('openssl', ['req', ...ec, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=127.0.0.1']);
    await writeFile(p('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
    await exec('openssl', [
      'x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial',
      '-out', p('server.crt'), '-days', '2', '-extfile', p('ext.cnf'),
    ]);
    await exec('openssl', ['req', ...ec, '-keyout', p('client.key'), '-out', p('client.csr'), '-subj', '/CN=system:kube-proxy']);
    await writeFile(p('client-ext.cnf'), 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
    await exec('openssl', [
      'x509', '-req', '-in', p('client.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial',
      '-out', p('client.crt'), '-days', '2', '-extfile', p('client-ext.cnf'),
    ]);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error('TLS for the test API server needs the openssl CLI (apt-get install -y openssl)');
    throw new Error(`openssl failed: ${err.stderr ?? err.message}`);
  }
  const [caPem, certPem, keyPem] = await Promise.all(['ca.crt', 'server.crt', 'server.key'].map((f) => readFile(p(f), 'utf8')));
  return { caPem: caPem!, certPem: certPem!, keyPem: keyPem!, files: { ca: p('ca.crt'), clientCert: p('client.crt'), clientKey: p('client.key') }, dir };
}
