// The operator-facing cause of an API request failure, and one log line per outage (diagnose.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Fields, Logger } from '../../src/log/logger.js';
import { testTuning } from '../../src/sources/apiserver.js';
import { ConnectionStatus, diagnoseApiError, isCertificateFailure } from '../../src/sources/diagnose.js';
import { ExpiredError, HttpStatusError } from '../../src/sources/reflector.js';

function tlsError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

test('causes: TLS verify codes, HTTP statuses, network errors; others are not diagnosed', () => {
  const cause = (e: unknown): string | undefined => diagnoseApiError(e)?.cause;
  assert.equal(cause(tlsError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate')), 'certificate signed by unknown authority');
  assert.equal(cause(tlsError('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain')), 'certificate signed by unknown authority');
  assert.equal(cause(tlsError('CERT_HAS_EXPIRED', 'certificate has expired')), 'certificate has expired');
  assert.equal(cause(tlsError('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames")), 'certificate is not valid for this server name');
  assert.equal(cause(new HttpStatusError(401, 'Unauthorized', 'HTTP 401: Unauthorized')), 'Unauthorized: check the token');
  assert.match(cause(new HttpStatusError(403, 'Forbidden', 'HTTP 403: services is forbidden'))!, /^Forbidden: RBAC/);
  assert.equal(cause(new HttpStatusError(503, '', 'HTTP 503')), 'API server error 503');
  assert.equal(cause(tlsError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1')), 'connection refused');
  assert.equal(cause(new ExpiredError('too old')), undefined, '410 is a relist, not a connection failure');
  assert.equal(cause(new HttpStatusError(404, 'NotFound', 'HTTP 404')), undefined);
  assert.equal(cause('not an error'), undefined);
  assert.equal(isCertificateFailure(tlsError('CERT_HAS_EXPIRED', 'x')), true);
  assert.equal(isCertificateFailure(new HttpStatusError(401, 'Unauthorized', 'x')), false, 'a 401 re-reads the token in the response path');
  assert.equal(isCertificateFailure(new HttpStatusError(403, 'Forbidden', 'x')), false);
});

test('ConnectionStatus: one error line per cause (again only when it changes), one line on recovery', () => {
  const lines: { level: string; msg: string; fields?: Fields }[] = [];
  const log: Logger = {
    info: (msg, fields) => void lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => void lines.push({ level: 'warn', msg, fields }),
    error: (msg, fields) => void lines.push({ level: 'error', msg, fields }),
    v: () => ({ info: () => undefined, enabled: false }),
    child: () => log,
  };
  let now = 1000;
  const s = new ConnectionStatus(log, 'https://198.18.0.9:6443', () => now);
  s.ok(); // healthy: nothing to say
  const expired = tlsError('CERT_HAS_EXPIRED', 'certificate has expired');
  for (let i = 0; i < 5; i++) s.failed(expired);
  s.failed(new Error('no code: not diagnosed'));
  assert.equal(s.failing, 'certificate has expired');
  s.failed(new HttpStatusError(401, 'Unauthorized', 'HTTP 401: Unauthorized'));
  now = 4000;
  s.ok();
  s.ok();
  assert.deepEqual(
    lines.map((l) => `${l.level} ${l.msg}`),
    ['error API server requests failing: certificate has expired', 'error API server requests failing: Unauthorized: check the token', 'info API server requests succeed again'],
  );
  assert.equal(lines[2]!.fields?.failingForMs, 3000);
  assert.equal(s.failing, undefined);
});

test('test-only tuning from the environment: only sane millisecond values', () => {
  assert.deepEqual(testTuning({}), { inactivityTimeoutMs: undefined, credentialRefreshMs: undefined });
  assert.deepEqual(testTuning({ KPX_TEST_WATCH_IDLE_TIMEOUT_MS: '4000', KPX_TEST_CREDENTIAL_REFRESH_MS: '1000' }), { inactivityTimeoutMs: 4000, credentialRefreshMs: 1000 });
  assert.deepEqual(testTuning({ KPX_TEST_WATCH_IDLE_TIMEOUT_MS: '5', KPX_TEST_CREDENTIAL_REFRESH_MS: 'soon' }), { inactivityTimeoutMs: undefined, credentialRefreshMs: undefined });
});
