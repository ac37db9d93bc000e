/**
 * Event-loop delay while the relay parses hostile feedback reports of about 1 MiB (what the
 * SMTP intake reads at most): `npx tsx test/relay/feedback-parse-bench.ts`. Prints the longest
 * stall per report shape; figures go in reviews, not in test assertions.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArf } from '../../relay/src/reputation/parse-arf.ts';
import { parseDsn } from '../../relay/src/reputation/parse-dsn.ts';
import { hostileReports } from '../helpers/feedback-reports.ts';

// warm up the parsers first, so the first shape does not carry the compilation
for (const report of Object.values(hostileReports())) await Promise.resolve(parseArf(report)).catch(() => undefined);

for (const [name, report] of Object.entries(hostileReports())) {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const ticker = setInterval(() => undefined, 5);
  const started = performance.now();
  await new Promise((r) => setTimeout(r, 20));
  await Promise.resolve(parseArf(report)).catch(() => undefined);
  await Promise.resolve(parseDsn(report)).catch(() => undefined);
  const elapsed = performance.now() - started - 20;
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(ticker);
  histogram.disable();
  console.log(`${name.padEnd(24)} ${(report.length / 1024).toFixed(0).padStart(5)} KiB  parse ${elapsed.toFixed(0).padStart(6)} ms  max event-loop delay ${(histogram.max / 1e6).toFixed(0).padStart(6)} ms`);
}
