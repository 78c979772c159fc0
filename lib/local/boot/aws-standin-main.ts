// The AWS stand-in as a process: `node aws-standin-main.js CONFIG.json`. It runs until SIGTERM or
// SIGINT, then closes its listeners and exits 0; a bad config or a listener that cannot start is
// one line on stderr and exit 1 (the cluster code that starts it shows that line to its user).
import * as fs from 'node:fs';
import { LocalClusterError } from '../errors';
import { errorLine, startAwsStandIn, type AwsStandInConfig, type StandInInstance } from './aws-standin';

export interface MainIo {
  /** One line, without its newline. @default process.stdout */
  readonly stdout?: (line: string) => void;
  /** @default process.stderr */
  readonly stderr?: (line: string) => void;
  /** Where SIGTERM and SIGINT arrive. @default process */
  readonly signals?: NodeJS.EventEmitter;
}

type Json = Record<string, unknown>;

/** The config file's JSON, checked field by field so a wrong one is named in one line. */
export function parseAwsStandInConfig(value: unknown): AwsStandInConfig {
  const top = object(value, 'the config');
  const imds = object(top.imds, 'imds');
  const api = object(top.api, 'api');
  const requestLogFile = optionalString(top.requestLogFile, 'requestLogFile');
  const ssmAgentDir = optionalString(top.ssmAgentDir, 'ssmAgentDir');
  const processRoleArn = optionalString(top.processRoleArn, 'processRoleArn');
  const rootVolumeTasksFile = optionalString(top.rootVolumeTasksFile, 'rootVolumeTasksFile');
  const certFile = optionalString(api.certFile, 'api.certFile');
  const keyFile = optionalString(api.keyFile, 'api.keyFile');
  return {
    region: string(top.region, 'region'),
    accountId: string(top.accountId, 'accountId'),
    roleName: string(top.roleName, 'roleName'),
    imds: { host: string(imds.host, 'imds.host'), port: port(imds.port, 'imds.port') },
    api: { host: string(api.host, 'api.host'), port: port(api.port, 'api.port'), ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}) },
    instances: list(top.instances, 'instances').map(instance),
    secrets: secrets(top.secrets),
    ...(top.secretVersions === undefined ? {} : { secretVersions: secrets(top.secretVersions, 'secretVersions') }),
    metricsFile: string(top.metricsFile, 'metricsFile'),
    cloudFormationFile: string(top.cloudFormationFile, 'cloudFormationFile'),
    signalsFile: string(top.signalsFile, 'signalsFile'),
    ...(requestLogFile ? { requestLogFile } : {}),
    ...(ssmAgentDir ? { ssmAgentDir } : {}),
    ...(processRoleArn ? { processRoleArn } : {}),
    ...(rootVolumeTasksFile ? { rootVolumeTasksFile } : {}),
  };
}

function object(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new LocalClusterError(`${what} must be a JSON object`);
  return value as Json;
}

function string(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new LocalClusterError(`${what} must be a non-empty string`);
  return value;
}

function optionalString(value: unknown, what: string): string | undefined {
  return value === undefined ? undefined : string(value, what);
}

function port(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) throw new LocalClusterError(`${what} must be a port number (0..65535)`);
  return value;
}

function list(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new LocalClusterError(`${what} must be a JSON array`);
  return value;
}

function instance(value: unknown, i: number): StandInInstance {
  const o = object(value, `instances[${i}]`);
  const imageId = optionalString(o.imageId, `instances[${i}].imageId`);
  return {
    address: string(o.address, `instances[${i}].address`),
    instanceId: string(o.instanceId, `instances[${i}].instanceId`),
    availabilityZone: string(o.availabilityZone, `instances[${i}].availabilityZone`),
    ...(imageId ? { imageId } : {}),
  };
}

function secrets(value: unknown, what = 'secrets'): Record<string, string> {
  const o = object(value, what);
  for (const [arn, secret] of Object.entries(o)) {
    if (typeof secret !== 'string') throw new LocalClusterError(`${what}[${JSON.stringify(arn)}] must be a string`); // the value itself is never shown
  }
  return o as Record<string, string>;
}

function readConfig(file: string): AwsStandInConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new LocalClusterError(`cannot read the config file: ${errorLine(err)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new LocalClusterError(`${file} is not JSON: ${errorLine(err)}`);
  }
  try {
    return parseAwsStandInConfig(value);
  } catch (err) {
    throw new LocalClusterError(`${file}: ${errorLine(err)}`);
  }
}

/** Settles on the first SIGTERM or SIGINT; the handlers are gone afterwards. */
function signalled(signals: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const on = () => {
      signals.off('SIGTERM', on);
      signals.off('SIGINT', on);
      resolve();
    };
    signals.on('SIGTERM', on);
    signals.on('SIGINT', on);
  });
}

/** Runs the stand-in until SIGTERM or SIGINT; returns the exit code. */
export async function main(argv: readonly string[], io: MainIo = {}): Promise<number> {
  const stdout = io.stdout ?? ((line: string) => process.stdout.write(`${line}\n`));
  const stderr = io.stderr ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (argv.length !== 1) {
    stderr('usage: node aws-standin-main.js CONFIG.json');
    return 1;
  }
  try {
    const config = readConfig(argv[0]);
    const running = await startAwsStandIn(config);
    // Listening for signals before saying so: a signal right after the line must not kill us uncleanly.
    const stopped = signalled(io.signals ?? process);
    stdout(`aws stand-in listening: imds ${config.imds.host}:${running.imdsPort}, api ${config.api.host}:${running.apiPort}`);
    await stopped;
    await running.close();
    return 0;
  } catch (err) {
    stderr(`aws stand-in: ${errorLine(err)}`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
