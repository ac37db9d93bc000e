/** Series names a family exposes: a histogram's _bucket, _sum and _count, else its own name. */
export function seriesNames(family: { name: string; type: string }): string[] {
  if (family.type === 'histogram') return ['_bucket', '_sum', '_count'].map((s) => family.name + s);
  if (family.type === 'summary') return [family.name, `${family.name}_sum`, `${family.name}_count`];
  return [family.name];
}

/** The metric families of a /metrics page, from its `# TYPE` lines (present before any sample). */
export function parseMetricFamilies(text: string): Array<{ name: string; type: string }> {
  return [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({ name: m[1] as string, type: m[2] as string }));
}

/** The metric names a PromQL expression reads (`up` and the mailrelay_ families). */
export function metricNamesIn(expr: string): string[] {
  // strings (label values, legends, label_replace arguments) are not metric names
  const code = expr.replace(/"[^"]*"/g, '""');
  return [...new Set([...code.matchAll(/\b(mailrelay_[a-z0-9_]+|up(?=\s*\{))/g)].map((m) => m[1] as string))].sort();
}
