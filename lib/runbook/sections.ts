// The sections every runbook has, in order. Tests check each rendered runbook against these.

/** Sections of a DnsFailover runbook. */
export const DNS_RUNBOOK_SECTIONS = [
  'Overview',
  'Prerequisites',
  'Trigger conditions',
  'Verify the outage',
  'Confirm the standby is ready',
  'Execute',
  'Verify',
  'Rollback',
  'Post-failover checklist',
  'Bring the old primary back',
] as const;

/** Sections of a PatroniCluster runbook: the DNS ones, then the node's own (etcd member, boot, change, maintenance), backups, regional failover. */
export const PATRONI_RUNBOOK_SECTIONS = [
  ...DNS_RUNBOOK_SECTIONS,
  'Replace an etcd member',
  "A node's bootstrap failed",
  "A node's configuration change failed",
  'Backups and point-in-time recovery',
  'Regional failover',
  'Planned maintenance of a node',
] as const;

/** "### 3. Trigger conditions" for section `title` of `sections`, at `level`. */
export function sectionHeading(sections: readonly string[], title: string, level: number): string {
  const index = sections.indexOf(title);
  if (index < 0) throw new Error(`'${title}' is not a runbook section (${sections.join(', ')})`);
  return `${'#'.repeat(level)} ${index + 1}. ${title}`;
}

/** "section 6 (Execute)": a cross-reference to section `title` of `sections`. */
export function sectionRef(sections: readonly string[], title: string): string {
  const index = sections.indexOf(title);
  if (index < 0) throw new Error(`'${title}' is not a runbook section (${sections.join(', ')})`);
  return `section ${index + 1} (${title})`;
}

/** Sections of the runbook of an imported DnsFailover or PatroniCluster: what this stack knows and watches. */
export const IMPORTED_RUNBOOK_SECTIONS = ['Overview', 'Trigger conditions', 'Verify the outage'] as const;
