import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { ensureBinaries, ensurePromtool } from '../control-plane/binaries.ts';
import { SETUP_TIMEOUT_MS, TEST_TIMEOUT_MS } from '../control-plane/test-timeouts.ts';
import { runTool } from '../control-plane/tools.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { renderAlertGroups, rulesFile } from '../../scripts/chart/generated-files.ts';

const unitTests = join(import.meta.dirname, 'mail-relay.rules.test.yaml');

describe('alert rules (promtool)', () => {
  let promtool: string;
  let helm: string;

  before(async () => {
    promtool = await ensurePromtool();
    helm = (await ensureBinaries()).helm;
  }, { timeout: SETUP_TIMEOUT_MS });

  it('passes promtool check rules', { timeout: TEST_TIMEOUT_MS }, async () => {
    const out = await runTool(promtool, ['check', 'rules', rulesFile]);
    assert.match(out, /SUCCESS: 12 rules found/);
  });

  it('passes the promtool unit tests: near-pause bounce and complaint rates, pauses, relay down, queue age, failing delivery, reconcile errors, webhook backlog and drops, category pauses', { timeout: TEST_TIMEOUT_MS }, async () => {
    const out = await runTool(promtool, ['test', 'rules', unitTests]);
    assert.match(out, /SUCCESS/);
  });

  it('takes its thresholds and job names from the chart values', { timeout: TEST_TIMEOUT_MS }, async () => {
    const dir = await tempDir('alerts-');
    const rules = join(dir, 'tuned.rules.yaml');
    writeFileSync(rules, stringify(await renderAlertGroups(helm, ['--set-json', 'prometheusRule.maxBounceRate=0.05', '--set-json', 'prometheusRule.nearThresholdRatio=0.9', '--set', 'prometheusRule.relayJob=relays'])));
    const series = (name: string, value: string) => ({
      series: `${name}{job="relays", namespace="mail", relay="outbound", pod="outbound-0", domain="example.com"}`,
      values: value,
    });
    const tests = {
      rule_files: [rules],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          // 4.6%: over 90% of a 5% threshold, far below the default 80% of 10%
          input_series: [series('mailrelay_domain_bounce_rate', '0.046x20'), series('mailrelay_domain_paused', '0x20')],
          alert_rule_test: [
            {
              eval_time: '10m',
              alertname: 'MailRelayBounceRateNearPause',
              exp_alerts: [
                {
                  exp_labels: { severity: 'warning', namespace: 'mail', relay: 'outbound', domain: 'example.com' },
                  exp_annotations: {
                    summary: 'Bounce rate of example.com is close to its pause threshold',
                    description:
                      'Relay mail/outbound sees a bounce rate of 4.6% for example.com; at 0.05 the domain is paused (SendingDomain spec.reputation.maxBounceRate). Check the recipient list and recent bounces.',
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    const testFile = join(dir, 'tuned.test.yaml');
    writeFileSync(testFile, stringify(tests));
    assert.match(await runTool(promtool, ['test', 'rules', testFile]), /SUCCESS/);

    // the same series under the default rules: no alert, so promtool reports the missing one
    const defaults = { ...tests, rule_files: [rulesFile], tests: tests.tests.map((t) => ({ ...t, input_series: t.input_series.map((s) => ({ ...s, series: s.series.replace('job="relays"', 'job="mail-relay"') })) })) };
    writeFileSync(testFile, stringify(defaults));
    await assert.rejects(runTool(promtool, ['test', 'rules', testFile]), /FAILED/);
  });
});
