// Which SSM agent package a node accepts: AWS's signing key, pinned by its fingerprint at synth.
import { Token } from 'aws-cdk-lib';
import { dearmorPublicKey, normalizeFingerprint, primaryKeyFingerprint } from '../util/openpgp';
import type { SsmAgentSpec } from './config/spec';

/**
 * AWS's keys for the SSM agent's Linux packages (3.1.1141.0 and later), as the Systems Manager user
 * guide ("Verifying the signature of SSM Agent") published them: the key made on 2023-08-28 (the
 * one AWS's own agent code embeds) and the one before it, made on 2022-03-15. AWS replaces the key
 * before a copy's expiry date; gpgv still verifies a signature by an expired copy. Which key signs
 * today's package could not be checked here (no AWS account): pass AWS's current key when it
 * publishes another (`signingKey`).
 */
const AWS_SSM_AGENT_KEYS: readonly { readonly armored: string; readonly fingerprint: string }[] = [
  {
    armored: `-----BEGIN PGP PUBLIC KEY BLOCK-----

mQENBGTtIoIBCAD2M1aoGIE0FXynAHM/jtuvdAVVaX3Q4ZejTqrX+Jq8ElAMhxyO
GzHu2CDtCYxtVxXK3unptLVt2kGgJwNbhYC393jDeZx5dCda4Nk2YXX1UK3P461i
axuuXRzMYvfM4RZn+7bJTu635tA07q9Xm6MGD4TCTvsjBfViOxbrxOg5ozWbJdSw
fSR8MwUrRfmFpAefRlYfCEuZ8FHywa9U6jLeWt2O/kqrZliJOAGjGzXtB7EZkqKb
faCCxikjjvhF1awdEqSK4DQorC/OvQc4I5kP5y2CJbtXvXO73QH2yE75JMDIIx9x
rOsIRUoSfK3UrWaOVuAnEEn5ueKzZNqGG1J1ABEBAAG0J1NTTSBBZ2VudCA8c3Nt
LWFnZW50LXNpZ25lckBhbWF6b24uY29tPokBPwQTAQIAKQUCZO0iggIbLwUJAsaY
gAcLCQgHAwIBBhUIAgkKCwQWAgMBAh4BAheAAAoJELwfSVyX3QTt+icH/A//tJsW
I+7Ay8FGJh8dJPNy++HIBjVSFdGNJFWNbw1Z8uZcazHEcUCH3FhW4CLQLTZ3OVPz
qvFwzDtRDVIN/Y9EGDhLMFvimrE+/z4olWsJ5DANf6BnX8I5UNIcRt5d8SWH1BEJ
2FWIBZFgKyTDI6XzRC5x4ahtgpOVAGeeKDehs+wh6Ga4W0/K4GsviP1Kyr+Ic2br
NAIq0q0IHyN1q9zam3Y0+jKwEuNmTj+Bjyzshyv/X8S0JWWoXJhkexkOvWeBYNNt
5wI4QcSteyfIzp6KlQF8q11Hzz9D9WaPfcBEYyhq7vLEARobkbQMBzpkmaZua241
0RaWG50HRvrgm4aJAhwEEAECAAYFAmTtIoMACgkQfdCXo9rX9fwwqBAAzkTgYJ38
sWgxpn7Ux/81F2BWR1sVkmP79i++fXyJlKI8xtcJFQZhzeUos69KBUCy7mgx5bYU
P7NA5o9DUbwz/QS0i1Cqm4+jtFlX0MXe4FikXcqfDPnnzN8mVB2H+fa43iHR1PuH
GgUWuNdxzSoIYRmLZXWmeN5YXPcmixlhLzcE2TOQn1mOKcu2fKdLtBQ8KiEkmjiu
naoLxnUcyk1zMhaha+LzEkQdOyasix0ggylN2ViWVnlmfy0niuXDxW0qZWPdLStF
OODiX3iqGmkH3rDfy6nvxxBR4GIs+MGD72fpWzzrINDgkGI2i2t1+0AX/mps3aTy
+ftlgrim8stYWB58XXDAb0vad06sNye5/zDzfr0I9HupJrTzFhaYJQjWPaSlINto
LDJnBXohiUIPRYRcy/k012oFHDWZHT3H6CyjK9UD5UlxA9H7dsJurANs6FOVRe+7
34uJyxDZ/W7zLG4AVG0zxibrUSoaJxwcOjVPVsQAlrwG/GTs7tcAccsJqbJ1Py/w
9AgJl8VU2qc8POsHNXk348gjP7C8PDnGMpZFzr9f5INctRushpiv7onX+aWJVX7T
n2uX/TP3LCyH/MsrNJrJOQnMYFRLQitciP0E+F+eA3v9CY6mDuyb8JSx5HuGGUsG
S4bKBOcA8vimEpwPoT8CE7fdsZ3Qkwdu+pw=
=zr5w
-----END PGP PUBLIC KEY BLOCK-----`,
    fingerprint: 'DE92 C7DA 3E56 E923 31D6 2A36 BC1F 495C 97DD 04ED',
  },
  {
    armored: `-----BEGIN PGP PUBLIC KEY BLOCK-----

mQENBGIxF/8BCADv014neDCfkpdj79/XVeQVy0Wz9LSiB/iksc1jTPaCgD/9ojdQ
10LfEFEyLoeTEhX5WBu0Ry7oKW9AK51kscMjTHwdFnzXsT4tAoSXxh7lbgdfhpVm
bJ0bVArrzKIQ8JOE2lrn6LgVcGTtbPGURNNNRD1nZEgZm6wni+ZoplsXmsj0wD7f
I5zhk/e+OyrsolpNWBJB0vf6JXVV2MauZKGlwRR4pZoSw5yPOa0rZDtOTtPbUX5C
lWGLtdQ3848YvgjMzK9GeEqK9n6yQx5potlvxJ6TCZsZTwXXF5LyPuv2y6U22075
JjMMX7noNnVnipKMj+l7x5fis+X+gafF/PbTABEBAAG0J1NTTSBBZ2VudCA8c3Nt
LWFnZW50LXNpZ25lckBhbWF6b24uY29tPokBPwQTAQIAKQUCYjEX/wIbLwUJAsaY
gAcLCQgHAwIBBhUIAgkKCwQWAgMBAh4BAheAAAoJEN2BphdWuqVJUKoIANHALkLq
xsUco2JwymOorf+1icVtL8MSdi87lIhxfIGWaGN5CkzrkBAJlIyf/C+hVcLzR9rQ
DWIJakLWE3XPb4g8fWyr5VlOoYbcGLCky0fL5O0pWEnF2ecQMMSpwkdv9zx7qUoo
PssEpuwz5kIOYp2ENy21IPkMGpny8MCbzQ+sHysLWiJ/b0aWX9giPuMe5vTO3djM
CPtyA5CeG3BMawPOaDQvjxB+DnWCg1HslgdzpZiSsusuZ8u3xKaehEMiB/Li2BO9
yZMAeG6iok4Dn01ZVVpU9mftZKIm/T5WBX5x+TBhQ1b30MQcN61kFEe0Gll3ReTu
CPEuDwAb4WruFkaJAhwEEAECAAYFAmIxGAAACgkQfdCXo9rX9fy5yQ/+PIBXWQc4
D/a6/nEaGM/FrLDLgPSieBCbU4TpvB7qPg6gJUX8CA+h8cZ06wDgcdi9sJ3MwTnQ
Ze1OzZ8AJroRP6XhwVeNEbeedBbmr7irSg8lIdyXZed0G0T+7SX/MDEyup16vRxW
k2UyBCXYqnxBHXeTKf9GxH0nODpcGPGByqjfmSB3nj2wZN0g8SWWz6oEWcXv218B
FJyJj7W2bQsbMXoHlILP28Ec5QN1r8cC1b1nQsmx4120XSKFWvi8trG2+dDb58LR
1afsEW8OhJwsJcba1YIMznxMbWpfyZww2S6g7rFahm1wKCxMkHIZ+Fca6axKoK9Y
KJaEPn9rbhh11XsgKBNIIP1h0eGmQTAvM01dWI9895fiaK3pQkCxV7in6dTxi8Jy
7iJBbORStxsospBJzLf+0Ca3yvILxySg1Q2EuOKuN2VW7N/l3IffJ85DVjjQgh6A
T4L6ViK/0L6ww5n8tboKB/Jz9OUDGf2idxhQe8WenIogAU3y4ZGUyzcZHMg9lRke
hdLYGtqRATdWuwFQbwjPeBNovulqKOPXU9BLEezz8gMtd6/aW/UQA33xuZlh959o
DHhGwWDXEJzhrIlFAljkb7rsIhhjrg/R2usSIi78i1jFkGsVqRET2/avn7/kBcgL
yIk43DugjkN04nzHfULMJmEm02uVumgSJzQ=
=rGEs
-----END PGP PUBLIC KEY BLOCK-----`,
    fingerprint: '2BC7 C7C2 67BB D505 EAA4 91E6 DD81 A617 56BA A549',
  },
];
/** The fingerprints of AWS's keys a node accepts by default, newest first. */
export const AWS_SSM_AGENT_KEY_FINGERPRINTS: readonly string[] = AWS_SSM_AGENT_KEYS.map((k) => k.fingerprint);

