import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { Template } from 'aws-cdk-lib/assertions';
import { PatroniCluster } from '../../lib';
import { ClusterSpec, NodeBundle, renderNodeBundle } from '../../lib/patroni/config';
import { NODE_METADATA_KEY } from '../../lib/patroni/user-data';
import { run } from '../../lib/util/command';

/** Stand-ins for what CloudFormation resolves at deploy time, chosen from the token's target. */
function fakeValue(part: unknown): string {
  const json = JSON.stringify(part);
  if (json.includes('NodeSecretVersion')) return 'c0ffee00-0000-4000-8000-000000000001';
  const eni = /Node(\d+)NetworkInterface/.exec(json);
  if (eni && json.includes('PrimaryPrivateIpAddress')) return `10.99.0.1${eni[1]}`;
  if (json.includes('CidrBlock')) return '10.99.0.0/16';
  const volume = /Node(\d+)DataVolume/.exec(json);
  if (volume) return `vol-0000000000000000${volume[1]}`;
  const secret = /Db(\w+?)Secret/.exec(json);
  if (secret) return `arn:aws:secretsmanager:eu-west-1:111111111111:secret:${secret[1].toLowerCase()}-AbCdEf`;
  if (/"Fn::GetAtt":\["\w*ProcessRole\w*","Arn"\]/.test(json)) return 'arn:aws:iam::111111111111:role/TestStack-DbProcessRole';
  if (json === '{"Ref":"AWS::StackName"}') return 'TestStack';
  if (json === '{"Ref":"AWS::Region"}') return 'eu-west-1';
  if (json === '{"Ref":"AWS::URLSuffix"}') return 'amazonaws.com';
  if (/"Ref":"\w*BackupBucket\w*"/.test(json)) return 'test-backup-bucket';
  if (/"Ref":"SsmParameterValue\w*"/.test(json)) return 'ami-0123456789abcdef0';
  const handle = /"Ref":"(\w*ConfigurationHandle\w+)"/.exec(json);
  if (handle) return `https://cloudformation-waitcondition-eu-west-1.s3.amazonaws.com/${handle[1]}`;
  throw new Error(`no stand-in for ${json}`);
}

/** A template value with every intrinsic replaced by its stand-in. */
function resolveFakes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(resolveFakes);
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1 && entries[0][0] === 'Fn::Join') {
      const [separator, parts] = entries[0][1] as [string, unknown[]];
      return parts.map((p) => (typeof p === 'string' ? p : fakeValue(p))).join(separator);
    }
    if (entries.length === 1 && /^(Ref|Fn::GetAtt)$/.test(entries[0][0])) return fakeValue(value);
    return Object.fromEntries(entries.map(([k, v]) => [k, resolveFakes(v)]));
  }
  return value;
}

/** Replaces every placeholder by its value. */
function substitute(text: string, values: Record<string, string>): string {
  return Object.entries(values).reduce((t, [placeholder, value]) => t.split(placeholder).join(value), text);
}

export interface NodeConfigurationDocument {
  readonly generation: string;
  /** The image the node should run (its agent replaces its root volume from another). */
  readonly image: string;
  readonly waitHandle: string;
  readonly values: Record<string, string>;
  readonly bundle: string;
}

export interface UnpackedNode {
  readonly logicalId: string;
  /** The user data with deploy-time values filled in, as the instance receives it. */
  readonly userData: string;
  /** The instance's metadata document, deploy-time values filled in. */
  readonly document: NodeConfigurationDocument;
  /** The bundle as the agent reads it (placeholders still in). */
  readonly bundle: NodeBundle;
  /** The bootstrap and every file, values substituted as the agent does, one after the other. */
  readonly text: string;
  /** What the renderers produce for the same values directly (when the cluster is given). */
  readonly expected?: string;
}

function bundleText(bundle: NodeBundle, values: Record<string, string>): string {
  return [bundle.bootstrap, ...bundle.files.map((f) => `=== ${f.path} ${f.mode} ${f.owner}:${f.group}\n${f.content}`), `=== tls\n${JSON.stringify(bundle.tls ?? null)}`]
    .map((t) => substitute(t, values))
    .join('\n');
}

