// A cluster's own certificate authority and the certificates it signs: EC P-256 keys and X.509 v3
// certificates made with node:crypto alone, so the same code runs at deploy time (the certificate
// custom resource's Lambda has no openssl) and in the local cluster.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import * as der from './der';

/** A certificate and its private key, both PEM (the key PKCS #8, unencrypted). */
export interface IssuedCertificate {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

export interface CertificateAuthorityOptions {
  readonly commonName: string;
  /** Days from `now` the CA is valid. */
  readonly days: number;
  /** @default - the current time */
  readonly now?: Date;
}

export interface CertificateOptions {
  readonly commonName: string;
  /** IP addresses the certificate is valid for (what TLS clients check the address they dialled against). */
  readonly ipAddresses?: readonly string[];
  readonly dnsNames?: readonly string[];
  /** `peer`: serverAuth and clientAuth (etcd peers and Patroni members are both); `server`: serverAuth only; `client`: clientAuth only. */
  readonly usage: 'peer' | 'server' | 'client';
  readonly days: number;
  /** @default - the current time */
  readonly now?: Date;
}

const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
};
const KEY_USAGE_BITS = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 };
/** Certificates start this long before `now`, for clocks a little behind the issuer's. */
const BACKDATE_MS = 5 * 60_000;
const MAX_DAYS = 36_500;
const DNS_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** A self-signed CA (basicConstraints CA, path length 0: it signs end-entity certificates only). */
export function issueCertificateAuthority(options: CertificateAuthorityOptions): IssuedCertificate {
  checkCommonName(options.commonName);
  const keys = newKeyPair();
  return { certificatePem: selfSigned(distinguishedName(options.commonName), keys.publicKeyDer, keys.privateKeyPem, options), privateKeyPem: keys.privateKeyPem };
}

/**
 * The CA's certificate again, valid `days` from `now`: the same subject and key (so the same key
 * identifier), a new serial and validity. Every certificate the CA signed verifies against the old
 * and the new CA certificate alike, so clients can take the new one at any time before the old one ends.
 */
export function renewCertificateAuthority(ca: IssuedCertificate, options: Omit<CertificateAuthorityOptions, 'commonName'>): IssuedCertificate {
  const { caCert, caSpki } = checkedCa(ca, 'there is nothing to renew');
  return { certificatePem: selfSigned(rawSubject(caCert), caSpki, ca.privateKeyPem, options), privateKeyPem: ca.privateKeyPem };
}

/** The CA's certificate and public key, once it is a CA whose key matches. */
function checkedCa(ca: IssuedCertificate, otherwise: string): { caCert: X509Certificate; caSpki: Buffer } {
  const caCert = new X509Certificate(ca.certificatePem);
  if (!caCert.ca) throw new Error(`certificate ${JSON.stringify(caCert.subject)} is not a CA: ${otherwise}`);
  if (!caCert.checkPrivateKey(createPrivateKey(ca.privateKeyPem))) throw new Error('the CA private key does not match the CA certificate');
  return { caCert, caSpki: createPublicKey(ca.privateKeyPem).export({ type: 'spki', format: 'der' }) };
}

function selfSigned(name: Buffer, spki: Buffer, privateKeyPem: string, options: Omit<CertificateAuthorityOptions, 'commonName'>): string {
  const extensions = [
    extension(OID.basicConstraints, der.sequence(der.booleanTrue(), der.smallInteger(0)), true),
    extension(OID.keyUsage, der.namedBits([KEY_USAGE_BITS.keyCertSign, KEY_USAGE_BITS.cRLSign]), true),
    extension(OID.subjectKeyIdentifier, der.octetString(keyIdentifier(spki))),
  ];
  return signCertificate({ issuer: name, subject: name, spki, extensions, days: options.days, now: options.now, signingKeyPem: privateKeyPem });
}

/** A certificate signed by `ca` for a node (server and client) or an operator (client only). */
export function issueCertificate(ca: IssuedCertificate, options: CertificateOptions): IssuedCertificate {
  checkCommonName(options.commonName);
  const { caCert, caSpki } = checkedCa(ca, 'it cannot sign');
  const ips = options.ipAddresses ?? [];
  const dnsNames = options.dnsNames ?? [];
  for (const ip of ips) {
    // A zone ID (fe80::1%eth0) or a dotted IPv4 tail (::ffff:10.0.0.1) has no place in a certificate's 16 bytes here.
    if (!isIP(ip) || ip.includes('%') || (isIP(ip) === 6 && ip.includes('.'))) throw new Error(`ipAddresses: ${JSON.stringify(ip)} is not an IPv4 address or a plain IPv6 address`);
  }
  for (const name of dnsNames) if (!DNS_NAME.test(name) || name.length > 253) throw new Error(`dnsNames: ${JSON.stringify(name)} is not a DNS name`);
  if (options.usage !== 'client' && ips.length + dnsNames.length === 0) {
    throw new Error(`certificate ${options.commonName}: a server certificate needs at least one IP address or DNS name (clients check the name they dialled)`);
  }

  const keys = newKeyPair();
  const purposes = { peer: [OID.serverAuth, OID.clientAuth], server: [OID.serverAuth], client: [OID.clientAuth] }[options.usage];
  if (!purposes) throw new Error(`usage must be one of peer, server, client, got ${JSON.stringify(options.usage)}`);
  const altNames = [
    ...dnsNames.map((n) => der.implicit(2, Buffer.from(n.toLowerCase(), 'ascii'))),
    ...ips.map((ip) => der.implicit(7, ipBytes(ip))),
  ];
  const extensions = [
    extension(OID.basicConstraints, der.sequence(), true),
    extension(OID.keyUsage, der.namedBits([KEY_USAGE_BITS.digitalSignature]), true),
    extension(OID.extKeyUsage, der.sequence(...purposes.map(der.objectIdentifier))),
    extension(OID.subjectKeyIdentifier, der.octetString(keyIdentifier(keys.publicKeyDer))),
    extension(OID.authorityKeyIdentifier, der.sequence(der.implicit(0, keyIdentifier(caSpki)))),
    ...(altNames.length ? [extension(OID.subjectAltName, der.sequence(...altNames))] : []),
  ];
  const caNotAfter = new Date(caCert.validTo);
  const now = options.now ?? new Date();
  if (now.getTime() + options.days * 86_400_000 > caNotAfter.getTime()) {
    throw new Error(`certificate ${options.commonName}: ${options.days} days would outlive the CA (valid until ${caNotAfter.toISOString()})`);
  }
  return {
    certificatePem: signCertificate({
      issuer: rawSubject(caCert),
      subject: distinguishedName(options.commonName),
      spki: keys.publicKeyDer,
      extensions,
      days: options.days,
      now,
      signingKeyPem: ca.privateKeyPem,
    }),
    privateKeyPem: keys.privateKeyPem,
  };
}

