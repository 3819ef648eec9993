// A stand-in Kubernetes API server: the list/watch HTTP protocol for the three
// resources mcsdns reads, enough for @kubernetes/client-node informers, plus
// fault injection (dropped watches, 410 Gone, failing requests) for tests.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

export type StandInKind = 'ServiceImport' | 'EndpointSlice' | 'Namespace';
type ServiceImportVersion = 'v1beta1' | 'v1alpha1';

export interface StandInOptions {
  port?: number;
  tokens?: string[];
  basicAuth?: { username: string; password: string };
  serviceImportVersions?: ServiceImportVersion[];
  watch410AsEvent?: boolean;
}

export interface KubeconfigOptions {
  token?: string;
  context?: string;
  cluster?: string;
  user?: string;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: string;
  status: number;
}

// ---------------------------------------------------------------------------
// Resource types and objects

interface ResourceType {
  kind: StandInKind;
  group: string;
  versions: string[];
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
}

const RESOURCE_TYPES: readonly ResourceType[] = [
  { kind: 'Namespace', group: '', versions: ['v1'], plural: 'namespaces', singular: 'namespace', namespaced: false, shortNames: ['ns'] },
  {
    kind: 'EndpointSlice',
    group: 'discovery.k8s.io',
    versions: ['v1'],
    plural: 'endpointslices',
    singular: 'endpointslice',
    namespaced: true,
    shortNames: [],
  },
  {
    kind: 'ServiceImport',
    group: 'multicluster.x-k8s.io',
    versions: ['v1beta1', 'v1alpha1'],
    plural: 'serviceimports',
    singular: 'serviceimport',
    namespaced: true,
    shortNames: ['svcim'],
  },
];

interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
  labels?: Record<string, string>;
  [field: string]: unknown;
}

interface StoredObject {
  apiVersion?: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

interface WatchEvent {
  type: WatchEventType;
  object: Record<string, unknown>;
}

// One stored mutation; `previous` lets a selector watch see an object leave or enter its set.
interface Change {
  revision: number;
  kind: StandInKind;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: StoredObject;
  previous?: StoredObject;
}

// What a request addresses: a collection (maybe namespaced) or one object of it.
interface Scope {
  type: ResourceType;
  version: string;
  namespace?: string;
  name?: string;
}

type ObjectFilter = (object: StoredObject) => boolean;

function apiVersionOf(type: ResourceType, version: string): string {
  return type.group ? `${type.group}/${version}` : version;
}

function objectKey(kind: StandInKind, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

// An object as the server shows it, as JSON text: lists write it as is, without a deep copy
// (thousands of copies per page cost the benchmarks' stand-ins more CPU than the agents reading them).
function presentText(type: ResourceType, version: string, object: StoredObject): string {
  return JSON.stringify({ ...object, apiVersion: apiVersionOf(type, version), kind: type.kind });
}

// The same as an object of the caller's own.
function present(type: ResourceType, version: string, object: StoredObject): StoredObject {
  return JSON.parse(presentText(type, version, object)) as StoredObject;
}

// The index of the first sorted key after `after`.
function keysAfter(keys: string[], after: string): number {
  let [low, high] = [0, keys.length];
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (keys[middle]! <= after) low = middle + 1;
    else high = middle;
  }
  return low;
}

function kubernetesTimestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// ---------------------------------------------------------------------------
// Selectors (pure)

export type LabelRequirement =
  | { key: string; op: 'exists' | 'notexists' }
  | { key: string; op: 'in' | 'notin'; values: string[] };

class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

function badRequest(message: string): StatusError {
  return new StatusError(400, 'BadRequest', message);
}

// Splits on commas that are not inside `in (...)` value lists.
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of selector) {
    if (char === '(') depth += 1;
    if (char === ')') depth -= 1;
    if (char === ',' && depth === 0) {
      terms.push(current.trim());
      current = '';
    } else {
      current += char;
    }
  }
  terms.push(current.trim());
  return terms;
}

const LABEL_KEY = String.raw`[A-Za-z0-9][A-Za-z0-9_./-]*`;
const LABEL_VALUE = String.raw`[A-Za-z0-9_.-]*`;
const NOT_EXISTS = new RegExp(`^!\\s*(${LABEL_KEY})$`);
const SET_TERM = new RegExp(`^(${LABEL_KEY})\\s+(in|notin)\\s*\\(([^()]*)\\)$`);
const EQUALITY_TERM = new RegExp(`^(${LABEL_KEY})\\s*(==|!=|=)\\s*(${LABEL_VALUE})$`);
const EXISTS = new RegExp(`^(${LABEL_KEY})$`);
const WHOLE_LABEL_VALUE = new RegExp(`^${LABEL_VALUE}$`);