/** The SSM agent on the nodes: Session Manager is the only way onto them (they have no SSH). */
export interface SsmAgentProps {
  /**
   * Install AWS's SSM agent on every node, from the region's distribution
   * (`https://s3.<region>.amazonaws.com/amazon-ssm-<region>/latest/debian_<arch>/`), only when gpgv
   * verifies its signature against a pinned key. Each node's agent installs it once the node is
   * ready (after its first boot, or, on a running cluster, at its next run with nothing to roll
   * out), and retries a failure every 30 minutes; turning it off stops installing it but removes
   * nothing.
   * @default true
   */
  readonly install?: boolean;
  /**
   * Whether a first boot that cannot install the agent fails (the deploy rolls back) rather than
   * logging it and retrying. Off by default: when AWS signs with a key this library does not pin
   * yet, every new node would fail, and a replacement during an incident with it.
   * @default false
   */
  readonly required?: boolean;
  /**
   * The ASCII-armored OpenPGP public key the package must be signed by, copied from the Systems
   * Manager user guide ("Verifying the signature of SSM Agent") when AWS publishes a new one. It
   * replaces the default keys. A change reaches the running nodes' installer file only (an
   * installed agent stays).
   * @default - AWS's keys for SSM Agent 3.1.1141.0 and later (`AWS_SSM_AGENT_KEY_FINGERPRINTS`)
   */
  readonly signingKey?: string;
  /**
   * The fingerprint AWS publishes for `signingKey` (spaces allowed): the key given must be the key
   * with this fingerprint, checked at synth. Required with `signingKey`.
   * @default - those of the default keys
   */
  readonly signingKeyFingerprint?: string;
}