/** RFC 5280's upper bound for a common name. */
export const MAX_COMMON_NAME_LENGTH = 64;

function checkCommonName(commonName: string): void {
  const control = [...commonName].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  if (commonName.length === 0 || commonName.length > MAX_COMMON_NAME_LENGTH || control) {
    throw new Error(`commonName must be 1-64 printable characters, got ${JSON.stringify(commonName)}`);
  }
}

function newKeyPair(): { privateKeyPem: string; publicKeyDer: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyDer: publicKey.export({ type: 'spki', format: 'der' }),
  };
}

function distinguishedName(commonName: string): Buffer {
  return der.sequence(der.set(der.sequence(der.objectIdentifier(OID.commonName), der.utf8String(commonName))));
}

/** The CA's subject exactly as encoded in its certificate: chain building compares bytes. */
function rawSubject(caCert: X509Certificate): Buffer {
  const certificate = caCert.raw;
  // Certificate ::= SEQUENCE { tbsCertificate, ... }; walk the TBS fields to the 6th (subject).
  const tbs = children(certificate)[0]!;
  const fields = children(tbs.whole);
  return fields[5]!.whole; // [0] version, serial, signature, issuer, validity, subject
}

interface Element {
  readonly whole: Buffer;
}

/** The elements inside one constructed DER element (lengths as DER writes them; our own or node:crypto's output). */
function children(element: Buffer): Element[] {
  const { headerLength, length } = header(element, 0);
  const out: Element[] = [];
  let offset = headerLength;
  while (offset < headerLength + length) {
    const h = header(element, offset);
    out.push({ whole: element.subarray(offset, offset + h.headerLength + h.length) });
    offset += h.headerLength + h.length;
  }
  return out;
}

function header(buffer: Buffer, offset: number): { headerLength: number; length: number } {
  const first = buffer[offset + 1]!;
  if (first < 0x80) return { headerLength: 2, length: first };
  const count = first & 0x7f;
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + buffer[offset + 2 + i]!;
  return { headerLength: 2 + count, length };
}

/** RFC 5280 method 1: SHA-1 of the subjectPublicKey BIT STRING's bytes. */
function keyIdentifier(spki: Buffer): Buffer {
  const [, publicKey] = children(spki);
  const bits = publicKey!.whole;
  const { headerLength } = header(bits, 0);
  return createHash('sha1').update(bits.subarray(headerLength + 1)).digest();
}

function extension(oid: string, value: Buffer, critical = false): Buffer {
  return der.sequence(der.objectIdentifier(oid), ...(critical ? [der.booleanTrue()] : []), der.octetString(value));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand '::' to the missing zero groups.
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return Buffer.concat(groups.map((g) => Buffer.from(g.padStart(4, '0'), 'hex')));
}

interface SignRequest {
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly spki: Buffer;
  readonly extensions: Buffer[];
  readonly days: number;
  readonly now?: Date;
  readonly signingKeyPem: string;
}

function signCertificate(request: SignRequest): string {
  if (!Number.isInteger(request.days) || request.days < 1 || request.days > MAX_DAYS) {
    throw new Error(`days must be a whole number from 1 to ${MAX_DAYS}, got ${request.days}`);
  }
  const now = (request.now ?? new Date()).getTime();
  const serial = randomBytes(16);
  serial[0]! &= 0x7f; // positive, and never more than RFC 5280's 20 octets
  serial[0]! |= 0x01; // never a leading zero byte to trim: always 16 octets
  const algorithm = der.sequence(der.objectIdentifier(OID.ecdsaWithSha256));
  const tbs = der.sequence(
    der.explicit(0, der.smallInteger(2)), // v3
    der.unsignedInteger(serial),
    algorithm,
    request.issuer,
    der.sequence(der.time(new Date(now - BACKDATE_MS)), der.time(new Date(now + request.days * 86_400_000))),
    request.subject,
    request.spki,
    der.explicit(3, der.sequence(...request.extensions)),
  );
  const signature = sign('sha256', tbs, createPrivateKey(request.signingKeyPem)); // ECDSA: DER (r, s)
  const certificate = der.sequence(tbs, algorithm, der.bitString(signature));
  const lines = certificate.toString('base64').match(/.{1,64}/g)!;
  return ['-----BEGIN CERTIFICATE-----', ...lines, '-----END CERTIFICATE-----', ''].join('\n');
}
