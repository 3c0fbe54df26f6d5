// The dashboard's routes on a real server over the fake engine: the page and its assets, the
// feed as a client reads it (Server-Sent Events), the controls refused unless enabled and
// authorized, their validation, and the built-in load reaching the engine through the stream.
import t, { type Test } from 'tap';
import { ParmError } from '../../src/errors.js';
import { startServer, type ParmServer } from '../../src/server/app.js';
import type { DashboardSnapshot } from '../../src/dashboard/snapshot.js';
import type { DashboardOptions } from '../../src/dashboard/routes.js';
import { FakeEngine } from '../helpers/fake-engine.js';

async function serve(t: Test, dashboard: DashboardOptions): Promise<{ server: ParmServer; engine: FakeEngine }> {
  const engine = new FakeEngine({ name: 'fake', delayMs: 1 });
  const server = await startServer({ engines: [engine], port: 0, dashboard: { intervalMs: 200, ...dashboard } });
  t.teardown(() => server.close());
  return { server, engine };
}

function post(url: string, body: unknown, headers: Record<string, string> = {}, method = 'POST'): Promise<Response> {
  return fetch(url, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
}

/** Reads Server-Sent Events from a fetch body: next() resolves with the next event's parsed data. */
function events(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return {
    async next(): Promise<DashboardSnapshot | null> {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (data) return JSON.parse(data.slice(6)) as DashboardSnapshot;
          continue;
        }
        const { value, done } = await reader.read();
        if (done) return null;
        buffer += decoder.decode(value, { stream: true });
      }
    },
    cancel: () => reader.cancel(),
  };
}

t.test('the page and its assets are served by parm itself, with their content types', async (t) => {
  const { server } = await serve(t, {});
  const page = await fetch(`${server.url}/dashboard`);
  t.equal(page.status, 200);
  t.match(page.headers.get('content-type'), /^text\/html/);
  const html = await page.text();
  const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((u) => !u.startsWith('data:'));
  t.ok(refs.length >= 4, `the page refers to ${refs.join(', ')}`);
  for (const ref of refs) {
    t.ok(ref.startsWith('/dashboard/'), `${ref} is served by parm (no CDN)`);
    const r = await fetch(`${server.url}${ref}`);
    t.equal(r.status, 200, ref);
    t.match(r.headers.get('content-type'), ref.endsWith('.js') ? /^text\/javascript/ : /^text\/css/, `${ref} content type`);
    t.ok((await r.arrayBuffer()).byteLength > 500, `${ref} has content`);
  }
  t.equal((await fetch(`${server.url}/dashboard/`)).status, 200, 'with a trailing slash too');
});

t.test('the feed: an event stream whose first snapshot carries the history, then one per interval', async (t) => {
  const { server, engine } = await serve(t, {});
  await engine.infer(new Float32Array(784).fill(0.5));
  const res = await fetch(`${server.url}/dashboard/feed`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/event-stream/);
  const feed = events(res);
  const first = (await feed.next())!;
  t.ok(first.history && Array.isArray(first.history['fake']), 'history in the first message');
  t.equal(first.controls, false);
  t.equal(first.intervalMs, 200);
  t.same(first.deployments.map((d) => d.name), ['fake']);
  const second = (await feed.next())!;
  t.equal(second.seq, first.seq + 1, 'the next snapshot follows');
  t.equal(second.deployments[0]!.totals.queries, 1, 'with the engine counters read then');
  t.equal(second.history, undefined, 'only the first message has the history');
  t.ok(second.time - first.time >= 150 && second.time - first.time < 5000, `about an interval later (${second.time - first.time} ms)`);
  const snap = (await (await fetch(`${server.url}/dashboard/snapshot`)).json()) as DashboardSnapshot;
  t.ok(snap.seq >= second.seq && snap.history, 'GET /dashboard/snapshot: the latest, with history');
  await server.close();
  t.equal(await feed.next(), null, 'closing the server ends the stream');
});

