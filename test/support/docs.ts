// The YAML examples of a Markdown document, so tests can run exactly what the docs show.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

const ROOT = join(import.meta.dirname, '../../..');

/** Every ```yaml block of `docs/<file>`, in order, each as its list of documents. */
export function yamlExamples(file: string): Record<string, unknown>[][] {
  const text = readFileSync(join(ROOT, 'docs', file), 'utf8');
  return [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) =>
    parseAllDocuments(m[1] ?? '').map((d) => {
      if (d.errors.length) throw new Error(`docs/${file}: ${d.errors[0]?.message}`);
      return d.toJS() as Record<string, unknown>;
    }),
  );
}