// Parses a Kubernetes label selector; throws a 400 StatusError when it is malformed.
export function parseLabelSelector(selector: string): LabelRequirement[] {
  if (selector.trim() === '') return [];
  return splitTerms(selector).map((term): LabelRequirement => {
    const notExists = NOT_EXISTS.exec(term);
    if (notExists) return { key: notExists[1]!, op: 'notexists' };
    const set = SET_TERM.exec(term);
    if (set) {
      const values = set[3]!.split(',').map((value) => value.trim());
      if (set[3]!.trim() === '' || !values.every((value) => WHOLE_LABEL_VALUE.test(value))) {
        throw badRequest(`unable to parse requirement: invalid value list in "${term}"`);
      }
      return { key: set[1]!, op: set[2] === 'in' ? 'in' : 'notin', values };
    }
    const equality = EQUALITY_TERM.exec(term);
    if (equality) return { key: equality[1]!, op: equality[2] === '!=' ? 'notin' : 'in', values: [equality[3]!] };
    const exists = EXISTS.exec(term);
    if (exists) return { key: exists[1]!, op: 'exists' };
    throw badRequest(`unable to parse requirement: "${term}"`);
  });
}

export function labelsMatch(requirements: LabelRequirement[], labels: Record<string, string> = {}): boolean {
  return requirements.every((requirement) => {
    const value = Object.hasOwn(labels, requirement.key) ? labels[requirement.key] : undefined;
    switch (requirement.op) {
      case 'exists':
        return value !== undefined;
      case 'notexists':
        return value === undefined;
      case 'in':
        return value !== undefined && requirement.values.includes(value);
      case 'notin':
        return value === undefined || !requirement.values.includes(value);
    }
  });
}

const FIELD_TERM = /^(metadata\.name|metadata\.namespace)\s*(==|!=|=)\s*(.*)$/;

function parseFieldSelector(selector: string): ObjectFilter[] {
  if (selector.trim() === '') return [];
  return splitTerms(selector).map((term) => {
    const match = FIELD_TERM.exec(term);
    if (!match) throw badRequest(`field label not supported: "${term}"`);
    const [, field, op, value] = match;
    const read = (object: StoredObject): string =>
      (field === 'metadata.name' ? object.metadata.name : object.metadata.namespace) ?? '';
    return op === '!=' ? (object) => read(object) !== value : (object) => read(object) === value;
  });
}

function objectFilter(scope: Scope, params: URLSearchParams): ObjectFilter {
  const labels = parseLabelSelector(params.get('labelSelector') ?? '');
  const fields = parseFieldSelector(params.get('fieldSelector') ?? '');
  return (object) =>
    (scope.namespace === undefined || object.metadata.namespace === scope.namespace) &&
    (scope.name === undefined || object.metadata.name === scope.name) &&
    labelsMatch(labels, object.metadata.labels) &&
    fields.every((matches) => matches(object));
}

// The event a watch with this filter sees for a change, as the API server's watch cache does.
function watchEventFor(change: Change, matches: ObjectFilter): { type: WatchEventType; object: StoredObject } | undefined {
  const isMatch = change.type !== 'DELETED' && matches(change.object);
  const wasMatch = change.previous !== undefined && matches(change.previous);
  if (change.type === 'DELETED') return wasMatch ? { type: 'DELETED', object: change.object } : undefined;
  if (isMatch) return { type: wasMatch ? 'MODIFIED' : 'ADDED', object: change.object };
  if (!wasMatch) return undefined;
  // Left the selector: the previous content, stamped with this change's resourceVersion.
  const previous = change.previous!;
  return { type: 'DELETED', object: { ...previous, metadata: { ...previous.metadata, resourceVersion: String(change.revision) } } };
}

// ---------------------------------------------------------------------------
// Routing and documents (pure)

