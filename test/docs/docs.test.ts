import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { createOperatorMetrics } from '../../operator/src/metrics.ts';
import { parseConfig } from '../../relay/src/config/parse-config.ts';
import { createMetrics } from '../../relay/src/metrics/metrics.ts';
import { repoRoot } from '../control-plane/paths.ts';

const doc = (name: string) => readFileSync(join(repoRoot, 'docs', name), 'utf8');

/** The docs in docs/ stay true to the code they describe. */
describe('docs/', () => {
  it('metrics.md lists exactly the mailrelay_ metrics the relay and the operator register', async () => {
    const registered = [...(await createMetrics().registry.getMetricsAsJSON()), ...(await createOperatorMetrics().registry.getMetricsAsJSON())]
      .map((m) => m.name)
      .filter((n) => n.startsWith('mailrelay_'))
      .sort();
    const documented = [...new Set([...doc('metrics.md').matchAll(/^\| `(mailrelay_[a-z0-9_]+)`/gm)].map((m) => m[1]!))].sort();
    assert.deepEqual(documented, registered);
  });

  it('the relay-config.md example is a relay.yaml the relay accepts', () => {
    const example = /## Example\n\n```yaml\n([\s\S]*?)```/.exec(doc('relay-config.md'))?.[1];
    assert.ok(example, 'an Example section with a yaml block');
    const config = parseConfig(parse(example));
    assert.equal(config.listeners[0]?.name, 'submission');
    assert.equal(config.domains[0]?.dkim?.selector, 'mr202611');
  });

  it('relay-config.md has a row for every top-level relay.yaml key', () => {
    const rows = [...doc('relay-config.md').matchAll(/^\| `([a-zA-Z]+)[.[`]/gm)].map((m) => m[1]!);
    for (const key of ['hostname', 'listeners', 'tls', 'trustedNetworks', 'usersFile', 'limits', 'queue', 'delivery', 'domains', 'feedback', 'suppression', 'http', 'metrics']) {
      assert.ok(rows.includes(key), key);
    }
  });

  it('nothing in the repository points at the design folder outside it', () => {
    const grep = spawnSync('git', ['grep', '-l', '-I', 'shared/DESIGN', '--', '.', ':!test/docs/docs.test.ts'], { cwd: repoRoot, encoding: 'utf8' });
    // git grep exits 1 when nothing matches, 0 with matches, 2 and more on errors
    assert.equal(grep.status, 1, `files naming shared/DESIGN:\n${grep.stdout}${grep.stderr}`);
  });
});
