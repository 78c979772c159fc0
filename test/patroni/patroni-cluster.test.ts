import { App, Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import { NODE_METADATA_KEY } from '../../lib/patroni/user-data';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { UNISSUED } from '../../lib/tls/secret-format';
import { ClusterTls, NodeGauge, PatroniCluster, PatroniTiming, SynchronousMode, TimingProfile, WatchdogMode } from '../../lib';
import { takeConsoleOutput } from '../setup/quiet-console';
import { testApp } from '../app';
import { renderStackRunbook } from '../../lib';
import { setupCluster as setup } from './cluster-fixture';
import { unpackNode } from './user-data-helpers';
import * as haproxyModule from '../../lib/patroni/config/haproxy';
import { CREDENTIAL_BROKER_PROGRAM } from '../../lib/patroni/config/credential-broker';

describe('PatroniCluster nodes', () => {
  const { template, cluster } = setup();

  test('three Debian 12 instances from the public SSM parameter, with IMDSv2, termination protection and detailed monitoring', () => {
    template.resourceCountIs('AWS::EC2::Instance', 3);
    template.allResourcesProperties('AWS::EC2::Instance', {
      InstanceType: 'm7i.large',
      DisableApiTermination: true,
      Monitoring: true,
      // The image the instance was launched with, kept by the change guard (a new one replaces the root volume).
      ImageId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DbChangeGuard'), 'LaunchImageId'] },
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: Match.objectLike({ Encrypted: true, VolumeType: 'gp3' }) }],
      SubnetId: Match.absent(),
      SecurityGroupIds: Match.absent(),
      NetworkInterfaces: [{ DeviceIndex: '0', NetworkInterfaceId: { Ref: Match.stringLikeRegexp('NetworkInterface') } }],
    });
    template.allResourcesProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: { MetadataOptions: { HttpTokens: 'required' } },
    });
    const parameters = template.toJSON().Parameters;
    expect(Object.values(parameters).map((p) => (p as { Default: string }).Default)).toContain('/aws/service/debian/release/12/latest/amd64');
  });

  test('an arm64 instance type takes the arm64 image', () => {
    const { template: t } = setup({ instanceType: new ec2.InstanceType('m7g.large') });
    const defaults = Object.values(t.toJSON().Parameters).map((p) => (p as { Default: string }).Default);
    expect(defaults).toContain('/aws/service/debian/release/12/latest/arm64');
  });

  test('each node keeps a pre-created network interface and an encrypted gp3 data volume that is snapshotted on delete', () => {
    template.resourceCountIs('AWS::EC2::NetworkInterface', 3);
    template.allResourcesProperties('AWS::EC2::NetworkInterface', {
      GroupSet: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('DbNodeSecurityGroup'), 'GroupId'] }],
    });
    template.resourceCountIs('AWS::EC2::Volume', 3);
    template.allResources('AWS::EC2::Volume', {
      Properties: Match.objectLike({ Encrypted: true, VolumeType: 'gp3', Size: 100 }),
      DeletionPolicy: 'Snapshot',
    });
    template.resourceCountIs('AWS::EC2::VolumeAttachment', 3);
    template.allResourcesProperties('AWS::EC2::VolumeAttachment', { Device: '/dev/sdf' });
  });

  test('nodes are spread over three availability zones', () => {
    const enis = template.findResources('AWS::EC2::NetworkInterface');
    const subnets = new Set(Object.values(enis).map((r) => JSON.stringify(r.Properties.SubnetId)));
    expect(subnets.size).toBe(3);
    const instances = template.findResources('AWS::EC2::Instance');
    expect(new Set(Object.values(instances).map((r) => r.Properties.AvailabilityZone))).toEqual(
      new Set(['eu-west-1a', 'eu-west-1b', 'eu-west-1c']),
    );
  });

  test('an auto-recovery alarm per node recovers on a failed system status check', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
    template.allResourcesProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/EC2',
      MetricName: 'StatusCheckFailed_System',
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: ['arn:aws:automate:eu-west-1:ec2:recover'],
      Dimensions: [{ Name: 'InstanceId', Value: { Ref: Match.stringLikeRegexp('Instance') } }],
    });
  });

  test('exposes the nodes in order', () => {
    expect(cluster.nodes).toHaveLength(3);
    expect(cluster.nodes.map((n) => n.node.id)).toEqual(['Node0', 'Node1', 'Node2']);
    expect(cluster.spec.nodes.map((n) => n.name)).toEqual(['orders-0', 'orders-1', 'orders-2']);
  });

  test('five nodes when asked', () => {
    setup({ nodes: 5 }).template.resourceCountIs('AWS::EC2::Instance', 5);
  });
});

describe('PatroniCluster network', () => {
  test('node ports are open only between nodes, HAProxy only from the load balancer, and nothing from 0.0.0.0/0', () => {
    const { template } = setup();
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    const groupsInline = Object.values(template.findResources('AWS::EC2::SecurityGroup')).flatMap(
      (r) => (r.Properties.SecurityGroupIngress ?? []) as Array<Record<string, unknown>>,
    );
    expect([...ingress, ...groupsInline].filter((r) => 'CidrIp' in r || 'CidrIpv6' in r)).toEqual([]);
    const nodePorts = ingress
      .filter((r) => JSON.stringify(r.SourceSecurityGroupId).includes('DbNodeSecurityGroup'))
      .map((r) => r.FromPort)
      .sort();
    expect(nodePorts).toEqual([2379, 2380, 5000, 5432, 8008]);
    const fromLb = ingress
      .filter((r) => JSON.stringify(r.SourceSecurityGroupId).includes('DbLoadBalancerSecurityGroup'))
      .map((r) => r.FromPort)
      .sort();
    expect(fromLb).toEqual([5000, 5001, 8404]);
  });

  test("with backups and TLS, pgBackRest's TLS server port is open between nodes too; without TLS (backups on the leader) it is not", () => {
    const nodePorts = (template: ReturnType<typeof setup>['template']) =>
      Object.values(template.findResources('AWS::EC2::SecurityGroupIngress'))
        .map((r) => r.Properties)
        .filter((r) => JSON.stringify(r.SourceSecurityGroupId).includes('DbNodeSecurityGroup'))
        .map((r) => r.FromPort)
        .sort();
    expect(nodePorts(setup({ backup: {} }).template)).toEqual([2379, 2380, 5000, 5432, 8008, 8432]);
    expect(nodePorts(setup({ backup: {}, tls: ClusterTls.OFF }).template)).toEqual([2379, 2380, 5000, 5432, 8008]);
  });

  test('connections lets a client reach the writer and reader ports on the load balancer, and only those', () => {
    const { template } = setup({}, undefined, (stack, vpc, cluster) => {
      cluster.connections.allowDefaultPortFrom(new ec2.SecurityGroup(stack, 'Client', { vpc }));
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('DbLoadBalancerSecurityGroup'), 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('Client'), 'GroupId'] },
      FromPort: 5432,
      ToPort: 5433,
    });
  });

  test('an internal NLB sends 5432 to HAProxy 5000 and 5433 to HAProxy 5001 on every node, health-checked by role on 8404', () => {
    const { template, cluster, stack } = setup();
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Type: 'network',
      Scheme: 'internal',
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'load_balancing.cross_zone.enabled', Value: 'true' }]),
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 5432, Protocol: 'TCP' });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 5433, Protocol: 'TCP' });
    for (const [port, path] of [[5000, '/primary'], [5001, '/replicas']] as const) {
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        Port: port,
        Protocol: 'TCP',
        TargetType: 'instance',
        HealthCheckProtocol: 'HTTP',
        HealthCheckPort: '8404',
        HealthCheckPath: path,
        Targets: Match.arrayWith([Match.objectLike({ Port: port })]),
      });
    }
    // Idle sessions live as long at the load balancer as at HAProxy (timeout client/server 1800s).
    template.allResourcesProperties('AWS::ElasticLoadBalancingV2::Listener', {
      ListenerAttributes: [{ Key: 'tcp.idle_timeout.seconds', Value: '1800' }],
    });
    const groups = template.findResources('AWS::ElasticLoadBalancingV2::TargetGroup');
    Object.values(groups).forEach((g) => expect(g.Properties.Targets).toHaveLength(3));
    expect(stack.resolve(cluster.writerEndpoint.port)).toBe(5432);
    expect(stack.resolve(cluster.readerEndpoint.socketAddress)).toEqual({
      'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^DbLoadBalancer/), 'DNSName'] }, ':5433']],
    });
  });
});