function resourceScope(segments: string[], versionsOf: (type: ResourceType) => string[]): Scope | undefined {
  const prefixLength = segments[0] === 'api' ? 2 : segments[0] === 'apis' ? 3 : 0;
  if (prefixLength === 0 || segments.length <= prefixLength) return undefined;
  const group = prefixLength === 2 ? '' : segments[1]!;
  const version = segments[prefixLength - 1]!;
  let rest = segments.slice(prefixLength);
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural, name, ...extra] = rest;
  const type = RESOURCE_TYPES.find((candidate) => candidate.group === group && candidate.plural === plural);
  if (!type || extra.length > 0 || !versionsOf(type).includes(version)) return undefined;
  if (namespace !== undefined && !type.namespaced) return undefined;
  return { type, version, namespace, name };
}

function apiResourceList(groupVersion: string, types: ResourceType[]): object {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion,
    resources: types.map((type) => ({
      name: type.plural,
      singularName: type.singular,
      namespaced: type.namespaced,
      kind: type.kind,
      verbs: ['get', 'list', 'watch'],
      ...(type.shortNames.length > 0 ? { shortNames: type.shortNames } : {}),
    })),
  };
}

function apiGroup(name: string, versions: string[]): object {
  const entries = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
  return { name, versions: entries, preferredVersion: entries[0] };
}

// The discovery document for a path, or undefined when the path is not a discovery path.
function discoveryDocument(segments: string[], versionsOf: (type: ResourceType) => string[], serverAddress: string): object | undefined {
  const served = RESOURCE_TYPES.filter((type) => versionsOf(type).length > 0);
  const groups = [...new Set(served.filter((type) => type.group !== '').map((type) => type.group))];
  const versionsOfGroup = (group: string): string[] => [
    ...new Set(served.filter((type) => type.group === group).flatMap(versionsOf)),
  ];
  const typesAt = (group: string, version: string): ResourceType[] =>
    served.filter((type) => type.group === group && versionsOf(type).includes(version));
  const [root, group, version, ...extra] = segments;
  if (extra.length > 0) return undefined;
  if (root === 'version' && group === undefined) {
    return {
      major: '1',
      minor: '31',
      gitVersion: 'v1.31.0-standin',
      gitCommit: 'standin',
      gitTreeState: 'clean',
      buildDate: '2024-08-13T00:00:00Z',
      goVersion: 'go1.22.5',
      compiler: 'gc',
      platform: 'linux/amd64',
    };
  }
  if (root === 'api' && group === undefined) {
    return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
  }
  if (root === 'api' && group === 'v1' && version === undefined) return apiResourceList('v1', typesAt('', 'v1'));
  if (root !== 'apis') return undefined;
  if (group === undefined) {
    return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((name) => apiGroup(name, versionsOfGroup(name))) };
  }
  if (!groups.includes(group)) return undefined;
  if (version === undefined) return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group, versionsOfGroup(group)) };
  const types = typesAt(group, version);
  return types.length > 0 ? apiResourceList(`${group}/${version}`, types) : undefined;
}

