// Just enough OpenPGP (RFC 4880) to pin a signing key at synth: an ASCII-armored public key is
// decoded (its CRC-24 checked, so a mangled paste fails here, not on a node at boot) and its
// primary key's v4 fingerprint computed. The signature itself is checked on the node by gpgv.
import { createHash } from 'node:crypto';

const BEGIN = '-----BEGIN PGP PUBLIC KEY BLOCK-----';
const END = '-----END PGP PUBLIC KEY BLOCK-----';
const PUBLIC_KEY_TAG = 6;

function crc24(data: Buffer): number {
  let crc = 0xb704ce;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

/** The binary key of an ASCII-armored public key block. Throws with the reason when it is not one. */
export function dearmorPublicKey(armored: string): Buffer {
  const lines = armored.trim().split(/\r?\n/).map((l) => l.trim());
  const begin = lines.indexOf(BEGIN);
  const end = lines.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`is not an ASCII-armored OpenPGP public key (no '${BEGIN}' ... '${END}')`);
  const body = lines.slice(begin + 1, end);
  const blank = body.indexOf('');
  // Armor headers (Version: ...) end at the first blank line; a block without headers may have none.
  const data = blank >= 0 && body.slice(0, blank).every((l) => /^[A-Za-z-]+: /.test(l)) ? body.slice(blank + 1) : body;
  const checksum = data.length > 0 && data[data.length - 1]!.startsWith('=') ? data.pop()! : undefined;
  const text = data.join('');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length === 0) throw new Error('has a key block that is not base64');
  const key = Buffer.from(text, 'base64');
  if (checksum !== undefined) {
    const expected = Buffer.from(checksum.slice(1), 'base64');
    if (expected.length !== 3 || expected.readUIntBE(0, 3) !== crc24(key)) throw new Error('fails its armor checksum (a changed or truncated copy)');
  }
  return key;
}

/** The primary key's fingerprint (40 upper-case hex digits) of a binary OpenPGP v4 public key. */
export function primaryKeyFingerprint(key: Buffer): string {
  const first = key[0];
  if (first === undefined || (first & 0x80) === 0) throw new Error('does not start with an OpenPGP packet');
  let tag: number;
  let length: number;
  let offset: number;
  if (first & 0x40) {
    tag = first & 0x3f;
    const l0 = key[1] ?? 0;
    if (l0 < 192) [length, offset] = [l0, 2];
    else if (l0 < 224) [length, offset] = [((l0 - 192) << 8) + (key[2] ?? 0) + 192, 3];
    else if (l0 === 255) [length, offset] = [key.readUInt32BE(2), 6];
    else throw new Error('starts with a partial-length packet, which a public key never has');
  } else {
    tag = (first >> 2) & 0x0f;
    const type = first & 0x03;
    if (type === 3) throw new Error('starts with an indeterminate-length packet, which a public key never has');
    const size = [1, 2, 4][type]!;
    [length, offset] = [key.readUIntBE(1, size), 1 + size];
  }
  if (tag !== PUBLIC_KEY_TAG) throw new Error(`starts with an OpenPGP packet of tag ${tag}, not a public key (tag ${PUBLIC_KEY_TAG})`);
  const packet = key.subarray(offset, offset + length);
  if (packet.length !== length) throw new Error('is truncated inside its public key packet');
  if (packet[0] !== 4) throw new Error(`holds a version ${packet[0]} public key; only version 4 keys are supported`);
  const header = Buffer.from([0x99, (length >> 8) & 0xff, length & 0xff]);
  return createHash('sha1').update(header).update(packet).digest('hex').toUpperCase();
}

/** `2BC7 C7C2 ...` or `0x2bc7c7c2...` as 40 upper-case hex digits; undefined when it is not a v4 fingerprint. */
export function normalizeFingerprint(text: string): string | undefined {
  const hex = text.replace(/^0x/i, '').replace(/\s+/g, '').toUpperCase();
  return /^[0-9A-F]{40}$/.test(hex) ? hex : undefined;
}