describe('PatroniCluster secrets and role', () => {
  const { template, cluster, stack } = setup();

  test('four generated password secrets, none with a literal value; three certificate secrets holding only the unissued mark', () => {
    const secrets = template.findResources('AWS::SecretsManager::Secret');
    expect(Object.keys(secrets)).toHaveLength(7);
    const certificateSecrets = Object.keys(secrets).filter((id) => secrets[id].Properties.SecretString !== undefined);
    expect(certificateSecrets.map((id) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual(['DbCertificatesCaSecret', 'DbCertificatesNodeSecret', 'DbCertificatesOperatorSecret']);
    for (const id of certificateSecrets) expect(secrets[id].Properties.SecretString).toBe(UNISSUED);
    const passwordSecrets = Object.keys(secrets).filter((id) => !certificateSecrets.includes(id)).map((id) => secrets[id].Properties);
    for (const p of passwordSecrets) {
      expect(p.GenerateSecretString).toMatchObject({ GenerateStringKey: 'password', PasswordLength: 32, ExcludePunctuation: true });
    }
    expect(passwordSecrets.map((p) => JSON.parse(p.GenerateSecretString.SecretStringTemplate).username).sort()).toEqual(['patroni', 'postgres', 'replicator', 'rewind_user']);
    expect(cluster.superuserSecret).toBeDefined();
  });

  test("the node role reads exactly the four password secrets and the nodes' certificates (never the CAs' keys), publishes only to its namespace, and has Session Manager", () => {
    const nodeRole = stack.getLogicalId(cluster.nodeRole.node.defaultChild as iam.CfnRole);
    const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: nodeRole }] } });
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>);
    const secretReads = statements.filter((s) => JSON.stringify(s.Action).includes('secretsmanager:GetSecretValue'));
    const secretResources = secretReads.flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]));
    expect(secretResources.map((r) => JSON.stringify(r).replace(/[0-9A-F]{8}"\}$/, '').replace('{"Ref":"', '')).sort()).toEqual(
      ['DbCertificatesNodeSecret', 'DbReplicationSecret', 'DbRestApiSecret', 'DbRewindSecret', 'DbSuperuserSecret'],
    );
    // The CA secret is read by the issuing function alone.
    const caSecret = Object.keys(template.findResources('AWS::SecretsManager::Secret')).find((id) => id.startsWith('DbCertificatesCaSecret'))!;
    const caReaders = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) => JSON.stringify(p.Properties.PolicyDocument).includes(caSecret));
    expect(caReaders).toHaveLength(1);
    expect(JSON.stringify(caReaders[0].Properties.Roles)).toMatch(/DbCertificatesFunctionServiceRole/);
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: 'cloudwatch:PutMetricData',
        Resource: '*',
        Condition: { StringEquals: { 'cloudwatch:namespace': 'CdkFailover/Patroni/orders' } },
      }),
    );
    template.hasResourceProperties('AWS::IAM::Role', {
      ManagedPolicyArns: [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonSSMManagedInstanceCore']] }],
    });
    expect(cluster.metricsNamespace).toBe('CdkFailover/Patroni/orders');
    expect(stack.resolve(cluster.metricRoleChanges().namespace)).toBe('CdkFailover/Patroni/orders');
  });

  test("the process role (postgres's, through the credential broker): assumed by the node role alone, for an hour, publishing to the cluster's namespace and nothing else", () => {
    const nodeRole = stack.getLogicalId(cluster.nodeRole.node.defaultChild as iam.CfnRole);
    const processRole = stack.getLogicalId(cluster.processRole.node.defaultChild as iam.CfnRole);
    const role = template.toJSON().Resources[processRole].Properties;
    expect(role.MaxSessionDuration).toBe(3600);
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: { 'Fn::GetAtt': [nodeRole, 'Arn'] } } }]);
    expect(role.ManagedPolicyArns).toBeUndefined();
    const statements = (r: string) =>
      Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: r }] } })).flatMap((p) => p.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>);
    // Without backups: the metrics, nothing else (no secret, no stack).
    expect(statements(processRole)).toEqual([
      { Action: 'cloudwatch:PutMetricData', Effect: 'Allow', Resource: '*', Condition: { StringEquals: { 'cloudwatch:namespace': 'CdkFailover/Patroni/orders' } } },
    ]);
    expect(statements(nodeRole)).toContainEqual({ Action: 'sts:AssumeRole', Effect: 'Allow', Resource: { 'Fn::GetAtt': [processRole, 'Arn'] } });
    // The broker on every node is given the role's ARN at deploy time.
    const node = unpackNode(template, 0, cluster);
    expect(node.document.values.__PROCESS_ROLE_ARN__).toBe('arn:aws:iam::111111111111:role/TestStack-DbProcessRole');
    const broker = node.bundle.files.find((f) => f.path === CREDENTIAL_BROKER_PROGRAM)!;
    expect(broker).toMatchObject({ owner: 'root', mode: '0700' });
    expect(broker.content).toContain('"roleArn": "__PROCESS_ROLE_ARN__"');
  });

  test('outputs carry stable keys for the CLI and runbooks', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Description: string }>;
    const keys = Object.values(outputs).map((o) => o.Description.replace('cdk-failover:PatroniCluster:Test/Db:', ''));
    expect(keys.sort()).toEqual(
      [
        'certificateValiditySeconds',
        'clusterName',
        'loadBalancerFullName',
        'metricsNamespace',
        'nodeAddresses',
        'nodeInstanceIds',
        'operatorTlsSecretArn',
        'readerEndpoint',
        'replicaMaxLagBytes',
        'restApiSecretArn',
        'securityGroupId',
        'superuserSecretArn',
        'writerEndpoint',
        'writerTargetGroupFullName',
      ].sort(),
    );
  });

  test('outputs: false removes the outputs and changes no resource (day two: only outputs come and go)', () => {
    const without = setup({ outputs: false }).template.toJSON();
    expect(without.Outputs).toBeUndefined();
    expect(without.Resources).toEqual(template.toJSON().Resources);
  });

  test('outputs: false still renders a runbook, saying which values have no output', () => {
    const { stack } = setup({ outputs: false });
    const runbook = renderStackRunbook(stack);
    expect(runbook).toContain('no output');
    expect(runbook).not.toContain('WriterEndpointOutput');
  });
});

