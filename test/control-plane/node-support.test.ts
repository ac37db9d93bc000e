import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideNodeUnsupported } from './node.ts';

describe('whether this machine can run a node', () => {
  it('names the missing Debian packages and the apt-get command that installs them', () => {
    assert.equal(
      decideNodeUnsupported('linux', 0, ['containerd', 'containernetworking-plugins']),
      'a node needs the Debian packages containerd, containernetworking-plugins: apt-get install -y --no-install-recommends containerd containernetworking-plugins',
    );
  });

  it('asks for root before anything else on Linux', () => {
    assert.match(decideNodeUnsupported('linux', 1000, ['runc']) ?? '', /^a node needs root .*sudo -E npm start/);
  });

  it('refuses other systems by name', () => {
    assert.equal(decideNodeUnsupported('darwin', 501, []), 'a node needs Linux (this is darwin)');
  });

  it('has nothing to say when root has every package', () => {
    assert.equal(decideNodeUnsupported('linux', 0, []), undefined);
  });
});
