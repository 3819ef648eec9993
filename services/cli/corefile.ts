// `--corefile PATH`: what mcsdns takes over from a CoreDNS Corefile that uses
// the multicluster plugin. A pure parser: text in, settings out; the caller
// reads the file (and any resolv.conf named by `forward`).
//
// Supported, in every server block that uses either form of the plugin:
//   multicluster [ZONES...] {            coredns/multicluster
//       kubeconfig KUBECONFIG [CONTEXT]  (none: in-cluster)
//       noendpoints
//       fallthrough [ZONES...]
//   }
//   kubernetes [ZONES...] {              CoreDNS's kubernetes plugin with its
//       multicluster ZONES...            MCS option: those zones are ours, and
//       kubeconfig / noendpoints / fallthrough / ttl apply to them
//   }
//   forward . TO...                      upstreams: IP[:PORT], dns://IP[:PORT], [IPv6]:PORT,
//                                        or a resolv.conf path (returned in resolvConf)
//   transfer [ZONES...] { to ADDR... }   zone transfer clients (* = anyone)
//   bind ADDR                            listen address (server key port, default 53)
// The lexer follows Caddy v1 as CoreDNS uses it: whitespace-separated tokens,
// "double quotes" with \" inside, # comments (even inside a token), { and } as
// tokens of their own, one server block without braces, snippets
// `(name) { ... }` with `import name`, environment placeholders {$VAR} and
// {%VAR%} in any token (an unset variable reads as empty; a value is taken
// as it is, never expanded again or read as a brace). Not supported: file
// imports (a warning), reverse zones as CIDRs.
import { isIP } from 'node:net';
import { UsageError } from './settings.js';

export interface CorefileCluster {
  kubeconfig?: string; // absent: in-cluster
  context?: string;
}

export interface CorefileUpstream {
  host: string;
  port: number;
}

export interface CorefileSettings {
  zones: string[]; // lower case, no trailing dot; "." is the root
  clusters: CorefileCluster[]; // one per plugin instance, in file order, each once
  noEndpoints: boolean;
  fallthrough: string[] | undefined; // undefined: none; []: every zone
  upstreams: CorefileUpstream[];
  resolvConf: string[]; // forward targets that are files: their nameservers are upstreams too
  dnsListen?: string; // HOST:PORT ([IPv6]:PORT)
  ttl?: number; // from the kubernetes plugin's ttl
  allowTransfer?: string[]; // CIDRs
  warnings: string[]; // what was read but is not followed
}

interface Token {
  text: string;
  line: number;
  quoted: boolean;
  startsLine: boolean; // the first token on its line
}

interface Directive {
  name: string;
  line: number;
  args: Token[];
  block: Directive[] | undefined;
}

interface ServerBlock {
  keys: Token[];
  body: Directive[];
}

type Fail = (line: number, message: string) => never;
type Warn = (line: number, message: string) => void;

const DNS_PORT = 53;
const MAX_TTL = 3600;
const MULTICLUSTER_OPTIONS = ['kubeconfig', 'noendpoints', 'fallthrough'];
// Options of the kubernetes plugin that concern only its own zones.
const KUBERNETES_OWN_OPTIONS = new Set([
  'pods', 'endpoint_pod_names', 'ignore', 'zonal', 'startup_timeout', 'resyncperiod', 'upstream', 'transfer',
  'apiserver_qps', 'apiserver_burst', 'apiserver_max_inflight',
]);
const KUBERNETES_UNSUPPORTED_FILTERS = new Set(['namespaces', 'labels', 'namespace_labels']);

export type Environment = Record<string, string | undefined>;