describe('PatroniCluster metrics', () => {
  const { cluster, stack } = setup();

  test('primary count sums every node\'s IsPrimary, a silent node counting as 0', () => {
    const m = cluster.metricPrimaryCount();
    expect(m.expression).toBe('SUM([FILL(isPrimary0, 0), FILL(isPrimary1, 0), FILL(isPrimary2, 0)])');
    const n1 = m.usingMetrics.isPrimary1 as import('aws-cdk-lib/aws-cloudwatch').Metric;
    expect(n1.metricName).toBe('IsPrimary');
    expect(n1.namespace).toBe('CdkFailover/Patroni/orders');
    expect(n1.dimensions).toEqual({ ClusterName: 'orders', Node: 'orders-1' });
    expect(n1.statistic).toBe('Maximum');
  });

  test('lag takes the worst replica; events carry the cluster dimension', () => {
    expect(cluster.metricMaxReplicationLag().expression).toMatch(/^MAX\(/);
    expect(cluster.metricHealthyReplicaCount().expression).toMatch(/^SUM\(/);
    expect(cluster.metricHealthyEtcdMembers().expression).toMatch(/^SUM\(/);
    const promotions = cluster.metricPromotions();
    expect([promotions.metricName, promotions.statistic, stack.resolve(promotions.dimensions)]).toEqual(['Promotion', 'Sum', { ClusterName: 'orders' }]);
    expect(cluster.metricFailoverDuration().statistic).toBe('Maximum');
    expect(cluster.metricRoleChanges().metricName).toBe('RoleChange');
  });

  test('metricNodeGauge refuses a node that does not exist', () => {
    expect(cluster.metricNodeGauge(2, NodeGauge.ETCD_HEALTHY).dimensions).toEqual({ ClusterName: 'orders', Node: 'orders-2' });
    expect(() => cluster.metricNodeGauge(3, NodeGauge.ETCD_HEALTHY)).toThrow(/nodeIndex must be 0 to 2, got 3/);
  });
});

describe('PatroniCluster user data and configuration', () => {
  const { template, cluster } = setup({ timing: PatroniTiming.FAST, synchronousMode: SynchronousMode.STRICT, watchdog: WatchdogMode.AUTOMATIC });

  test('the user data is small: it names the stack, the instance and the node, nothing else', () => {
    for (let i = 0; i < 3; i++) {
      const { userData, logicalId } = unpackNode(template, i);
      expect(Buffer.byteLength(userData)).toBeLessThan(4 * 1024);
      expect(userData).toContain(`stack='TestStack' resource='${logicalId}'`);
      expect(userData).not.toMatch(/10\.99\.|secretsmanager|patroni\.yml/);
    }
  });

  test('the metadata unpacks, with deploy-time values filled in, to exactly what the renderers produce for those values', () => {
    const { text, expected } = unpackNode(template, 1, cluster);
    expect(text).toBe(expected);
    expect(text).toContain('10.99.0.11'); // node 1's address, from its network interface
    expect(text).not.toMatch(/__(NODE\d+_ADDRESS|CLUSTER_CIDR|AWS_REGION|DATA_VOLUME_ID)__/);
  });

  test('carries no password: only placeholders, and the secrets that fill them on the node', () => {
    const { text, bundle, document } = unpackNode(template, 0, cluster);
    const passwordLines = text.split('\n').filter((l) => /^\s*password:/.test(l));
    expect(passwordLines.length).toBeGreaterThanOrEqual(4);
    passwordLines.forEach((l) => expect(l).toMatch(/password: '?__[A-Z_]+_PASSWORD__'?$/));
    expect(Object.keys(bundle.passwords).sort()).toEqual(['__REPLICATION_PASSWORD__', '__REST_API_PASSWORD__', '__REWIND_PASSWORD__', '__SUPERUSER_PASSWORD__']);
    expect(document.values.__SUPERUSER_SECRET__).toMatch(/^arn:aws:secretsmanager:.*superuser/);
    expect(bundle.files.filter((f) => f.passwords).map((f) => f.path)).toEqual(['/etc/cdk-failover/patroni.yml']);
    // The only literal secret strings are the certificate secrets' unissued mark.
    const literals = JSON.stringify(template.toJSON()).match(/"SecretString":"(?:[^"\\]|\\.)*"/g) ?? [];
    expect(literals).toEqual(Array(3).fill(`"SecretString":${JSON.stringify(UNISSUED)}`));
  });

  test('renders the chosen timing, synchronous mode and watchdog into patroni.yml and the dynamic configuration', () => {
    const { text, bundle } = unpackNode(template, 0, cluster);
    expect(text).toMatch(/ttl: 7\n/);
    expect(text).toMatch(/loop_wait: 1\n/);
    expect(text).toMatch(/retry_timeout: 3\n/);
    expect(text).toMatch(/synchronous_mode_strict: true/);
    expect(text).toMatch(/mode: ['"]?automatic/);
    expect(bundle.dynamicConfiguration).toMatchObject({ ttl: 7, loop_wait: 1, retry_timeout: 3, synchronous_mode: true, synchronous_mode_strict: true });
  });

  test('every node signals its creation, and one wait condition per generation waits for all of them', () => {
    template.allResources('AWS::EC2::Instance', { CreationPolicy: { ResourceSignal: { Count: 1, Timeout: 'PT2700S' } } });
    template.resourceCountIs('AWS::CloudFormation::WaitCondition', 1);
    template.resourceCountIs('AWS::CloudFormation::WaitConditionHandle', 1);
    const [[id, condition]] = Object.entries(template.findResources('AWS::CloudFormation::WaitCondition'));
    expect(condition.Properties).toEqual({ Count: 3, Handle: { Ref: expect.stringMatching(/ConfigurationHandle/) }, Timeout: '5400' });
    expect(condition.DependsOn).toEqual(expect.arrayContaining([unpackNode(template, 0).logicalId, unpackNode(template, 2).logicalId]));
    expect(id).toMatch(/^DbConfigurationApplied[0-9a-f]{16}/);
    for (let i = 0; i < 3; i++) expect(unpackNode(template, i).document.waitHandle).toContain(condition.Properties.Handle.Ref);
  });

  test('the node role reads and signals only its own stack', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          { Action: ['cloudformation:DescribeStackResource', 'cloudformation:SignalResource'], Effect: 'Allow', Resource: { Ref: 'AWS::StackId' } },
        ]),
      },
    });
  });
});

