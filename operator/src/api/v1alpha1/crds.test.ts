import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { GENERATED_FILE, generateTypes } from './generate-types.ts';

const crdDir = new URL('../../../../crds/', import.meta.url);
const crds = readdirSync(crdDir)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => ({ file: f, crd: parse(readFileSync(new URL(f, crdDir), 'utf8')) }));

interface Schema {
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
}

function undescribed(schema: Schema, path: string, out: string[]): string[] {
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const p = `${path}.${name}`;
    if (name !== 'metadata' && !prop.description) out.push(p);
    undescribed(prop, p, out);
    if (prop.items) undescribed(prop.items, `${p}[]`, out);
  }
  return out;
}

describe('CRDs', () => {
  it('generated TypeScript types match crds/ (run `npm run gen:types` after changing a CRD)', () => {
    assert.equal(readFileSync(GENERATED_FILE, 'utf8'), generateTypes());
  });

  for (const { file, crd } of crds) {
    it(`${file}: every field has a description, and the spec has a status subresource and printer columns`, () => {
      const version = crd.spec.versions[0];
      assert.deepEqual(undescribed(version.schema.openAPIV3Schema, '', []), []);
      assert.deepEqual(version.subresources, { status: {} });
      const columns = version.additionalPrinterColumns.map((c: { name: string }) => c.name);
      for (const c of ['Ready', 'Reason', 'Age']) assert.ok(columns.includes(c), `${c} column`);
      assert.ok(crd.spec.names.shortNames.length > 0);
      assert.ok(crd.spec.names.categories.includes('mail'));
    });
  }
});