export function parseCorefile(text: string, path: string, env: Environment = {}): CorefileSettings {
  const fail: Fail = (line, message) => {
    throw new UsageError(`${path}:${line}: ${message}`);
  };
  const warnings: string[] = [];
  const blocks = new Parser(expandSnippets(tokenize(text, fail).map((t) => withEnvironment(t, env)), fail), fail).file();
  const warn: Warn = (line, message) => warnings.push(`${path}:${line}: ${message}`);
  const servers = blocks.map((block) => serverSettings(block, fail, warn)).filter((s): s is ServerSettings => s !== undefined);
  if (servers.length === 0) throw new UsageError(`${path}: no server block uses the multicluster plugin`);
  const settings = merge(servers, fail);
  const fallsThrough = settings.fallthrough?.length === 0 || settings.fallthrough?.some((f) => settings.zones.some((z) => overlaps(f, z)));
  if (fallsThrough && settings.upstreams.length === 0 && settings.resolvConf.length === 0) {
    warnings.push(`${path}: fallthrough without \`forward . ADDRESS\` in the same server block has nowhere to go; names stay NXDOMAIN`);
  }
  return { ...settings, warnings };
}

// One zone lies within the other.
function overlaps(a: string, b: string): boolean {
  return a === b || a === '.' || b === '.' || a.endsWith(`.${b}`) || b.endsWith(`.${a}`);
}