describe('PatroniCluster validation', () => {
  test.each([
    [1, /nodes must be 3 or 5, got 1: 1 node\(s\) cannot survive the loss of one/],
    [2, /nodes must be 3 or 5, got 2: 2 node\(s\) cannot survive the loss of one/],
    [4, /nodes must be 3 or 5, got 4: an even count tolerates no more failures than 3/],
    [6, /got 6: an even count/],
    [7, /got 7: this construct supports 3 \(tolerates one loss\) or 5 \(tolerates two\)/],
  ])('refuses %d nodes, saying why', (nodes, message) => {
    expect(() => setup({ nodes })).toThrow(message);
  });

  test.each([
    ['synchronous_standby_names'],
    ['hot_standby'],
    ['listen_addresses'],
    ['port'],
    ['wal_level'],
  ])('refuses the managed PostgreSQL parameter %s', (name) => {
    expect(() => setup({ postgresParameters: { [name]: 'x' } })).toThrow(
      new RegExp(`postgresParameters.${name} is managed by Patroni or by this construct and cannot be set here`),
    );
  });

  test('accepts ordinary PostgreSQL parameters and renders them', () => {
    const { template, cluster } = setup({ postgresParameters: { shared_buffers: '2GB', work_mem: '64MB' } });
    expect(unpackNode(template, 0, cluster).text).toMatch(/shared_buffers: 2GB/);
  });

  test.each([['Orders'], ['orders_db'], ['-orders'], ['a'.repeat(64)], ['']])('refuses the cluster name %p', (clusterName) => {
    expect(() => setup({ clusterName })).toThrow(/clusterName must be 1-63 lowercase letters, digits and inner hyphens/);
  });

  test('refuses a zero lag limit and a fractional data volume', () => {
    expect(() => setup({ maximumLagOnFailover: Size.bytes(0) })).toThrow(/maximumLagOnFailover must be positive, got 0 bytes/);
    expect(() => setup({ replicaMaxLag: Size.bytes(0) })).toThrow(/replicaMaxLag must be positive/);
    expect(() => setup({ dataVolumeSize: Size.mebibytes(1536) })).toThrow(/dataVolumeSize must be a whole number of GiB from 1 to 16384/);
  });

  test('volumeAttachmentTimeout: the first boot waits that long (default 5 minutes); outside 30 s to 10 min, or fractional, refused', () => {
    const bootstrap = (t: ReturnType<typeof setup>['template']) => unpackNode(t, 0).bundle.bootstrap;
    expect(bootstrap(setup().template)).toContain('readonly device_wait_seconds=300\n');
    expect(bootstrap(setup({ volumeAttachmentTimeout: Duration.seconds(45) }).template)).toContain('readonly device_wait_seconds=45\n');
    for (const [timeout, shown] of [
      [Duration.seconds(29), '29 seconds'],
      [Duration.minutes(11), '11 minutes'],
      [Duration.millis(30500), '30 seconds 500 millis'],
    ] as const) {
      expect(() => setup({ volumeAttachmentTimeout: timeout })).toThrow(`volumeAttachmentTimeout must be whole seconds from 30 seconds to 10 minutes, got ${shown}`);
    }
  });

  test('warns when the subnets span fewer availability zones than nodes', () => {
    const { stack } = setup({}, ['eu-west-1a', 'eu-west-1b']);
    Annotations.fromStack(stack).hasWarning('/Test/Db', Match.stringLikeRegexp('the 3 nodes share 2 availability zone'));
  });

  test('does not warn with one zone per node', () => {
    const { stack } = setup();
    expect(Annotations.fromStack(stack).findWarning('/Test/Db', Match.stringLikeRegexp('availability zone'))).toEqual([]);
  });

  test('refuses a subnet selection that selects nothing', () => {
    expect(() => setup({ vpcSubnets: { subnets: [] } })).toThrow(/vpcSubnets selects no subnet: the nodes need at least one/);
  });
});

describe('PatroniTiming', () => {
  test('DEFAULT is Patroni\'s defaults and FAST keeps loop_wait + 2 x retry_timeout within ttl', () => {
    expect([PatroniTiming.DEFAULT.ttl, PatroniTiming.DEFAULT.loopWait, PatroniTiming.DEFAULT.retryTimeout].map((d) => d.toSeconds())).toEqual([30, 10, 10]);
    const f = PatroniTiming.FAST.values;
    expect(f.loopWaitSeconds + 2 * f.retryTimeoutSeconds).toBeLessThanOrEqual(f.ttlSeconds);
    expect(f.ttlSeconds).toBeLessThan(10);
  });

  test('custom accepts a safe profile', () => {
    const t = PatroniTiming.custom({ ttl: Duration.seconds(20), loopWait: Duration.seconds(5), retryTimeout: Duration.seconds(7) });
    expect(t.values).toMatchObject({ ttlSeconds: 20, loopWaitSeconds: 5, retryTimeoutSeconds: 7, etcdElectionTimeoutMs: 1000 });
  });

  test('each timing says which profile it is, typed', () => {
    const custom = PatroniTiming.custom({ ttl: Duration.seconds(20), loopWait: Duration.seconds(5), retryTimeout: Duration.seconds(7) });
    expect([PatroniTiming.DEFAULT.profile, PatroniTiming.FAST.profile, custom.profile]).toEqual([TimingProfile.DEFAULT, TimingProfile.FAST, TimingProfile.CUSTOM]);
    expect([PatroniTiming.DEFAULT.name, PatroniTiming.FAST.name, custom.name]).toEqual(['default', 'fast', 'custom']);
  });

  test('custom refuses loop_wait + 2 x retry_timeout > ttl, with the arithmetic', () => {
    expect(() => PatroniTiming.custom({ ttl: Duration.seconds(10), loopWait: Duration.seconds(4), retryTimeout: Duration.seconds(4) })).toThrow(
      /loop_wait \+ 2 x retry_timeout must not exceed ttl \(4 \+ 2 x 4 = 12 > 10\)/,
    );
  });

  test('custom refuses fractional seconds, a short etcd election timeout, and one longer than retry_timeout', () => {
    expect(() => PatroniTiming.custom({ ttl: Duration.millis(20500), loopWait: Duration.seconds(5), retryTimeout: Duration.seconds(5) })).toThrow(
      /timing.ttl must be whole seconds, got 20.5 s/,
    );
    expect(() =>
      PatroniTiming.custom({
        ttl: Duration.seconds(30),
        loopWait: Duration.seconds(10),
        retryTimeout: Duration.seconds(10),
        etcdHeartbeatInterval: Duration.millis(500),
        etcdElectionTimeout: Duration.millis(1000),
      }),
    ).toThrow(/etcdElectionTimeout must be at least 5 x the heartbeat interval \(etcd refuses less\): 1000 ms < 5 x 500 ms/);
    expect(() =>
      PatroniTiming.custom({ ttl: Duration.seconds(8), loopWait: Duration.seconds(2), retryTimeout: Duration.seconds(3), etcdElectionTimeout: Duration.seconds(3) }),
    ).toThrow(/etcdElectionTimeout \(3000 ms\) must be shorter than retryTimeout \(3 s\)/);
  });
});

