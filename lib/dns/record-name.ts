import { Token } from 'aws-cdk-lib';

/**
 * The record's fully qualified name (no trailing dot), or undefined when a token hides it.
 *
 * Follows aws-cdk-lib's rule (a name not ending in the zone is relative to it), but refuses what
 * that rule would silently turn into a mistake: an absolute name outside the zone, and a dotted
 * name that is neither in the zone nor clearly relative ('api.example.org' in 'example.com' would
 * otherwise become 'api.example.org.example.com').
 */
export function resolveRecordName(recordName: string, zoneName: string): string | undefined {
  if (Token.isUnresolved(recordName) || Token.isUnresolved(zoneName)) return undefined;
  const zone = zoneName.replace(/\.$/, '').toLowerCase();
  const absolute = recordName.endsWith('.');
  const name = recordName.replace(/\.$/, '').toLowerCase();
  if (name.length === 0) {
    throw new Error(`recordName must not be empty (zone '${zone}'); use '${zone}' for the apex`);
  }
  if (name === zone || name.endsWith(`.${zone}`)) return name;
  if (absolute || name.includes('.')) {
    throw new Error(
      `recordName '${recordName}' is outside the hosted zone '${zone}'; give a name in the zone, ` +
        `either relative ('api') or fully qualified ('api.${zone}')`,
    );
  }
  return `${name}.${zone}`;
}
