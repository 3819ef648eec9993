// Every setting of a command is readable from its flag, from the environment
// (MCSDNS_<FLAG>, repeatable values comma-separated) and from a YAML config
// file (--config), in that order of precedence, through one parser each.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { Command, Option } from 'commander';

// Loaded only for a --config file: it takes a tenth of starting the command line.
const parseYaml = (text: string): unknown => (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(text);

export class UsageError extends Error {}

export interface Setting<T = unknown> {
  flag: string; // kebab-case, without dashes: "dns-listen"
  arg?: string; // placeholder of the value; absent for a switch
  describe: string;
  repeatable?: boolean;
  // With repeatable: the flag alone (or true) is on with no values ([]);
  // absent or false is off (undefined). CoreDNS's "fallthrough [ZONES…]".
  optionalValues?: boolean;
  parse?: (value: string) => T; // throws UsageError with a reason
  default?: T;
  required?: boolean;
  needs?: { flag: string; why: string }; // a switch that means nothing without that setting
}

export type SettingValues = Record<string, unknown>;

export function envName(flag: string): string {
  return `MCSDNS_${flag.toUpperCase().replace(/-/g, '_')}`;
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

// Adds the settings and --config to a command, with help text that names the
// environment variable and default of each.
export function defineSettings(cmd: Command, settings: Setting[]): Command {
  for (const s of settings) {
    const flags = !s.arg ? `--${s.flag}` : s.optionalValues ? `--${s.flag} [${s.arg}...]` : `--${s.flag} <${s.arg}>`;
    let help = s.describe;
    if (s.repeatable) help += ' (repeatable)';
    if (s.default !== undefined && s.default !== false) help += ` (default: ${JSON.stringify(s.default)})`;
    help += ` [env ${envName(s.flag)}]`;
    const opt = new Option(flags, help);
    if (s.arg && s.repeatable && !s.optionalValues) opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    cmd.addOption(opt);
  }
  cmd.addOption(new Option('--config <file>', `YAML file with any of these settings, keyed by flag name [env ${envName('config')}]`));
  return cmd;
}

function fromText(s: Setting, text: string, where: string): unknown {
  try {
    if (!s.arg) {
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      throw new UsageError(`expected true or false, got ${JSON.stringify(text)}`);
    }
    return s.parse ? s.parse(text) : text;
  } catch (err) {
    throw new UsageError(`${where}: ${(err as Error).message}`);
  }
}

function readConfig(path: string, command: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UsageError(`config file ${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new UsageError(`config file ${path} must hold a mapping of settings`);
  // A section named after the command overrides the top level.
  const top = { ...(doc as Record<string, unknown>) };
  const section = top[command];
  delete top[command];
  if (section !== undefined && (typeof section !== 'object' || section === null || Array.isArray(section))) {
    throw new UsageError(`config file ${path}: section ${command} must be a mapping`);
  }
  return { ...top, ...(section as Record<string, unknown> | undefined) };
}

// Resolves each setting from flag, environment or config file, validating
// every value through the setting's own parser.
export function resolveSettings(
  cmd: Command,
  settings: Setting[],
  env: NodeJS.ProcessEnv = process.env,
  commandNames: string[] = [],
  layer: Record<string, unknown> = {}, // values (parsed, keyed by flag) below the config file, above defaults: a Corefile's
): SettingValues {
  const opts = cmd.opts<Record<string, unknown>>();
  const configPath = (opts.config as string | undefined) ?? env[envName('config')];
  const config = configPath ? readConfig(configPath, cmd.name()) : {};
  const known = new Set(settings.map((s) => s.flag));
  for (const key of Object.keys(config)) {
    const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    if (!known.has(flag) && !commandNames.includes(key)) {
      throw new UsageError(`config file ${configPath}: unknown setting ${JSON.stringify(key)} for mcsdns ${cmd.name()}`);
    }
    if (flag !== key) config[flag] = config[key];
  }

  const out: SettingValues = {};
  for (const s of settings) {
    const key = camel(s.flag);
    // commander stores a --no-X switch as X = false.
    const cli = !s.arg && s.flag.startsWith('no-') ? (opts[camel(s.flag.slice(3))] === false ? true : undefined) : opts[key];
    let value: unknown;
    const onOff = s.optionalValues ? onOffValues(s, cli, env[envName(s.flag)], config[s.flag], configPath) ?? (s.flag in layer ? { value: layer[s.flag] as unknown[] | undefined } : undefined) : undefined;
    if (onOff !== undefined) {
      value = onOff.value;
    } else if (cli !== undefined) {
      value = s.repeatable ? (cli as string[]).map((v) => fromText(s, v, `--${s.flag}`)) : fromText(s, cli === true ? 'true' : (cli as string), `--${s.flag}`);
    } else if (env[envName(s.flag)] !== undefined && env[envName(s.flag)] !== '') {
      const text = env[envName(s.flag)]!;
      const where = envName(s.flag);
      value = s.repeatable ? text.split(',').map((v) => fromText(s, v.trim(), where)) : fromText(s, text, where);
    } else if (config[s.flag] !== undefined) {
      const raw = config[s.flag];
      const where = `config file ${configPath}: ${s.flag}`;
      const list = Array.isArray(raw) ? raw : [raw];
      if (!s.repeatable && Array.isArray(raw)) throw new UsageError(`${where}: expected one value, got a list`);
      const parsed = list.map((v) => {
        if (typeof v === 'object' && v !== null) throw new UsageError(`${where}: expected a value, got a mapping`);
        return fromText(s, String(v), where);
      });
      value = s.repeatable ? parsed : parsed[0];
    } else if (layer[s.flag] !== undefined) {
      value = layer[s.flag];
    } else {
      value = s.default;
    }
    if (s.required && (value === undefined || (Array.isArray(value) && value.length === 0))) {
      throw new UsageError(`--${s.flag} is required (or ${envName(s.flag)}, or "${s.flag}" in --config)`);
    }
    out[key] = value;
  }
  for (const s of settings) {
    if (s.needs && out[camel(s.flag)] === true && isEmpty(out[camel(s.needs.flag)])) throw new UsageError(`--${s.flag} needs --${s.needs.flag}: ${s.needs.why}`);
  }
  return out;
}

const isEmpty = (value: unknown): boolean => value === undefined || (Array.isArray(value) && value.length === 0);

// For optionalValues settings: { value } from the first source that sets it.
function onOffValues(s: Setting, cli: unknown, envText: string | undefined, config: unknown, configPath: string | undefined): { value: unknown[] | undefined } | undefined {
  const list = (values: string[], where: string) => values.map((v) => fromText(s, v.trim(), where));
  if (cli !== undefined) return { value: cli === true ? [] : list(cli as string[], `--${s.flag}`) };
  if (envText !== undefined && envText !== '') {
    if (/^(1|true|yes|on)$/i.test(envText)) return { value: [] };
    if (/^(0|false|no|off)$/i.test(envText)) return { value: undefined };
    return { value: list(envText.split(','), envName(s.flag)) };
  }
  if (config !== undefined) {
    const where = `config file ${configPath}: ${s.flag}`;
    if (config === true) return { value: [] };
    if (config === false || config === null) return { value: undefined };
    if (Array.isArray(config)) return { value: list(config.map(String), where) };
    if (typeof config === 'string') return { value: list([config], where) };
    throw new UsageError(`${where}: expected true, false or a list`);
  }
  return undefined;
}

// Shared value parsers.

export function parseInteger(min: number, max: number): (v: string) => number {
  return (v) => {
    if (!/^-?\d+$/.test(v.trim())) throw new UsageError(`expected a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
    const n = Number(v);
    if (n < min || n > max) throw new UsageError(`expected a whole number from ${min} to ${max}, got ${n}`);
    return n;
  };
}

export interface ListenAddress {
  host: string;
  port: number;
}

// HOST:PORT, [IPv6]:PORT, or :PORT (all IPv4 addresses).
export function parseListenAddress(v: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(v.trim());
  if (!m) throw new UsageError(`expected HOST:PORT or [IPv6]:PORT, got ${JSON.stringify(v)}`);
  const port = Number(m[3]);
  if (port > 65535) throw new UsageError(`port ${port} is out of range`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

// A DNS zone: normalised to lower case without the trailing dot.
export function parseZone(v: string): string {
  const z = v.trim().toLowerCase().replace(/\.$/, '');
  const labels = z.split('.');
  if (z === '' || z.length > 253 || labels.some((l) => !/^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/.test(l))) {
    throw new UsageError(`${JSON.stringify(v)} is not a valid zone name`);
  }
  return z;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

// A duration such as 500ms, 30s, 15m, 2h, 30d; a bare number is seconds.
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m) throw new UsageError(`expected a duration such as 30s, 15m, 2h or 30d, got ${JSON.stringify(v)}`);
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 's']!);
}

// HOST[:PORT] of a DNS server; the port defaults to 53.
export function parseDnsServer(v: string): ListenAddress {
  const t = v.trim();
  if (isIP(t)) return { host: t, port: 53 };
  const m = /^\[([0-9a-fA-F:.]+)\]$/.exec(t);
  if (m && isIP(m[1]!)) return { host: m[1]!, port: 53 };
  const a = parseListenAddress(t);
  if (!isIP(a.host)) throw new UsageError(`${JSON.stringify(v)}: the upstream must be an IP address`);
  if (a.port === 0) throw new UsageError(`${JSON.stringify(v)}: port 0 is not a DNS server's port`);
  return a;
}

// An IPv4 or IPv6 network in CIDR notation; a bare address is a /32 or /128.
export function parseCidr(v: string): string {
  const [addr = '', bits, ...rest] = v.trim().split('/');
  const family = isIP(addr);
  const max = family === 4 ? 32 : 128;
  const n = bits === undefined ? max : Number(bits);
  if (family === 0 || rest.length > 0 || !Number.isInteger(n) || n < 0 || n > max || (bits !== undefined && !/^\d+$/.test(bits))) {
    throw new UsageError(`${JSON.stringify(v)} is not a network such as 10.0.0.0/8 or fd00::/8`);
  }
  return `${addr}/${n}`;
}