describe('PatroniCluster watchdog and timing', () => {
  test('FAST with WatchdogMode.REQUIRED synthesizes, its watchdog firing at 5 s (safety_margin 2), not 2 s', () => {
    const { template, cluster } = setup({ timing: PatroniTiming.FAST, watchdog: WatchdogMode.REQUIRED });
    const { text } = unpackNode(template, 0, cluster);
    expect(text).toMatch(/watchdog:\n {2}mode: ["']?required["']?\n {2}device: \/dev\/watchdog\n {2}safety_margin: 2\s/);
  });

  test('a timing that leaves no usable watchdog is refused at synth, naming the mode and the arithmetic; with OFF it synthesizes', () => {
    const tight = PatroniTiming.custom({
      ttl: Duration.seconds(3),
      loopWait: Duration.seconds(1),
      retryTimeout: Duration.seconds(1),
      etcdElectionTimeout: Duration.millis(500),
    });
    expect(() => setup({ timing: tight })).toThrow(
      /^timing \(with watchdog WatchdogMode.REQUIRED\): a watchdog needs ttl of at least loop_wait \+ retry_timeout \+ 2 s \(1 \+ 1 \+ 2 = 4 > 3\)/,
    );
    expect(() => setup({ timing: tight, watchdog: WatchdogMode.AUTOMATIC })).toThrow(/with watchdog WatchdogMode.AUTOMATIC/);
    const { template, cluster } = setup({ timing: tight, watchdog: WatchdogMode.OFF });
    expect(unpackNode(template, 0, cluster).text).not.toContain('safety_margin');
  });

  test('day two: DEFAULT to FAST rewrites the margin in patroni.yml (the agents reload it)', () => {
    const margin = (t: ReturnType<typeof setup>) => /safety_margin: (\d+)/.exec(unpackNode(t.template, 0, t.cluster).text)?.[1];
    expect([margin(setup()), margin(setup({ timing: PatroniTiming.FAST }))]).toEqual(['5', '2']);
  });
});

describe('PatroniCluster day two: what a changed prop does to a deployed stack (synthesized twice)', () => {
  const base = setup();
  const resources = (t: ReturnType<typeof setup>['template']) => t.toJSON().Resources as Record<string, { Type: string; Properties?: unknown; Metadata?: unknown }>;
  const ofType = (t: ReturnType<typeof setup>['template'], type: string) =>
    Object.fromEntries(Object.entries(resources(t)).filter(([, r]) => r.Type === type).map(([id, r]) => [id, r.Properties]));

  test.each([
    ['timing', { timing: PatroniTiming.FAST }],
    ['postgresParameters', { postgresParameters: { work_mem: '64MB', shared_buffers: '4GB' } }],
    ['synchronousMode', { synchronousMode: SynchronousMode.OFF }],
    ['maximumLagOnFailover', { maximumLagOnFailover: Size.mebibytes(8) }],
    ['replicaMaxLag', { replicaMaxLag: Size.mebibytes(64) }],
    ['volumeAttachmentTimeout', { volumeAttachmentTimeout: Duration.minutes(2) }],
  ] as const)('%s: no instance or launch template property changes; the nodes\' metadata and the wait condition do', (_prop, change) => {
    const changed = setup(change);
    expect(ofType(changed.template, 'AWS::EC2::Instance')).toEqual(ofType(base.template, 'AWS::EC2::Instance'));
    expect(ofType(changed.template, 'AWS::EC2::LaunchTemplate')).toEqual(ofType(base.template, 'AWS::EC2::LaunchTemplate'));
    for (let i = 0; i < 3; i++) {
      expect(unpackNode(changed.template, i).document.generation).not.toBe(unpackNode(base.template, i).document.generation);
    }
    const conditionIds = (t: typeof base.template) => Object.keys(t.findResources('AWS::CloudFormation::WaitCondition'));
    expect(conditionIds(changed.template)).not.toEqual(conditionIds(base.template));
    // Nothing else is replaced or updated: only the wait condition, its handle and the metadata differ.
    const others = (t: typeof base.template) =>
      Object.fromEntries(Object.entries(resources(t)).filter(([, r]) => !r.Type.startsWith('AWS::CloudFormation::Wait') && r.Type !== 'AWS::EC2::Instance'));
    expect(others(changed.template)).toEqual(others(base.template));
  });

  test("machineImage: no instance property changes (each keeps the guard's launch image); the nodes' image, generation and wait condition do, the guard's ImageId and nothing else", () => {
    const pin = (ami: string) => setup({ machineImage: ec2.MachineImage.genericLinux({ 'eu-west-1': ami }) }).template;
    const [before, after] = [pin('ami-0123456789abcdef0'), pin('ami-0fedcba9876543210')];
    takeConsoleOutput();
    expect(ofType(after, 'AWS::EC2::Instance')).toEqual(ofType(before, 'AWS::EC2::Instance'));
    for (let i = 0; i < 3; i++) {
      const [b, a] = [unpackNode(before, i), unpackNode(after, i)];
      expect([b.document.image, a.document.image]).toEqual(['ami-0123456789abcdef0', 'ami-0fedcba9876543210']);
      expect(a.document.generation).not.toBe(b.document.generation);
      expect(a.text).toBe(b.text); // no file changes: the agent replaces the root volume, the node boots the same files
      expect(a.userData).toBe(b.userData);
    }
    const conditionIds = (t: typeof base.template) => Object.keys(t.findResources('AWS::CloudFormation::WaitCondition'));
    expect(conditionIds(after)).not.toEqual(conditionIds(before));
    const guard = (t: typeof base.template) => Object.values(ofType(t, 'Custom::CdkFailoverChangeGuard'))[0] as Record<string, unknown>;
    expect(guard(after)).toEqual({ ...guard(before), ImageId: 'ami-0fedcba9876543210' });
    const others = (t: typeof base.template) =>
      Object.fromEntries(
        Object.entries(resources(t)).filter(([, r]) => !r.Type.startsWith('AWS::CloudFormation::Wait') && r.Type !== 'AWS::EC2::Instance' && r.Type !== 'Custom::CdkFailoverChangeGuard'),
      );
    expect(others(after)).toEqual(others(before));
  });

  test("the node role may replace the root volume of this cluster's instances alone (CloudFormation's tags: this stack, the nodes' logical IDs) and read the task", () => {
    const statements = Object.values(base.template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes('NodeRole'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: unknown; Resource: unknown; Condition?: unknown }[]);
    const replace = statements.filter((st) => st.Action === 'ec2:CreateReplaceRootVolumeTask');
    const nodes = Object.keys(base.template.findResources('AWS::EC2::Instance'));
    expect(replace).toHaveLength(2);
    expect(replace[0]).toMatchObject({
      Resource: { 'Fn::Join': ['', expect.arrayContaining([':instance/*'])] },
      Condition: { StringEquals: { 'aws:ResourceTag/aws:cloudformation:stack-id': { Ref: 'AWS::StackId' }, 'aws:ResourceTag/aws:cloudformation:logical-id': nodes } },
    });
    for (const resource of ['::image/*', ':volume/*', ':replace-root-volume-task/*']) expect(JSON.stringify(replace[1]!.Resource)).toContain(resource);
    expect(statements.filter((st) => st.Action === 'ec2:DescribeReplaceRootVolumeTasks')).toEqual([expect.objectContaining({ Resource: '*' })]);
    expect(JSON.stringify(statements)).not.toMatch(/ec2:(Run|Terminate|Stop|Start)Instances|ec2:\*/);
  });

  test('a library upgrade that changes a rendered file changes only metadata: the same user data and instance properties', () => {
    // Stands in for an upgrade: the same props, haproxy.cfg rendered differently.
    const original = haproxyModule.renderHaproxyConfig;
    const spy = jest.spyOn(haproxyModule, 'renderHaproxyConfig').mockImplementation((...args) => `${original(...args)}# upgraded\n`);
    try {
      const upgraded = setup();
      expect(spy).toHaveBeenCalled();
      expect(ofType(upgraded.template, 'AWS::EC2::Instance')).toEqual(ofType(base.template, 'AWS::EC2::Instance'));
      const [before, after] = [unpackNode(base.template, 0), unpackNode(upgraded.template, 0)];
      expect(after.userData).toBe(before.userData);
      expect(after.text).toContain('# upgraded');
      expect(after.document.generation).not.toBe(before.document.generation);
    } finally {
      spy.mockRestore();
    }
  });

  test.each([
    [undefined, 'Snapshot', 'Retain'],
    [RemovalPolicy.SNAPSHOT, 'Snapshot', 'Retain'],
    [RemovalPolicy.RETAIN, 'Retain', 'Retain'],
    [RemovalPolicy.DESTROY, 'Delete', 'Delete'],
  ])('removalPolicy %s: the data volumes %s, the secrets %s; changing it changes no resource property', (removalPolicy, volumes, secrets) => {
    const changed = setup({ removalPolicy });
    const policies = (type: string) =>
      Object.values(changed.template.findResources(type)).map((r) => ({ DeletionPolicy: r.DeletionPolicy, UpdateReplacePolicy: r.UpdateReplacePolicy }));
    expect(policies('AWS::EC2::Volume')).toEqual(Array(3).fill({ DeletionPolicy: volumes, UpdateReplacePolicy: volumes }));
    expect(policies('AWS::SecretsManager::Secret')).toEqual(Array(7).fill({ DeletionPolicy: secrets, UpdateReplacePolicy: secrets }));
    // Only the policies differ from the default's template: nothing is updated or replaced.
    const withoutPolicies = (t: typeof base.template) =>
      Object.fromEntries(Object.entries(resources(t)).map(([id, r]) => [id, { ...r, DeletionPolicy: undefined, UpdateReplacePolicy: undefined }]));
    expect(withoutPolicies(changed.template)).toEqual(withoutPolicies(base.template));
  });

  test('deletionProtection: false turns termination protection off in place (no replacement), and nothing else', () => {
    const open = setup({ deletionProtection: false });
    open.template.allResourcesProperties('AWS::EC2::Instance', { DisableApiTermination: false });
    const strip = (t: typeof base.template) =>
      Object.fromEntries(Object.entries(ofType(t, 'AWS::EC2::Instance')).map(([id, p]) => [id, { ...(p as object), DisableApiTermination: undefined }]));
    expect(strip(open.template)).toEqual(strip(base.template));
  });

  describe('instanceType: rolled out by stop and start (each node drains on stop, one at a time)', () => {
    // Pinned: the image must not change with the type (and a literal ID draws W9010 from the validator).
    const image = ec2.MachineImage.genericLinux({ 'eu-west-1': 'ami-0123456789abcdef0' });
    const synthesized: Record<string, typeof base.template> = {};
    /** Synthesized once, inside the first test that asks (which takes the validator's W9010 on the literal ID). */
    const pinned = (type: string) => (synthesized[type] ??= setup({ machineImage: image, instanceType: new ec2.InstanceType(type) }).template);
    afterEach(() => takeConsoleOutput());
    const instances = (t: typeof base.template) => Object.entries(resources(t)).filter(([, r]) => r.Type === 'AWS::EC2::Instance');
    const guard = (t: typeof base.template) => Object.values(t.findResources('Custom::CdkFailoverChangeGuard'))[0]!.Properties;
    const conditionIds = (t: typeof base.template) => Object.keys(t.findResources('AWS::CloudFormation::WaitCondition'));

    test('every instance changes only InstanceType and its metadata: the same user data, image and interface (no replacement)', () => {
      const [before, after] = [instances(pinned('m7i.large')), instances(pinned('m7i.xlarge'))];
      expect(after.map(([id]) => id)).toEqual(before.map(([id]) => id));
      expect(after).toHaveLength(3);
      after.forEach(([id, r], i) => {
        const b = before[i]![1] as { Properties: Record<string, unknown>; Metadata: unknown };
        const a = r as { Properties: Record<string, unknown>; Metadata: unknown };
        expect(b.Properties.InstanceType).toBe('m7i.large');
        expect(a.Properties.InstanceType).toBe('m7i.xlarge');
        expect({ id, ...a.Properties, InstanceType: undefined }).toEqual({ id, ...b.Properties, InstanceType: undefined });
        // Nothing else of the resource (DependsOn, policies) differs but the metadata.
        expect({ ...a, Properties: undefined, Metadata: undefined }).toEqual({ ...b, Properties: undefined, Metadata: undefined });
        expect(a.Metadata).not.toEqual(b.Metadata);
        expect(a.Properties.ImageId).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^DbChangeGuard/), 'LaunchImageId'] });
      });
    });

    test('a new generation: the deploy waits until every node runs again after its stop and start; the nodes\' files are the same', () => {
      expect(conditionIds(pinned('m7i.xlarge'))).not.toEqual(conditionIds(pinned('m7i.large')));
      for (let i = 0; i < 3; i++) {
        const [b, a] = [unpackNode(pinned('m7i.large'), i), unpackNode(pinned('m7i.xlarge'), i)];
        expect(a.document.generation).not.toBe(b.document.generation);
        expect(a.text).toBe(b.text); // the agent has nothing to apply: it reports the generation once it runs
        expect(a.userData).toBe(b.userData);
      }
    });

    test('nothing else changes but the guard\'s InstanceType, the wait condition and its handle', () => {
      const others = (t: typeof base.template) =>
        Object.fromEntries(
          Object.entries(resources(t)).filter(([, r]) => !r.Type.startsWith('AWS::CloudFormation::Wait') && r.Type !== 'AWS::EC2::Instance' && r.Type !== 'Custom::CdkFailoverChangeGuard'),
        );
      expect(others(pinned('m7i.xlarge'))).toEqual(others(pinned('m7i.large')));
      const [b, a] = [guard(pinned('m7i.large')), guard(pinned('m7i.xlarge'))];
      expect(a).toEqual({ ...b, InstanceType: 'm7i.xlarge' });
      expect(a.NodeStop).toBe('drain');
    });

    test('another architecture (Graviton) with the default image: the guard\'s image changes with the type (arm64\'s parameter), which its handler refuses (one at a time); the instances keep their launch image', () => {
      const graviton = setup({ instanceType: new ec2.InstanceType('m7g.large') });
      const [b, a] = [guard(base.template), guard(graviton.template)];
      expect(b.ImageId).toEqual({ Ref: expect.stringMatching(/amd64/) });
      expect(a.ImageId).toEqual({ Ref: expect.stringMatching(/arm64/) });
      expect(a).toEqual({ ...b, InstanceType: 'm7g.large', ImageId: a.ImageId });
      const before = instances(base.template);
      instances(graviton.template).forEach(([, r], i) => {
        expect((r.Properties as { ImageId: unknown }).ImageId).toEqual((before[i]![1].Properties as { ImageId: unknown }).ImageId);
        expect((r as unknown as { Metadata: Record<string, { image: unknown }> }).Metadata[NODE_METADATA_KEY].image).toEqual(a.ImageId);
      });
    });
  });

  test('the instances wait for their subnet\'s route to the NAT gateway (boot installs packages)', () => {
    for (const [, r] of Object.entries(base.template.findResources('AWS::EC2::Instance'))) {
      expect(r.DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^VpcdbSubnet\dDefaultRoute/)]));
    }
  });
});

