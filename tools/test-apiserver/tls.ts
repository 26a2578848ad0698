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
  return { caPem: caPem!, certPem: certPem!, keyPem: keyPem!, files: { ca: p('ca.crt'), clientCert: p('client.crt'), clientKey: p('client.key') } };
}
