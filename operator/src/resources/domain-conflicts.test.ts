import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SendingDomain } from '../api/v1alpha1/types.ts';
import { decideDomainConflicts } from './domain-conflicts.ts';
import { sampleDomain } from './fixtures.ts';

function at(sd: SendingDomain, creationTimestamp?: string): SendingDomain {
  return { ...sd, metadata: { ...sd.metadata, ...(creationTimestamp ? { creationTimestamp: creationTimestamp as unknown as Date } : {}) } };
}

describe('decideDomainConflicts', () => {
  it('keeps the domain for the SendingDomain created first and names it in the conflict of the later one', () => {
    const older = at(sampleDomain('zz-old', 'example.com'), '2026-01-01T00:00:00Z');
    const newer = at(sampleDomain('aa-new', 'example.com'), '2026-01-02T00:00:00Z');
    const other = at(sampleDomain('news', 'news.example.com'), '2026-01-03T00:00:00Z');
    const { accepted, conflicts } = decideDomainConflicts([newer, other, older]);
    assert.deepEqual(accepted.map((d) => d.metadata.name), ['news', 'zz-old']);
    assert.deepEqual([...conflicts], [['aa-new', { winner: 'zz-old', domain: 'example.com' }]]);
  });

  it('breaks a creationTimestamp tie by name, whatever the input order', () => {
    const a = at(sampleDomain('a', 'example.com'), '2026-01-01T00:00:00Z');
    const b = at(sampleDomain('b', 'example.com'), '2026-01-01T00:00:00Z');
    for (const input of [[a, b], [b, a]]) {
      const { accepted, conflicts } = decideDomainConflicts(input);
      assert.deepEqual(accepted.map((d) => d.metadata.name), ['a']);
      assert.equal(conflicts.get('b')?.winner, 'a');
    }
  });

  it('treats domains differing only in case as the same domain, as the relay does', () => {
    const first = at(sampleDomain('first', 'example.com'), '2026-01-01T00:00:00Z');
    const second = at(sampleDomain('second', 'Example.COM'), '2026-01-02T00:00:00Z');
    assert.equal(decideDomainConflicts([first, second]).conflicts.get('second')?.winner, 'first');
  });

  it('ranks an object without a creationTimestamp after every stored one', () => {
    const stored = at(sampleDomain('stored', 'example.com'), '2026-01-01T00:00:00Z');
    const unsaved = sampleDomain('aaa', 'example.com');
    assert.equal(decideDomainConflicts([unsaved, stored]).conflicts.get('aaa')?.winner, 'stored');
  });

  it('leaves distinct domains alone', () => {
    const { accepted, conflicts } = decideDomainConflicts([sampleDomain('a', 'a.example'), sampleDomain('b', 'b.example')]);
    assert.equal(accepted.length, 2);
    assert.equal(conflicts.size, 0);
  });
});