describe('PatroniCluster image', () => {
  const PARAMETER = '/aws/service/debian/release/12/latest/amd64';

  test('by default the image floats, and synth says so with what to do', () => {
    const { stack } = setup();
    Annotations.fromStack(stack).hasWarning(
      '/Test/Db',
      Match.stringLikeRegexp(`the nodes' image is ${PARAMETER} as of each deploy: .*Give the stack an account and region .*looked up once into cdk.context.json.*or pass machineImage pinned to an AMI ID .*aws ssm get-parameter --name ${PARAMETER}`),
    );
  });

  const ACCOUNT = '111122223333';
  const lookupKey = (arch: string) => `ssm:account=${ACCOUNT}:parameterName=/aws/service/debian/release/12/latest/${arch}:region=eu-west-1`;
  const ssmLookups = (assembly: ReturnType<App['synth']>) => (assembly.manifest.missing ?? []).map((m) => m.key).filter((k) => k.startsWith('ssm:'));
  /** The image the nodes are asked to run: the guard's ImageId and every node's configuration (the instances keep the guard's launch image). */
  const expectImage = (template: Template, image: unknown) => {
    template.allResourcesProperties('Custom::CdkFailoverChangeGuard', { ImageId: image });
    for (const instance of Object.values(template.findResources('AWS::EC2::Instance'))) {
      expect(instance.Properties.ImageId).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^DbChangeGuard/), 'LaunchImageId'] });
      expect(instance.Metadata[NODE_METADATA_KEY].image).toEqual(image);
    }
  };
  /** A cluster in a stack whose account and region are known, with `context` in the app (as cdk.context.json gives it). */
  const withAccount = (context: Record<string, string> = {}, instanceType?: ec2.InstanceType) => {
    const app = testApp();
    for (const [k, v] of Object.entries(context)) app.node.setContext(k, v);
    const stack = new Stack(app, 'Test', { env: { account: ACCOUNT, region: 'eu-west-1' } });
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 1, availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'] });
    new PatroniCluster(stack, 'Db', { vpc, clusterName: 'orders', instanceType });
    const assembly = app.synth();
    return { stack, assembly, template: Template.fromStack(stack) };
  };

  test('with an account and region, the image is looked up once (cdk.context.json): before the lookup a placeholder that validates, no warning', () => {
    const { stack, assembly, template } = withAccount();
    expect(ssmLookups(assembly)).toEqual([lookupKey('amd64')]);
    expectImage(template, 'ami-00000000000000000');
    Annotations.fromStack(stack).hasNoWarning('*', Match.stringLikeRegexp('floatingImage'));
    // aws-cdk-lib's own placeholder ('dummy-value-for-...') fails validation here (E1152).
    // Nor does the validator warn of the literal ID (W9010): it is acknowledged, with the reason.
    expect(takeConsoleOutput().join('\n')).not.toMatch(/E1152|W9010/);
  });

  test('with the lookup in the context, the nodes run that image, the same at every synth, and no SSM parameter is left for a deploy to resolve', () => {
    const first = withAccount({ [lookupKey('amd64')]: 'ami-0123456789abcdef0' });
    expect(ssmLookups(first.assembly)).toEqual([]);
    expectImage(first.template, 'ami-0123456789abcdef0');
    expect(Object.keys(first.template.findParameters('*')).filter((p) => p.includes('Ssm'))).toEqual([]);
    const again = withAccount({ [lookupKey('amd64')]: 'ami-0123456789abcdef0' });
    expect(again.template.findResources('AWS::EC2::Instance')).toEqual(first.template.findResources('AWS::EC2::Instance'));
  });

  test('an arm64 instance type looks up the arm64 image', () => {
    const { assembly } = withAccount({}, new ec2.InstanceType('m7g.large'));
    expect(ssmLookups(assembly)).toEqual([lookupKey('arm64')]);
  });

  test("a floating image (resolved by CloudFormation at each deploy) is part of what the nodes record as their generation, so a new one is rolled out; the synth-time wait condition cannot wait for it", () => {
    const { template } = setup();
    for (const instance of Object.values(template.findResources('AWS::EC2::Instance'))) {
      const document = instance.Metadata[NODE_METADATA_KEY];
      for (const key of ['generation', 'clusterGeneration']) {
        expect(document[key]).toEqual({ 'Fn::Join': ['-', [expect.stringMatching(/^[0-9a-f]+$/), { Ref: expect.stringMatching(/^SsmParameterValue/) }]] });
      }
    }
    // A pinned image is in the generation already: a literal.
    const pinned = setup({ machineImage: ec2.MachineImage.genericLinux({ 'eu-west-1': 'ami-0fedcba9876543210' }) }).template;
    takeConsoleOutput();
    for (const instance of Object.values(pinned.findResources('AWS::EC2::Instance'))) expect(typeof instance.Metadata[NODE_METADATA_KEY].generation).toBe('string');
  });

  test('an image EC2 resolves at launch (resolveSsmParameterAtLaunch) is refused at synth: a root volume replacement needs an image ID', () => {
    expect(() => setup({ machineImage: ec2.MachineImage.resolveSsmParameterAtLaunch('/aws/service/debian/release/12/latest/amd64') })).toThrow(
      "machineImage: 'resolve:ssm:/aws/service/debian/release/12/latest/amd64' is resolved by EC2 at launch (resolveSsmParameterAtLaunch), which a running node's root volume replacement cannot use. " +
        'Pass an image with an ID: MachineImage.genericLinux, lookup, or fromSsmParameter (resolved by CloudFormation at each deploy)',
    );
  });

  test('a machineImage given is used as it is, without a warning', () => {
    const { stack, template } = setup({ machineImage: ec2.MachineImage.genericLinux({ 'eu-west-1': 'ami-0fedcba9876543210' }) });
    expectImage(template, 'ami-0fedcba9876543210');
    Annotations.fromStack(stack).hasNoWarning('*', Match.stringLikeRegexp('floatingImage'));
    takeConsoleOutput();
  });
});