function statusBody(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

const STATUS_REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function tooOldResourceVersion(requested: number, oldest: number): StatusError {
  return new StatusError(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}

function parseCount(parameter: string, text: string): number {
  if (!/^\d+$/.test(text)) throw badRequest(`${parameter}: not a non-negative integer: "${text}"`);
  return Number(text);
}

interface ContinueToken {
  revision: number;
  after: string;
}

function encodeContinue(token: ContinueToken): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

function decodeContinue(text: string): ContinueToken {
  try {
    const token = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<ContinueToken>;
    if (typeof token.revision === 'number' && typeof token.after === 'string') return { revision: token.revision, after: token.after };
  } catch {
    // falls through to the error below
  }
  throw badRequest('continue key is not valid');
}

const JSON_HEADERS = { 'Content-Type': 'application/json' };

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  sendText(res, status, JSON.stringify(body));
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { ...JSON_HEADERS, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendStatus(res: http.ServerResponse, error: StatusError): void {
  sendJson(res, error.code, statusBody(error.code, error.reason, error.message));
}

// ---------------------------------------------------------------------------
// The server

interface OpenWatch {
  scope: Scope;
  matches: ObjectFilter;
  bookmarks: boolean;
  res: http.ServerResponse;
}

export class StandInApiServer {
  readonly requests: RequestRecord[] = [];
  private readonly objects = new Map<string, StoredObject>();
  // The keys of each kind in order, kept until a key of that kind comes or goes.
  private readonly sortedKeys = new Map<StandInKind, string[]>();
  private readonly history: Change[] = [];
  private readonly watches = new Set<OpenWatch>();
  private revision = 1;
  // Watches and continue tokens from revisions below this one get 410 Gone.
  private oldestRevision = 1;
  private failuresLeft = 0;
  private failureStatus = 500;

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    private readonly options: StandInOptions,
  ) {}

  static async start(options: StandInOptions = {}): Promise<StandInApiServer> {
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const standIn = new StandInApiServer(server, `http://127.0.0.1:${port}`, options);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => standIn.handle(req, res));
    return standIn;
  }

  kubeconfig(opts: KubeconfigOptions = {}): string {
    const clusterName = opts.cluster ?? 'standin';
    const userName = opts.user ?? 'standin';
    const contextName = opts.context ?? 'standin';
    const token = opts.token ?? this.options.tokens?.[0];
    const basic = this.options.basicAuth;
    const user = token !== undefined ? { token } : basic ? { username: basic.username, password: basic.password } : {};
    return stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: clusterName, cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: userName, user }],
      contexts: [{ name: contextName, context: { cluster: clusterName, user: userName } }],
      'current-context': contextName,
    });
  }

  writeKubeconfig(path: string, opts: KubeconfigOptions = {}): void {
    writeFileSync(path, this.kubeconfig(opts));
  }

  upsert(input: object): any {
    const object = structuredClone(input) as Partial<StoredObject>;
    const type = RESOURCE_TYPES.find((candidate) => candidate.kind === object.kind);
    if (!type) throw new Error(`stand-in API server: cannot store kind ${String(object.kind)}`);
    const name = object.metadata?.name;
    if (typeof name !== 'string' || name === '') throw new Error(`stand-in API server: a ${type.kind} needs metadata.name`);
    const namespace = type.namespaced ? (object.metadata?.namespace ?? 'default') : '';
    const key = objectKey(type.kind, namespace, name);
    const previous = this.objects.get(key);
    this.revision += 1;
    const metadata: ObjectMeta = {
      ...object.metadata,
      name,
      namespace,
      uid: previous?.metadata.uid ?? randomUUID(),
      resourceVersion: String(this.revision),
      creationTimestamp: previous?.metadata.creationTimestamp ?? kubernetesTimestamp(new Date()),
    };
    if (!type.namespaced) delete metadata.namespace;
    const stored: StoredObject = { ...object, kind: type.kind, metadata };
    this.objects.set(key, stored);
    if (!previous) this.sortedKeys.delete(type.kind);
    this.record({ revision: this.revision, kind: type.kind, type: previous ? 'MODIFIED' : 'ADDED', object: stored, previous });
    return present(type, this.displayVersion(type), stored);
  }

  delete(kind: StandInKind, namespace: string, name: string): boolean {
    const key = objectKey(kind, namespace, name);
    const previous = this.objects.get(key);
    if (!previous) return false;
    this.objects.delete(key);
    this.sortedKeys.delete(kind);
    this.revision += 1;
    const object = { ...previous, metadata: { ...previous.metadata, resourceVersion: String(this.revision) } };
    this.record({ revision: this.revision, kind, type: 'DELETED', object, previous });
    return true;
  }

  get(kind: StandInKind, namespace: string, name: string): any | undefined {
    const object = this.objects.get(objectKey(kind, namespace, name));
    const type = typeOf(kind);
    return object && present(type, this.displayVersion(type), object);
  }

  list(kind: StandInKind): any[] {
    const type = typeOf(kind);
    return this.sortedObjects(kind).map(([, object]) => present(type, this.displayVersion(type), object));
  }

  dropWatches(): void {
    for (const watch of this.watches) watch.res.destroy();
    this.watches.clear();
  }

  // Like an etcd compaction one revision ahead: every resourceVersion and continue token handed out so far is too old.
  expireHistory(): void {
    this.revision += 1;
    this.oldestRevision = this.revision;
    this.history.length = 0;
  }

  failNextRequests(n: number, status = 500): void {
    this.failuresLeft = n;
    this.failureStatus = status;
  }

  sendBookmarks(): void {
    for (const watch of this.watches) {
      if (!watch.bookmarks) continue;
      const { type, version } = watch.scope;
      const object = { kind: type.kind, apiVersion: apiVersionOf(type, version), metadata: { resourceVersion: String(this.revision) } };
      writeEvent(watch, { type: 'BOOKMARK', object });
    }
  }

  activeWatches(kind?: StandInKind): number {
    return [...this.watches].filter((watch) => kind === undefined || watch.scope.type.kind === kind).length;
  }

  async waitForWatches(n: number, kind?: StandInKind, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.activeWatches(kind) < n) {
      if (Date.now() > deadline) {
        throw new Error(`stand-in API server: ${this.activeWatches(kind)} of ${n} ${kind ?? 'any-kind'} watches open after ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async stop(): Promise<void> {
    this.dropWatches();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private versionsOf(type: ResourceType): string[] {
    return type.kind === 'ServiceImport' ? (this.options.serviceImportVersions ?? type.versions) : type.versions;
  }

  private displayVersion(type: ResourceType): string {
    return this.versionsOf(type)[0] ?? type.versions[0]!;
  }

  private keysOf(kind: StandInKind): string[] {
    let keys = this.sortedKeys.get(kind);
    if (!keys) {
      const prefix = `${kind}/`;
      keys = [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort();
      this.sortedKeys.set(kind, keys);
    }
    return keys;
  }

  private sortedObjects(kind: StandInKind): [string, StoredObject][] {
    return this.keysOf(kind).map((key) => [key, this.objects.get(key)!]);
  }

  private record(change: Change): void {
    this.history.push(change);
    for (const watch of this.watches) {
      if (watch.scope.type.kind !== change.kind) continue;
      const event = watchEventFor(change, watch.matches);
      if (event) writeEventText(watch, event.type, presentText(watch.scope.type, watch.scope.version, event.object));
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    try {
      this.respond(req, url, res);
    } catch (error) {
      sendStatus(res, error instanceof StatusError ? error : new StatusError(500, 'InternalError', String(error)));
    }
    this.requests.push({ method: req.method ?? '', path: url.pathname, query: url.search.slice(1), status: res.statusCode });
  }

  private respond(req: http.IncomingMessage, url: URL, res: http.ServerResponse): void {
    if (!this.authorized(req.headers.authorization)) throw new StatusError(401, 'Unauthorized', 'Unauthorized');
    if (this.failuresLeft > 0) {
      this.failuresLeft -= 1;
      const status = this.failureStatus;
      throw new StatusError(status, STATUS_REASONS[status] ?? 'Unknown', `stand-in API server: injected failure (${status})`);
    }
    if (req.method !== 'GET') throw new StatusError(405, 'MethodNotAllowed', 'the stand-in API server only serves GET');
    const segments = url.pathname.split('/').filter((segment) => segment !== '').map(decodeURIComponent);
    const versionsOf = (type: ResourceType): string[] => this.versionsOf(type);
    const document = discoveryDocument(segments, versionsOf, url.host);
    if (document) return sendJson(res, 200, document);
    const scope = resourceScope(segments, versionsOf);
    if (!scope) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
    const params = url.searchParams;
    const matches = objectFilter(scope, params);
    const watch = params.get('watch');
    if (watch === 'true' || watch === '1') return this.openWatch(scope, matches, params, res);
    if (scope.name !== undefined) return this.sendObject(scope, scope.name, res);
    this.sendList(scope, matches, params, res);
  }

  private authorized(header: string | undefined): boolean {
    const { tokens, basicAuth } = this.options;
    if (tokens === undefined && basicAuth === undefined) return true;
    const [scheme, credentials = ''] = (header ?? '').split(' ', 2);
    if (scheme === 'Bearer') return tokens?.includes(credentials) ?? false;
    if (scheme === 'Basic' && basicAuth) {
      return Buffer.from(credentials, 'base64').toString('utf8') === `${basicAuth.username}:${basicAuth.password}`;
    }
    return false;
  }

  private sendObject(scope: Scope, name: string, res: http.ServerResponse): void {
    const object = this.objects.get(objectKey(scope.type.kind, scope.namespace ?? '', name));
    if (!object) {
      const resource = scope.type.group ? `${scope.type.plural}.${scope.type.group}` : scope.type.plural;
      throw new StatusError(404, 'NotFound', `${resource} "${name}" not found`);
    }
    sendJson(res, 200, present(scope.type, scope.version, object));
  }

  private sendList(scope: Scope, matches: ObjectFilter, params: URLSearchParams, res: http.ServerResponse): void {
    const limit = parseCount('limit', params.get('limit') || '0');
    const continueText = params.get('continue');
    const token = continueText ? decodeContinue(continueText) : undefined;
    if (token && token.revision < this.oldestRevision) {
      throw new StatusError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.');
    }
    // Later pages show the current objects after the token's key, labelled with the first page's revision.
    const keys = this.keysOf(scope.type.kind);
    const page: StoredObject[] = [];
    let next = token ? keysAfter(keys, token.after) : 0;
    for (; next < keys.length && (limit === 0 || page.length < limit); next++) {
      const object = this.objects.get(keys[next]!)!;
      if (matches(object)) page.push(object);
    }
    while (next < keys.length && !matches(this.objects.get(keys[next]!)!)) next++;
    const listRevision = token?.revision ?? this.revision;
    // Like Kubernetes, a count of the rest only for lists without selectors (counted without a scan when not in a namespace).
    const counted = !params.get('labelSelector') && !params.get('fieldSelector');
    const rest = () => (scope.namespace === undefined ? keys.length - next : keys.slice(next).filter((key) => matches(this.objects.get(key)!)).length);
    const more =
      next < keys.length ? { continue: encodeContinue({ revision: listRevision, after: keys[next - 1]! }), ...(counted && { remainingItemCount: rest() }) } : {};
    const head = JSON.stringify({
      kind: `${scope.type.kind}List`,
      apiVersion: apiVersionOf(scope.type, scope.version),
      metadata: { resourceVersion: String(listRevision), ...more },
    });
    const items = page.map((object) => presentText(scope.type, scope.version, object));
    sendText(res, 200, `${head.slice(0, -1)},"items":[${items.join(',')}]}`);
  }

  private openWatch(scope: Scope, matches: ObjectFilter, params: URLSearchParams, res: http.ServerResponse): void {
    const backlog = this.watchBacklog(scope, matches, params.get('resourceVersion') ?? '');
    const timeoutSeconds = parseCount('timeoutSeconds', params.get('timeoutSeconds') || '0');
    res.writeHead(200, JSON_HEADERS);
    res.flushHeaders();
    if (backlog instanceof StatusError) {
      res.end(JSON.stringify({ type: 'ERROR', object: statusBody(backlog.code, backlog.reason, backlog.message) }) + '\n');
      return;
    }
    const watch: OpenWatch = { scope, matches, bookmarks: params.get('allowWatchBookmarks') === 'true', res };
    this.watches.add(watch);
    for (const event of backlog) writeEvent(watch, event);
    const timer = timeoutSeconds > 0 ? setTimeout(() => this.endWatch(watch), timeoutSeconds * 1000) : undefined;
    res.on('close', () => {
      clearTimeout(timer);
      this.watches.delete(watch);
    });
  }

  // The events a new watch starts with; a StatusError (to send as an ERROR event) when its start is too old.
  private watchBacklog(scope: Scope, matches: ObjectFilter, resourceVersion: string): WatchEvent[] | StatusError {
    const show = (object: StoredObject): StoredObject => present(scope.type, scope.version, object);
    if (resourceVersion === '' || resourceVersion === '0') {
      return this.sortedObjects(scope.type.kind)
        .filter(([, object]) => matches(object))
        .map(([, object]) => ({ type: 'ADDED', object: show(object) }));
    }
    const from = parseCount('resourceVersion', resourceVersion);
    if (from < this.oldestRevision) {
      const gone = tooOldResourceVersion(from, this.oldestRevision);
      if (this.options.watch410AsEvent) return gone;
      throw gone;
    }
    return this.history
      .filter((change) => change.revision > from && change.kind === scope.type.kind)
      .flatMap((change) => {
        const event = watchEventFor(change, matches);
        return event ? [{ type: event.type, object: show(event.object) }] : [];
      });
  }

  private endWatch(watch: OpenWatch): void {
    this.watches.delete(watch);
    watch.res.end();
  }
}

function typeOf(kind: StandInKind): ResourceType {
  const type = RESOURCE_TYPES.find((candidate) => candidate.kind === kind);
  if (!type) throw new Error(`stand-in API server: unknown kind ${String(kind)}`);
  return type;
}

function writeEvent(watch: OpenWatch, event: WatchEvent): void {
  if (!watch.res.writableEnded && !watch.res.destroyed) watch.res.write(JSON.stringify(event) + '\n');
}

function writeEventText(watch: OpenWatch, type: WatchEventType, objectText: string): void {
  if (!watch.res.writableEnded && !watch.res.destroyed) watch.res.write(`{"type":"${type}","object":${objectText}}\n`);
}
