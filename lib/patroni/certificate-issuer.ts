// A cluster's TLS certificates, issued at deploy time: a custom resource whose Lambda runs lib/tls
// (node:crypto only) and writes into three secrets, so that no private key is ever in a template,
// user data or log. The CA keys are in a secret only the Lambda reads; the nodes read theirs.
import { CustomResource, Duration, RemovalPolicy, SecretValue, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { CERTIFICATE_PROFILE, isValidityDays, MAX_VALIDITY_DAYS } from '../tls/cluster-certificates';
import { CERTIFICATE_HANDLER, certificateHandlerDirectory } from '../tls/handler-asset';
import { UNISSUED } from '../tls/secret-format';

export interface CertificateIssuerProps {
  readonly clusterName: string;
  /** The nodes by name, with their (deploy-time) addresses. */
  readonly nodes: readonly { readonly name: string; readonly address: string }[];
  /**
   * DNS names (or addresses) clients dial the database at besides the nodes', such as the load balancer's.
   * @default - none
   */
  readonly endpointNames?: readonly string[];
  /**
   * How long node, database and operator certificates are valid; the CAs live twice as long.
   * @default Duration.days(365)
   */
  readonly validity?: Duration;
  /**
   * Change it (any new value) to renew the CAs (same keys) and issue new certificates.
   * @default '0'
   */
  readonly rotation?: string;
  /**
   * What happens to the three secrets when they leave the stack. The CA must outlive a restored
   * volume's nodes only if those nodes are to trust it again; the default keeps it.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Certificates' validity unless given. */
export const DEFAULT_CERTIFICATE_VALIDITY = Duration.days(365);

/** The issuer's validity in days and rotation, defaults filled in; throws on a value it would refuse. */
export function issuerSettings(props: { readonly validity?: Duration; readonly rotation?: string }): { days: number; rotation: string } {
  const days = (props.validity ?? DEFAULT_CERTIFICATE_VALIDITY).toDays({ integral: false });
  if (!isValidityDays(days)) {
    throw new Error(`validity must be a whole number of days from 1 to ${MAX_VALIDITY_DAYS}, got ${days} days`);
  }
  const rotation = props.rotation ?? '0';
  if (!Token.isUnresolved(rotation) && !/^[A-Za-z0-9._:-]{1,64}$/.test(rotation)) {
    throw new Error(`rotation must be 1 to 64 of A-Z, a-z, 0-9, '.', '_', ':' and '-', got '${rotation}'`);
  }
  return { days, rotation };
}

export class CertificateIssuer extends Construct {
  /** Both CAs' certificates and keys: only the issuer's function reads it. */
  public readonly caSecret: secretsmanager.ISecret;
  /** The CAs' certificates, every node's certificate and key, and the database's: the nodes read it. */
  public readonly nodeSecret: secretsmanager.ISecret;
  /** A client certificate and key for operators (the CLI, etcdctl, curl), and both CAs. */
  public readonly operatorSecret: secretsmanager.ISecret;
  /** The node secret's version after the last issue: it changes exactly when the nodes' files do. */
  public readonly nodeSecretVersion: string;

  constructor(scope: Construct, id: string, props: CertificateIssuerProps) {
    super(scope, id);
    const { days, rotation } = issuerSettings(props);
    if (props.nodes.length === 0) throw new Error('nodes must name at least one node');

    const secret = (secretId: string, what: string) => {
      const s = new secretsmanager.Secret(this, secretId, {
        description: `${props.clusterName}: ${what} (issued by cdk-failover at deploy time)`,
        // A marker, not a secret: the function replaces it with the certificates on the first deploy.
        secretStringValue: SecretValue.unsafePlainText(UNISSUED),
        removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      });
      Validations.of(s).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason: "Certificates are rotated by the issuer (the construct's rotation prop), not by a Secrets Manager rotation function.",
      });
      return s;
    };
    const caSecret = secret('CaSecret', 'cluster and database CA keys');
    const nodeSecret = secret('NodeSecret', 'node and database certificates and keys');
    const operatorSecret = secret('OperatorSecret', 'operator client certificate and key');
    this.caSecret = caSecret;
    this.nodeSecret = nodeSecret;
    this.operatorSecret = operatorSecret;

    const onEvent = new lambda.Function(this, 'Function', {
      description: `Issues the TLS certificates of cluster ${props.clusterName} into Secrets Manager`,
      runtime: lambda.Runtime.NODEJS_24_X,
      code: lambda.Code.fromAsset(certificateHandlerDirectory()),
      handler: CERTIFICATE_HANDLER,
      timeout: Duration.minutes(2),
      memorySize: 256,
      logGroup: new logs.LogGroup(this, 'FunctionLogs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.DESTROY }),
    });
    caSecret.grantRead(onEvent);
    for (const s of [caSecret, nodeSecret, operatorSecret]) {
      onEvent.addToRolePolicy(new iam.PolicyStatement({ actions: ['secretsmanager:PutSecretValue'], resources: [s.secretArn] }));
    }
    const provider = new cr.Provider(this, 'Provider', { onEventHandler: onEvent });
    const resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::CdkFailoverCertificates',
      properties: {
        ClusterName: props.clusterName,
        Nodes: props.nodes.map((n) => ({ Name: n.name, Address: n.address })),
        EndpointNames: [...(props.endpointNames ?? [])],
        Days: String(days),
        Rotation: rotation,
        // What a certificate holds, as this version issues it: a library upgrade that changes it
        // reissues once, as a rotation does (the CAs renewed with their keys).
        Profile: CERTIFICATE_PROFILE,
        CaSecretArn: caSecret.secretArn,
        NodeSecretArn: nodeSecret.secretArn,
        OperatorSecretArn: operatorSecret.secretArn,
      },
    });
    this.nodeSecretVersion = resource.getAttString('NodeSecretVersion');
    for (const scopeWithLambda of [onEvent, provider]) {
      Validations.of(scopeWithLambda).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: "AWS's minimal managed policy for a function's own logs.",
      });
    }
    const fnLogicalId = Stack.of(this).getLogicalId(onEvent.node.defaultChild as lambda.CfnFunction);
    Validations.of(provider).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${fnLogicalId}.Arn>:*]`,
      reason: "aws-cdk-lib's Provider framework invokes this one function's versions and aliases (its ARN with ':*'), nothing else.",
    });
  }

  /** Lets the nodes' role read the node secret (and nothing of the CA's). */
  public grantNodeRead(grantee: iam.IGrantable): iam.Grant {
    return this.nodeSecret.grantRead(grantee);
  }
}
