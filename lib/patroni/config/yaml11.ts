// Patroni reads YAML with PyYAML and etcd with go-yaml: both YAML 1.1, where a bare `off`, `on`,
// `yes` or `no` is a boolean. Writing as YAML 1.1 makes `yaml` quote such strings.
import { Document, isScalar, Scalar, visit } from 'yaml';

// PyYAML also resolves a bare `=` (the 1.1 "value" type) and `<<` (merge) to types its SafeLoader
// cannot construct as values. `yaml` leaves `=` plain and writes a `<<` string as its merge key, so
// the merge tag is dropped from the schema (we never merge) and both are double-quoted.
const PYYAML_SPECIAL = new Set(['=', '<<']);
const MERGE_TAG = 'tag:yaml.org,2002:merge';

/** `value` as a YAML 1.1 document, with a leading comment; no line folding, no anchors. */
export function toYaml11(value: unknown, headerComment: string): string {
  const doc = new Document(value, {
    version: '1.1',
    aliasDuplicateObjects: false,
    customTags: (tags) => tags.filter((tag) => typeof tag === 'string' || tag.tag !== MERGE_TAG),
  });
  visit(doc, {
    Scalar(_key, node) {
      if (isScalar(node) && typeof node.value === 'string' && PYYAML_SPECIAL.has(node.value)) {
        node.type = Scalar.QUOTE_DOUBLE;
      }
    },
  });
  doc.commentBefore = ` ${headerComment}`;
  return doc.toString({ lineWidth: 0 });
}
