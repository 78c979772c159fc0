// Which SSM agent package a node accepts: AWS's signing key, pinned by its fingerprint at synth.
import { Token } from 'aws-cdk-lib';
import { dearmorPublicKey, normalizeFingerprint, primaryKeyFingerprint } from '../util/openpgp';
import type { SsmAgentSpec } from './config/spec';

/**
 * AWS's key for SSM Agent 3.1.1141.0 and later, as "Verifying the signature of SSM Agent" in the
 * Systems Manager user guide publishes it. AWS extends this key's expiry and republishes it (this
 * copy says 2023-09-05); gpgv verifies a signature by it all the same, so the fingerprint is
 * what is pinned.
 */
const AWS_SSM_AGENT_KEY = `-----BEGIN PGP PUBLIC KEY BLOCK-----

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
-----END PGP PUBLIC KEY BLOCK-----`;
/** Its fingerprint, as the same page gives it. */
export const AWS_SSM_AGENT_KEY_FINGERPRINT = '2BC7 C7C2 67BB D505 EAA4 91E6 DD81 A617 56BA A549';

/** The SSM agent on the nodes: Session Manager is the only way onto them (they have no SSH). */
export interface SsmAgentProps {
  /**
   * Install AWS's SSM agent on every node, from the region's distribution
   * (`https://s3.<region>.amazonaws.com/amazon-ssm-<region>/latest/debian_<arch>/`), only when gpgv
   * verifies its signature against `signingKey`. A node whose first boot cannot install it fails
   * its boot (the deploy rolls back). Turning it on for a running cluster installs it on the
   * running nodes at their agent's next run (a failure there is retried every 30 minutes and never
   * blocks a rollout); turning it off stops installing it but removes nothing.
   * @default true
   */
  readonly install?: boolean;
  /**
   * The ASCII-armored OpenPGP public key the package must be signed by, copied from the Systems
   * Manager user guide ("Verifying the signature of SSM Agent") when AWS publishes a new one.
   * A change reaches the running nodes' installer file only (an installed agent stays).
   * @default - AWS's key for SSM Agent 3.1.1141.0 and later (fingerprint `AWS_SSM_AGENT_KEY_FINGERPRINT`)
   */
  readonly signingKey?: string;
  /**
   * The fingerprint AWS publishes for `signingKey` (spaces allowed): the key given must be the key
   * with this fingerprint, checked at synth. Required with `signingKey`.
   * @default - `AWS_SSM_AGENT_KEY_FINGERPRINT`, with the default key
   */
  readonly signingKeyFingerprint?: string;
}

/** The nodes' SSM agent settings, checked; undefined when it is not installed. */
export function ssmAgentSpec(props: SsmAgentProps = {}): SsmAgentSpec | undefined {
  if (props.install === false) {
    if (props.signingKey !== undefined || props.signingKeyFingerprint !== undefined) {
      throw new Error('ssmAgent: signingKey and signingKeyFingerprint have no effect with install: false; remove them');
    }
    return undefined;
  }
  if ((props.signingKey === undefined) !== (props.signingKeyFingerprint === undefined)) {
    throw new Error('ssmAgent: signingKey and signingKeyFingerprint go together (the fingerprint AWS publishes next to the key pins it)');
  }
  const armored = props.signingKey ?? AWS_SSM_AGENT_KEY;
  const given = props.signingKeyFingerprint ?? AWS_SSM_AGENT_KEY_FINGERPRINT;
  if (Token.isUnresolved(armored) || Token.isUnresolved(given)) {
    throw new Error('ssmAgent: signingKey and signingKeyFingerprint must be literal strings, not tokens: they are checked at synth');
  }
  const expected = normalizeFingerprint(given);
  if (!expected) throw new Error(`ssmAgent.signingKeyFingerprint must be 40 hex digits (spaces allowed), got '${given}'`);
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
  return { keyring: key.toString('base64'), fingerprint: actual };
}