t.test('controls are 403 unless enabled', async (t) => {
  const { server, engine } = await serve(t, {});
  const faults = await post(`${server.url}/dashboard/faults`, { model: 'fake', faults: [{ kind: 'hang', instance: 'deployed-0' }] });
  t.equal(faults.status, 403);
  t.match(((await faults.json()) as { error: string }).error, /--dashboard-controls/);
  t.same(engine.faults, [], 'nothing set');
  t.equal((await post(`${server.url}/dashboard/load`, { model: 'fake', rate: 10, seconds: 1 })).status, 403);
  t.equal((await post(`${server.url}/dashboard/load`, undefined, {}, 'DELETE')).status, 403);
});

t.test('controls: the authorize hook runs first; faults and load requests are validated', async (t) => {
  const authorize = (req: { getHeader(h: string): string }) => {
    if (req.getHeader('authorization') !== 'Bearer s3cret') throw new ParmError('PARM_ERR_SERVER_FORBIDDEN', 'bad token');
  };
  const { server, engine } = await serve(t, { controls: true, authorize, images: async () => undefined });
  const auth = { authorization: 'Bearer s3cret' };
  const refused = await post(`${server.url}/dashboard/faults`, { model: 'fake', faults: [] });
  t.equal(refused.status, 403);
  t.match(((await refused.json()) as { error: string }).error, /bad token/);

  const bad = async (path: string, body: unknown, pattern: RegExp) => {
    const r = await post(`${server.url}${path}`, body, auth);
    t.equal(r.status, 400, `${JSON.stringify(body)}: 400`);
    t.match(((await r.json()) as { error: string }).error, pattern);
  };
  await bad('/dashboard/faults', [1], /JSON object/);
  await bad('/dashboard/faults', { model: 'fake', fault: [] }, /fault: unknown option \(did you mean 'faults'\?\)/);
  await bad('/dashboard/faults', { model: 'fake', faults: 'hang' }, /faults: expected an array/);
  await bad('/dashboard/load', { model: 'nope', rate: 10, seconds: 1 }, /model: expected one of fake/);
  await bad('/dashboard/load', { model: 'fake', rate: 0, seconds: 1 }, /rate: expected a number in \[1, 2000\]/);
  await bad('/dashboard/load', { model: 'fake', rate: 10, seconds: 1.5 }, /seconds: expected an integer/);
  const unknown = await post(`${server.url}/dashboard/faults`, { model: 'nope', faults: [] }, auth);
  t.equal(unknown.status, 404);

  const set = await post(`${server.url}/dashboard/faults`, { model: 'fake', faults: [{ kind: 'hang', instance: 'deployed-0' }] }, auth);
  t.equal(set.status, 200);
  t.same(engine.faults, [{ kind: 'hang', instance: 'deployed-0' }], 'handed to engine.setFaults');
  t.same(((await set.json()) as { faults: unknown }).faults, engine.faults, 'the answer lists the faults in force');
});

t.test('the load sends its queries through the stream to the engine, and stops', async (t) => {
  const { server, engine } = await serve(t, { controls: true, images: async () => undefined });
  const started = await post(`${server.url}/dashboard/load`, { model: 'fake', rate: 100, seconds: 60 });
  t.equal(started.status, 200);
  const s0 = (await started.json()) as { running: boolean; source: string };
  t.equal(s0.running, true);
  t.match(s0.source, /gray images \(no test set installed\)/);
  const deadline = Date.now() + 20_000;
  while (engine.calls < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.ok(engine.calls >= 20, `the engine got ${engine.calls} queries`);
  const stopped = (await (await post(`${server.url}/dashboard/load`, undefined, {}, 'DELETE')).json()) as { running: boolean; sent: number; answered: number; errors: number };
  t.equal(stopped.running, false);
  t.ok(stopped.sent >= 20);
  await new Promise((r) => setTimeout(r, 300));
  const calls = engine.calls;
  await new Promise((r) => setTimeout(r, 500));
  t.equal(engine.calls, calls, 'no query after the stop');
  const snap = (await (await fetch(`${server.url}/dashboard/snapshot`)).json()) as DashboardSnapshot;
  t.equal(snap.load?.answered, snap.load?.sent, 'every query sent was answered');
  t.equal(snap.load?.errors, 0);
  t.ok(snap.deployments[0]!.latencyMs.count > 0, 'the answers are in the latency window');
});