// `nameserver` lines of a resolv.conf, as upstreams on port 53.
export function parseResolvConf(text: string): CorefileUpstream[] {
  return text
    .split('\n')
    .map((line) => line.replace(/[#;].*/, '').trim().split(/\s+/))
    .filter((words) => words[0] === 'nameserver' && words[1] !== undefined && isIP(words[1]) !== 0)
    .map((words) => ({ host: words[1]!, port: DNS_PORT }));
}

function tokenize(text: string, fail: Fail): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let startsLine = true;
  let at = 0;
  while (at < text.length) {
    const ch = text[at]!;
    if (ch === '\n') {
      line++;
      startsLine = true;
      at++;
    } else if (/\s/.test(ch)) {
      at++;
    } else if (ch === '#') {
      while (at < text.length && text[at] !== '\n') at++;
    } else if (ch === '"') {
      const start = line;
      let value = '';
      for (at++; ; at++) {
        const c = text[at];
        if (c === undefined) fail(start, 'quoted string is never closed');
        if (c === '"') break;
        if (c === '\n') line++;
        // Only a quote can be escaped; any other backslash stays.
        if (c === '\\' && text[at + 1] !== undefined) {
          value += text[at + 1] === '"' ? '"' : `\\${text[at + 1]}`;
          if (text[at + 1] === '\n') line++;
          at++;
          continue;
        }
        value += c;
      }
      at++;
      tokens.push({ text: value, line: start, quoted: true, startsLine });
      startsLine = false;
    } else {
      // A # starts a comment even inside a token, as in Caddy's lexer.
      const end = text.slice(at).search(/[\s#]/);
      const stop = end < 0 ? text.length : at + end;
      tokens.push({ text: text.slice(at, stop), line, quoted: false, startsLine });
      startsLine = false;
      at = stop;
    }
  }
  return tokens;
}

const PLACEHOLDER = /\{%([^%{}]+)%\}|\{\$([^{}]+)\}/g;

// The token with its placeholders replaced; what a variable holds is text, even a brace.
function withEnvironment(token: Token, env: Environment): Token {
  const text = token.text.replace(PLACEHOLDER, (_, windows: string | undefined, unix: string | undefined) => env[(windows ?? unix)!] ?? '');
  return text === token.text ? token : { ...token, text, quoted: true };
}

const isOpen = (t: Token | undefined): boolean => t !== undefined && !t.quoted && t.text === '{';
const isClose = (t: Token | undefined): boolean => t !== undefined && !t.quoted && t.text === '}';
const SNIPPET = /^\((.+)\)$/;

// Takes `(name) { ... }` definitions out and puts their tokens where `import name` stands.
function expandSnippets(tokens: Token[], fail: Fail): Token[] {
  const snippets = new Map<string, Token[]>();
  const rest: Token[] = [];
  let depth = 0;
  for (let at = 0; at < tokens.length; at++) {
    const t = tokens[at]!;
    const name = depth === 0 && !t.quoted ? SNIPPET.exec(t.text)?.[1] : undefined;
    if (name !== undefined && isOpen(tokens[at + 1])) {
      const end = matchingClose(tokens, at + 1, fail);
      snippets.set(name, tokens.slice(at + 2, end));
      at = end;
      continue;
    }
    if (isOpen(t)) depth++;
    if (isClose(t)) depth--;
    rest.push(t);
  }
  return spliceImports(rest, snippets, fail, 0);
}

function spliceImports(tokens: Token[], snippets: Map<string, Token[]>, fail: Fail, depth: number): Token[] {
  const out: Token[] = [];
  for (let at = 0; at < tokens.length; at++) {
    const t = tokens[at]!;
    const target = tokens[at + 1];
    const snippet = t.startsLine && t.text === 'import' && target && !target.startsLine ? snippets.get(target.text) : undefined;
    if (!snippet) {
      out.push(t);
      continue;
    }
    if (depth > 10) fail(t.line, `snippet ${target!.text} imports itself`);
    const spliced = spliceImports(snippet, snippets, fail, depth + 1);
    out.push(...spliced.map((s, i) => (i === 0 ? { ...s, startsLine: true } : s)));
    at++;
  }
  return out;
}

function matchingClose(tokens: Token[], open: number, fail: Fail): number {
  let depth = 0;
  for (let at = open; at < tokens.length; at++) {
    if (isOpen(tokens[at])) depth++;
    if (isClose(tokens[at]) && --depth === 0) return at;
  }
  return fail(tokens[open]!.line, '"{" is never closed');
}

// Server blocks and their directives, nested blocks included.
class Parser {
  private at = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly fail: Fail,
  ) {}

  file(): ServerBlock[] {
    const blocks: ServerBlock[] = [];
    while (this.at < this.tokens.length) {
      const keys = this.keys();
      const open = this.tokens[this.at];
      if (isOpen(open)) {
        this.at++;
        blocks.push({ keys, body: this.directives(open!.line) });
      } else if (blocks.length === 0) {
        blocks.push({ keys, body: this.directives(undefined) }); // one server block may go without braces
      } else {
        this.fail(keys[0]!.line, `expected "{" after the server block keys ${keys.map((k) => k.text).join(' ')}`);
      }
    }
    return blocks;
  }

  // Keys run to the end of their line, or on over a trailing comma.
  private keys(): Token[] {
    const first = this.tokens[this.at]!;
    if (isOpen(first) || isClose(first)) this.fail(first.line, `unexpected "${first.text}" where server block keys belong`);
    const keys = [first];
    for (this.at++; this.at < this.tokens.length; this.at++) {
      const t = this.tokens[this.at]!;
      if (isOpen(t) || (t.startsLine && !keys[keys.length - 1]!.text.endsWith(','))) break;
      keys.push(t);
    }
    return keys.flatMap((k) => k.text.split(',').filter((text) => text !== '').map((text) => ({ ...k, text })));
  }

  // Directives until the "}" that closes the block opened on `openLine` (the end of the file without one).
  private directives(openLine: number | undefined): Directive[] {
    const out: Directive[] = [];
    for (;;) {
      const name = this.tokens[this.at];
      if (!name) return openLine === undefined ? out : this.fail(openLine, '"{" is never closed');
      this.at++;
      if (isClose(name)) return openLine === undefined ? this.fail(name.line, 'unexpected "}"') : out;
      if (isOpen(name)) this.fail(name.line, 'unexpected "{" without a directive before it');
      const directive: Directive = { name: name.text, line: name.line, args: [], block: undefined };
      for (let t = this.tokens[this.at]; t && !t.startsLine && !isClose(t); t = this.tokens[this.at]) {
        this.at++;
        if (isOpen(t)) {
          directive.block = this.directives(t.line);
          break;
        }
        directive.args.push(t);
      }
      out.push(directive);
    }
  }
}

// One plugin instance's settings.
interface PluginSettings {
  line: number;
  zones: string[];
  cluster: CorefileCluster;
  noEndpoints: boolean;
  fallthrough: string[] | undefined;
  ttl?: number;
}

interface ServerSettings {
  plugins: PluginSettings[];
  upstreams: CorefileUpstream[];
  resolvConf: string[];
  dnsListen: string;
  allowTransfer?: string[];
  line: number;
}

// Undefined for a server block that uses neither form of the plugin.
function serverSettings(block: ServerBlock, fail: Fail, warn: Warn): ServerSettings | undefined {
  const plugin = block.body.filter((d) => d.name === 'multicluster');
  const kubernetes = block.body.filter((d) => d.name === 'kubernetes' && d.block?.some((o) => o.name === 'multicluster'));
  if (plugin.length === 0 && kubernetes.length === 0) return undefined;
  for (const used of [plugin, kubernetes]) {
    if (used.length > 1) fail(used[1]!.line, `${used[1]!.name} is used twice in one server block`);
  }
  const keys = block.keys.map((k) => serverKey(k, fail));
  const ports = [...new Set(keys.map((k) => k.port))];
  if (ports.length > 1) fail(block.keys[0]!.line, `the server block listens on several ports (${ports.join(', ')}); mcsdns listens on one`);
  const blockZones = keys.map((k) => k.zone);
  const plugins = [
    ...plugin.map((d) => multiclusterPlugin(d, blockZones, fail)),
    ...kubernetes.map((d) => kubernetesMulticluster(d, fail, warn)),
  ];
  for (const d of block.body) {
    if (d.name === 'import') warn(d.line, `import ${d.args.map((a) => a.text).join(' ')} is not followed: mcsdns reads this file only`);
  }
  return {
    plugins,
    ...forwardUpstreams(block.body, fail, warn),
    dnsListen: listenAddress(block.body, ports[0]!, fail, warn),
    ...transferClients(block.body, plugins.flatMap((p) => p.zones), fail),
    line: block.keys[0]!.line,
  };
}

function serverKey(key: Token, fail: Fail): { zone: string; port: number } {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(key.text);
  if (scheme && scheme[1]!.toLowerCase() !== 'dns') fail(key.line, `server block ${key.text}: only plain DNS (dns://) is supported, not ${scheme[1]}://`);
  const address = scheme ? key.text.slice(scheme[0].length) : key.text;
  const m = /^(.*?)(?::(\d+))?$/.exec(address)!;
  const port = m[2] === undefined ? DNS_PORT : Number(m[2]);
  if (port < 1 || port > 0xffff) fail(key.line, `server block ${key.text}: port ${port} is out of range`);
  return { zone: zoneName(m[1] === '' ? '.' : m[1]!, key.line, fail), port };
}

function zoneName(text: string, line: number, fail: Fail): string {
  if (text === '.') return '.';
  if (text.includes('/')) fail(line, `zone ${text}: reverse zones written as CIDRs are not supported`);
  const zone = text.toLowerCase().replace(/\.$/, '');
  if (!/^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/.test(zone) || zone.length > 253) {
    fail(line, `${JSON.stringify(text)} is not a valid zone name`);
  }
  return zone;
}

const zones = (args: Token[], fail: Fail): string[] => [...new Set(args.map((a) => zoneName(a.text, a.line, fail)))];

function multiclusterPlugin(d: Directive, blockZones: string[], fail: Fail): PluginSettings {
  const settings: PluginSettings = { line: d.line, zones: d.args.length > 0 ? zones(d.args, fail) : [...new Set(blockZones)], cluster: {}, noEndpoints: false, fallthrough: undefined };
  for (const option of d.block ?? []) {
    if (!MULTICLUSTER_OPTIONS.includes(option.name)) {
      fail(option.line, `unknown multicluster directive "${option.name}" (known: ${MULTICLUSTER_OPTIONS.join(', ')})`);
    }
    commonOption(settings, option, 'multicluster', fail);
  }
  return settings;
}

function kubernetesMulticluster(d: Directive, fail: Fail, warn: Warn): PluginSettings {
  const settings: PluginSettings = { line: d.line, zones: [], cluster: {}, noEndpoints: false, fallthrough: undefined };
  const endpoints: Directive[] = [];
  for (const option of d.block ?? []) {
    if (option.name === 'multicluster') {
      if (option.args.length === 0) fail(option.line, 'multicluster in the kubernetes plugin needs its ZONES');
      settings.zones = zones(option.args, fail);
    } else if (option.name === 'ttl') {
      const ttl = Number(option.args[0]?.text);
      if (option.args.length !== 1 || !Number.isInteger(ttl) || ttl < 0 || ttl > MAX_TTL) fail(option.line, `kubernetes ttl takes a whole number of seconds from 0 to ${MAX_TTL}`);
      settings.ttl = ttl;
    } else if (option.name === 'endpoint' || option.name === 'tls') {
      endpoints.push(option);
    } else if (KUBERNETES_UNSUPPORTED_FILTERS.has(option.name)) {
      warn(option.line, `kubernetes ${option.name} is not followed: mcsdns serves every namespace of the multicluster zones`);
    } else if (!KUBERNETES_OWN_OPTIONS.has(option.name)) {
      if (!MULTICLUSTER_OPTIONS.includes(option.name)) fail(option.line, `unknown kubernetes directive "${option.name}"`);
      commonOption(settings, option, 'kubernetes', fail);
    }
  }
  const endpoint = endpoints[0];
  if (endpoint && !settings.cluster.kubeconfig) fail(endpoint.line, `kubernetes ${endpoint.name} is not supported: mcsdns connects through a kubeconfig (or in-cluster)`);
  return settings;
}

function commonOption(settings: PluginSettings, option: Directive, plugin: string, fail: Fail): void {
  if (option.block) fail(option.line, `${plugin} ${option.name} takes no block`);
  const args = option.args.map((a) => a.text);
  if (option.name === 'kubeconfig') {
    if (args.length < 1 || args.length > 2) fail(option.line, `${plugin} kubeconfig takes KUBECONFIG [CONTEXT], got ${args.length} arguments`);
    settings.cluster = { kubeconfig: args[0]!, ...(args[1] !== undefined ? { context: args[1] } : {}) };
  } else if (option.name === 'noendpoints') {
    if (args.length > 0) fail(option.line, `${plugin} noendpoints takes no arguments`);
    settings.noEndpoints = true;
  } else {
    settings.fallthrough = zones(option.args, fail);
  }
}

// `forward . TO...` of the server block: what fallthrough and names outside the zones go to.
function forwardUpstreams(body: Directive[], fail: Fail, warn: Warn): Pick<ServerSettings, 'upstreams' | 'resolvConf'> {
  const upstreams: CorefileUpstream[] = [];
  const resolvConf: string[] = [];
  for (const d of body.filter((b) => b.name === 'forward')) {
    const [from, ...to] = d.args;
    if (!from || to.length === 0) fail(d.line, 'forward takes FROM TO...');
    if (from.text !== '.') {
      warn(d.line, `forward ${from.text} is not followed: mcsdns forwards with \`forward . TO...\` only`);
      continue;
    }
    for (const t of to) {
      const target = upstreamTarget(t, fail);
      if (typeof target === 'string') resolvConf.push(target);
      else upstreams.push(target);
    }
    for (const option of d.block ?? []) warn(option.line, `forward option ${option.name} is not followed`);
  }
  return { upstreams, resolvConf };
}

// IP, IP:PORT, [IPv6]:PORT, dns://…; anything else is a resolv.conf path.
function upstreamTarget(t: Token, fail: Fail): CorefileUpstream | string {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(t.text);
  if (scheme && scheme[1]!.toLowerCase() !== 'dns') fail(t.line, `forward to ${t.text}: only plain DNS upstreams are supported, not ${scheme[1]}://`);
  const address = scheme ? t.text.slice(scheme[0].length) : t.text;
  if (isIP(address) !== 0) return { host: address, port: DNS_PORT };
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  const host = m?.[1] ?? m?.[2];
  if (m && host !== undefined && isIP(host) !== 0) {
    const port = Number(m[3]);
    if (port < 1 || port > 0xffff) fail(t.line, `forward to ${t.text}: port ${port} is out of range`);
    return { host, port };
  }
  if (scheme) fail(t.line, `forward to ${t.text}: not an IP address`);
  return address;
}

function listenAddress(body: Directive[], port: number, fail: Fail, warn: Warn): string {
  const bind = body.find((d) => d.name === 'bind');
  const addresses = bind?.args.filter((a) => isIP(a.text) !== 0) ?? [];
  if (bind && addresses.length === 0) fail(bind.line, 'bind: mcsdns needs an IP address to listen on');
  if (bind && addresses.length < bind.args.length + (bind.block ? 1 : 0)) warn(bind.line, 'bind: mcsdns listens on the first address only');
  const host = addresses[0]?.text ?? '0.0.0.0';
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

// The transfer plugin's `to` addresses, when it covers one of our zones.
function transferClients(body: Directive[], ourZones: string[], fail: Fail): { allowTransfer?: string[] } {
  const transfer = body.find((d) => d.name === 'transfer');
  if (!transfer) return {};
  const covered = transfer.args.length === 0 || transfer.args.some((a) => ourZones.includes(zoneName(a.text, a.line, fail)));
  if (!covered) return {};
  const cidrs: string[] = [];
  for (const option of transfer.block ?? []) {
    if (option.name !== 'to') fail(option.line, `unknown transfer directive "${option.name}"`);
    for (const a of option.args) cidrs.push(...transferCidrs(a, fail));
  }
  return { allowTransfer: [...new Set(cidrs)] };
}

function transferCidrs(t: Token, fail: Fail): string[] {
  if (t.text === '*') return ['0.0.0.0/0', '::/0'];
  const [address, bits] = t.text.split('/');
  const family = isIP(address ?? '');
  const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
  if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) fail(t.line, `transfer to ${t.text}: not an address or CIDR`);
  return [`${address}/${prefix}`];
}

function merge(servers: ServerSettings[], fail: Fail): Omit<CorefileSettings, 'warnings'> {
  const plugins = servers.flatMap((s) => s.plugins);
  const first = plugins[0]!;
  const same = <T>(what: string, value: (p: PluginSettings) => T): T => {
    const other = plugins.find((p) => JSON.stringify(value(p)) !== JSON.stringify(value(first)));
    if (other) fail(other.line, `${what} differs from the plugin's on line ${first.line}; mcsdns has one setting for every cluster`);
    return value(first);
  };
  const listens = [...new Set(servers.map((s) => s.dnsListen))];
  if (listens.length > 1) fail(servers[1]!.line, `server blocks listen on ${listens.join(' and ')}; mcsdns listens on one address`);
  const clusters = [...new Map(plugins.map((p) => [JSON.stringify(p.cluster), p.cluster])).values()];
  const transfers = servers.flatMap((s) => s.allowTransfer ?? []);
  const ttl = same('ttl', (p) => p.ttl);
  return {
    zones: [...new Set(plugins.flatMap((p) => p.zones))],
    clusters,
    noEndpoints: same('noendpoints', (p) => p.noEndpoints),
    fallthrough: same('fallthrough', (p) => p.fallthrough),
    upstreams: [...new Map(servers.flatMap((s) => s.upstreams).map((u) => [`${u.host}:${u.port}`, u])).values()],
    resolvConf: [...new Set(servers.flatMap((s) => s.resolvConf))],
    dnsListen: listens[0],
    ...(ttl !== undefined ? { ttl } : {}),
    ...(servers.some((s) => s.allowTransfer) ? { allowTransfer: [...new Set(transfers)] } : {}),
  };
}
