// No dead links in the project's Markdown: every relative link names a file or folder that exists,
// and every #anchor a heading of its target (GitHub's slugs). Links to the web are not fetched.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { markdownFiles, ROOT } from './markdown-files';

/** GitHub's anchor for a heading: lower-case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = !fenced && /^#{1,6}\s+(.*)$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

function links(file: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  let fenced = false;
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.startsWith('```')) fenced = !fenced;
      if (fenced) return;
      const text = line.replace(/`[^`]*`/g, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push({ target: m[1]!, line: i + 1 });
    });
  return out;
}

describe('links in the documentation', () => {
  test('slugs follow GitHub', () => {
    expect(slug('Operations CLI: status, switchover, drills')).toBe('operations-cli-status-switchover-drills');
    expect(slug('Failover client for applications (`cdk-failover/client`)')).toBe('failover-client-for-applications-cdk-failoverclient');
    expect(slug('What happens when...')).toBe('what-happens-when');
  });

  test('every relative link and anchor resolves', () => {
    const dead: string[] = [];
    for (const file of markdownFiles()) {
      for (const { target, line } of links(file)) {
        if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
        const [filePart, anchor] = target.split('#') as [string, string | undefined];
        const resolved = filePart ? path.resolve(path.dirname(file), decodeURIComponent(filePart)) : file;
        const where = `${path.relative(ROOT, file)}:${line}: ${target}`;
        if (!fs.existsSync(resolved)) {
          dead.push(`${where} (no such file)`);
          continue;
        }
        if (anchor && resolved.endsWith('.md') && !anchors(resolved).has(anchor)) dead.push(`${where} (no such heading)`);
      }
    }
    expect(dead).toEqual([]);
  });

  test('README stays a user page: under 20 KB, depth in docs/', () => {
    expect(fs.statSync(path.join(ROOT, 'README.md')).size).toBeLessThan(20_000);
  });

  test('the check finds a dead link and a dead anchor', () => {
    const dir = fs.mkdtempSync(path.join(ROOT, 'test/docs/.tmp-'));
    try {
      fs.writeFileSync(path.join(dir, 'a.md'), '# Title\n\n[ok](#title) [gone](nope.md) [bad anchor](#nope)\n');
      const found = links(path.join(dir, 'a.md')).map((l) => l.target);
      expect(found).toEqual(['#title', 'nope.md', '#nope']);
      expect(anchors(path.join(dir, 'a.md'))).toEqual(new Set(['title']));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