describe('PatroniCluster TLS (ClusterTls)', () => {
  const base = setup();
  const resources = (t: ReturnType<typeof setup>['template']) => t.toJSON().Resources as Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  const issuer = (t: ReturnType<typeof setup>['template']) => Object.values(resources(t)).filter((r) => r.Type === 'Custom::CdkFailoverCertificates');

  test("by default: one issuer for the nodes' addresses and the load balancer's name; every node installs its certificates from the issued version", () => {
    expect(base.cluster.tls.enabled).toBe(true);
    const [resource] = issuer(base.template);
    expect(issuer(base.template)).toHaveLength(1);
    expect(resource.Properties).toMatchObject({
      ClusterName: 'orders',
      Nodes: [0, 1, 2].map((i) => ({ Name: `orders-${i}`, Address: { 'Fn::GetAtt': [expect.stringMatching(new RegExp(`^DbNode${i}NetworkInterface`)), 'PrimaryPrivateIpAddress'] } })),
      EndpointNames: [{ 'Fn::GetAtt': [expect.stringMatching(/^DbLoadBalancer/), 'DNSName'] }],
      Days: '365',
      Rotation: '0',
    });
    for (let i = 0; i < 3; i++) {
      const { bundle, document, text } = unpackNode(base.template, i);
      expect(bundle.tls).toMatchObject({ secretId: '__TLS_SECRET__', versionId: '__TLS_SECRET_VERSION__', node: `orders-${i}`, link: '/etc/cdk-failover/tls' });
      expect(document.values.__TLS_SECRET__).toMatch(/^arn:aws:secretsmanager:.*certificatesnode/);
      expect(document.values.__TLS_SECRET_VERSION__).toBe('c0ffee00-0000-4000-8000-000000000001');
      expect(text).toContain('protocol: https');
      expect(text).toContain('hostssl');
      expect(text).not.toMatch(/PRIVATE KEY/);
    }
  });

  test('ClusterTls.OFF: no issuer, no certificate secrets or output, plain HTTP and host rules (a cluster made before TLS)', () => {
    const off = setup({ tls: ClusterTls.OFF });
    expect(off.cluster.tls.enabled).toBe(false);
    expect(off.cluster.operatorTlsSecret).toBeUndefined();
    expect(issuer(off.template)).toHaveLength(0);
    off.template.resourceCountIs('AWS::SecretsManager::Secret', 4);
    expect(JSON.stringify(off.template.toJSON().Outputs)).not.toContain('operatorTlsSecretArn');
    const { bundle, text } = unpackNode(off.template, 0);
    expect(bundle.tls).toBeUndefined();
    expect(text).not.toContain('protocol: https');
    expect(text).not.toContain('hostssl');
    // Day two: switching changes no instance property (only metadata; the nodes' agents refuse it).
    const instances = (t: typeof base.template) => Object.values(t.findResources('AWS::EC2::Instance')).map((r) => r.Properties);
    expect(instances(off.template)).toEqual(instances(base.template));
    expect(unpackNode(off.template, 0).userData).toBe(unpackNode(base.template, 0).userData);
  });

  test('day two: a new rotation (or validity) changes only the issuer\'s property and the nodes\' generation and wait condition: the nodes roll the new files out, no instance changes', () => {
    for (const tls of [ClusterTls.issued({ rotation: '2027-01-01' }), ClusterTls.issued({ validity: Duration.days(90) })]) {
      const rotated = setup({ tls });
      const [before, after] = [resources(base.template), resources(rotated.template)];
      const changed = Object.keys(after).filter((id) => JSON.stringify(after[id]) !== JSON.stringify(before[id]));
      expect(changed.map((id) => after[id].Type).sort()).toEqual([
        'AWS::CloudFormation::WaitCondition',
        'AWS::CloudFormation::WaitConditionHandle',
        'AWS::EC2::Instance',
        'AWS::EC2::Instance',
        'AWS::EC2::Instance',
        'Custom::CdkFailoverCertificates',
      ]);
      for (let i = 0; i < 3; i++) {
        const [b, a] = [unpackNode(base.template, i), unpackNode(rotated.template, i)];
        expect(a.document.generation).not.toBe(b.document.generation);
        expect(a.userData).toBe(b.userData);
        expect(a.text).toBe(b.text);
      }
      const instances = (r: typeof before) => Object.values(r).filter((x) => x.Type === 'AWS::EC2::Instance').map((x) => x.Properties);
      expect(instances(after)).toEqual(instances(before));
    }
  });

  test("operatorCidrs: the security group admits them on the REST API port only, and Patroni's allowlist names them; a change touches no instance", () => {
    const withOperators = setup({ operatorCidrs: ['10.20.0.0/24', 'fd00:1::/64'] });
    const ingress = Object.values(withOperators.template.findResources('AWS::EC2::SecurityGroup')).flatMap(
      (g) => (g.Properties.SecurityGroupIngress ?? []) as Array<Record<string, unknown>>,
    );
    expect(ingress.filter((r) => r.CidrIp === '10.20.0.0/24' || r.CidrIpv6 === 'fd00:1::/64')).toEqual([
      expect.objectContaining({ CidrIp: '10.20.0.0/24', FromPort: 8008, ToPort: 8008, IpProtocol: 'tcp' }),
      expect.objectContaining({ CidrIpv6: 'fd00:1::/64', FromPort: 8008, ToPort: 8008, IpProtocol: 'tcp' }),
    ]);
    expect(unpackNode(withOperators.template, 0).text).toMatch(/allowlist:\n\s+- 10\.20\.0\.0\/24\n\s+- fd00:1::\/64\n\s+allowlist_include_members: true/);
    expect(unpackNode(base.template, 0).text).not.toContain('10.20.0.0/24');
    const instances = (t: typeof base.template) => Object.values(t.findResources('AWS::EC2::Instance')).map((r) => r.Properties);
    expect(instances(withOperators.template)).toEqual(instances(base.template));
  });

  test('metricsScrapers: each security group admitted on the REST API port alone; a change touches no instance and no node file', () => {
    const withScrapers = setup((stack, vpc) => ({ metricsScrapers: [new ec2.SecurityGroup(stack, 'Prometheus', { vpc })] }));
    const rules = Object.values(withScrapers.template.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    const fromPrometheus = rules.filter((r) => JSON.stringify(r.SourceSecurityGroupId).includes('Prometheus'));
    expect(fromPrometheus).toEqual([
      expect.objectContaining({ FromPort: 8008, ToPort: 8008, IpProtocol: 'tcp', Description: 'Patroni /metrics, from Prometheus (reads only: writes are allowlisted)' }),
      expect.objectContaining({ FromPort: 2381, ToPort: 2381, IpProtocol: 'tcp', Description: 'etcd /metrics and /health, from Prometheus (plain HTTP, nothing else)' }),
    ]);
    // Without TLS etcd's metrics share its unauthenticated client port: only Patroni's is opened.
    const plain = setup((stack, vpc) => ({ tls: ClusterTls.OFF, metricsScrapers: [new ec2.SecurityGroup(stack, 'Prometheus', { vpc })] }));
    const plainRules = Object.values(plain.template.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    expect(plainRules.filter((r) => JSON.stringify(r.SourceSecurityGroupId).includes('Prometheus')).map((r) => r.FromPort)).toEqual([8008]);
    const instances = (t: typeof base.template) => Object.values(t.findResources('AWS::EC2::Instance')).map((r) => r.Properties);
    expect(instances(withScrapers.template)).toEqual(instances(base.template));
    expect(unpackNode(withScrapers.template, 0).text).toBe(unpackNode(base.template, 0).text);
  });

  test('operatorCidrs refused: open to everyone, not a CIDR, or without TLS', () => {
    expect(() => setup({ operatorCidrs: ['0.0.0.0/0'] })).toThrow(/^operatorCidrs .*0\.0\.0\.0\/0.*anyone with the password could change Patroni's configuration/);
    expect(() => setup({ operatorCidrs: ['10.0.0.300/24'] })).toThrow("operatorCidrs entries must be CIDRs like 10.0.9.0/24 or fd00::/64, got '10.0.0.300/24'");
    expect(() => setup({ operatorCidrs: ['10.20.0.0/24'], tls: ClusterTls.OFF })).toThrow(
      "operatorCidrs needs TLS: with ClusterTls.OFF the REST API password would cross the network in clear (got '10.20.0.0/24')",
    );
  });

  test('bad certificate options are refused where they are written, naming the value and what is allowed', () => {
    expect(() => ClusterTls.issued({ validity: Duration.hours(36) })).toThrow('ClusterTls.issued: validity must be a whole number of days from 1 to 3650, got 1.5 days');
    expect(() => ClusterTls.issued({ validity: Duration.days(3651) })).toThrow('ClusterTls.issued: validity must be a whole number of days from 1 to 3650, got 3651 days');
    expect(() => ClusterTls.issued({ rotation: 'next week' })).toThrow("ClusterTls.issued: rotation must be 1 to 64 of A-Z, a-z, 0-9, '.', '_', ':' and '-', got 'next week'");
    expect(() => ClusterTls.issued({ rotation: '' })).toThrow(/rotation must be 1 to 64/);
    expect(ClusterTls.issued({ validity: Duration.days(3650), rotation: '2027-01-01T00:00' }).enabled).toBe(true);
  });
});
