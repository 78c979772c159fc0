import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CertificateIssuer, CertificateIssuerProps } from '../../lib/patroni/certificate-issuer';
import { CERTIFICATE_PROFILE } from '../../lib/tls/cluster-certificates';
import { UNISSUED } from '../../lib/tls/secret-format';
import { testApp } from '../app';

const NODES = [
  { name: 'pg-0', address: '10.0.1.10' },
  { name: 'pg-1', address: '10.0.2.10' },
];

function synth(props: Partial<CertificateIssuerProps> = {}) {
  const app = testApp();
  const stack = new Stack(app, 'Test', { env: { region: 'eu-west-1', account: '111122223333' } });
  const issuer = new CertificateIssuer(stack, 'Certificates', { clusterName: 'orders', nodes: NODES, ...props });
  const nodeRole = new iam.Role(stack, 'NodeRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
  issuer.grantNodeRead(nodeRole);
  return { app, stack, issuer, template: Template.fromStack(stack) };
}

/** The custom resource's properties. */
const properties = (template: Template) => Object.values(template.findResources('Custom::CdkFailoverCertificates'))[0]!.Properties;

describe('CertificateIssuer', () => {
  test('three secrets made unissued and kept by default; the custom resource gets the nodes, the validity and the rotation', () => {
    const { template } = synth();
    const secrets = template.findResources('AWS::SecretsManager::Secret');
    expect(Object.values(secrets).map((s) => s.Properties.SecretString)).toEqual([UNISSUED, UNISSUED, UNISSUED]);
    expect(Object.values(secrets).map((s) => s.DeletionPolicy)).toEqual(['Retain', 'Retain', 'Retain']);
    expect(properties(template)).toMatchObject({
      ClusterName: 'orders',
      Nodes: [
        { Name: 'pg-0', Address: '10.0.1.10' },
        { Name: 'pg-1', Address: '10.0.2.10' },
      ],
      Days: '365',
      Rotation: '0',
      // What this version's certificates hold: an upgrade that changes it reissues them once (a rotation).
      Profile: CERTIFICATE_PROFILE,
    });
    expect(CERTIFICATE_PROFILE).toBe('2');
    template.hasResourceProperties('AWS::Lambda::Function', { Handler: 'certificate-handler.handler', Runtime: 'nodejs24.x' });
  });

  test('the function reads only the CA secret and writes the three; the node role reads only the node secret', () => {
    const { template, stack } = synth();
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).map((p) => stack.resolve(p.Properties));
    const secretIds = Object.keys(template.findResources('AWS::SecretsManager::Secret'));
    const [ca, node, operator] = ['CaSecret', 'NodeSecret', 'OperatorSecret'].map((n) => secretIds.find((id) => id.includes(n))!);
    const statementsOf = (rolePart: string) =>
      policies.filter((p) => JSON.stringify(p.Roles).includes(rolePart)).flatMap((p) => p.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]);
    const fn = statementsOf('CertificatesFunctionServiceRole');
    const reads = fn.filter((s) => [s.Action].flat().includes('secretsmanager:GetSecretValue'));
    expect(reads.flatMap((s) => [s.Resource].flat())).toEqual([{ Ref: ca }]);
    const writes = fn.filter((s) => [s.Action].flat().includes('secretsmanager:PutSecretValue'));
    expect(writes.flatMap((s) => [s.Resource].flat())).toEqual([{ Ref: ca }, { Ref: node }, { Ref: operator }]);
    const nodeReads = statementsOf('NodeRole').filter((s) => [s.Action].flat().includes('secretsmanager:GetSecretValue'));
    expect(nodeReads.flatMap((s) => [s.Resource].flat())).toEqual([{ Ref: node }]);
  });

  test('day two: a new rotation value changes the custom resource\'s Rotation and nothing else', () => {
    const before = synth().template.toJSON();
    const after = synth({ rotation: '2027-01' }).template.toJSON();
    const changed = Object.keys(after.Resources).filter((id) => JSON.stringify(after.Resources[id]) !== JSON.stringify(before.Resources[id]));
    expect(changed).toHaveLength(1);
    expect(after.Resources[changed[0]!].Properties.Rotation).toBe('2027-01');
  });

  test('removalPolicy reaches the three secrets', () => {
    const secrets = synth({ removalPolicy: RemovalPolicy.DESTROY }).template.findResources('AWS::SecretsManager::Secret');
    expect(Object.values(secrets).map((s) => s.DeletionPolicy)).toEqual(['Delete', 'Delete', 'Delete']);
  });

  test('bad props are refused at synth with the prop and the value', () => {
    expect(() => synth({ validity: Duration.days(0) })).toThrow('validity must be a whole number of days from 1 to 3650, got 0 days');
    expect(() => synth({ validity: Duration.days(4000) })).toThrow('validity must be a whole number of days from 1 to 3650, got 4000 days');
    expect(() => synth({ validity: Duration.hours(36) })).toThrow('validity must be a whole number of days from 1 to 3650, got 1.5 days');
    expect(() => synth({ nodes: [] })).toThrow('nodes must name at least one node');
    expect(() => synth({ rotation: 'next week' })).toThrow("rotation must be 1 to 64 of A-Z, a-z, 0-9, '.', '_', ':' and '-', got 'next week'");
  });

  test('cdk-nag AwsSolutions finds nothing unacknowledged in it', () => {
    const { app } = synth();
    const violations = new AwsSolutionsChecks().validateScope(app).violations;
    expect(violations.filter((v) => v.violatingResources.some((r) => (r.constructPath ?? '').startsWith('Test/Certificates')))).toEqual([]);
  });
});
