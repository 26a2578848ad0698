// Where the API server is and how to authenticate, resolved as upstream's clientcmd.BuildConfigFromFlags:
// the --kubeconfig file if given, else in-cluster (service-account token + CA); --master overrides the
// server URL. Plain data: no request is made here and no API client library is loaded, because
// `@kubernetes/client-node` costs ~0.7 s and ~110 MB at start (its config module pulls in the whole
// generated API). Only kubeconfig users it alone can serve (exec and auth-provider plugins, proxy-url)
// are marked `plugin`: the transport then loads the library lazily for them (client-node-auth.ts).

import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import path from 'node:path';
import { parse as parseYAML } from 'yaml';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** A credential or CA held either inline (kubeconfig *-data) or in a file (re-read when it rotates). */
export type Material = { readonly data: Buffer } | { readonly file: string };

export interface ClientConfig {
  /** Server URL without a trailing slash. */
  readonly server: string;
  readonly ca?: Material;
  readonly clientCert?: Material;
  readonly clientKey?: Material;
  readonly insecureSkipTLSVerify: boolean;
  readonly tlsServerName?: string;
  /** Bearer token: inline, or a file re-read periodically (projected service-account tokens rotate). */
  readonly token?: Material;
  readonly basicAuth?: { readonly username: string; readonly password: string };
  readonly impersonate?: { readonly user?: string; readonly groups?: readonly string[] };
  /**
   * The user needs `@kubernetes/client-node` (exec or auth-provider plugin, proxy-url): why, and what to
   * load it from. The transport then delegates credentials to the library.
   */
  readonly plugin?: { readonly reason: string; readonly kubeconfig: string; readonly master: string };
}

export interface ResolveOptions {
  /** Path of a kubeconfig file; "" → in-cluster config (unless master alone is given). */
  readonly kubeconfig: string;
  /** Overrides the kubeconfig's server URL; "" → none. */
  readonly master: string;
  /** In-cluster service-account directory (tests). */
  readonly serviceAccountDir?: string;
  readonly env?: NodeJS.ProcessEnv;
}

type Rec = Record<string, unknown>;

function rec(v: unknown): Rec {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function named(list: unknown, name: string, key: string): Rec | undefined {
  if (!Array.isArray(list)) return undefined;
  const e = list.find((x) => rec(x).name === name);
  return e === undefined ? undefined : rec(rec(e)[key]);
}

/** The kubeconfig text as an object: JSON is parsed as JSON (the common generated form), anything else as YAML. */
export function parseKubeConfigText(text: string, file: string): Rec {
  let doc: unknown;
  const t = text.trimStart();
  try {
    doc = t.startsWith('{') ? JSON.parse(t) : parseYAML(text);
  } catch (e) {
    throw new Error(`kubeconfig ${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`kubeconfig ${file}: not a mapping`);
  return doc as Rec;
}

function material(dataField: unknown, fileField: unknown, dir: string): Material | undefined {
  const data = str(dataField);
  if (data) return { data: Buffer.from(data, 'base64') };
  const file = str(fileField);
  // Relative paths are relative to the kubeconfig's directory (clientcmd and client-node agree).
  if (file) return { file: path.isAbsolute(file) ? file : path.join(dir, file) };
  return undefined;
}

function withPlainHttp(server: string, insecure: boolean): boolean {
  // Plain http carries no TLS to verify (client-node refused such servers without the flag; we never did).
  return insecure || server.startsWith('http:');
}

function fromKubeConfigFile(file: string, master: string): ClientConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`kubeconfig ${file}: ${(e as Error).message}`);
  }
  const kc = parseKubeConfigText(text, file);
  const dir = path.dirname(file);
  const currentName = str(kc['current-context']);
  const ctx = currentName ? named(kc.contexts, currentName, 'context') : undefined;
  const cluster = ctx && str(ctx.cluster) ? named(kc.clusters, String(ctx.cluster), 'cluster') : undefined;
  if (!cluster && !master) throw new Error(`kubeconfig ${file}: no current context/cluster`);
  const c = cluster ?? {};
  const u = (ctx && str(ctx.user) ? named(kc.users, String(ctx.user), 'user') : undefined) ?? {};
  const server = (master || str(c.server) || '').replace(/\/+$/, '');
  if (!server) throw new Error(`kubeconfig ${file}: cluster has no server`);
  const plugin = u.exec ? 'exec plugin' : u['auth-provider'] ? 'auth-provider plugin' : str(c['proxy-url']) ? 'proxy-url' : '';
  const tokenFile = str(u.tokenFile) ?? str(u['token-file']);
  const username = str(u.username);
  const groups = Array.isArray(u['as-groups']) ? u['as-groups'].filter((g): g is string => typeof g === 'string') : [];
  return {
    server,
    ca: material(c['certificate-authority-data'], c['certificate-authority'], dir),
    clientCert: material(u['client-certificate-data'], u['client-certificate'], dir),
    clientKey: material(u['client-key-data'], u['client-key'], dir),
    insecureSkipTLSVerify: withPlainHttp(server, c['insecure-skip-tls-verify'] === true),
    tlsServerName: str(c['tls-server-name']),
    token: str(u.token) ? { data: Buffer.from(String(u.token)) } : tokenFile ? { file: path.isAbsolute(tokenFile) ? tokenFile : path.join(dir, tokenFile) } : undefined,
    basicAuth: username ? { username, password: typeof u.password === 'string' ? u.password : '' } : undefined,
    impersonate: str(u.as) || groups.length ? { user: str(u.as), groups } : undefined,
    plugin: plugin ? { reason: plugin, kubeconfig: file, master } : undefined,
  };
}

function inCluster(env: NodeJS.ProcessEnv, saDir: string): ClientConfig {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new Error('no --kubeconfig or --master given and not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset)');
  }
  // client-node's in-cluster rule, kept so existing set-ups behave the same: these ports mean plain http.
  const scheme = port === '80' || port === '8080' || port === '8001' ? 'http' : 'https';
  const server = `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  return {
    server,
    ca: { file: path.join(saDir, 'ca.crt') },
    token: { file: path.join(saDir, 'token') },
    insecureSkipTLSVerify: scheme === 'http',
  };
}

/** Resolve --kubeconfig / --master / in-cluster into a ClientConfig (reads the kubeconfig file, nothing else). */
export function resolveClientConfig(o: ResolveOptions): ClientConfig {
  if (o.kubeconfig) return fromKubeConfigFile(o.kubeconfig, o.master);
  if (o.master) {
    const server = o.master.replace(/\/+$/, '');
    return { server, insecureSkipTLSVerify: withPlainHttp(server, false) };
  }
  return inCluster(o.env ?? process.env, o.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
}
