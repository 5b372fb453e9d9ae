import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram, Registry, type RegistryContentType } from 'prom-client';
import { LatencyHistogram } from '../../src/server/latency-histogram.ts';

const OPTIONS = {
  name: 'test_http_request_duration_seconds',
  help: 'HTTP request latency',
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
};

/** Ours and prom-client's own Histogram, each in its own registry, fed the same observations. */
function pair(contentType: RegistryContentType = Registry.PROMETHEUS_CONTENT_TYPE) {
  const ours = new Registry<RegistryContentType>();
  const theirs = new Registry<RegistryContentType>();
  ours.setContentType(contentType);
  theirs.setContentType(contentType);
  const latency = new LatencyHistogram(ours, OPTIONS);
  const reference = new Histogram({
    ...OPTIONS,
    labelNames: ['method', 'route', 'status'] as const,
    registers: [theirs],
  });
  const observe = (method: string, route: string, status: number, seconds: number) => {
    latency.observe(method, route, status, seconds);
    reference.observe({ method, route, status: String(status) }, seconds);
  };
  return { ours, theirs, observe };
}

/** Interleaved series, values on each bound, between bounds, 0, and beyond the last (+Inf only). */
function observeMany(observe: ReturnType<typeof pair>['observe']) {
  const values = [0, 0.0001, ...OPTIONS.buckets, 0.0007, 0.03, 0.99, 1.0001, 7.5];
  for (const [i, seconds] of values.entries()) {
    observe('GET', '/auth/session', 200, seconds);
    if (i % 2 === 0) observe('POST', '/auth/login', 401, seconds);
    if (i % 3 === 0) observe('GET', '/auth/session', 401, seconds / 3);
    if (i % 5 === 0) observe('OTHER', 'unmatched', 404, seconds * 2);
  }
}

test('scrapes the same text and JSON as prom-client’s Histogram fed the same requests', async () => {
  const { ours, theirs, observe } = pair();
  observeMany(observe);
  assert.equal(await ours.metrics(), await theirs.metrics());
  assert.deepEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
  assert.match(
    await ours.metrics(),
    /^test_http_request_duration_seconds_count\{method="GET",route="\/auth\/session",status="200"\} 18$/m,
  );
});

test('in OpenMetrics format too', async () => {
  const { ours, theirs, observe } = pair(Registry.OPENMETRICS_CONTENT_TYPE);
  observeMany(observe);
  assert.equal(await ours.metrics(), await theirs.metrics());
  assert.match(await ours.metrics(), /# EOF\n$/);
});

test('an unobserved histogram scrapes as prom-client’s does, and reset empties it', async () => {
  const { ours, theirs, observe } = pair();
  assert.equal(await ours.metrics(), await theirs.metrics());
  observe('GET', '/healthz', 200, 0.002);
  ours.resetMetrics();
  theirs.resetMetrics();
  assert.equal(await ours.metrics(), await theirs.metrics());
  assert.doesNotMatch(await ours.metrics(), /_count/);
  observe('GET', '/healthz', 200, 0.002);
  assert.equal(await ours.metrics(), await theirs.metrics());
});

test('a label value needing escapes is written as prom-client writes it', async () => {
  const { ours, theirs, observe } = pair();
  observe('GET', '/files/"quoted"\\path\nline', 200, 0.01);
  assert.equal(await ours.metrics(), await theirs.metrics());
});
