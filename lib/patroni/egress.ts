// How the nodes reach the AWS APIs and Debian's archive: the security group's egress rules, and apt's proxy.
import { Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { checkAptProxy } from './config/apt-proxy';

/**
 * Debian's archive through an HTTP proxy (or a caching mirror that proxies; apt-cacher-ng passes
 * https:// archives through only with `PassThroughPattern` set).
 */
export interface PackageProxy {
  /** `http://host[:port]`, as apt's `Acquire::http::Proxy` takes it (https:// archives go through it by CONNECT). */
  readonly url: string;
  /** Where the proxy is, for the nodes' egress rule: `ec2.Peer.ipv4('10.0.9.10/32')`, or its security group. */
  readonly peer: ec2.IPeer;
}

/** The VPC endpoints and the package proxy of a node without a route to the internet. */
export interface PrivateEgressOptions {
  /** Secrets Manager's interface endpoint (the passwords at boot), with private DNS on. */
  readonly secretsManager: ec2.IInterfaceVpcEndpoint;
  /** CloudWatch's (`monitoring`) interface endpoint (the node metrics and the failover metric), with private DNS on. */
  readonly cloudWatch: ec2.IInterfaceVpcEndpoint;
  /** CloudFormation's interface endpoint (the node's desired configuration and its signals), with private DNS on. */
  readonly cloudFormation: ec2.IInterfaceVpcEndpoint;
  /**
   * STS's interface endpoint (the credential broker assumes the process role for postgres's
   * metrics and backups), with private DNS on.
   */
  readonly sts: ec2.IInterfaceVpcEndpoint;
  /**
   * S3 through its gateway endpoint: its prefix list, `ec2.Peer.prefixList('pl-...')`. Always
   * needed: a node signals its rollout to CloudFormation's wait condition, a presigned S3 URL; and
   * pgBackRest writes the backups there. A gateway endpoint reaches buckets of its own region only.
   */
  readonly s3: ec2.IPeer;
  /** Debian's archive: the packages at first boot, pgBackRest when backups are turned on later. */
  readonly packageProxy: PackageProxy;
  /**
   * Systems Manager's interface endpoints (`ssm`, `ssmmessages`, `ec2messages`), with private DNS
   * on, for the SSM agent (Session Manager, the runbooks' way onto a node). The agent's package
   * itself comes from S3, through the gateway endpoint (its policy must allow
   * `arn:aws:s3:::amazon-ssm-<region>/*`).
   * @default - none: the agent is installed but cannot reach Systems Manager (no Session Manager)
   */
  readonly systemsManager?: ec2.IInterfaceVpcEndpoint[];
}

/** A node's way out of the VPC. */
export class NodeEgress {
  /**
   * Through the VPC's NAT gateway: HTTPS and HTTP to any address. The simplest, and the only
   * egress that needs nothing else in the VPC; the nodes' security group says 0.0.0.0/0 on 443 and 80.
   */
  public static internet(): NodeEgress {
    return new NodeEgress();
  }

  /**
   * No route to the internet needed: HTTPS to the given VPC endpoints (and S3's prefix list), and
   * the package proxy's port, nothing else. The subnets may be `PRIVATE_ISOLATED`.
   */
  public static private(options: PrivateEgressOptions): NodeEgress {
    for (const key of ['secretsManager', 'cloudWatch', 'cloudFormation', 'sts', 's3', 'packageProxy'] as const) {
      if (!options?.[key]) throw new Error(`NodeEgress.private: ${key} is required (the nodes cannot boot or report without it)`);
    }
    if (Token.isUnresolved(options.packageProxy.url)) {
      throw new Error('NodeEgress.private packageProxy.url must be a literal URL, not a token: it is checked and written into apt\'s configuration at synth');
    }
    checkAptProxy(options.packageProxy.url, 'NodeEgress.private packageProxy.url');
    return new NodeEgress(options);
  }

  private constructor(
    /** The endpoints and proxy of `NodeEgress.private`; undefined for `internet()`. */
    public readonly privateOptions?: PrivateEgressOptions,
  ) {}
}
