import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { Template } from 'aws-cdk-lib/assertions';
import { PatroniCluster } from '../../lib';
import { ClusterSpec, renderBootstrapScript } from '../../lib/patroni/config';
import { run } from '../../lib/util/command';

/** Stand-ins for what CloudFormation resolves at deploy time, chosen from the token's target. */
function fakeValue(part: unknown): string {
  const json = JSON.stringify(part);
  const eni = /Node(\d+)NetworkInterface/.exec(json);
  if (eni && json.includes('PrimaryPrivateIpAddress')) return `10.99.0.1${eni[1]}`;
  if (json.includes('CidrBlock')) return '10.99.0.0/16';
  const volume = /Node(\d+)DataVolume/.exec(json);
  if (volume) return `vol-0000000000000000${volume[1]}`;
  const secret = /Db(\w+?)Secret/.exec(json);
  if (secret) return `arn:aws:secretsmanager:eu-west-1:111111111111:secret:${secret[1].toLowerCase()}-AbCdEf`;
  throw new Error(`no stand-in for ${json}`);
}

/** Replaces every placeholder by its value. */
function substitute(text: string, values: Array<[string, string]>): string {
  return values.reduce((t, [placeholder, value]) => t.split(placeholder).join(value), text);
}

export interface UnpackedUserData {
  /** The user data with deploy-time values filled in, as the instance receives it. */
  readonly userData: string;
  /** The bootstrap script the header unpacks and runs. */
  readonly script: string;
  /** What the renderers produce for the same values directly (when the cluster is given). */
  readonly expected?: string;
}

/** Node `index`'s user data from the template, its tokens resolved to stand-ins, and unpacked. */
export function unpackNodeUserData(template: Template, index: number, cluster?: PatroniCluster): UnpackedUserData {
  const instances = template.findResources('AWS::EC2::Instance');
  const [, instance] = Object.entries(instances).find(([id]) => new RegExp(`Node${index}Instance`).test(id))!;
  const body = instance.Properties.UserData['Fn::Base64'];
  const parts: unknown[] = typeof body === 'string' ? [body] : body['Fn::Join'][1];
  const userData = parts.map((p) => (typeof p === 'string' ? p : fakeValue(p))).join('');

  const heredoc = (name: string) => new RegExp(`<<'${name}'\\n([\\s\\S]*?)\\n${name}\\n`).exec(userData)![1];
  const values = heredoc('CDK_FAILOVER_VALUES')
    .split('\n')
    .map((line) => line.split(' ', 2) as [string, string]);
  const packed = gunzipSync(Buffer.from(heredoc('CDK_FAILOVER_SCRIPT').replace(/\n/g, ''), 'base64')).toString('utf8');
  const script = substitute(packed, values);
  if (!cluster) return { userData, script };

  // The renderers, fed the same values directly instead of placeholders.
  const value = (placeholder: string) => values.find(([p]) => p === placeholder)?.[1] ?? placeholder;
  const spec: ClusterSpec = JSON.parse(substitute(JSON.stringify(cluster.spec), values.filter(([p]) => !p.endsWith('_PASSWORD__'))));
  const expected = renderBootstrapScript(spec, spec.nodes[index].name, {
    region: value('__AWS_REGION__'),
    secretIds: {
      superuser: value('__SUPERUSER_SECRET__'),
      replication: value('__REPLICATION_SECRET__'),
      rewind: value('__REWIND_SECRET__'),
      restApi: value('__REST_API_SECRET__'),
    },
    dataVolume: { device: '/dev/sdf', volumeId: value('__DATA_VOLUME_ID__') },
  });
  return { userData, script, expected };
}

/**
 * Runs the user data's header with bash and python3, as the node would, but in a temporary
 * directory and without its final `exec` of the bootstrap script; returns what it unpacked.
 */
export async function runBootHeader(userData: string): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-failover-boot-'));
  try {
    const header = userData
      .replace('boot=/run/cdk-failover-boot', `boot=${dir}/boot`)
      .replace(/^exec \/bin\/bash "\$boot\/bootstrap.sh"$/m, ': not running the script in a test');
    if (header === userData) throw new Error('the user data header changed shape: update runBootHeader');
    fs.writeFileSync(path.join(dir, 'header.sh'), header);
    await run('bash', [path.join(dir, 'header.sh')]);
    return fs.readFileSync(path.join(dir, 'boot/bootstrap.sh'), 'utf8');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