/** Node `index`'s user data and configuration from the template, tokens resolved to stand-ins. */
export function unpackNode(template: Template, index: number, cluster?: PatroniCluster): UnpackedNode {
  const instances = template.findResources('AWS::EC2::Instance');
  const [logicalId, instance] = Object.entries(instances).find(([id]) => new RegExp(`Node${index}Instance`).test(id))!;
  const userData = resolveFakes(instance.Properties.UserData['Fn::Base64']) as string;
  const document = resolveFakes(instance.Metadata[NODE_METADATA_KEY]) as NodeConfigurationDocument;
  const bundle = JSON.parse(gunzipSync(Buffer.from(document.bundle, 'base64')).toString('utf8')) as NodeBundle;
  const text = bundleText(bundle, document.values);
  if (!cluster) return { logicalId, userData, document, bundle, text };

  // The renderers, fed the same values directly instead of placeholders.
  const value = (placeholder: string) => document.values[placeholder] ?? placeholder;
  const deployValues = Object.fromEntries(Object.entries(document.values).filter(([p]) => !p.endsWith('_PASSWORD__')));
  const spec: ClusterSpec = JSON.parse(substitute(JSON.stringify(cluster.spec), deployValues));
  const direct = renderNodeBundle(spec, spec.nodes[index].name, {
    secretIds: {
      superuser: value('__SUPERUSER_SECRET__'),
      replication: value('__REPLICATION_SECRET__'),
      rewind: value('__REWIND_SECRET__'),
      restApi: value('__REST_API_SECRET__'),
    },
    dataVolume: { device: '/dev/sdf', volumeId: value('__DATA_VOLUME_ID__') },
    readySeconds: bundle.readySeconds,
    applySeconds: bundle.applySeconds,
    ...(spec.tls ? { tlsSecret: { secretId: value('__TLS_SECRET__'), versionId: value('__TLS_SECRET_VERSION__') } } : {}),
  });
  return { logicalId, userData, document, bundle, text, expected: bundleText(direct, {}) };
}

/**
 * Runs the user data with bash and python3 as the node would, but in a temporary directory, with
 * an `aws` on PATH that answers describe-stack-resource with `metadata` (and fails anything else),
 * a `curl` that reaches nothing, and without its final
 * `exec` of the agent; returns the agent it installed and the identity it recorded.
 */
export async function runUserData(userData: string, metadata: unknown): Promise<{ agent: string; identity: unknown }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-failover-boot-'));
  try {
    const agentPath = path.join(dir, 'agent');
    const script = userData
      .replace('readonly state=/var/lib/cdk-failover', `readonly state=${dir}/state`)
      .replace("readonly agent='/usr/local/sbin/cdk-failover-agent'", `readonly agent='${agentPath}'`)
      .replace(/^exec \/usr\/bin\/python3 -I "\$agent" boot$/m, ': not running the agent in a test');
    if (!script.includes(': not running the agent') || !script.includes(agentPath)) throw new Error('the user data changed shape: update runUserData');
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.writeFileSync(path.join(dir, 'metadata.json'), JSON.stringify(metadata));
    fs.writeFileSync(path.join(dir, 'bin/aws'), `#!/bin/sh\ncase "$*" in *describe-stack-resource*) cat ${dir}/metadata.json ;; *) exit 9 ;; esac\n`, { mode: 0o755 });
    // Never the real metadata service from this machine: curl fails as without one.
    fs.writeFileSync(path.join(dir, 'bin/curl'), '#!/bin/sh\nexit 7\n', { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'user-data.sh'), script);
    await run('bash', [path.join(dir, 'user-data.sh')], { env: { ...process.env, PATH: `${dir}/bin:${process.env.PATH}` } });
    return { agent: fs.readFileSync(agentPath, 'utf8'), identity: JSON.parse(fs.readFileSync(path.join(dir, 'state/identity.json'), 'utf8')) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