/** The nodes' SSM agent settings, checked; undefined when it is not installed. */
export function ssmAgentSpec(props: SsmAgentProps = {}): SsmAgentSpec | undefined {
  if (props.install === false) {
    if (props.signingKey !== undefined || props.signingKeyFingerprint !== undefined || props.required !== undefined) {
      throw new Error('ssmAgent: signingKey, signingKeyFingerprint and required have no effect with install: false; remove them');
    }
    return undefined;
  }
  if ((props.signingKey === undefined) !== (props.signingKeyFingerprint === undefined)) {
    throw new Error('ssmAgent: signingKey and signingKeyFingerprint go together (the fingerprint AWS publishes next to the key pins it)');
  }
  const keys = props.signingKey !== undefined ? [{ armored: props.signingKey, fingerprint: props.signingKeyFingerprint! }] : AWS_SSM_AGENT_KEYS;
  const checked = keys.map(({ armored, fingerprint }) => {
    if (Token.isUnresolved(armored) || Token.isUnresolved(fingerprint)) {
      throw new Error('ssmAgent: signingKey and signingKeyFingerprint must be literal strings, not tokens: they are checked at synth');
    }
    const expected = normalizeFingerprint(fingerprint);
    if (!expected) throw new Error(`ssmAgent.signingKeyFingerprint must be 40 hex digits (spaces allowed), got '${fingerprint}'`);
    let key: Buffer;
    let actual: string;
    try {
      key = dearmorPublicKey(armored);
      actual = primaryKeyFingerprint(key);
    } catch (err) {
      throw new Error(`ssmAgent.signingKey ${(err as Error).message}`, { cause: err });
    }
    if (actual !== expected) {
      throw new Error(`ssmAgent.signingKey is the key with fingerprint ${actual}, not ${expected} (signingKeyFingerprint): copy both from AWS's page`);
    }
    return { key, fingerprint: actual };
  });
  return {
    keyring: Buffer.concat(checked.map((k) => k.key)).toString('base64'),
    fingerprints: checked.map((k) => k.fingerprint),
    required: props.required ?? false,
  };
}
