// The program the bootstrap script runs to put the secrets into patroni.yml. It parses the YAML
// with PyYAML (what Patroni itself reads), swaps every string equal to a placeholder for its value
// and writes the file back: a password may hold any character, no quoting is left to sed.

/**
 * Python 3 source. Usage: `python3 - FILE PLACEHOLDER=ENV_VAR...`; the values come from the named
 * environment variables (never argv, which `ps` shows). Fails if a placeholder is not found, keeps
 * the file's owner, writes it 0600 and replaces it atomically.
 */
export const FILL_PLACEHOLDERS_PY = `import os
import sys
import yaml

path = sys.argv[1]
values = {}
for pair in sys.argv[2:]:
    placeholder, variable = pair.split('=', 1)
    values[placeholder] = os.environ[variable]

with open(path) as f:
    document = yaml.safe_load(f)

found = set()


def fill(node):
    if isinstance(node, dict):
        return {key: fill(value) for key, value in node.items()}
    if isinstance(node, list):
        return [fill(value) for value in node]
    if isinstance(node, str) and node in values:
        found.add(node)
        return values[node]
    return node


document = fill(document)
missing = sorted(set(values) - found)
if missing:
    sys.exit('placeholders not found in %s: %s' % (path, ', '.join(missing)))

stat = os.stat(path)
tmp = path + '.filling'
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, 'w') as f:
    yaml.safe_dump(document, f, default_flow_style=False, sort_keys=False, allow_unicode=True)
os.chown(tmp, stat.st_uid, stat.st_gid)
os.replace(tmp, path)
`;
