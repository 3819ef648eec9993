// The NATS settings shared by every command that talks to NATS.
import type { NatsOptions } from '../../shared/nats.js';
import { UsageError, type Setting, type SettingValues } from './settings.js';

function parseNatsUrls(v: string): string[] {
  const urls = v.split(',').map((u) => u.trim()).filter((u) => u !== '');
  for (const u of urls) {
    if (!/^(nats|tls):\/\/[^\s/]+$|^[^\s/:]+:\d+$/.test(u)) throw new UsageError(`${JSON.stringify(u)} is not a NATS URL (nats://host:port)`);
  }
  if (urls.length === 0) throw new UsageError('no NATS URL given');
  return urls;
}

function parsePrefix(v: string): string {
  if (!/^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/.test(v)) throw new UsageError(`prefix ${JSON.stringify(v)} must be a lower-case label (it becomes a subject token and stream names)`);
  return v;
}

export function natsSettings(required: boolean): Setting[] {
  return [
    { flag: 'nats', arg: 'url[,url…]', describe: 'NATS server(s) with JetStream', parse: parseNatsUrls, ...(required ? { required: true } : {}) },
    { flag: 'nats-prefix', arg: 'prefix', describe: 'prefix of subjects, streams and buckets', parse: parsePrefix, default: 'mcsdns' },
    { flag: 'nats-user', arg: 'user', describe: 'NATS user name' },
    { flag: 'nats-password', arg: 'password', describe: 'NATS password (prefer the environment variable)' },
    { flag: 'nats-token', arg: 'token', describe: 'NATS token (prefer the environment variable)' },
    { flag: 'nats-creds', arg: 'file', describe: 'NATS credentials file (JWT and NKey seed)' },
    { flag: 'nats-nkey', arg: 'file', describe: 'file holding a NATS NKey user seed' },
    { flag: 'nats-tls-ca', arg: 'file', describe: 'CA certificate to verify the NATS server' },
    { flag: 'nats-tls-cert', arg: 'file', describe: 'client certificate for NATS (with --nats-tls-key)' },
    { flag: 'nats-tls-key', arg: 'file', describe: 'client key for NATS' },
  ];
}

export function natsOptions(v: SettingValues, name: string): NatsOptions {
  const o: NatsOptions = { servers: v.nats as string[], name };
  if (v.natsUser !== undefined) o.user = v.natsUser as string;
  if (v.natsPassword !== undefined) o.password = v.natsPassword as string;
  if (v.natsToken !== undefined) o.token = v.natsToken as string;
  if (v.natsCreds !== undefined) o.credsFile = v.natsCreds as string;
  if (v.natsNkey !== undefined) o.nkeySeedFile = v.natsNkey as string;
  if (v.natsTlsCa !== undefined || v.natsTlsCert !== undefined || v.natsTlsKey !== undefined) {
    if ((v.natsTlsCert === undefined) !== (v.natsTlsKey === undefined)) throw new UsageError('--nats-tls-cert and --nats-tls-key go together');
    o.tls = {
      ...(v.natsTlsCa !== undefined ? { caFile: v.natsTlsCa as string } : {}),
      ...(v.natsTlsCert !== undefined ? { certFile: v.natsTlsCert as string, keyFile: v.natsTlsKey as string } : {}),
    };
  }
  return o;
}
