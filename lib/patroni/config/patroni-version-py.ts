// Patroni 3.2.0 and later raise ttl and retry_timeout to minimums of their own (20 and 3 s; loop_wait
// at least 1), with only a warning in Patroni's log (FAST's ttl 7 would run as 20). One check, in Python, for the
// node agent (a node's first boot refuses such a Patroni) and the local cluster (`up` refuses it).

/** Since this version Patroni enforces the minimums below. */
export const PATRONI_TIMING_MINIMUMS_SINCE = '3.2.0';
/** Patroni 3.2+'s minimums, in seconds. */
export const PATRONI_TIMING_MINIMUMS = { ttl: 20, loop_wait: 1, retry_timeout: 3 } as const;

/**
 * Python: `patroni_version(version_text)` is the version tuple in `patroni --version`'s output, or
 * None. `timing_adjustment(version_text, timing)` is why the Patroni whose `patroni --version`
 * printed `version_text` (its standard output, `patroni X.Y.Z`) would not run `timing` (ttl,
 * loop_wait, retry_timeout) as declared, or None; anything else is unreadable, never a version
 * picked out of an error message. Needs `re`.
 */
export const PATRONI_TIMING_CHECK_PY = String.raw`TIMING_MINIMUMS_SINCE = (${PATRONI_TIMING_MINIMUMS_SINCE.split('.').join(', ')})
TIMING_MINIMUMS = ${JSON.stringify(PATRONI_TIMING_MINIMUMS)}


def patroni_version(version_text):
    match = re.fullmatch(r'patroni (\d+)\.(\d+)(?:\.(\d+))?', (version_text or '').strip())
    return tuple(int(part or 0) for part in match.groups()) if match else None


def timing_adjustment(version_text, timing):
    version = patroni_version(version_text)
    if version is None:
        return 'cannot read the version of Patroni from %r: the timing could not be checked' % (version_text or '').strip()
    if version < TIMING_MINIMUMS_SINCE:
        return None
    low = ['%s %s < %d' % (key, timing[key], least) for key, least in TIMING_MINIMUMS.items() if int(timing[key]) < least]
    if not low:
        return None
    return ('Patroni %s raises timing values to its minimums (since ${PATRONI_TIMING_MINIMUMS_SINCE}: %s), so the declared '
            'ttl %s / loop_wait %s / retry_timeout %s would not be what runs: use a timing at or above them '
            '(PatroniTiming.DEFAULT), or Debian 12\'s Patroni 3.0.2'
            % ('.'.join(str(part) for part in version), ', '.join(low), timing['ttl'], timing['loop_wait'], timing['retry_timeout']))
`;
